import Foundation
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// Fixtures shared by the stream-core behaviour suites (routing, puts and reads, errors,
/// resharding, retention, the model test). Named to stay clear of other suites in this target.
enum StreamCoreTestKit {
    /// The account every error message names (the configuration default).
    static let account = "000000000000"

    /// A configuration for `<directory>/data` driven by `clock`.
    static func configuration(
        _ directory: String, clock: ManualTimeSource, segmentSize: Int? = nil
    ) -> StreamStoreConfiguration {
        var c = StreamStoreConfiguration(dataDirectory: directory + "/data")
        c.clock = clock
        if let segmentSize { c.segmentSize = segmentSize }
        return c
    }

    /// UTF-8 bytes of `text`.
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// The text of record data written with `bytes(_:)`.
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// What reading one shard returned.
    struct ShardReadout {
        var records: [StoredRecord]
        /// The shard is closed and was read to its end (`NextShardIterator` absent).
        var reachedEnd: Bool
        /// `ChildShards` of the final response, when the end was reached.
        var childShards: [ChildShard]
    }

    /// Reads a shard through GetShardIterator/GetRecords until an open shard returns nothing
    /// more or a closed shard ends.
    static func readShard(
        _ store: StreamStore, stream: String, shardID: String, type: ShardIteratorType = .trimHorizon,
        startingSequenceNumber: String? = nil, timestamp: Timestamp? = nil, limit: Int? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> ShardReadout {
        var iterator = try store.shardIterator(
            stream: stream, shardID: shardID, type: type, startingSequenceNumber: startingSequenceNumber,
            timestamp: timestamp)
        var records: [StoredRecord] = []
        for _ in 0..<1_000_000 {
            let result = try store.getRecords(iterator: iterator, limit: limit)
            records += result.records
            guard let next = result.nextShardIterator else {
                return ShardReadout(records: records, reachedEnd: true, childShards: result.childShards)
            }
            #expect(result.childShards.isEmpty, "ChildShards before the end of \(shardID)", sourceLocation: sourceLocation)
            if result.records.isEmpty {
                return ShardReadout(records: records, reachedEnd: false, childShards: [])
            }
            iterator = next
        }
        Issue.record("reading \(shardID) did not finish", sourceLocation: sourceLocation)
        return ShardReadout(records: records, reachedEnd: false, childShards: [])
    }

    /// What a lineage-following reader saw.
    struct LineageRead {
        /// Records in the order the reader consumed them.
        var records: [StoredRecord]
        /// Shards in the order the reader read them.
        var shardOrder: [String]
    }

    /// Reads a whole stream the way KCL does: shards without a listed parent first; each shard to
    /// its end; a child only once all its parents have ended, found through `ChildShards`.
    /// Records a test issue if a listed shard is never reached this way.
    static func readByLineage(
        _ store: StreamStore, stream: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> LineageRead {
        let shards = try store.listShards(name: stream)
        let listed = Set(shards.map(\.shardID))
        var queue = shards.filter { shard in
            [shard.parentShardID, shard.adjacentParentShardID].compactMap { $0 }.allSatisfy { !listed.contains($0) }
        }.map(\.shardID)
        var queued = Set(queue)
        var ended: Set<String> = []
        var result = LineageRead(records: [], shardOrder: [])
        var cursor = 0
        while cursor < queue.count {
            let shardID = queue[cursor]
            cursor += 1
            let readout = try readShard(store, stream: stream, shardID: shardID, sourceLocation: sourceLocation)
            result.records += readout.records
            result.shardOrder.append(shardID)
            guard readout.reachedEnd else { continue }
            ended.insert(shardID)
            for child in readout.childShards where !queued.contains(child.shardID) {
                if child.parentShardIDs.allSatisfy({ ended.contains($0) || !listed.contains($0) }) {
                    queue.append(child.shardID)
                    queued.insert(child.shardID)
                }
            }
        }
        #expect(
            Set(result.shardOrder) == listed, "lineage reader reached \(result.shardOrder.sorted()) of \(listed.sorted())",
            sourceLocation: sourceLocation)
        return result
    }

    /// Data of each partition key, in the order the records appear.
    static func dataByKey(_ records: [StoredRecord]) -> [String: [[UInt8]]] {
        var byKey: [String: [[UInt8]]] = [:]
        for record in records { byKey[record.partitionKey, default: []].append(record.data) }
        return byKey
    }

    /// The open shards of a stream sorted by starting hash key.
    static func openShards(_ store: StreamStore, stream: String) throws -> [ShardDescription] {
        try store.listShards(name: stream).filter(\.isOpen).sorted { $0.hashKeyRange.start < $1.hashKeyRange.start }
    }
}
