package import SluiceSupport

/// Settings of a `StreamStore`.
package struct StreamStoreConfiguration: Sendable {
    /// Where streams live (created if missing).
    package var dataDirectory: String
    /// When appends are acknowledged; see `DurabilityPolicy`.
    package var durability: DurabilityPolicy = .always
    /// A segment file rolls once it would grow past this many bytes.
    package var segmentSize: Int = 64 << 20
    /// One sparse-index entry per this many bytes of segment.
    package var indexInterval: Int = 64 << 10
    /// Most open shards across all streams (the account shard limit).
    package var shardLimit: Int = 500
    /// Largest record (data plus partition key bytes), 1 MiB as in Kinesis.
    package var maximumRecordSize: Int = 1 << 20
    /// How long a new stream reports CREATING before it turns ACTIVE.
    package var creationDelayMilliseconds: Int64 = 0
    /// How long an iterator stays valid.
    package var iteratorLifetimeMilliseconds: Int64 = 300_000
    /// Used in ARNs and error messages.
    package var accountID: String = "000000000000"
    package var region: String = "us-east-1"
    package var clock: any TimeSource = SystemTimeSource()
    package var fileSystem: FileSystem = .live
    package var logger: Logger = .disabled

    package init(dataDirectory: String) {
        self.dataDirectory = dataDirectory
    }
}

/// Limits of the Kinesis API that the core enforces.
package enum StreamLimits {
    package static let defaultRetentionHours = 24
    package static let minimumRetentionHours = 24
    package static let maximumRetentionHours = 8760
    package static let maximumShardsPerStream = 10_000
    package static let getRecordsMaximumLimit = 10_000
    package static let getRecordsMaximumBytes = 10 << 20
    package static let maximumTagsPerStream = 50
    package static let putRecordsMaximumEntries = 500
    package static let putRecordsMaximumBytes = 5 << 20
}
