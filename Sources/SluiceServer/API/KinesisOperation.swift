/// The Kinesis Data Streams operations Sluice answers (`X-Amz-Target: Kinesis_20131202.<name>`).
package enum KinesisOperation: String, Sendable, CaseIterable {
    case addTagsToStream = "AddTagsToStream"
    case createStream = "CreateStream"
    case decreaseStreamRetentionPeriod = "DecreaseStreamRetentionPeriod"
    case deleteStream = "DeleteStream"
    case describeLimits = "DescribeLimits"
    case describeStream = "DescribeStream"
    case describeStreamSummary = "DescribeStreamSummary"
    case getRecords = "GetRecords"
    case getShardIterator = "GetShardIterator"
    case increaseStreamRetentionPeriod = "IncreaseStreamRetentionPeriod"
    case listShards = "ListShards"
    case listStreams = "ListStreams"
    case listTagsForStream = "ListTagsForStream"
    case mergeShards = "MergeShards"
    case putRecord = "PutRecord"
    case putRecords = "PutRecords"
    case removeTagsFromStream = "RemoveTagsFromStream"
    case splitShard = "SplitShard"
    case updateShardCount = "UpdateShardCount"

    /// The `X-Amz-Target` prefix of the Kinesis API.
    package static let targetPrefix = "Kinesis_20131202."

    /// Operations of the AWS model that Sluice does not implement; asking for one gets an
    /// `UnknownOperationException` that says so, rather than a bare "unknown".
    static let unsupported: Set<String> = [
        "DeleteResourcePolicy", "DeregisterStreamConsumer", "DescribeAccountSettings", "DescribeStreamConsumer",
        "DisableEnhancedMonitoring", "EnableEnhancedMonitoring", "GetResourcePolicy", "ListStreamConsumers",
        "ListTagsForResource", "PutResourcePolicy", "RegisterStreamConsumer", "StartStreamEncryption",
        "StopStreamEncryption", "SubscribeToShard", "TagResource", "UntagResource", "UpdateAccountSettings",
        "UpdateMaxRecordSize", "UpdateStreamMode", "UpdateStreamWarmThroughput",
    ]

    private static let byName: [String: KinesisOperation] = Dictionary(
        uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })

    /// The operation named by an `X-Amz-Target` value, or nil.
    static func named(target: String) -> KinesisOperation? {
        guard target.hasPrefix(targetPrefix) else { return nil }
        return byName[String(target.dropFirst(targetPrefix.count))]
    }
}
