import SluiceStreams
import SluiceSupport
import Synchronization

/// The `segment-recovery` target: the input becomes the only segment file of a one-shard stream,
/// and a `StreamStore` is opened on it, as after a crash.
///
/// Input: the first byte picks the mode; the rest is
/// - mode byte `& 3 == 0`: the whole segment file, header included (random bytes as a segment);
/// - mode byte `& 3 == 2`: the frames after the segment's valid header, as given;
/// - mode byte odd: the frames after the valid header; the target then seals each frame whose
///   length fields fit as a writer would (sequence number of its position, arrival times that
///   never go back, CRC), unless the frame's first sequence-number byte is `FF` or its first CRC
///   byte is `FF` (then that field stays as the input has it). Random bytes almost never carry a
///   valid CRC; this mode reaches the frames behind the first one.
///
/// Invariants (`SegmentOracle` reads the file independently: header, lengths, CRC, sequence
/// numbers): opening the store succeeds; it reads back exactly the frames before the first
/// invalid one, with their keys, data and arrival times; a record appended afterwards gets a
/// sequence number in a newer segment and an arrival time no earlier than any recovered one;
/// closing and opening again reads the same records plus the new one.
enum SegmentRecoveryFuzz {
    static let stream = "s"
    static let shardID = "shardId-000000000000"
    /// Small, so frame-length limits are within reach of fuzz inputs.
    static let maximumRecordSize = 4096

    static func run(_ bytes: [UInt8]) throws(FuzzFailure) {
        try SegmentFuzzEnvironment.with { (environment) throws(FuzzFailure) in
            let oracle = environment.oracle
            let file: [UInt8]
            switch (bytes.first ?? 0) & 3 {
            case 0: file = Array(bytes.dropFirst())
            case 2: file = oracle.header + bytes.dropFirst()
            default: file = oracle.header + oracle.seal(Array(bytes.dropFirst()))
            }
            let expected = oracle.records(in: file)
            try environment.prepare(segment: file)
            defer { environment.clearShard() }

            let recovered = try open(environment) { (store) throws(FuzzFailure) in
                let records = try readAll(store)
                try compare(records, expected, "after recovery")
                let added: PutResult
                do throws(StreamError) {
                    added = try store.putRecord(stream: stream, partitionKey: "after", data: Array("after recovery".utf8))
                } catch {
                    throw FuzzFailure(.segmentRecovery, "appending after recovery failed: \(error)")
                }
                guard added.sequenceNumber.position.segment > oracle.segment else {
                    throw FuzzFailure(
                        .segmentRecovery,
                        "the record appended after recovery got position \(added.sequenceNumber.position), not in a "
                            + "segment after \(oracle.segment)")
                }
                let all = try readAll(store)
                guard all.count == records.count + 1, let last = all.last, last.sequenceNumber == added.sequenceNumber,
                    last.data == Array("after recovery".utf8)
                else {
                    throw FuzzFailure(.segmentRecovery, "after an append, reading gave \(all.count) records, not \(records.count + 1)")
                }
                let latest = records.map(\.arrival.milliseconds).max() ?? Int64.min
                guard last.arrival.milliseconds >= latest else {
                    throw FuzzFailure(
                        .segmentRecovery, "the appended record arrived at \(last.arrival), before a recovered one (\(latest) ms)")
                }
                return all
            }
            let reopened = try open(environment) { (store) throws(FuzzFailure) in try readAll(store) }
            guard reopened == recovered else {
                throw FuzzFailure(
                    .segmentRecovery, "opened a second time, the store reads \(reopened.count) records, not \(recovered.count)")
            }
        }
    }

    /// Opens the store, runs `body`, closes the store.
    private static func open<R: Sendable>(
        _ environment: SegmentFuzzEnvironment, _ body: (StreamStore) throws(FuzzFailure) -> R
    ) throws(FuzzFailure) -> R {
        let store: StreamStore
        do throws(StreamError) {
            store = try StreamStore(environment.configuration)
        } catch {
            throw FuzzFailure(.segmentRecovery, "opening the store on the segment failed: \(error)")
        }
        defer { store.close() }
        return try body(store)
    }

    /// Every record of the shard from TRIM_HORIZON.
    private static func readAll(_ store: StreamStore) throws(FuzzFailure) -> [StoredRecord] {
        var records: [StoredRecord] = []
        do throws(StreamError) {
            var iterator = try store.shardIterator(stream: stream, shardID: shardID, type: .trimHorizon)
            for _ in 0..<10_000 {
                let result = try store.getRecords(iterator: iterator, limit: 7)
                records += result.records
                guard let next = result.nextShardIterator, !result.records.isEmpty else { return records }
                iterator = next
            }
        } catch {
            throw FuzzFailure(.segmentRecovery, "reading the recovered shard failed: \(error)")
        }
        throw FuzzFailure(.segmentRecovery, "reading the recovered shard did not end after 10000 pages")
    }

    private static func compare(_ records: [StoredRecord], _ expected: [StoredRecord], _ when: String) throws(FuzzFailure) {
        guard records != expected else { return }
        let first = zip(records, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(records.count, expected.count)
        throw FuzzFailure(
            .segmentRecovery,
            "\(when): read \(records.count) records, the file holds \(expected.count) valid frames; they differ from record "
                + "\(first) on (read \(first < records.count ? String(describing: records[first]) : "nothing"), expected "
                + "\(first < expected.count ? String(describing: expected[first]) : "nothing"))")
    }
}
