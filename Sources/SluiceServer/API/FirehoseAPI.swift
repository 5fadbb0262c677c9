import SluicePipelines
import SluiceStreams
import SluiceSupport

/// The Amazon Data Firehose operations Sluice answers (`X-Amz-Target: Firehose_20150804.<name>`).
package enum FirehoseOperation: String, Sendable, CaseIterable {
    case putRecord = "PutRecord"
    case putRecordBatch = "PutRecordBatch"
    case describeDeliveryStream = "DescribeDeliveryStream"
    case listDeliveryStreams = "ListDeliveryStreams"
    case listTagsForDeliveryStream = "ListTagsForDeliveryStream"
    case createDeliveryStream = "CreateDeliveryStream"
    case deleteDeliveryStream = "DeleteDeliveryStream"
    case updateDestination = "UpdateDestination"
    case tagDeliveryStream = "TagDeliveryStream"
    case untagDeliveryStream = "UntagDeliveryStream"
    case startDeliveryStreamEncryption = "StartDeliveryStreamEncryption"
    case stopDeliveryStreamEncryption = "StopDeliveryStreamEncryption"

    package static let targetPrefix = "Firehose_20150804."

    static func named(target: String) -> FirehoseOperation? {
        guard target.hasPrefix(targetPrefix) else { return nil }
        return FirehoseOperation(rawValue: String(target.dropFirst(targetPrefix.count)))
    }

    /// The label for metrics and the access log.
    var label: String { "Firehose." + rawValue }
}

/// Firehose's data plane over pipelines with a `directPut` source, and a read-only control plane
/// that reflects the pipeline files. Pipelines are defined by files, so the create, delete and
/// update operations explain that instead of changing anything.
struct FirehoseAPI: Sendable {
    let store: StreamStore
    let pipelines: PipelineManager?

    static let maximumRecordBytes = 1_024_000
    static let maximumBatchBytes = 4 << 20
    static let maximumBatchRecords = 500

    var account: String { store.configuration.accountID }
    var region: String { store.configuration.region }

    func perform(
        _ operation: FirehoseOperation, _ fields: RequestFields, _ context: RequestContext,
        completion: @escaping @Sendable (Result<[UInt8], APIError>, RequestContext) -> Void
    ) {
        do throws(APIError) {
            switch operation {
            case .putRecord:
                try putRecord(fields, context, completion: completion)
            case .putRecordBatch:
                try putRecordBatch(fields, context, completion: completion)
            case .describeDeliveryStream:
                completion(.success(try describe(fields)), context)
            case .listDeliveryStreams:
                completion(.success(try list(fields)), context)
            case .listTagsForDeliveryStream:
                _ = try pipeline(try deliveryStreamName(fields))
                completion(.success(Array(#"{"Tags":[],"HasMoreTags":false}"#.utf8)), context)
            case .createDeliveryStream, .deleteDeliveryStream, .updateDestination, .tagDeliveryStream, .untagDeliveryStream,
                .startDeliveryStreamEncryption, .stopDeliveryStreamEncryption:
                throw APIError(
                    .invalidArgument,
                    "Sluice defines delivery streams by pipeline files, so \(operation.rawValue) is not available: add, edit or remove "
                        + "a JSON file in the pipelines directory (check it with `sluice validate`) and restart `sluice serve`.")
            }
        } catch {
            completion(.failure(error), context)
        }
    }

    // MARK: - Lookup

    private func deliveryStreamName(_ fields: RequestFields) throws(APIError) -> String {
        let name = try fields.string("DeliveryStreamName")
        var errors = ValidationErrors()
        ModelRules.required(name, at: "deliveryStreamName", into: &errors)
        if let name {
            ModelRules.length(name, at: "deliveryStreamName", min: 1, max: 64, into: &errors)
            if !name.isEmpty, !name.utf8.allSatisfy(ModelRules.isNameByte) {
                errors.add(value: name, at: "deliveryStreamName", "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
            }
        }
        try errors.checkAPI()
        return name!
    }

    private func pipeline(_ name: String) throws(APIError) -> PipelineRunner {
        guard let runner = pipelines?.runner(named: name) else {
            throw APIError(.resourceNotFound, "Firehose \(name) under account \(account) not found.")
        }
        return runner
    }

    private func directPutStream(_ name: String) throws(APIError) -> String {
        let runner = try pipeline(name)
        guard case .directPut = runner.definition.source else {
            throw APIError(
                .invalidArgument,
                "This operation is not permitted on KinesisStreamAsSource delivery stream type. Pipeline \(name) reads stream "
                    + "\(runner.definition.streamName); put records into that stream with Kinesis PutRecords instead.")
        }
        return runner.definition.streamName
    }

    /// Records without a partition key are spread over the backing stream's shards.
    private static func partitionKey() -> String {
        String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }

    // MARK: - PutRecord and PutRecordBatch

    private func putRecord(
        _ fields: RequestFields, _ context: RequestContext,
        completion: @escaping @Sendable (Result<[UInt8], APIError>, RequestContext) -> Void
    ) throws(APIError) {
        let record = try fields.structure("Record")
        let data = try record?.blob("Data")
        let name = try deliveryStreamName(fields)
        var errors = ValidationErrors()
        ModelRules.required(record, at: "record", into: &errors)
        if record != nil { ModelRules.required(data, at: "record.data", into: &errors) }
        if let data, data.count > Self.maximumRecordBytes {
            errors.add(
                value: "java.nio.HeapByteBuffer[pos=0 lim=\(data.count) cap=\(data.count)]", at: "record.data",
                "Member must have length less than or equal to \(Self.maximumRecordBytes)")
        }
        try errors.checkAPI()
        let stream = try directPutStream(name)
        var context = context
        context.stream = stream
        let started = context
        do {
            try store.putRecord(stream: stream, partitionKey: Self.partitionKey(), data: data ?? [], explicitHashKey: nil) { result in
                switch result {
                case .failure(let error):
                    completion(.failure(Self.unavailable(error)), started)
                case .success(let stored):
                    var context = started
                    context.incoming = [(stored.shardID, 1, data?.count ?? 0)]
                    var writer = JSONWriter(capacity: 96)
                    writer.beginObject()
                    writer.key("RecordId")
                    writer.string(stored.sequenceNumber.description)
                    writer.key("Encrypted")
                    writer.bool(false)
                    writer.endObject()
                    completion(.success(writer.bytes), context)
                }
            }
        } catch {
            throw Self.unavailable(error)
        }
    }

    private func putRecordBatch(
        _ fields: RequestFields, _ context: RequestContext,
        completion: @escaping @Sendable (Result<[UInt8], APIError>, RequestContext) -> Void
    ) throws(APIError) {
        let list = try fields.list("Records")
        let name = try deliveryStreamName(fields)
        var errors = ValidationErrors()
        ModelRules.required(list, at: "records", into: &errors)
        var entries: [PutRecordsEntry] = []
        var total = 0
        if let list {
            if list.isEmpty {
                errors.add(value: "[]", at: "records", "Member must have length greater than or equal to 1")
            } else if list.count > Self.maximumBatchRecords {
                errors.add(value: nil, at: "records", "Member must have length less than or equal to \(Self.maximumBatchRecords)")
            }
            entries.reserveCapacity(list.count)
            for (index, element) in list.enumerated() {
                guard let record = try RequestFields.structure(element) else {
                    errors.add(value: nil, at: "records.\(index + 1).member.data", "Member must not be null")
                    continue
                }
                guard let data = try record.blob("Data") else {
                    errors.add(value: nil, at: "records.\(index + 1).member.data", "Member must not be null")
                    continue
                }
                if data.count > Self.maximumRecordBytes {
                    errors.add(
                        value: "java.nio.HeapByteBuffer[pos=0 lim=\(data.count) cap=\(data.count)]", at: "records.\(index + 1).member.data",
                        "Member must have length less than or equal to \(Self.maximumRecordBytes)")
                }
                total += data.count
                entries.append(PutRecordsEntry(partitionKey: Self.partitionKey(), data: data))
            }
        }
        try errors.checkAPI()
        if total > Self.maximumBatchBytes {
            throw APIError(
                .invalidArgument,
                "Records size exceeds 4 MB limit: this batch holds \(total) bytes of data; send at most \(Self.maximumBatchBytes) bytes per PutRecordBatch call.")
        }
        let stream = try directPutStream(name)
        var context = context
        context.stream = stream
        let started = context
        let sizes = entries.map(\.data.count)
        do {
            try store.putRecords(stream: stream, entries: entries) { results in
                var context = started
                var writer = JSONWriter(capacity: 64 + results.count * 64)
                var failed = 0
                var perShard: [String: (records: Int, bytes: Int)] = [:]
                writer.beginObject()
                writer.key("RequestResponses")
                writer.beginArray()
                for (index, result) in results.enumerated() {
                    writer.beginObject()
                    switch result {
                    case .success(let stored):
                        writer.key("RecordId")
                        writer.string(stored.sequenceNumber.description)
                        perShard[stored.shardID, default: (0, 0)].records += 1
                        perShard[stored.shardID, default: (0, 0)].bytes += sizes[index]
                    case .failure(let error):
                        failed += 1
                        let code = error.code == .internalFailure ? "InternalFailure" : "ServiceUnavailableException"
                        writer.key("ErrorCode")
                        writer.string(code)
                        writer.key("ErrorMessage")
                        writer.string(error.code == .internalFailure ? "Internal service failure." : error.message)
                    }
                    writer.endObject()
                }
                writer.endArray()
                writer.key("FailedPutCount")
                writer.number(failed)
                writer.key("Encrypted")
                writer.bool(false)
                writer.endObject()
                context.incoming = perShard.map { ($0.key, $0.value.records, $0.value.bytes) }
                completion(.success(writer.bytes), context)
            }
        } catch {
            throw Self.unavailable(error)
        }
    }

    /// Firehose reports a write it could not take as `ServiceUnavailableException` (retryable).
    /// The backing stream is an implementation detail, so its name is not in the message.
    private static func unavailable(_ error: StreamError) -> APIError {
        if error.code == .internalFailure {
            return APIError(.serviceUnavailable, "The delivery stream could not store the records; back off and retry.", cause: error)
        }
        return APIError(.serviceUnavailable, "The delivery stream cannot take records right now; back off and retry.")
    }

    // MARK: - Describe and list

    private func describe(_ fields: RequestFields) throws(APIError) -> [UInt8] {
        let name = try deliveryStreamName(fields)
        let limit = try fields.integer("Limit")
        var errors = ValidationErrors()
        ModelRules.range(limit, at: "limit", min: 1, max: 10000, into: &errors)
        try errors.checkAPI()
        let runner = try pipeline(name)
        let definition = runner.definition
        let status = runner.status
        var w = JSONWriter(capacity: 1024)
        w.beginObject()
        w.key("DeliveryStreamDescription")
        w.beginObject()
        w.key("DeliveryStreamName"); w.string(name)
        w.key("DeliveryStreamARN"); w.string("arn:aws:firehose:\(region):\(account):deliverystream/\(name)")
        w.key("DeliveryStreamStatus"); w.string("ACTIVE" as StaticString)
        w.key("DeliveryStreamEncryptionConfiguration")
        w.beginObject(); w.key("Status"); w.string("DISABLED" as StaticString); w.endObject()
        w.key("VersionId"); w.string(String(status.version))
        if let created = try? store.describeStream(name: definition.streamName).createdAt {
            w.key("CreateTimestamp"); w.timestamp(milliseconds: created)
        }
        switch definition.source {
        case .directPut:
            w.key("DeliveryStreamType"); w.string("DirectPut" as StaticString)
            w.key("Source")
            w.beginObject()
            w.key("DirectPutSourceDescription")
            w.beginObject(); w.endObject()
            w.endObject()
        case .stream:
            w.key("DeliveryStreamType"); w.string("KinesisStreamAsSource" as StaticString)
            w.key("Source")
            w.beginObject()
            w.key("KinesisStreamSourceDescription")
            w.beginObject()
            w.key("KinesisStreamARN"); w.string("arn:aws:kinesis:\(region):\(account):stream/\(definition.streamName)")
            w.key("RoleARN"); w.string("arn:aws:iam::\(account):role/sluice")
            w.endObject()
            w.endObject()
        }
        if !status.healthy, let problem = status.problem {
            w.key("FailureDescription")
            w.beginObject()
            w.key("Type"); w.string("UNKNOWN_ERROR" as StaticString)
            w.key("Details"); w.string(problem)
            w.endObject()
        }
        w.key("Destinations")
        w.beginArray()
        w.beginObject()
        w.key("DestinationId"); w.string("destinationId-000000000001" as StaticString)
        w.key("ExtendedS3DestinationDescription")
        w.beginObject()
        let destination = definition.destination
        w.key("RoleARN"); w.string("arn:aws:iam::\(account):role/sluice")
        w.key("BucketARN"); w.string("arn:aws:s3:::\(destination.directory)")
        w.key("Prefix"); w.string(destination.prefix.text)
        w.key("ErrorOutputPrefix"); w.string(destination.errorOutputPrefix.text)
        w.key("BufferingHints")
        w.beginObject()
        w.key("SizeInMBs"); w.number(definition.buffering.sizeInMBs)
        w.key("IntervalInSeconds"); w.number(definition.buffering.intervalInSeconds)
        w.endObject()
        w.key("CompressionFormat")
        switch destination.compression {
        case .none: w.string("UNCOMPRESSED" as StaticString)
        case .gzip: w.string("GZIP" as StaticString)
        }
        w.key("EncryptionConfiguration")
        w.beginObject(); w.key("NoEncryptionConfig"); w.string("NoEncryption" as StaticString); w.endObject()
        w.key("FileExtension"); w.string(destination.fileExtension)
        w.key("CustomTimeZone"); w.string(destination.timeZone)
        w.key("S3BackupMode"); w.string("Disabled" as StaticString)
        w.key("DynamicPartitioningConfiguration")
        w.beginObject()
        w.key("Enabled"); w.bool(false)
        w.key("RetryOptions")
        w.beginObject(); w.key("DurationInSeconds"); w.number(definition.retryDurationSeconds); w.endObject()
        w.endObject()
        w.endObject()
        w.endObject()
        w.endArray()
        w.key("HasMoreDestinations"); w.bool(false)
        w.endObject()
        w.endObject()
        return w.bytes
    }

    private func list(_ fields: RequestFields) throws(APIError) -> [UInt8] {
        let limit = try fields.integer("Limit")
        let type = try fields.string("DeliveryStreamType")
        let start = try fields.string("ExclusiveStartDeliveryStreamName")
        var errors = ValidationErrors()
        ModelRules.range(limit, at: "limit", min: 1, max: 10000, into: &errors)
        ModelRules.oneOf(type, ["DirectPut", "KinesisStreamAsSource", "MSKAsSource", "DatabaseAsSource"], at: "deliveryStreamType", into: &errors)
        ModelRules.length(start, at: "exclusiveStartDeliveryStreamName", min: 1, max: 64, into: &errors)
        try errors.checkAPI()
        var names = (pipelines?.runners ?? []).filter { runner in
            switch (type, runner.definition.source) {
            case (nil, _), ("DirectPut", .directPut), ("KinesisStreamAsSource", .stream): return true
            default: return false
            }
        }.map(\.definition.name).sorted()
        if let start { names = names.filter { $0 > start } }
        let page = Array(names.prefix(limit ?? 10))
        var w = JSONWriter(capacity: 64 + page.count * 32)
        w.beginObject()
        w.key("DeliveryStreamNames")
        w.beginArray()
        for name in page { w.string(name) }
        w.endArray()
        w.key("HasMoreDeliveryStreams"); w.bool(names.count > page.count)
        w.endObject()
        return w.bytes
    }
}
