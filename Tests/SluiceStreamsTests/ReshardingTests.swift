import Foundation
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// SplitShard, MergeShards and UpdateShardCount (reference §2.8, §3.3-3.4).
@Suite struct ReshardingTests {
    private typealias Kit = StreamCoreTestKit
    private static let half = UInt128(1) << 127

    private static func id(_ index: Int) -> String { ShardID.format(index) }

    /// Runs `body` with a store holding a stream `r` of `shards` shards.
    private func withStream(shards: Int, _ body: (StreamStore) throws -> Void) throws {
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource()))
            defer { store.close() }
            try store.createStream(name: "r", shardCount: shards)
            try body(store)
        }
    }

    private func shardsByID(_ store: StreamStore) throws -> [String: ShardDescription] {
        Dictionary(uniqueKeysWithValues: try store.listShards(name: "r").map { ($0.shardID, $0) })
    }

    // MARK: - Split

    @Test func splitClosesTheParentAndOpensTwoChildrenAtTheKey() throws {
        try withStream(shards: 1) { store in
            let before = try store.putRecord(stream: "r", partitionKey: "k", data: Kit.bytes("before"))
            try store.splitShard(stream: "r", shardToSplit: Self.id(0), newStartingHashKey: String(Self.half))
            let shards = try shardsByID(store)
            #expect(shards.keys.sorted() == [Self.id(0), Self.id(1), Self.id(2)])
            let parent = try #require(shards[Self.id(0)])
            let lower = try #require(shards[Self.id(1)])
            let upper = try #require(shards[Self.id(2)])
            #expect(!parent.isOpen)
            #expect(parent.endingSequenceNumber != nil)
            #expect(parent.hashKeyRange == HashKeyRange(start: 0, end: HashKey.max))
            #expect(lower.hashKeyRange == HashKeyRange(start: 0, end: Self.half - 1))
            #expect(upper.hashKeyRange == HashKeyRange(start: Self.half, end: HashKey.max))
            for child in [lower, upper] {
                #expect(child.isOpen)
                #expect(child.parentShardID == Self.id(0))
                #expect(child.adjacentParentShardID == nil)
            }
            let description = try store.describeStream(name: "r")
            #expect(description.status == .active)
            #expect(description.openShardCount == 2)
            // New records go to the children by hash key; the parent keeps its old record.
            let low = try store.putRecord(stream: "r", partitionKey: "p", data: [], explicitHashKey: String(Self.half - 1))
            let high = try store.putRecord(stream: "r", partitionKey: "p", data: [], explicitHashKey: String(Self.half))
            #expect(low.shardID == Self.id(1))
            #expect(high.shardID == Self.id(2))
            let parentRecords = try Kit.readShard(store, stream: "r", shardID: Self.id(0)).records
            #expect(parentRecords.map(\.sequenceNumber) == [before.sequenceNumber])
        }
    }

    @Test func splitAtTheSmallestAndLargestValidKeysWorks() throws {
        try withStream(shards: 2) { store in
            // Valid iff start + 1 < key < end.
            try store.splitShard(stream: "r", shardToSplit: Self.id(0), newStartingHashKey: "2")
            try store.splitShard(stream: "r", shardToSplit: Self.id(1), newStartingHashKey: String(HashKey.max - 1))
            let shards = try shardsByID(store)
            #expect(shards[Self.id(2)]?.hashKeyRange == HashKeyRange(start: 0, end: 1))
            #expect(shards[Self.id(3)]?.hashKeyRange == HashKeyRange(start: 2, end: Self.half - 1))
            #expect(shards[Self.id(4)]?.hashKeyRange == HashKeyRange(start: Self.half, end: HashKey.max - 2))
            #expect(shards[Self.id(5)]?.hashKeyRange == HashKeyRange(start: HashKey.max - 1, end: HashKey.max))
        }
    }

    @Test(arguments: [
        ("1", "start + 1"),
        ("0", "start"),
        ("340282366920938463463374607431768211455", "end"),
    ])
    func splitAtTheEdgeOfTheRangeIsInvalid(key: String, note: String) throws {
        try withStream(shards: 1) { store in
            let error = #expect(throws: StreamError.self, "split at \(note)") {
                try store.splitShard(stream: "r", shardToSplit: Self.id(0), newStartingHashKey: key)
            }
            #expect(error?.code == .invalidArgument)
            #expect(
                error?.message
                    == "NewStartingHashKey \(key) used in SplitShard() on shard shardId-000000000000 in stream r under account 000000000000 "
                    + "is not both greater than one plus the shard's StartingHashKey 0 and less than the shard's EndingHashKey "
                    + "340282366920938463463374607431768211455.")
            let unchanged = try store.listShards(name: "r")
            #expect(unchanged.count == 1)
        }
    }

    @Test func splitOfAShardWithANonZeroStartNamesItsRange() throws {
        try withStream(shards: 2) { store in
            let error = #expect(throws: StreamError.self) {
                try store.splitShard(stream: "r", shardToSplit: Self.id(1), newStartingHashKey: String(Self.half + 1))
            }
            #expect(error?.code == .invalidArgument)
            #expect(
                error?.message
                    == "NewStartingHashKey \(Self.half + 1) used in SplitShard() on shard shardId-000000000001 in stream r under account 000000000000 "
                    + "is not both greater than one plus the shard's StartingHashKey \(Self.half) and less than the shard's EndingHashKey "
                    + "\(HashKey.max).")
        }
    }

    @Test(arguments: ["abc", "-5", "01", "340282366920938463463374607431768211456789"])
    func splitAtAMalformedKeyIsAValidationError(_ key: String) throws {
        try withStream(shards: 1) { store in
            let error = #expect(throws: StreamError.self) {
                try store.splitShard(stream: "r", shardToSplit: Self.id(0), newStartingHashKey: key)
            }
            #expect(error?.code == .validation)
            #expect(
                error?.message
                    == "1 validation error detected: Value '\(key)' at 'newStartingHashKey' failed to satisfy constraint: "
                    + "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})")
        }
    }

    @Test func splittingAClosedShardIsInvalid() throws {
        try withStream(shards: 1) { store in
            try store.splitShard(stream: "r", shardToSplit: Self.id(0), newStartingHashKey: String(Self.half))
            let again = #expect(throws: StreamError.self) {
                try store.splitShard(stream: "r", shardToSplit: Self.id(0), newStartingHashKey: "1000")
            }
            #expect(again?.code == .invalidArgument)
            #expect(
                again?.message
                    == "Shard shardId-000000000000 in stream r under account 000000000000 has already been merged or split, "
                    + "and thus is not eligible for merging or splitting.")
            let merge = #expect(throws: StreamError.self) {
                try store.mergeShards(stream: "r", shardToMerge: Self.id(0), adjacentShardToMerge: Self.id(1))
            }
            #expect(merge?.code == .invalidArgument)
            #expect(merge?.message == again?.message)
            let listed = try store.listShards(name: "r")
            #expect(listed.count == 3)
        }
    }

    @Test func splittingAnUnknownShardIsResourceNotFound() throws {
        try withStream(shards: 1) { store in
            let error = #expect(throws: StreamError.self) {
                try store.splitShard(stream: "r", shardToSplit: Self.id(7), newStartingHashKey: "1000")
            }
            #expect(error?.code == .resourceNotFound)
            #expect(error?.message == "Could not find shard shardId-000000000007 in stream r under account 000000000000.")
        }
    }

    // MARK: - Merge

    @Test func mergeClosesBothParentsAndOpensOneChildSpanningThem() throws {
        try withStream(shards: 3) { store in
            let ranges = HashKey.evenRanges(count: 3)
            try store.mergeShards(stream: "r", shardToMerge: Self.id(1), adjacentShardToMerge: Self.id(2))
            let shards = try shardsByID(store)
            let child = try #require(shards[Self.id(3)])
            #expect(child.isOpen)
            #expect(child.parentShardID == Self.id(1))
            #expect(child.adjacentParentShardID == Self.id(2))
            #expect(child.hashKeyRange == HashKeyRange(start: ranges[1].start, end: HashKey.max))
            #expect(shards[Self.id(1)]?.endingSequenceNumber != nil)
            #expect(shards[Self.id(2)]?.endingSequenceNumber != nil)
            #expect(shards[Self.id(0)]?.isOpen == true)
            let description = try store.describeStream(name: "r")
            #expect(description.openShardCount == 2)
            let put = try store.putRecord(stream: "r", partitionKey: "p", data: [], explicitHashKey: String(ranges[1].start))
            #expect(put.shardID == Self.id(3))
        }
    }

    @Test(arguments: [(0, 2), (1, 0), (2, 1), (0, 0)])
    func mergingShardsThatAreNotAnAdjacentPairIsInvalid(first: Int, second: Int) throws {
        try withStream(shards: 3) { store in
            let error = #expect(throws: StreamError.self) {
                try store.mergeShards(stream: "r", shardToMerge: Self.id(first), adjacentShardToMerge: Self.id(second))
            }
            #expect(error?.code == .invalidArgument)
            #expect(
                error?.message
                    == "Shards \(Self.id(first)) and \(Self.id(second)) in stream r under account 000000000000 "
                    + "are not an adjacent pair of shards eligible for merging")
            let shards = try store.listShards(name: "r")
            #expect(shards.count == 3)
            #expect(shards.filter(\.isOpen).count == 3)
        }
    }

    // MARK: - Reading across a reshard

    @Test func readingAClosedParentToItsEndNamesItsChildren() throws {
        try withStream(shards: 1) { store in
            var puts: [SequenceNumber] = []
            for index in 0..<5 { puts.append(try store.putRecord(stream: "r", partitionKey: "k\(index)", data: []).sequenceNumber) }
            try store.splitShard(stream: "r", shardToSplit: Self.id(0), newStartingHashKey: String(Self.half))
            let parent = try Kit.readShard(store, stream: "r", shardID: Self.id(0), limit: 2)
            #expect(parent.records.map(\.sequenceNumber) == puts)
            #expect(parent.reachedEnd)
            #expect(parent.childShards.map(\.shardID) == [Self.id(1), Self.id(2)])
            #expect(parent.childShards.map(\.parentShardIDs) == [[Self.id(0)], [Self.id(0)]])
            #expect(parent.childShards.map(\.hashKeyRange) == [
                HashKeyRange(start: 0, end: Self.half - 1), HashKeyRange(start: Self.half, end: HashKey.max),
            ])

            try store.mergeShards(stream: "r", shardToMerge: Self.id(1), adjacentShardToMerge: Self.id(2))
            for parentIndex in [1, 2] {
                let merged = try Kit.readShard(store, stream: "r", shardID: Self.id(parentIndex))
                #expect(merged.records.isEmpty)
                #expect(merged.reachedEnd)
                #expect(merged.childShards.map(\.shardID) == [Self.id(3)])
                #expect(merged.childShards.first?.parentShardIDs == [Self.id(1), Self.id(2)])
                #expect(merged.childShards.first?.hashKeyRange == HashKeyRange(start: 0, end: HashKey.max))
            }
            // The open child keeps returning a next iterator.
            let child = try Kit.readShard(store, stream: "r", shardID: Self.id(3))
            #expect(!child.reachedEnd)
            #expect(child.childShards.isEmpty)
        }
    }

    @Test func closedParentIteratorsOfEveryTypeEndWithChildShards() throws {
        try withStream(shards: 1) { store in
            let first = try store.putRecord(stream: "r", partitionKey: "k", data: Kit.bytes("1"))
            let last = try store.putRecord(stream: "r", partitionKey: "k", data: Kit.bytes("2"))
            try store.splitShard(stream: "r", shardToSplit: Self.id(0), newStartingHashKey: String(Self.half))
            let latest = try store.getRecords(iterator: try store.shardIterator(stream: "r", shardID: Self.id(0), type: .latest))
            #expect(latest.records.isEmpty)
            #expect(latest.nextShardIterator == nil)
            #expect(latest.childShards.count == 2)
            let after = try store.getRecords(
                iterator: try store.shardIterator(
                    stream: "r", shardID: Self.id(0), type: .afterSequenceNumber, startingSequenceNumber: first.sequenceNumber.description))
            #expect(after.records.map(\.sequenceNumber) == [last.sequenceNumber])
            #expect(after.nextShardIterator == nil)
            #expect(after.childShards.count == 2)
        }
    }

    @Test func aClosedShardsEndingSequenceNumberStartsAtItsEndOrIsInvalidAfterIt() throws {
        try withStream(shards: 1) { store in
            _ = try store.putRecord(stream: "r", partitionKey: "k", data: [])
            try store.splitShard(stream: "r", shardToSplit: Self.id(0), newStartingHashKey: String(Self.half))
            let ending = try #require(try shardsByID(store)[Self.id(0)]?.endingSequenceNumber).description
            let at = try store.shardIterator(stream: "r", shardID: Self.id(0), type: .atSequenceNumber, startingSequenceNumber: ending)
            let end = try store.getRecords(iterator: at)
            #expect(end.records.isEmpty)
            #expect(end.nextShardIterator == nil)
            #expect(end.childShards.map(\.shardID) == [Self.id(1), Self.id(2)])
            let error = #expect(throws: StreamError.self) {
                try store.shardIterator(stream: "r", shardID: Self.id(0), type: .afterSequenceNumber, startingSequenceNumber: ending)
            }
            #expect(error?.code == .invalidArgument)
            #expect(
                error?.message
                    == "Invalid SequenceNumber for ShardIteratorType AFTER_SEQUENCE_NUMBER, SequenceNumber has reached max possible value for the shard.")
        }
    }

    @Test func aLineageReaderSeesEveryKeyInPutOrderAcrossSplitsAndMerges() throws {
        try withStream(shards: 2) { store in
            let keys = (0..<12).map { "key-\($0)" }
            var expected: [String: [[UInt8]]] = [:]
            var counter = 0
            func putRound(batched: Bool) throws {
                let entries = keys.map { key -> PutRecordsEntry in
                    counter += 1
                    return PutRecordsEntry(partitionKey: key, data: Kit.bytes("\(key)#\(counter)"))
                }
                if batched {
                    for result in try store.putRecords(stream: "r", entries: entries) { _ = try result.get() }
                } else {
                    for entry in entries { _ = try store.putRecord(stream: "r", partitionKey: entry.partitionKey, data: entry.data) }
                }
                for entry in entries { expected[entry.partitionKey, default: []].append(entry.data) }
            }
            try putRound(batched: false)
            try putRound(batched: true)
            // Split shard 0 in the middle of its range: children 2 and 3.
            try store.splitShard(stream: "r", shardToSplit: Self.id(0), newStartingHashKey: String(Self.half / 2))
            try putRound(batched: false)
            try putRound(batched: true)
            // Merge the children back: child 4.
            try store.mergeShards(stream: "r", shardToMerge: Self.id(2), adjacentShardToMerge: Self.id(3))
            try putRound(batched: true)
            // Merge across the original boundary: child 5 owns everything.
            try store.mergeShards(stream: "r", shardToMerge: Self.id(4), adjacentShardToMerge: Self.id(1))
            try putRound(batched: false)
            // And split again: children 6 and 7.
            try store.splitShard(stream: "r", shardToSplit: Self.id(5), newStartingHashKey: String(Self.half + 12345))
            try putRound(batched: true)

            let read = try Kit.readByLineage(store, stream: "r")
            #expect(read.shardOrder.count == 8)
            #expect(read.records.count == keys.count * 7)
            let seen = Kit.dataByKey(read.records)
            for key in keys {
                #expect(seen[key] == expected[key], "records of \(key) in put order")
            }
            // Parents come before their children in the reader's order.
            for shard in try store.listShards(name: "r") {
                let position = try #require(read.shardOrder.firstIndex(of: shard.shardID))
                for parent in [shard.parentShardID, shard.adjacentParentShardID].compactMap({ $0 }) {
                    let parentPosition = try #require(read.shardOrder.firstIndex(of: parent))
                    #expect(parentPosition < position, "\(parent) is read before \(shard.shardID)")
                }
            }
        }
    }

    // MARK: - UpdateShardCount

    @Test(arguments: [
        (2, 4, 6 as Int?), (4, 2, 6 as Int?), (4, 5, 15 as Int?), (3, 5, nil as Int?), (5, 3, nil as Int?), (1, 2, 3 as Int?),
        (3, 3, 3 as Int?),
    ])
    func updateShardCountLeavesUniformOpenShards(from: Int, to target: Int, totalShards: Int?) throws {
        try withStream(shards: from) { store in
            let keys = (0..<16).map { "k\($0)" }
            var expected: [String: [[UInt8]]] = [:]
            for round in 0..<2 {
                for key in keys {
                    _ = try store.putRecord(stream: "r", partitionKey: key, data: Kit.bytes("\(key)/\(round)"))
                    expected[key, default: []].append(Kit.bytes("\(key)/\(round)"))
                }
            }
            let update = try store.updateShardCount(stream: "r", targetShardCount: target)
            #expect(update.currentShardCount == from)
            #expect(update.targetShardCount == target)
            let open = try Kit.openShards(store, stream: "r")
            #expect(open.map(\.hashKeyRange) == HashKey.evenRanges(count: target))
            let description = try store.describeStream(name: "r")
            #expect(description.status == .active)
            #expect(description.openShardCount == target)
            if let totalShards {
                #expect(description.shards.count == totalShards, "shards listed after \(from) -> \(target)")
            }
            for key in keys {
                _ = try store.putRecord(stream: "r", partitionKey: key, data: Kit.bytes("\(key)/after"))
                expected[key, default: []].append(Kit.bytes("\(key)/after"))
            }
            let read = try Kit.readByLineage(store, stream: "r")
            #expect(Kit.dataByKey(read.records) == expected)
        }
    }

    @Test(arguments: [(2, 5), (3, 7), (4, 1), (5, 2)])
    func updateShardCountBeyondDoubleOrBelowHalfIsLimitExceeded(from: Int, to target: Int) throws {
        try withStream(shards: from) { store in
            let error = #expect(throws: StreamError.self) { try store.updateShardCount(stream: "r", targetShardCount: target) }
            #expect(error?.code == .limitExceeded)
            let direction = target > from ? "scale up over double" : "scale down below half"
            #expect(
                error?.message
                    == "UpdateShardCount cannot \(direction) your current open shard count. Current open shard count: \(from) Target shard count: \(target)")
            let shards = try store.listShards(name: "r")
            #expect(shards.count == from)
            #expect(shards.map(\.hashKeyRange) == HashKey.evenRanges(count: from))
        }
    }

    @Test(arguments: [0, 10_001])
    func updateShardCountOutsideOneTo10000IsAValidationError(_ target: Int) throws {
        try withStream(shards: 1) { store in
            let error = #expect(throws: StreamError.self) { try store.updateShardCount(stream: "r", targetShardCount: target) }
            #expect(error?.code == .validation)
            let rule = target < 1 ? "Member must have value greater than or equal to 1" : "Member must have value less than or equal to 10000"
            #expect(
                error?.message == "1 validation error detected: Value '\(target)' at 'targetShardCount' failed to satisfy constraint: \(rule)")
        }
    }

    // MARK: - Persistence

    @Test func reshardingSurvivesAReopen() throws {
        try withTemporaryDirectory { dir in
            let configuration = Kit.configuration(dir, clock: ManualTimeSource())
            var store = try StreamStore(configuration)
            defer { store.close() }
            try store.createStream(name: "r", shardCount: 2)
            var expected: [String: [[UInt8]]] = [:]
            func put(_ tag: String) throws {
                for index in 0..<10 {
                    let key = "key-\(index)"
                    _ = try store.putRecord(stream: "r", partitionKey: key, data: Kit.bytes("\(key)@\(tag)"))
                    expected[key, default: []].append(Kit.bytes("\(key)@\(tag)"))
                }
            }
            try put("start")
            try store.splitShard(stream: "r", shardToSplit: Self.id(1), newStartingHashKey: String(Self.half + Self.half / 2))
            try put("split")
            try store.mergeShards(stream: "r", shardToMerge: Self.id(0), adjacentShardToMerge: Self.id(2))
            try put("merge")
            let before = try store.listShards(name: "r")
            store.close()
            store = try StreamStore(configuration)
            let after = try store.listShards(name: "r")
            #expect(after == before)
            #expect(after.map(\.shardID) == (0..<5).map(Self.id))
            #expect(after.filter(\.isOpen).map(\.shardID) == [Self.id(3), Self.id(4)])
            // Writes route by the persisted layout and the next reshard takes the next index.
            let routed = try store.putRecord(stream: "r", partitionKey: "x", data: [], explicitHashKey: "0")
            #expect(routed.shardID == Self.id(4))
            expected["x"] = [[]]
            try store.splitShard(stream: "r", shardToSplit: Self.id(3), newStartingHashKey: String(HashKey.max - 10))
            let resharded = try store.listShards(name: "r")
            #expect(resharded.map(\.shardID) == (0..<7).map(Self.id))
            try put("reopened")
            let read = try Kit.readByLineage(store, stream: "r")
            #expect(Kit.dataByKey(read.records) == expected)
        }
    }
}
