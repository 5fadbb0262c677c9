/// One shard as recorded in a stream's metadata file.
struct ShardMetadata: Codable, Sendable, Equatable {
    var index: Int
    var hashKeyRange: HashKeyRange
    var parentIndex: Int?
    var adjacentParentIndex: Int?
    /// ms since the epoch.
    var createdAt: Int64
    /// Set when a split or merge closed the shard; ms since the epoch.
    var closedAt: Int64?

    var isOpen: Bool { closedAt == nil }
}

/// Everything about a stream except its records: `streams/<name>/stream.json`, replaced
/// atomically (temporary file, fsync, rename, fsync directory) on every change.
struct StreamMetadata: Codable, Sendable, Equatable {
    var formatVersion = 1
    var name: String
    /// Random tag chosen at creation; part of every sequence number and iterator, so nothing
    /// from a deleted stream is mistaken for a new stream of the same name.
    var incarnation: UInt32
    /// ms since the epoch.
    var createdAt: Int64
    /// The stream reports CREATING until this time (ms since the epoch).
    var activeAt: Int64
    var retentionHours: Int
    var tags: [String: String]
    var shards: [ShardMetadata]
    var nextShardIndex: Int

    var openShards: [ShardMetadata] { shards.filter(\.isOpen) }
}

/// Stream lifecycle states, as Kinesis names them.
package enum StreamStatus: String, Sendable {
    case creating = "CREATING"
    case deleting = "DELETING"
    case active = "ACTIVE"
    case updating = "UPDATING"
}

/// A shard as described to clients (DescribeStream, ListShards).
package struct ShardDescription: Sendable, Equatable {
    package var shardID: String
    package var index: Int
    package var parentShardID: String?
    package var adjacentParentShardID: String?
    package var hashKeyRange: HashKeyRange
    package var startingSequenceNumber: SequenceNumber
    /// Present once the shard is closed by a split or merge.
    package var endingSequenceNumber: SequenceNumber?
    package var createdAt: Int64
    package var closedAt: Int64?

    package var isOpen: Bool { endingSequenceNumber == nil }
}

/// A stream as described to clients.
package struct StreamDescription: Sendable {
    package var name: String
    package var arn: String
    package var status: StreamStatus
    package var retentionHours: Int
    /// ms since the epoch.
    package var createdAt: Int64
    package var shards: [ShardDescription]
    package var openShardCount: Int
}

/// A child shard, named when a reader reaches the end of a closed parent.
package struct ChildShard: Sendable, Equatable {
    package var shardID: String
    package var parentShardIDs: [String]
    package var hashKeyRange: HashKeyRange
}
