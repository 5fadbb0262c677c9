import SluicePipelines
import SluiceSupport

/// The `kpl` target: a stream record as `kplDeaggregate` sees it.
///
/// An input that starts with the KPL magic `F3 89 9A C2` is the record itself (MD5 trailer
/// included, so damaged trailers are covered). Any other input is the record as is (it must pass
/// through unchanged) and also the protobuf body of an aggregate: the target wraps it in the magic
/// and its MD5, which random bytes would almost never match, so the decoder is reached.
///
/// Invariants: a record without the magic passes unchanged with no partition keys; a failure
/// carries `KPL.InvalidAggregate` and a message; a split re-aggregates (the user records encoded
/// again with a fresh key table) to the same user records; the batch API gives the same verdict
/// as the single-record one.
enum KPLFuzz {
    static let processor = KPLDeaggregateProcessor()

    static func run(_ bytes: [UInt8]) throws(FuzzFailure) {
        if KPLDeaggregateProcessor.hasMagic(bytes) {
            try check(bytes)
            return
        }
        let plain = processor.verdict(for: bytes)
        guard plain == .ok(data: bytes, partitionKeys: [:]) else {
            throw FuzzFailure(.kpl, "a record without the KPL magic did not pass through unchanged: \(summary(plain))")
        }
        try check(wrap(bytes))
    }

    /// Magic, protobuf, MD5 of the protobuf.
    static func wrap(_ protobuf: [UInt8]) -> [UInt8] {
        KPLDeaggregateProcessor.magic + protobuf + Digest.md5(protobuf)
    }

    private static func check(_ record: [UInt8]) throws(FuzzFailure) {
        let verdict = processor.verdict(for: record)
        let batch = [
            ProcessorRecord(
                recordID: "r0", data: record, approximateArrival: Timestamp(milliseconds: 1_700_000_000_000), sourceStream: "s",
                shardID: "shardId-000000000000", sequenceNumber: "1", partitionKey: "p")
        ]
        let results: [ProcessorResult]
        do throws(ProcessorFailure) {
            results = try processor.process(batch)
        } catch {
            throw FuzzFailure(.kpl, "the batch call failed as a whole: \(error)")
        }
        guard results.count == 1, results[0].recordID == "r0", results[0].verdict == verdict else {
            throw FuzzFailure(.kpl, "the batch call answered \(results.count) results, not the single-record verdict")
        }
        switch verdict {
        case .ok:
            throw FuzzFailure(.kpl, "a record with the KPL magic passed through as an ordinary record")
        case .dropped:
            // Only an aggregate without user records; encoding none must give the same.
            guard processor.verdict(for: wrap([])) == .dropped else {
                throw FuzzFailure(.kpl, "an empty aggregate is not dropped")
            }
        case .processingFailed(let code, let message):
            guard code == KPLDeaggregateProcessor.invalidAggregateCode, message.hasPrefix("the ") else {
                throw FuzzFailure(.kpl, "failure code \"\(code)\", message \"\(message)\"")
            }
        case .split(let records):
            let again = processor.verdict(for: wrap(aggregate(records)))
            guard again == verdict else {
                throw FuzzFailure(
                    .kpl, "\(records.count) user records, encoded again, de-aggregate to \(summary(again))")
            }
        }
    }

    /// The protobuf `AggregatedRecord` of `records`, with a table of distinct partition keys.
    static func aggregate(_ records: [(data: [UInt8], partitionKey: String)]) -> [UInt8] {
        var keys: [String] = []
        var indexes: [String: Int] = [:]
        var body: [UInt8] = []
        var encoded: [[UInt8]] = []
        for record in records {
            let index: Int
            if let known = indexes[record.partitionKey] {
                index = known
            } else {
                index = keys.count
                indexes[record.partitionKey] = index
                keys.append(record.partitionKey)
            }
            encoded.append(varintField(1, UInt64(index)) + bytesField(3, record.data))
        }
        for key in keys { body += bytesField(1, Array(key.utf8)) }
        for record in encoded { body += bytesField(3, record) }
        return body
    }

    private static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var out: [UInt8] = []
        while value >= 0x80 {
            out.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
        return out
    }

    private static func varintField(_ field: UInt64, _ value: UInt64) -> [UInt8] { varint(field << 3) + varint(value) }

    private static func bytesField(_ field: UInt64, _ bytes: [UInt8]) -> [UInt8] {
        varint(field << 3 | 2) + varint(UInt64(bytes.count)) + bytes
    }

    private static func summary(_ verdict: ProcessorVerdict) -> String {
        switch verdict {
        case .ok(let data, let keys): "ok (\(data.count) bytes, \(keys.count) partition keys)"
        case .dropped: "dropped"
        case .processingFailed(let code, let message): "processingFailed \(code): \(message)"
        case .split(let records): "split into \(records.count) records"
        }
    }
}
