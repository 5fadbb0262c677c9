import SluiceStreams
import SluiceSupport

extension KinesisAPI {
    static let iteratorTypes = ShardIteratorType.allCases.map(\.rawValue)

    // MARK: - PutRecord

    /// PutRecord: `Data`, `PartitionKey`, `ExplicitHashKey`; returns `ShardId`,
    /// `SequenceNumber` and `EncryptionType` once the record is durable.
    ///
    /// `SequenceNumberForOrdering` is checked against the model's pattern and otherwise needs no
    /// work: a shard's sequence numbers only grow, so the new record's number is always greater
    /// than any number the shard handed out before.
    func putRecord(
        _ fields: RequestFields, _ context: RequestContext,
        completion: @escaping @Sendable (Result<[UInt8], APIError>, RequestContext) -> Void
    ) throws(APIError) {
        let reference = try StreamReference(fields)
        let data = try fields.blob("Data")
        let partitionKey = try fields.string("PartitionKey")
        let explicitHashKey = try fields.string("ExplicitHashKey")
        let orderingNumber = try fields.string("SequenceNumberForOrdering")
        var errors = ValidationErrors()
        ModelRules.required(data, at: "data", into: &errors)
        ModelRules.required(partitionKey, at: "partitionKey", into: &errors)
        ModelRules.sequenceNumber(orderingNumber, at: "sequenceNumberForOrdering", into: &errors)
        reference.validate(into: &errors)
        try errors.checkAPI()
        let name = try resolve(reference)
        guard let data, let partitionKey else {  // unreachable: `required` above
            completion(.success([]), context)
            return
        }
        var context = context
        context.stream = name
        let started = context
        let bytes = data.count + partitionKey.utf8.count
        try mapped { () throws(StreamError) in
            try store.putRecord(stream: name, partitionKey: partitionKey, data: data, explicitHashKey: explicitHashKey) { result in
                switch result {
                case .failure(let error):
                    completion(.failure(APIError(error)), started)
                case .success(let stored):
                    var context = started
                    context.incoming = [(stored.shardID, 1, bytes)]
                    var writer = JSONWriter(capacity: 160)
                    writer.beginObject()
                    writer.key("ShardId")
                    writer.string(stored.shardID)
                    writer.key("SequenceNumber")
                    writer.string(stored.sequenceNumber.description)
                    writer.key("EncryptionType")
                    writer.string("NONE" as StaticString)
                    writer.endObject()
                    completion(.success(writer.bytes), context)
                }
            }
        }
    }

    // MARK: - PutRecords

    /// PutRecords: 1-500 `Records` of `Data`, `PartitionKey`, `ExplicitHashKey`.
    ///
    /// Partial failure is HTTP 200: `FailedRecordCount` (always present, 0 on success) and, in
    /// request order, `{SequenceNumber, ShardId}` for each stored record and `{ErrorCode,
    /// ErrorMessage}` for each failed one. A storage failure is reported as AWS does,
    /// `InternalFailure` / "Internal service failure.", and logged in full with the request id.
    func putRecords(
        _ fields: RequestFields, _ context: RequestContext,
        completion: @escaping @Sendable (Result<[UInt8], APIError>, RequestContext) -> Void
    ) throws(APIError) {
        let reference = try StreamReference(fields)
        let list = try fields.list("Records")
        var entries: [PutRecordsEntry] = []
        var missing: [(position: Int, member: String)] = []
        if let list {
            entries.reserveCapacity(list.count)
            for (position, element) in list.enumerated() {
                guard let entry = try RequestFields.structure(element) else {
                    missing.append((position, "data"))
                    missing.append((position, "partitionKey"))
                    continue
                }
                let data = try entry.blob("Data")
                let partitionKey = try entry.string("PartitionKey")
                let explicitHashKey = try entry.string("ExplicitHashKey")
                if data == nil { missing.append((position, "data")) }
                if partitionKey == nil { missing.append((position, "partitionKey")) }
                entries.append(
                    PutRecordsEntry(
                        partitionKey: partitionKey ?? "", data: data ?? [], explicitHashKey: explicitHashKey))
            }
        }
        var errors = ValidationErrors()
        ModelRules.required(list, at: "records", into: &errors)
        for item in missing {
            errors.add(value: nil, at: "records.\(item.position + 1).member.\(item.member)", "Member must not be null")
        }
        reference.validate(into: &errors)
        try errors.checkAPI()
        let name = try resolve(reference)
        var context = context
        context.stream = name
        let started = context
        let sizes = entries.map { $0.data.count + $0.partitionKey.utf8.count }
        try mapped { () throws(StreamError) in
            try store.putRecords(stream: name, entries: entries) { results in
                let (body, context) = Self.putRecordsResponse(results, sizes: sizes, stream: name, context: started)
                completion(.success(body), context)
            }
        }
    }

    /// The PutRecords response body for per-entry results, and the context with per-shard
    /// counts; logs a partial failure with the request id.
    static func putRecordsResponse(
        _ results: [Result<PutResult, StreamError>], sizes: [Int], stream name: String, context: RequestContext
    ) -> ([UInt8], RequestContext) {
        var context = context
        var failed = 0
        var perShard: [String: (records: Int, bytes: Int)] = [:]
        var writer = JSONWriter(capacity: 64 + results.count * 96)
        writer.beginObject()
        writer.key("FailedRecordCount")
        let countOffset = writer.bytes.count
        writer.number(0)  // patched below once the count is known
        writer.key("Records")
        writer.beginArray()
        var firstFailure: StreamError?
        for (position, result) in results.enumerated() {
            writer.beginObject()
            switch result {
            case .success(let stored):
                writer.key("SequenceNumber")
                writer.string(stored.sequenceNumber.description)
                writer.key("ShardId")
                writer.string(stored.shardID)
                let bytes = sizes[position]
                perShard[stored.shardID, default: (0, 0)].records += 1
                perShard[stored.shardID, default: (0, 0)].bytes += bytes
            case .failure(let error):
                failed += 1
                if firstFailure == nil { firstFailure = error }
                let wire = Self.entryError(error)
                writer.key("ErrorCode")
                writer.string(wire.code)
                writer.key("ErrorMessage")
                writer.string(wire.message)
            }
            writer.endObject()
        }
        writer.endArray()
        writer.key("EncryptionType")
        writer.string("NONE" as StaticString)
        writer.endObject()
        context.incoming = perShard.map { ($0.key, $0.value.records, $0.value.bytes) }
        var body = writer.bytes
        if failed > 0 {
            body.replaceSubrange(countOffset..<(countOffset + 1), with: Array(String(failed).utf8))
            if let firstFailure {
                context.logger.log(
                    .error, "PutRecords stored only part of a batch",
                    [
                        "requestID": context.requestID, "stream": name, "failed": String(failed),
                        "records": String(results.count), "error": firstFailure.description,
                    ])
            }
        }
        return (body, context)
    }

    /// The `ErrorCode` and `ErrorMessage` of a failed PutRecords entry. Storage failures read as
    /// AWS's `InternalFailure` without internal paths; anything else keeps the core's words.
    static func entryError(_ error: StreamError) -> (code: String, message: String) {
        switch error.code {
        case .internalFailure: ("InternalFailure", "Internal service failure.")
        default: (error.awsName, error.message)
        }
    }

    // MARK: - GetShardIterator

    /// GetShardIterator: `ShardId`, `ShardIteratorType`, `StartingSequenceNumber`, `Timestamp`;
    /// returns `ShardIterator`, valid for 300 seconds.
    func getShardIterator(_ fields: RequestFields) throws(APIError) -> [UInt8] {
        let reference = try StreamReference(fields)
        let shardID = try fields.string("ShardId")
        let type = try fields.string("ShardIteratorType")
        let startingSequenceNumber = try fields.string("StartingSequenceNumber")
        let timestamp = try fields.timestamp("Timestamp")
        var errors = ValidationErrors()
        ModelRules.required(shardID, at: "shardId", into: &errors)
        ModelRules.name(shardID, at: "shardId", into: &errors)
        ModelRules.required(type, at: "shardIteratorType", into: &errors)
        ModelRules.oneOf(type, Self.iteratorTypes, at: "shardIteratorType", into: &errors)
        ModelRules.sequenceNumber(startingSequenceNumber, at: "startingSequenceNumber", into: &errors)
        reference.validate(into: &errors)
        try errors.checkAPI()
        let name = try resolve(reference)
        guard let shardID, let type, let iteratorType = ShardIteratorType(rawValue: type) else { return [] }  // unreachable
        let iterator = try mapped { () throws(StreamError) in
            try store.shardIterator(
                stream: name, shardID: shardID, type: iteratorType, startingSequenceNumber: startingSequenceNumber,
                timestamp: timestamp)
        }
        var writer = JSONWriter(capacity: iterator.utf8.count + 24)
        writer.beginObject()
        writer.key("ShardIterator")
        writer.string(iterator)
        writer.endObject()
        return writer.bytes
    }

    // MARK: - GetRecords

    /// GetRecords: `ShardIterator`, `Limit` (1-10000, default 10000); `StreamARN` is checked
    /// against the model and otherwise ignored (the iterator names its stream).
    ///
    /// Returns `Records` (`SequenceNumber`, `ApproximateArrivalTimestamp` in epoch seconds with
    /// millisecond precision, base64 `Data`, `PartitionKey`), `MillisBehindLatest`, and
    /// `NextShardIterator`, or, once a closed shard has been read to its end, no iterator and
    /// `ChildShards` instead.
    func getRecords(_ fields: RequestFields, _ context: inout RequestContext) throws(APIError) -> [UInt8] {
        let iterator = try fields.string("ShardIterator")
        let limit = try fields.integer("Limit")
        let arn = try fields.string("StreamARN")
        _ = try fields.string("StreamId")
        var errors = ValidationErrors()
        ModelRules.required(iterator, at: "shardIterator", into: &errors)
        ModelRules.length(iterator, at: "shardIterator", min: 1, max: 512, into: &errors)
        ModelRules.range(limit, at: "limit", min: 1, max: 10000, into: &errors)
        ModelRules.streamARN(arn, into: &errors)
        try errors.checkAPI()
        guard let iterator else { return [] }  // unreachable: `required` above

        let result = try mapped { () throws(StreamError) in try store.getRecords(iterator: iterator, limit: limit) }
        if let read = Self.peek(iterator: iterator) {
            context.stream = read.stream
            context.iteratorAge = (read.stream, ShardID.format(read.shardIndex), result.millisBehindLatest)
        }

        var capacity = 128 + (result.nextShardIterator?.utf8.count ?? 0)
        for record in result.records {
            capacity += Base64.encodedCount(record.data.count) + record.partitionKey.utf8.count + 160
        }
        var writer = JSONWriter(capacity: capacity)
        writer.beginObject()
        writer.key("Records")
        writer.beginArray()
        for record in result.records {
            writer.beginObject()
            writer.key("SequenceNumber")
            writer.string(record.sequenceNumber.description)
            writer.key("ApproximateArrivalTimestamp")
            writer.timestamp(milliseconds: record.arrival.milliseconds)
            writer.key("Data")
            writer.base64(record.data)
            writer.key("PartitionKey")
            writer.string(record.partitionKey)
            writer.endObject()
        }
        writer.endArray()
        if let next = result.nextShardIterator {
            writer.key("NextShardIterator")
            writer.string(next)
        }
        writer.key("MillisBehindLatest")
        writer.number(result.millisBehindLatest)
        if result.nextShardIterator == nil {
            writer.key("ChildShards")
            writer.beginArray()
            for child in result.childShards {
                writer.beginObject()
                writer.key("ShardId")
                writer.string(child.shardID)
                writer.key("ParentShards")
                writer.beginArray()
                for parent in child.parentShardIDs { writer.string(parent) }
                writer.endArray()
                writer.key("HashKeyRange")
                Self.write(child.hashKeyRange, to: &writer)
                writer.endObject()
            }
            writer.endArray()
        }
        writer.endObject()
        return writer.bytes
    }

    /// The stream name and shard index inside a shard iterator the core has just accepted, for
    /// the per-shard iterator-age gauge.
    ///
    /// `GetRecordsResult` does not name its shard, so this reads the layout of the core's
    /// `ShardIteratorToken` (version 1: base64url of version, incarnation, shard index, position,
    /// issue time, stream name, 16-byte MAC). It is only used after the core authenticated the
    /// token; if the layout ever changes, the gauge is skipped rather than wrong.
    static func peek(iterator: String) -> (stream: String, shardIndex: Int)? {
        var text = Substring(iterator)
        if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") { text = text.dropFirst().dropLast() }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + 3)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "-"): bytes.append(UInt8(ascii: "+"))
            case UInt8(ascii: "_"): bytes.append(UInt8(ascii: "/"))
            default: bytes.append(byte)
            }
        }
        while bytes.count % 4 != 0 { bytes.append(UInt8(ascii: "=")) }
        guard case .success(let token) = bytes.withUnsafeBufferPointer({ Base64.decode($0) }) else { return nil }
        let fixed = 1 + 4 + 4 + 8 + 8
        let mac = 16
        guard token.count > fixed + mac, token[0] == 1 else { return nil }
        let index = Int(token[5]) | Int(token[6]) << 8 | Int(token[7]) << 16 | Int(token[8]) << 24
        guard let name = String(validating: token[fixed..<(token.count - mac)], as: UTF8.self),
            !name.isEmpty, name.utf8.allSatisfy(ModelRules.isNameByte)
        else { return nil }
        return (name, index)
    }
}
