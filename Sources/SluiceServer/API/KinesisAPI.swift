import SluiceStreams
import SluiceSupport

/// What a handler learns about a request besides its response: for metrics and the log.
struct RequestContext: Sendable {
    let requestID: String
    let logger: Logger
    /// The stream the request addressed (once resolved).
    var stream: String?
    /// Per shard: records acknowledged and their data+key bytes (PutRecord, PutRecords).
    var incoming: [(shard: String, records: Int, bytes: Int)] = []
    /// The shard a GetRecords call read, and its MillisBehindLatest.
    var iteratorAge: (stream: String, shard: String, milliseconds: Int64)?
}

/// The Kinesis Data Streams operations over a `StreamStore`.
///
/// Every handler takes the request's JSON object and returns the response body (empty for
/// operations without output). It checks, in AWS's order (reference §4): JSON types
/// (`SerializationException`), then model constraints (`ValidationException`), then the
/// semantic checks of the stream core. Thread-safe: it holds no state of its own.
struct KinesisAPI: Sendable {
    let store: StreamStore
    let metrics: Metrics

    var clock: any TimeSource { store.configuration.clock }
    var account: String { store.configuration.accountID }

    /// Runs `operation` and calls `completion` exactly once with the response body or the error,
    /// and the context with what the operation learned. PutRecord and PutRecords complete once
    /// their records are durable, from the shard's syncer thread; every other operation completes
    /// before this returns.
    func perform(
        _ operation: KinesisOperation, _ fields: RequestFields, _ context: RequestContext,
        completion: @escaping @Sendable (Result<[UInt8], APIError>, RequestContext) -> Void
    ) {
        do throws(APIError) {
            switch operation {
            case .putRecord:
                try putRecord(fields, context, completion: completion)
                return
            case .putRecords:
                try putRecords(fields, context, completion: completion)
                return
            default:
                var context = context
                let body = try performNow(operation, fields, &context)
                completion(.success(body), context)
            }
        } catch {
            completion(.failure(error), context)
        }
    }

    /// The operations that answer at once.
    private func performNow(
        _ operation: KinesisOperation, _ fields: RequestFields, _ context: inout RequestContext
    ) throws(APIError) -> [UInt8] {
        switch operation {
        case .createStream: return try createStream(fields)
        case .deleteStream: return try deleteStream(fields, &context)
        case .describeStream: return try describeStream(fields)
        case .describeStreamSummary: return try describeStreamSummary(fields)
        case .listStreams: return try listStreams(fields)
        case .describeLimits: return try describeLimits(fields)
        case .listShards: return try listShards(fields)
        case .splitShard: return try splitShard(fields)
        case .mergeShards: return try mergeShards(fields)
        case .updateShardCount: return try updateShardCount(fields)
        case .putRecord, .putRecords:
            preconditionFailure("PutRecord and PutRecords complete asynchronously; see perform(_:_:_:completion:)")
        case .getShardIterator: return try getShardIterator(fields)
        case .getRecords: return try getRecords(fields, &context)
        case .increaseStreamRetentionPeriod: return try changeRetention(fields, increase: true)
        case .decreaseStreamRetentionPeriod: return try changeRetention(fields, increase: false)
        case .addTagsToStream: return try addTags(fields)
        case .removeTagsFromStream: return try removeTags(fields)
        case .listTagsForStream: return try listTags(fields)
        }
    }

    // MARK: - Addressing a stream

    /// `StreamName` and/or `StreamARN` of a request (every stream-addressed operation accepts
    /// either, or both naming the same stream).
    struct StreamReference {
        var name: String?
        var arn: String?

        init(_ fields: RequestFields) throws(APIError) {
            name = try fields.string("StreamName")
            arn = try fields.string("StreamARN")
            _ = try fields.string("StreamId")  // reserved by AWS; type-checked, otherwise ignored
        }

        /// Adds the model's constraints on both members.
        func validate(into errors: inout ValidationErrors) {
            ModelRules.name(name, at: "streamName", into: &errors)
            ModelRules.streamARN(arn, into: &errors)
        }
    }

    /// The stream a validated reference names.
    ///
    /// ARNs are matched by name only: Sluice is one account in one region, so an ARN copied from
    /// another tool with a different account id or region still finds the stream of that name.
    /// - Throws: `InvalidArgumentException` when neither member is given (AWS's message), when
    ///   the ARN is not a stream ARN, or when both are given and name different streams.
    func resolve(_ reference: StreamReference) throws(APIError) -> String {
        guard let arn = reference.arn else {
            guard let name = reference.name else {
                throw APIError.invalidArgument("Stream arn and stream name can't be empty at the same time")
            }
            return name
        }
        guard let fromARN = StreamStore.streamName(fromARN: arn), fromARN.utf8.allSatisfy(ModelRules.isNameByte) else {
            throw APIError.invalidArgument(
                "StreamARN \(arn) is not a Kinesis stream ARN; expected arn:aws:kinesis:<region>:<account>:stream/<name>."
            )
        }
        if let name = reference.name, name != fromARN {
            throw APIError.invalidArgument(
                "StreamARN \(arn) names stream \(fromARN) but StreamName is \(name); send one of them, or both naming the same stream."
            )
        }
        return fromARN
    }

    /// Decodes, validates and resolves the stream of a request that has no other members to
    /// validate.
    func stream(_ fields: RequestFields) throws(APIError) -> String {
        let reference = try StreamReference(fields)
        var errors = ValidationErrors()
        reference.validate(into: &errors)
        try errors.checkAPI()
        return try resolve(reference)
    }

    // MARK: - Shared response pieces

    /// Writes a `Shard` structure (DescribeStream, ListShards).
    static func write(_ shard: ShardDescription, to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("ShardId")
        writer.string(shard.shardID)
        if let parent = shard.parentShardID {
            writer.key("ParentShardId")
            writer.string(parent)
        }
        if let adjacent = shard.adjacentParentShardID {
            writer.key("AdjacentParentShardId")
            writer.string(adjacent)
        }
        writer.key("HashKeyRange")
        write(shard.hashKeyRange, to: &writer)
        writer.key("SequenceNumberRange")
        writer.beginObject()
        writer.key("StartingSequenceNumber")
        writer.string(shard.startingSequenceNumber.description)
        if let ending = shard.endingSequenceNumber {
            writer.key("EndingSequenceNumber")
            writer.string(ending.description)
        }
        writer.endObject()
        writer.endObject()
    }

    static func write(_ range: HashKeyRange, to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("StartingHashKey")
        writer.string(String(range.start))
        writer.key("EndingHashKey")
        writer.string(String(range.end))
        writer.endObject()
    }

    /// `"StreamModeDetails": {"StreamMode": "PROVISIONED"}`, `"EnhancedMonitoring":
    /// [{"ShardLevelMetrics": []}]` and `"EncryptionType": "NONE"`, as AWS sends them for a
    /// provisioned, unencrypted stream without enhanced monitoring (reference §1.2, §8).
    static func writeStreamDefaults(to writer: inout JSONWriter) {
        writer.key("StreamModeDetails")
        writeStreamMode(to: &writer)
        writer.key("EnhancedMonitoring")
        writer.beginArray()
        writer.beginObject()
        writer.key("ShardLevelMetrics")
        writer.beginArray()
        writer.endArray()
        writer.endObject()
        writer.endArray()
        writer.key("EncryptionType")
        writer.string("NONE" as StaticString)
    }

    /// Every stream reports PROVISIONED: the core has no stream mode (see `createStream`).
    static func writeStreamMode(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("StreamMode")
        writer.string("PROVISIONED" as StaticString)
        writer.endObject()
    }
}
