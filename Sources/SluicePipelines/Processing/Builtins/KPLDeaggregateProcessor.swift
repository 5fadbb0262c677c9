import SluiceSupport

/// `kplDeaggregate`: turns each KPL aggregated record into the user records it carries, and
/// passes every other record through unchanged (Firehose's KPL de-aggregation, which runs before
/// any other processor).
///
/// The format (awslabs/amazon-kinesis-producer `aggregation-format.md`): the magic bytes
/// `F3 89 9A C2`, a protobuf `AggregatedRecord`, then the 16-byte MD5 of the protobuf bytes.
///
/// ```
/// message AggregatedRecord { repeated string partition_key_table = 1;
///                            repeated string explicit_hash_key_table = 2;
///                            repeated Record records = 3; }
/// message Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
///                  required bytes data = 3; repeated Tag tags = 4; }
/// ```
///
/// Verdicts:
/// - no magic (or shorter than the magic): `.ok` with the data unchanged and no partition keys;
/// - a valid aggregate: `.split` with one entry per `records[i]`, in order, each with its data and
///   its partition key from `partition_key_table`; an aggregate with no user record is `.dropped`
///   (there is nothing to deliver);
/// - the magic but a wrong MD5 trailer, a record too short to hold one, invalid protobuf or a key
///   index outside its table: `.processingFailed` with code `KPL.InvalidAggregate` and a message
///   that names the problem and its byte offset in the record.
///
/// Unlike the Python and KCL de-aggregators, which pass a damaged aggregate through as one opaque
/// record, Sluice fails it: the raw bytes land in error output where they can be inspected and
/// replayed, instead of in the archive as binary noise.
///
/// The protobuf decoder is hand-written and iterative (nested groups of unknown fields are skipped
/// with an explicit stack, not recursion); every length and index is checked before use, so no
/// input can make it trap. Explicit hash keys and tags are checked and then ignored: a file
/// archive has no use for them.
///
/// Pure and thread-safe: the verdict depends only on the record's bytes.
package struct KPLDeaggregateProcessor: RecordProcessor {
    /// The registry entry.
    package static let processorType = ProcessorType(
        name: "kplDeaggregate",
        summary: "Splits KPL aggregated records (magic F3 89 9A C2, protobuf, MD5) into their user records; "
            + "other records pass through unchanged.",
        parameters: []
    ) { _ throws(ProcessorConfigurationError) in KPLDeaggregateProcessor() }

    /// The failure code of a record that has the magic bytes but is not a valid aggregate.
    package static let invalidAggregateCode = "KPL.InvalidAggregate"

    /// The four bytes every KPL aggregated record starts with.
    package static let magic: [UInt8] = [0xF3, 0x89, 0x9A, 0xC2]

    /// The length of the MD5 trailer.
    static let digestLength = 16

    package init() {}

    /// Each verdict depends on its record alone.
    package var isPure: Bool { true }

    package func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        batch.map { ProcessorResult(recordID: $0.recordID, verdict: verdict(for: $0.data)) }
    }

    /// The verdict for one record's bytes.
    package func verdict(for data: [UInt8]) -> ProcessorVerdict {
        guard Self.hasMagic(data) else { return .ok(data: data, partitionKeys: [:]) }
        do throws(InvalidAggregate) {
            let records = try Self.deaggregate(data)
            return records.isEmpty ? .dropped : .split(records)
        } catch {
            return .processingFailed(code: Self.invalidAggregateCode, message: error.message)
        }
    }

    /// Whether `data` starts with the KPL magic bytes.
    package static func hasMagic(_ data: [UInt8]) -> Bool {
        data.count >= magic.count && data[0] == magic[0] && data[1] == magic[1] && data[2] == magic[2]
            && data[3] == magic[3]
    }

    // MARK: - Decoding

    /// Why a record with the magic bytes is not a valid aggregate.
    struct InvalidAggregate: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    /// One `Record` as read from the protobuf: key indexes and where its data sits in the record.
    private struct UserRecord {
        var offset: Int
        var partitionKeyIndex: UInt64
        var explicitHashKeyIndex: UInt64?
        var data: Range<Int>
    }

    /// The user records of an aggregated record (which starts with the magic).
    static func deaggregate(_ data: [UInt8]) throws(InvalidAggregate) -> [(data: [UInt8], partitionKey: String)] {
        let minimum = magic.count + digestLength
        guard data.count >= minimum else {
            throw InvalidAggregate(
                "the record starts with the KPL aggregation magic bytes F3 89 9A C2 but is only \(data.count) "
                    + "bytes long; an aggregated record holds at least \(minimum) (the magic and a 16-byte MD5 "
                    + "trailer), so it was cut short")
        }
        let body = magic.count..<(data.count - digestLength)
        let computed = data.withUnsafeBytes { Digest.md5AsUInt128(UnsafeRawBufferPointer(rebasing: $0[body])) }
        var trailer: UInt128 = 0
        for byte in data[body.upperBound...] { trailer = trailer << 8 | UInt128(byte) }
        guard computed == trailer else {
            throw InvalidAggregate(
                "the KPL aggregated record's MD5 trailer (\(hex(trailer))) does not match the MD5 of its "
                    + "\(body.count) protobuf bytes (\(hex(computed))): the record was altered or cut after "
                    + "aggregation")
        }

        var reader = WireReader(data, body)
        var partitionKeys: [String] = []
        var explicitHashKeyCount: UInt64 = 0
        var userRecords: [UserRecord] = []
        while !reader.isAtEnd {
            let tag = try reader.tag()
            switch tag.field {
            case 1:
                let range = try reader.lengthDelimited(tag, "AggregatedRecord.partition_key_table")
                guard let key = String(validating: data[range], as: UTF8.self) else {
                    throw InvalidAggregate(
                        reader.failure(
                            "partition key table entry \(partitionKeys.count) (at byte \(tag.offset)) is not valid "
                                + "UTF-8"))
                }
                partitionKeys.append(key)
            case 2:
                _ = try reader.lengthDelimited(tag, "AggregatedRecord.explicit_hash_key_table")
                explicitHashKeyCount += 1
            case 3:
                let range = try reader.lengthDelimited(tag, "AggregatedRecord.records")
                userRecords.append(try readUserRecord(data, range, index: userRecords.count, offset: tag.offset))
            default:
                try reader.skip(tag)
            }
        }

        var result: [(data: [UInt8], partitionKey: String)] = []
        result.reserveCapacity(userRecords.count)
        for (index, record) in userRecords.enumerated() {
            guard record.partitionKeyIndex < UInt64(partitionKeys.count) else {
                throw InvalidAggregate(
                    reader.failure(
                        "user record \(index) (at byte \(record.offset)) has partition_key_index "
                            + "\(record.partitionKeyIndex), but the partition key table has \(partitionKeys.count) "
                            + "entries (indexes start at 0)"))
            }
            if let hashKeyIndex = record.explicitHashKeyIndex, hashKeyIndex >= explicitHashKeyCount {
                throw InvalidAggregate(
                    reader.failure(
                        "user record \(index) (at byte \(record.offset)) has explicit_hash_key_index "
                            + "\(hashKeyIndex), but the explicit hash key table has \(explicitHashKeyCount) entries "
                            + "(indexes start at 0)"))
            }
            result.append((Array(data[record.data]), partitionKeys[Int(record.partitionKeyIndex)]))
        }
        return result
    }

    /// Reads one `Record` message occupying `range` of `data`.
    private static func readUserRecord(
        _ data: [UInt8], _ range: Range<Int>, index: Int, offset: Int
    ) throws(InvalidAggregate) -> UserRecord {
        var reader = WireReader(data, range)
        var partitionKeyIndex: UInt64?
        var explicitHashKeyIndex: UInt64?
        var payload: Range<Int>?
        while !reader.isAtEnd {
            let tag = try reader.tag()
            switch tag.field {
            case 1: partitionKeyIndex = try reader.varint(tag, "Record.partition_key_index")
            case 2: explicitHashKeyIndex = try reader.varint(tag, "Record.explicit_hash_key_index")
            case 3: payload = try reader.lengthDelimited(tag, "Record.data")
            case 4: _ = try reader.lengthDelimited(tag, "Record.tags")
            default: try reader.skip(tag)
            }
        }
        guard let partitionKeyIndex else {
            throw InvalidAggregate(
                reader.failure(
                    "user record \(index) (at byte \(offset)) has no partition_key_index (field 1), which is "
                        + "required"))
        }
        guard let payload else {
            throw InvalidAggregate(
                reader.failure("user record \(index) (at byte \(offset)) has no data (field 3), which is required"))
        }
        return UserRecord(
            offset: offset, partitionKeyIndex: partitionKeyIndex, explicitHashKeyIndex: explicitHashKeyIndex,
            data: payload)
    }

    private static func hex(_ value: UInt128) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 32 - digits.count) + digits
    }

    // MARK: - Protobuf wire format

    /// Reads protobuf wire format from `range` of a byte array, checking every bound.
    /// Offsets in messages are byte offsets in the whole record (magic included).
    private struct WireReader {
        /// A field key: number, wire type, and where it starts.
        struct Tag {
            var field: UInt64
            var wireType: UInt8
            var offset: Int
        }

        let bytes: [UInt8]
        var position: Int
        let end: Int

        init(_ bytes: [UInt8], _ range: Range<Int>) {
            self.bytes = bytes
            self.position = range.lowerBound
            self.end = range.upperBound
        }

        var isAtEnd: Bool { position >= end }

        func failure(_ reason: String) -> String {
            "the KPL aggregated record's protobuf is invalid: " + reason
        }

        /// The largest field number protobuf allows (2^29 - 1).
        static let maximumField: UInt64 = (1 << 29) - 1

        static func wireTypeName(_ type: UInt8) -> String {
            switch type {
            case 0: "0 (varint)"
            case 1: "1 (64-bit)"
            case 2: "2 (length-delimited)"
            case 3: "3 (start group)"
            case 4: "4 (end group)"
            case 5: "5 (32-bit)"
            default: "\(type) (undefined)"
            }
        }

        mutating func tag() throws(InvalidAggregate) -> Tag {
            let offset = position
            let key = try rawVarint("field key")
            let field = key >> 3
            let wireType = UInt8(key & 7)
            guard field != 0, field <= Self.maximumField else {
                throw InvalidAggregate(
                    failure(
                        "the field key at byte \(offset) has field number \(field); field numbers are 1 to "
                            + "\(Self.maximumField)"))
            }
            guard wireType <= 5 else {
                throw InvalidAggregate(
                    failure(
                        "field \(field) at byte \(offset) has wire type \(wireType), which protobuf does not define"))
            }
            return Tag(field: field, wireType: wireType, offset: offset)
        }

        /// A varint field's value; `name` is the field for messages.
        mutating func varint(_ tag: Tag, _ name: String) throws(InvalidAggregate) -> UInt64 {
            try expect(tag, 0, name)
            return try rawVarint("the value of \(name)")
        }

        /// A length-delimited field's byte range; `name` is the field for messages.
        mutating func lengthDelimited(_ tag: Tag, _ name: String) throws(InvalidAggregate) -> Range<Int> {
            try expect(tag, 2, name)
            return try rawLengthDelimited("\(name) (field \(tag.field) at byte \(tag.offset))")
        }

        /// Skips the value of an unknown field according to its wire type.
        mutating func skip(_ tag: Tag) throws(InvalidAggregate) {
            switch tag.wireType {
            case 0: _ = try rawVarint("the value of field \(tag.field) at byte \(tag.offset)")
            case 1: try advance(8, "the 64-bit value of field \(tag.field) at byte \(tag.offset)")
            case 2: _ = try rawLengthDelimited("field \(tag.field) at byte \(tag.offset)")
            case 5: try advance(4, "the 32-bit value of field \(tag.field) at byte \(tag.offset)")
            case 3: try skipGroup(tag)
            default:
                throw InvalidAggregate(
                    failure(
                        "field \(tag.field) at byte \(tag.offset) ends a group (wire type 4) that was never "
                            + "started"))
            }
        }

        /// Skips a group, nested groups included, with an explicit stack (no recursion).
        private mutating func skipGroup(_ start: Tag) throws(InvalidAggregate) {
            var open: [Tag] = [start]
            while let innermost = open.last {
                guard !isAtEnd else {
                    throw InvalidAggregate(
                        failure(
                            "the group of field \(innermost.field) started at byte \(innermost.offset) is never "
                                + "ended: the message ends at byte \(end)"))
                }
                let tag = try tag()
                switch tag.wireType {
                case 3:
                    open.append(tag)
                case 4:
                    guard tag.field == innermost.field else {
                        throw InvalidAggregate(
                            failure(
                                "field \(tag.field) at byte \(tag.offset) ends a group, but the open group is field "
                                    + "\(innermost.field) (started at byte \(innermost.offset))"))
                    }
                    open.removeLast()
                default:
                    try skip(tag)
                }
            }
        }

        private func expect(_ tag: Tag, _ wireType: UInt8, _ name: String) throws(InvalidAggregate) {
            guard tag.wireType == wireType else {
                throw InvalidAggregate(
                    failure(
                        "\(name) (field \(tag.field) at byte \(tag.offset)) has wire type "
                            + "\(Self.wireTypeName(tag.wireType)); it must be wire type \(Self.wireTypeName(wireType))")
                )
            }
        }

        private mutating func advance(_ count: Int, _ what: String) throws(InvalidAggregate) {
            guard end - position >= count else {
                throw InvalidAggregate(
                    failure("\(what) needs \(count) bytes but the message ends \(end - position) bytes later"))
            }
            position += count
        }

        private mutating func rawLengthDelimited(_ what: String) throws(InvalidAggregate) -> Range<Int> {
            let length = try rawVarint("the length of \(what)")
            let remaining = end - position
            guard length <= UInt64(remaining) else {
                throw InvalidAggregate(
                    failure(
                        "\(what) declares \(length) bytes, but only \(remaining) remain before the end of its "
                            + "message at byte \(end)"))
            }
            let start = position
            position += Int(length)
            return start..<position
        }

        /// A base-128 varint of at most 10 bytes that fits in 64 bits.
        private mutating func rawVarint(_ what: String) throws(InvalidAggregate) -> UInt64 {
            let start = position
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard position < end else {
                    throw InvalidAggregate(
                        failure(
                            "\(what) is a truncated varint: it starts at byte \(start) and the message ends at byte "
                                + "\(end) before its last byte (one below 0x80)"))
                }
                let byte = bytes[position]
                position += 1
                if shift == 63 && byte > 1 {
                    throw InvalidAggregate(
                        failure("\(what) is a varint at byte \(start) that is longer than 64 bits"))
                }
                value |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
        }
    }
}
