import Foundation
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// A seeded random walk of puts, batches, splits, merges and restarts, checked against an
/// in-memory model: every acknowledged record is read back exactly once, each partition key's
/// records in put order, by a reader that follows shard lineage.
@Suite struct ModelTests {
    private typealias Kit = StreamCoreTestKit
    private static let stream = "model"

    /// The model: acknowledged data per partition key, in put order.
    private struct Model {
        var byKey: [String: [[UInt8]]] = [:]
        var count = 0

        mutating func acknowledge(_ key: String, _ data: [UInt8]) {
            byKey[key, default: []].append(data)
            count += 1
        }
    }

    /// The open shards of the stream as (range, shard id), sorted by range.
    private static func layout(_ store: StreamStore) throws -> [(range: HashKeyRange, shardID: String)] {
        try Kit.openShards(store, stream: stream).map { ($0.hashKeyRange, $0.shardID) }
    }

    /// Checks that the open shards tile the hash key space without gaps or overlaps.
    private static func checkTiling(_ layout: [(range: HashKeyRange, shardID: String)], _ context: String) {
        var expectedStart: UInt128 = 0
        var tiles = true
        for (offset, entry) in layout.enumerated() {
            if entry.range.start != expectedStart { tiles = false }
            if offset == layout.count - 1 {
                if entry.range.end != HashKey.max { tiles = false }
            } else {
                expectedStart = entry.range.end + 1
            }
        }
        #expect(tiles && !layout.isEmpty, "open shards do not tile the hash space \(context): \(layout.map { "\($0.shardID)=\($0.range.start)...\($0.range.end)" })")
    }

    private static func verify(_ store: StreamStore, _ model: Model, _ context: String) throws {
        let read = try Kit.readByLineage(store, stream: stream)
        #expect(read.records.count == model.count, "record count \(context)")
        #expect(Set(read.records.map(\.sequenceNumber)).count == read.records.count, "duplicate sequence numbers \(context)")
        let seen = Kit.dataByKey(read.records)
        #expect(Set(seen.keys) == Set(model.byKey.keys), "partition keys \(context)")
        for (key, expected) in model.byKey where seen[key] != expected {
            let got = seen[key]?.map { Kit.text(Array($0.prefix(24))) } ?? []
            let want = expected.map { Kit.text(Array($0.prefix(24))) }
            Issue.record("records of \(key) \(context): read \(got), put \(want)")
        }
    }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func randomOperationsKeepEveryRecordExactlyOnceAndInOrder(seed: UInt64) throws {
        try withTemporaryDirectory { dir in
            let clock = ManualTimeSource()
            let configuration = Kit.configuration(dir, clock: clock, segmentSize: 1 << 16)
            var store = try StreamStore(configuration)
            defer { store.close() }
            try store.createStream(name: Self.stream, shardCount: 2)
            var random = SeededRandom(seed: seed)
            var model = Model()
            var layout = try Self.layout(store)
            var counter = 0
            var operations: [String: Int] = [:]
            let keys = (0..<8).map { "key-\($0)" }

            /// A unique payload of random size (so segments roll).
            func payload(_ key: String) -> [UInt8] {
                counter += 1
                return Kit.bytes("\(key)#\(counter)|") + [UInt8](repeating: UInt8(counter % 251), count: Int.random(in: 0...3000, using: &random))
            }
            /// A random entry: usually a shared partition key, sometimes a unique key with an explicit hash key.
            func entry() -> PutRecordsEntry {
                if Int.random(in: 0..<5, using: &random) == 0 {
                    let hashKey = UInt128(random.next()) << 64 | UInt128(random.next())
                    let key = "explicit-\(counter + 1)"
                    return PutRecordsEntry(partitionKey: key, data: payload(key), explicitHashKey: String(hashKey))
                }
                let key = keys[Int.random(in: 0..<keys.count, using: &random)]
                return PutRecordsEntry(partitionKey: key, data: payload(key))
            }
            func checkRoute(_ result: PutResult, _ entry: PutRecordsEntry, step: Int) {
                let hashKey = entry.explicitHashKey.flatMap { UInt128($0) } ?? HashKey.of(partitionKey: entry.partitionKey)
                let owner = layout.first { $0.range.contains(hashKey) }?.shardID
                #expect(result.shardID == owner, "seed \(seed) step \(step): \(entry.partitionKey) routed to \(result.shardID)")
            }

            for step in 0..<300 {
                let roll = Int.random(in: 0..<100, using: &random)
                switch roll {
                case 0..<45:
                    operations["put", default: 0] += 1
                    let entry = entry()
                    let result = try store.putRecord(
                        stream: Self.stream, partitionKey: entry.partitionKey, data: entry.data, explicitHashKey: entry.explicitHashKey)
                    checkRoute(result, entry, step: step)
                    model.acknowledge(entry.partitionKey, entry.data)
                case 45..<70:
                    operations["putRecords", default: 0] += 1
                    let entries = (0..<Int.random(in: 1...20, using: &random)).map { _ in entry() }
                    let results = try store.putRecords(stream: Self.stream, entries: entries)
                    #expect(results.count == entries.count)
                    for (entry, result) in zip(entries, results) {
                        switch result {
                        case .success(let put):
                            checkRoute(put, entry, step: step)
                            model.acknowledge(entry.partitionKey, entry.data)
                        case .failure(let error):
                            Issue.record("seed \(seed) step \(step): entry failed: \(error)")
                        }
                    }
                case 70..<80 where layout.count < 8:
                    operations["split", default: 0] += 1
                    let target = layout[Int.random(in: 0..<layout.count, using: &random)]
                    let middle = target.range.start + (target.range.end - target.range.start) / 2
                    try store.splitShard(stream: Self.stream, shardToSplit: target.shardID, newStartingHashKey: String(middle))
                    layout = try Self.layout(store)
                    Self.checkTiling(layout, "after split at step \(step) (seed \(seed))")
                case 80..<90 where layout.count > 1:
                    operations["merge", default: 0] += 1
                    let slot = Int.random(in: 0..<(layout.count - 1), using: &random)
                    try store.mergeShards(stream: Self.stream, shardToMerge: layout[slot].shardID, adjacentShardToMerge: layout[slot + 1].shardID)
                    layout = try Self.layout(store)
                    Self.checkTiling(layout, "after merge at step \(step) (seed \(seed))")
                case 90..<96:
                    operations["clock", default: 0] += 1
                    clock.advance(milliseconds: Int64.random(in: 1...5_000, using: &random))
                case 96..<100:
                    operations["reopen", default: 0] += 1
                    store.close()
                    store = try StreamStore(configuration)
                    let reopened = try Self.layout(store)
                    #expect(reopened.map(\.shardID) == layout.map(\.shardID), "layout after reopen at step \(step)")
                    layout = reopened
                    try Self.verify(store, model, "after reopen at step \(step) (seed \(seed))")
                default:
                    operations["skipped", default: 0] += 1
                }
            }
            try Self.verify(store, model, "at the end (seed \(seed))")
            // The walk really did exercise every kind of operation.
            for kind in ["put", "putRecords", "split", "merge", "reopen"] {
                #expect((operations[kind] ?? 0) > 0, "seed \(seed) never did \(kind): \(operations)")
            }
            #expect(model.count > 300)
            store.close()
            store = try StreamStore(configuration)
            try Self.verify(store, model, "after the final reopen (seed \(seed))")
        }
    }
}
