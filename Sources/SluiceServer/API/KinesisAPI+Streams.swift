import SluiceStreams
import SluiceSupport

extension KinesisAPI {
    /// Page size of DescribeStream and ListStreams: the default, and the most AWS returns.
    static let describePageSize = 100

    // MARK: - CreateStream

    /// CreateStream: `StreamName`, `ShardCount` (default 4, what AWS created in a recorded run
    /// without it), `Tags`; empty output.
    ///
    /// `StreamModeDetails` is validated and accepted, but the core has no on-demand mode: an
    /// `ON_DEMAND` stream is created with `ShardCount` shards (default 4) and reports
    /// `PROVISIONED`, so resharding stays allowed on it. `MaxRecordSizeInKiB` and
    /// `WarmThroughputMiBps` are validated and ignored: the record size limit is the store's.
    func createStream(_ fields: RequestFields) throws(APIError) -> [UInt8] {
        let name = try fields.string("StreamName")
        let shardCount = try fields.integer("ShardCount")
        let modeDetails = try fields.structure("StreamModeDetails")
        let mode = try modeDetails?.string("StreamMode")
        let tags = try fields.stringMap("Tags")
        let warmThroughput = try fields.integer("WarmThroughputMiBps")
        let maximumRecordSize = try fields.integer("MaxRecordSizeInKiB")

        var errors = ValidationErrors()
        ModelRules.range(shardCount, at: "shardCount", min: 1, into: &errors)
        ModelRules.required(name, at: "streamName", into: &errors)
        ModelRules.name(name, at: "streamName", into: &errors)
        if modeDetails != nil {
            ModelRules.required(mode, at: "streamModeDetails.streamMode", into: &errors)
            ModelRules.oneOf(mode, ["PROVISIONED", "ON_DEMAND"], at: "streamModeDetails.streamMode", into: &errors)
        }
        if let tags { Self.validateTagCount(tags, into: &errors) }
        ModelRules.range(warmThroughput, at: "warmThroughputMiBps", min: 0, into: &errors)
        ModelRules.range(maximumRecordSize, at: "maxRecordSizeInKiB", min: 1024, max: 10240, into: &errors)
        try errors.checkAPI()
        guard let name else { return [] }  // unreachable: `required` above

        let tagMap = Dictionary(tags ?? [], uniquingKeysWith: { _, last in last })
        try mapped { () throws(StreamError) in
            try store.createStream(name: name, shardCount: shardCount ?? 4, tags: tagMap)
        }
        return []
    }

    /// The `TagMap` size rule (1-200 entries), rendered like AWS renders maps.
    static func validateTagCount(_ tags: [(key: String, value: String)], into errors: inout ValidationErrors) {
        if tags.isEmpty {
            errors.add(value: "{}", at: "tags", "Member must have length greater than or equal to 1")
        } else if tags.count > 200 {
            let rendered = "{" + tags.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") + "}"
            errors.add(value: rendered, at: "tags", "Member must have length less than or equal to 200")
        }
    }

    // MARK: - DeleteStream

    /// DeleteStream: `StreamName`/`StreamARN`, `EnforceConsumerDeletion` (there are no
    /// consumers, so it changes nothing); empty output. The stream's metric series go with it.
    func deleteStream(_ fields: RequestFields, _ context: inout RequestContext) throws(APIError) -> [UInt8] {
        _ = try fields.boolean("EnforceConsumerDeletion")
        let name = try stream(fields)
        context.stream = name
        try mapped { () throws(StreamError) in try store.deleteStream(name: name) }
        metrics.forget(stream: name)
        return []
    }

    // MARK: - DescribeStream

    /// DescribeStream: `Limit` (1-10000; default 100 and at most 100 returned),
    /// `ExclusiveStartShardId` (shards after it, by index); returns `StreamDescription` with
    /// `HasMoreShards`.
    func describeStream(_ fields: RequestFields) throws(APIError) -> [UInt8] {
        let reference = try StreamReference(fields)
        let limit = try fields.integer("Limit")
        let exclusiveStart = try fields.string("ExclusiveStartShardId")
        var errors = ValidationErrors()
        reference.validate(into: &errors)
        ModelRules.range(limit, at: "limit", min: 1, max: 10000, into: &errors)
        ModelRules.name(exclusiveStart, at: "exclusiveStartShardId", into: &errors)
        try errors.checkAPI()
        let name = try resolve(reference)

        let description = try mapped { () throws(StreamError) in try store.describeStream(name: name) }
        let after = description.shards.filter { Self.isShard($0.shardID, after: exclusiveStart) }
        let page = after.prefix(min(limit ?? Self.describePageSize, Self.describePageSize))

        var writer = JSONWriter(capacity: 512 + page.count * 320)
        writer.beginObject()
        writer.key("StreamDescription")
        writer.beginObject()
        writer.key("StreamName")
        writer.string(description.name)
        writer.key("StreamARN")
        writer.string(description.arn)
        writer.key("StreamStatus")
        writer.string(description.status.rawValue)
        writer.key("Shards")
        writer.beginArray()
        for shard in page { Self.write(shard, to: &writer) }
        writer.endArray()
        writer.key("HasMoreShards")
        writer.bool(after.count > page.count)
        writer.key("RetentionPeriodHours")
        writer.number(description.retentionHours)
        writer.key("StreamCreationTimestamp")
        writer.timestamp(milliseconds: description.createdAt)
        Self.writeStreamDefaults(to: &writer)
        writer.endObject()
        writer.endObject()
        return writer.bytes
    }

    /// True when `shardID` comes after `start` (nil: every shard). Shard ids compare by index,
    /// normalised the way AWS does (`shardId-5` is `shardId-000000000005`); a start that is not a
    /// shard id compares as text.
    static func isShard(_ shardID: String, after start: String?) -> Bool {
        guard let start else { return true }
        if let startIndex = ShardID.index(of: start), let index = ShardID.index(of: shardID) {
            return index > startIndex
        }
        return shardID > start
    }

    // MARK: - DescribeStreamSummary

    /// DescribeStreamSummary: `StreamDescriptionSummary` with `OpenShardCount` and
    /// `ConsumerCount` 0 (Sluice has no enhanced fan-out consumers).
    func describeStreamSummary(_ fields: RequestFields) throws(APIError) -> [UInt8] {
        let name = try stream(fields)
        let description = try mapped { () throws(StreamError) in try store.describeStream(name: name) }
        var writer = JSONWriter(capacity: 512)
        writer.beginObject()
        writer.key("StreamDescriptionSummary")
        writer.beginObject()
        writer.key("StreamName")
        writer.string(description.name)
        writer.key("StreamARN")
        writer.string(description.arn)
        writer.key("StreamStatus")
        writer.string(description.status.rawValue)
        writer.key("RetentionPeriodHours")
        writer.number(description.retentionHours)
        writer.key("StreamCreationTimestamp")
        writer.timestamp(milliseconds: description.createdAt)
        Self.writeStreamDefaults(to: &writer)
        writer.key("OpenShardCount")
        writer.number(description.openShardCount)
        writer.key("ConsumerCount")
        writer.number(0)
        let maximumRecordSize = store.configuration.maximumRecordSize
        if maximumRecordSize % 1024 == 0, (1024...10240).contains(maximumRecordSize / 1024) {
            writer.key("MaxRecordSizeInKiB")
            writer.number(maximumRecordSize / 1024)
        }
        writer.endObject()
        writer.endObject()
        return writer.bytes
    }

    // MARK: - ListStreams

    /// ListStreams: names in lexical order after `ExclusiveStartStreamName` or the `NextToken`'s
    /// position (the token wins when both are given), `Limit` 1-10000 (default 100, at most 100
    /// returned); returns `StreamNames`, `HasMoreStreams`, `StreamSummaries` and a `NextToken`
    /// when there are more.
    func listStreams(_ fields: RequestFields) throws(APIError) -> [UInt8] {
        let limit = try fields.integer("Limit")
        let exclusiveStart = try fields.string("ExclusiveStartStreamName")
        let nextToken = try fields.string("NextToken")
        var errors = ValidationErrors()
        ModelRules.range(limit, at: "limit", min: 1, max: 10000, into: &errors)
        ModelRules.name(exclusiveStart, at: "exclusiveStartStreamName", into: &errors)
        ModelRules.length(nextToken, at: "nextToken", min: 1, max: 1_048_576, into: &errors)
        try errors.checkAPI()

        let now = clock.now()
        var after = exclusiveStart
        if let nextToken {
            guard let token = PageToken.decode(nextToken, kind: .streams) else {
                throw PageToken.invalid(nextToken, kind: .streams)
            }
            try token.checkNotExpired(now: now)
            after = token.after
        }
        let pageSize = min(limit ?? Self.describePageSize, Self.describePageSize)
        let names = store.listStreams().filter { after == nil || $0 > after! }
        var page: [StreamDescription] = []
        var consumed = 0
        for name in names {
            guard page.count < pageSize else { break }
            consumed += 1
            do throws(StreamError) {
                page.append(try store.describeStream(name: name))
            } catch {
                continue  // deleted since the listing: left out
            }
        }
        let hasMore = consumed < names.count

        var writer = JSONWriter(capacity: 128 + page.count * 256)
        writer.beginObject()
        writer.key("StreamNames")
        writer.beginArray()
        for description in page { writer.string(description.name) }
        writer.endArray()
        writer.key("HasMoreStreams")
        writer.bool(hasMore)
        if hasMore, let last = page.last?.name ?? names.prefix(consumed).last {
            writer.key("NextToken")
            writer.string(PageToken(kind: .streams, issued: now.milliseconds, after: last).encoded())
        }
        writer.key("StreamSummaries")
        writer.beginArray()
        for description in page {
            writer.beginObject()
            writer.key("StreamName")
            writer.string(description.name)
            writer.key("StreamARN")
            writer.string(description.arn)
            writer.key("StreamStatus")
            writer.string(description.status.rawValue)
            writer.key("StreamModeDetails")
            Self.writeStreamMode(to: &writer)
            writer.key("StreamCreationTimestamp")
            writer.timestamp(milliseconds: description.createdAt)
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return writer.bytes
    }

    // MARK: - DescribeLimits

    /// DescribeLimits: the store's shard limit and open shards; no on-demand streams, and AWS's
    /// default on-demand limit of 50.
    func describeLimits(_ fields: RequestFields) throws(APIError) -> [UInt8] {
        let limits = store.limits()
        var writer = JSONWriter(capacity: 128)
        writer.beginObject()
        writer.key("ShardLimit")
        writer.number(limits.shardLimit)
        writer.key("OpenShardCount")
        writer.number(limits.openShardCount)
        writer.key("OnDemandStreamCount")
        writer.number(0)
        writer.key("OnDemandStreamCountLimit")
        writer.number(50)
        writer.endObject()
        return writer.bytes
    }
}
