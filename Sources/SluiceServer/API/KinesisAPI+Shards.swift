import SluiceStreams
import SluiceSupport

extension KinesisAPI {
    /// Page size of ListShards: the default, and the most returned per call.
    static let listShardsPageSize = 1000

    static let shardFilterTypes = [
        "AFTER_SHARD_ID", "AT_TRIM_HORIZON", "FROM_TRIM_HORIZON", "AT_LATEST", "AT_TIMESTAMP", "FROM_TIMESTAMP",
    ]

    // MARK: - ListShards

    /// ListShards: the shards of a stream (closed ones until retention removes them), after
    /// `ExclusiveStartShardId`, narrowed by `ShardFilter`, at most `MaxResults` (1-10000;
    /// default 1000, at most 1000 returned), with a `NextToken` when there are more.
    ///
    /// AWS allows `NextToken` only alone (with `MaxResults`). Sluice deliberately also accepts
    /// a `NextToken` together with a `StreamName`/`StreamARN` that names the token's stream,
    /// and with the same `ExclusiveStartShardId`, `ShardFilter` and `StreamCreationTimestamp`
    /// as the request that produced the token: boto3's `list_shards` paginator and the AWS CLI's
    /// auto-pagination resend the original parameters with every token (boto/botocore#2009),
    /// which AWS refuses once a stream has more than 1000 shards. Anything that contradicts the
    /// token is refused with AWS's messages ("NextToken and StreamName cannot be provided
    /// together." and so on). A token also carries the filter of the first request, so every
    /// page applies the same filter.
    func listShards(_ fields: RequestFields) throws(APIError) -> [UInt8] {
        let reference = try StreamReference(fields)
        let nextToken = try fields.string("NextToken")
        let exclusiveStart = try fields.string("ExclusiveStartShardId")
        let maxResults = try fields.integer("MaxResults")
        let creation = try fields.timestamp("StreamCreationTimestamp")
        let filterFields = try fields.structure("ShardFilter")
        let filterType = try filterFields?.string("Type")
        let filterShardID = try filterFields?.string("ShardId")
        let filterTimestamp = try filterFields?.timestamp("Timestamp")

        var errors = ValidationErrors()
        reference.validate(into: &errors)
        ModelRules.length(nextToken, at: "nextToken", min: 1, max: 1_048_576, into: &errors)
        ModelRules.name(exclusiveStart, at: "exclusiveStartShardId", into: &errors)
        ModelRules.range(maxResults, at: "maxResults", min: 1, max: 10000, into: &errors)
        if filterFields != nil {
            ModelRules.required(filterType, at: "shardFilter.type", into: &errors)
            ModelRules.oneOf(filterType, Self.shardFilterTypes, at: "shardFilter.type", into: &errors)
            ModelRules.name(filterShardID, at: "shardFilter.shardId", into: &errors)
        }
        try errors.checkAPI()

        let now = clock.now()
        var filter = filterType.map {
            PageToken.ShardFilter(type: $0, shardID: filterShardID, timestamp: filterTimestamp?.milliseconds)
        }
        var after = exclusiveStart
        let name: String
        var tokenStreamCreated: Int64?
        var originalExclusiveStart = exclusiveStart
        if let nextToken {
            guard let token = PageToken.decode(nextToken, kind: .shards), let tokenStream = token.stream else {
                throw PageToken.invalid(nextToken, kind: .shards)
            }
            try token.checkNotExpired(now: now)
            if reference.name != nil || reference.arn != nil {
                let named = try resolve(reference)
                if named != tokenStream {
                    let member = reference.name == nil ? "StreamARN" : "StreamName"
                    throw APIError.invalidArgument("NextToken and \(member) cannot be provided together.")
                }
            }
            if let exclusiveStart, exclusiveStart != token.exclusiveStartShardID {
                throw APIError.invalidArgument("NextToken and ExclusiveStartShardId cannot be provided together.")
            }
            if let filter, filter != token.filter {
                throw APIError.invalidArgument("NextToken and ShardFilter cannot be provided together.")
            }
            if let creation, let created = token.streamCreated, !Self.sameCreationTime(creation, created) {
                throw APIError.invalidArgument("NextToken and StreamCreationTimestamp cannot be provided together.")
            }
            name = tokenStream
            after = token.after
            filter = token.filter
            tokenStreamCreated = token.streamCreated
            originalExclusiveStart = token.exclusiveStartShardID
        } else {
            guard reference.name != nil || reference.arn != nil else {
                throw APIError.invalidArgument("Either NextToken or StreamName should be provided.")
            }
            name = try resolve(reference)
            if let filter {
                if filter.type == "AFTER_SHARD_ID" && filter.shardID == nil {
                    throw APIError.invalidArgument(
                        "ShardFilter of type AFTER_SHARD_ID needs a ShardId: the shards after it are listed.")
                }
                if (filter.type == "AT_TIMESTAMP" || filter.type == "FROM_TIMESTAMP") && filter.timestamp == nil {
                    throw APIError.invalidArgument(
                        "ShardFilter of type \(filter.type) needs a Timestamp (epoch seconds).")
                }
            }
        }

        let description = try mapped { () throws(StreamError) in try store.describeStream(name: name) }
        if let tokenStreamCreated, tokenStreamCreated != description.createdAt {
            throw APIError.invalidArgument(
                "NextToken was issued for an earlier stream named \(name), which has been deleted since; call ListShards again without NextToken."
            )
        }
        if nextToken == nil, let creation, !Self.sameCreationTime(creation, description.createdAt) {
            throw APIError(.resourceNotFound, "Stream \(name) under account \(account) not found.")
        }
        let retentionStart = now.milliseconds - Int64(description.retentionHours) * 3_600_000
        let matching = description.shards.filter { shard in
            Self.isShard(shard.shardID, after: after)
                && Self.shard(shard, matches: filter, streamCreated: description.createdAt, trimHorizon: retentionStart)
        }
        let page = matching.prefix(min(maxResults ?? Self.listShardsPageSize, Self.listShardsPageSize))

        var writer = JSONWriter(capacity: 64 + page.count * 320)
        writer.beginObject()
        writer.key("Shards")
        writer.beginArray()
        for shard in page { Self.write(shard, to: &writer) }
        writer.endArray()
        if matching.count > page.count, let last = page.last {
            var token = PageToken(kind: .shards, issued: now.milliseconds, after: last.shardID)
            token.stream = name
            token.streamCreated = description.createdAt
            token.exclusiveStartShardID = originalExclusiveStart
            token.filter = filter
            writer.key("NextToken")
            writer.string(token.encoded())
        }
        writer.endObject()
        return writer.bytes
    }

    /// `StreamCreationTimestamp` as clients send it back: boto3 sends whole seconds by default,
    /// so anything within the creation second matches.
    static func sameCreationTime(_ given: Timestamp, _ created: Int64) -> Bool {
        given.milliseconds == created || given.milliseconds / 1000 == created / 1000
    }

    /// The `ShardFilter` semantics of the model documentation. Times before the stream existed
    /// mean its creation, so `AT_TRIM_HORIZON` of a young stream and `AT_TIMESTAMP` of an early
    /// time list the shards the stream started with (what KCL needs to begin).
    static func shard(
        _ shard: ShardDescription, matches filter: PageToken.ShardFilter?, streamCreated: Int64, trimHorizon: Int64
    ) -> Bool {
        guard let filter else { return true }
        func openAt(_ time: Int64) -> Bool {
            let time = max(time, streamCreated)
            return shard.createdAt <= time && (shard.closedAt.map { $0 > time } ?? true)
        }
        switch filter.type {
        case "AFTER_SHARD_ID": return isShard(shard.shardID, after: filter.shardID)
        case "AT_TRIM_HORIZON": return openAt(trimHorizon)
        case "FROM_TRIM_HORIZON": return shard.closedAt.map { $0 >= trimHorizon } ?? true
        case "AT_LATEST": return shard.isOpen
        case "AT_TIMESTAMP": return openAt(filter.timestamp ?? streamCreated)
        case "FROM_TIMESTAMP": return shard.closedAt.map { $0 >= (filter.timestamp ?? streamCreated) } ?? true
        default: return true
        }
    }

    // MARK: - SplitShard, MergeShards, UpdateShardCount

    /// SplitShard: `ShardToSplit`, `NewStartingHashKey`; empty output.
    func splitShard(_ fields: RequestFields) throws(APIError) -> [UInt8] {
        let reference = try StreamReference(fields)
        let shardToSplit = try fields.string("ShardToSplit")
        let newStartingHashKey = try fields.string("NewStartingHashKey")
        var errors = ValidationErrors()
        ModelRules.required(newStartingHashKey, at: "newStartingHashKey", into: &errors)
        ModelRules.hashKey(newStartingHashKey, at: "newStartingHashKey", into: &errors)
        ModelRules.required(shardToSplit, at: "shardToSplit", into: &errors)
        ModelRules.name(shardToSplit, at: "shardToSplit", into: &errors)
        reference.validate(into: &errors)
        try errors.checkAPI()
        let name = try resolve(reference)
        guard let shardToSplit, let newStartingHashKey else { return [] }  // unreachable: `required` above
        try mapped { () throws(StreamError) in
            try store.splitShard(stream: name, shardToSplit: shardToSplit, newStartingHashKey: newStartingHashKey)
        }
        return []
    }

    /// MergeShards: `ShardToMerge`, `AdjacentShardToMerge` (its hash keys must follow the first
    /// shard's); empty output.
    func mergeShards(_ fields: RequestFields) throws(APIError) -> [UInt8] {
        let reference = try StreamReference(fields)
        let shardToMerge = try fields.string("ShardToMerge")
        let adjacentShardToMerge = try fields.string("AdjacentShardToMerge")
        var errors = ValidationErrors()
        ModelRules.required(adjacentShardToMerge, at: "adjacentShardToMerge", into: &errors)
        ModelRules.name(adjacentShardToMerge, at: "adjacentShardToMerge", into: &errors)
        ModelRules.required(shardToMerge, at: "shardToMerge", into: &errors)
        ModelRules.name(shardToMerge, at: "shardToMerge", into: &errors)
        reference.validate(into: &errors)
        try errors.checkAPI()
        let name = try resolve(reference)
        guard let shardToMerge, let adjacentShardToMerge else { return [] }  // unreachable: `required` above
        try mapped { () throws(StreamError) in
            try store.mergeShards(stream: name, shardToMerge: shardToMerge, adjacentShardToMerge: adjacentShardToMerge)
        }
        return []
    }

    /// UpdateShardCount: `TargetShardCount`, `ScalingType` (only `UNIFORM_SCALING`); returns
    /// `StreamName`, `CurrentShardCount` (the count before), `TargetShardCount`, `StreamARN`.
    func updateShardCount(_ fields: RequestFields) throws(APIError) -> [UInt8] {
        let reference = try StreamReference(fields)
        let target = try fields.integer("TargetShardCount")
        let scalingType = try fields.string("ScalingType")
        var errors = ValidationErrors()
        ModelRules.required(scalingType, at: "scalingType", into: &errors)
        ModelRules.oneOf(scalingType, ["UNIFORM_SCALING"], at: "scalingType", into: &errors)
        ModelRules.required(target, at: "targetShardCount", into: &errors)
        ModelRules.range(target, at: "targetShardCount", min: 1, into: &errors)
        reference.validate(into: &errors)
        try errors.checkAPI()
        let name = try resolve(reference)
        guard let target else { return [] }  // unreachable: `required` above
        let update = try mapped { () throws(StreamError) in
            try store.updateShardCount(stream: name, targetShardCount: target)
        }
        var writer = JSONWriter(capacity: 256)
        writer.beginObject()
        writer.key("StreamName")
        writer.string(name)
        writer.key("CurrentShardCount")
        writer.number(update.currentShardCount)
        writer.key("TargetShardCount")
        writer.number(update.targetShardCount)
        writer.key("StreamARN")
        writer.string(store.arn(of: name))
        writer.endObject()
        return writer.bytes
    }
}
