import Foundation
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// Sequence numbers (reference §3.2): 39-digit decimals, strictly increasing per shard, never
/// reused across restarts, children above parents, and decodable back to shard and stream.
@Suite struct SequenceNumberTests {
    private typealias Kit = StreamCoreTestKit

    private static func isWellFormed(_ text: String) -> Bool {
        text.utf8.count == 39 && text.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } && text.first != "0"
    }

    @Test func numbersAre39DigitDecimalsWithoutLeadingZeros() throws {
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource()))
            defer { store.close() }
            try store.createStream(name: "digits", shardCount: 3)
            var texts: [String] = []
            for index in 0..<30 {
                texts.append(try store.putRecord(stream: "digits", partitionKey: "key-\(index)", data: [UInt8(index)]).sequenceNumber.description)
            }
            try store.splitShard(stream: "digits", shardToSplit: "shardId-000000000000", newStartingHashKey: "1000")
            for shard in try store.listShards(name: "digits") {
                texts.append(shard.startingSequenceNumber.description)
                if let end = shard.endingSequenceNumber { texts.append(end.description) }
            }
            #expect(texts.count == 30 + 5 + 1)
            for text in texts {
                #expect(Self.isWellFormed(text), "\(text) is not a 39-digit decimal")
                // The model pattern 0|([1-9]\d{0,128}) and KCL's BigInteger parse both accept it.
                #expect(SequenceNumber(text)?.description == text)
            }
        }
    }

    @Test func numbersIncreaseStrictlyPerShardAcrossSegmentRollsAndRestarts() throws {
        try withTemporaryDirectory { dir in
            let configuration = Kit.configuration(dir, clock: ManualTimeSource(), segmentSize: 1 << 16)
            var store = try StreamStore(configuration)
            defer { store.close() }
            try store.createStream(name: "rolling", shardCount: 2)
            var perShard: [String: [SequenceNumber]] = [:]
            var random = SeededRandom(seed: 7)
            func put(_ count: Int) throws {
                for _ in 0..<count {
                    let key = "k\(Int.random(in: 0..<20, using: &random))"
                    let result = try store.putRecord(stream: "rolling", partitionKey: key, data: random.bytes(1500))
                    perShard[result.shardID, default: []].append(result.sequenceNumber)
                }
            }
            try put(240)
            store.close()
            store = try StreamStore(configuration)
            try put(40)
            // Two restarts without puts in between: still no number is handed out twice.
            store.close()
            store = try StreamStore(configuration)
            store.close()
            store = try StreamStore(configuration)
            try put(40)

            #expect(perShard.keys.sorted() == ["shardId-000000000000", "shardId-000000000001"])
            for (shardID, numbers) in perShard {
                #expect(Set(numbers.map(\.position.segment)).count >= 4, "\(shardID) should have rolled segments and restarted")
                for (earlier, later) in zip(numbers, numbers.dropFirst()) {
                    #expect(earlier < later, "\(shardID): \(later) does not follow \(earlier)")
                    #expect(earlier.description < later.description, "string order agrees with numeric order")
                }
                // What is read back carries exactly the numbers handed out.
                let read = try Kit.readShard(store, stream: "rolling", shardID: shardID).records
                #expect(read.map(\.sequenceNumber) == numbers)
            }
            let all = perShard.values.flatMap { $0 }
            #expect(Set(all).count == all.count)
        }
    }

    @Test func childShardNumbersExceedTheirParents() throws {
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource()))
            defer { store.close() }
            try store.createStream(name: "lineage", shardCount: 1)
            var byShard: [String: [SequenceNumber]] = [:]
            func put(_ round: Int) throws {
                for index in 0..<12 {
                    let result = try store.putRecord(stream: "lineage", partitionKey: "r\(round)-\(index)", data: [])
                    byShard[result.shardID, default: []].append(result.sequenceNumber)
                }
            }
            try put(0)
            try store.splitShard(
                stream: "lineage", shardToSplit: "shardId-000000000000", newStartingHashKey: "170141183460469231731687303715884105728")
            try put(1)
            try store.mergeShards(stream: "lineage", shardToMerge: "shardId-000000000001", adjacentShardToMerge: "shardId-000000000002")
            try put(2)

            let parent = try #require(byShard["shardId-000000000000"])
            let lower = try #require(byShard["shardId-000000000001"])
            let upper = try #require(byShard["shardId-000000000002"])
            let merged = try #require(byShard["shardId-000000000003"])
            #expect(lower.min()! > parent.max()!)
            #expect(upper.min()! > parent.max()!)
            #expect(merged.min()! > lower.max()!)
            #expect(merged.min()! > upper.max()!)

            let shards = Dictionary(uniqueKeysWithValues: try store.listShards(name: "lineage").map { ($0.shardID, $0) })
            let closedParent = try #require(shards["shardId-000000000000"]?.endingSequenceNumber)
            #expect(parent.allSatisfy { $0 < closedParent })
            for child in ["shardId-000000000001", "shardId-000000000002"] {
                let childStart = try #require(shards[child]?.startingSequenceNumber)
                #expect(childStart > closedParent)
            }
            let closedLower = try #require(shards["shardId-000000000001"]?.endingSequenceNumber)
            let closedUpper = try #require(shards["shardId-000000000002"]?.endingSequenceNumber)
            let mergedStart = try #require(shards["shardId-000000000003"]?.startingSequenceNumber)
            #expect(mergedStart > closedLower && mergedStart > closedUpper)
        }
    }

    struct Layout: Sendable, CustomTestStringConvertible {
        var shardIndex: Int
        var incarnation: UInt32
        var segment: UInt32
        var offset: UInt32
        var testDescription: String { "shard \(shardIndex) incarnation \(incarnation) at \(segment):\(offset)" }
    }

    @Test(arguments: [
        Layout(shardIndex: 0, incarnation: 1, segment: 0, offset: 0),
        Layout(shardIndex: 5, incarnation: 0xDEAD_BEEF, segment: 7, offset: 1234),
        Layout(shardIndex: 12, incarnation: 42, segment: 1, offset: 32),
        Layout(shardIndex: Int(Int32.max), incarnation: UInt32.max, segment: UInt32.max, offset: UInt32.max),
    ])
    func numbersRoundTripThroughTheirDecimalForm(_ layout: Layout) throws {
        let number = SequenceNumber(
            shardIndex: layout.shardIndex, incarnation: layout.incarnation,
            position: ShardPosition(segment: layout.segment, offset: layout.offset))
        let text = number.description
        #expect(Self.isWellFormed(text))
        let parsed = try #require(SequenceNumber(text))
        #expect(parsed == number)
        #expect(parsed.shardIndex == layout.shardIndex)
        #expect(parsed.incarnation == layout.incarnation)
        #expect(parsed.position == ShardPosition(segment: layout.segment, offset: layout.offset))
    }

    @Test(arguments: [
        "", "0", "123", "12x", "-1",
        "012345678901234567890123456789012345678",  // 39 characters with a leading zero
        "100000000000000000000000000000000000000",  // 10^38 < 2^127: not our layout
        "340282366920938463463374607431768211456",  // 2^128: 39 digits but too large
        "1701411834604692317316873037158841057280",  // 40 digits
        "17014118346046923173168730371588410572a8",
    ])
    func textThatIsNotOurLayoutDoesNotParse(_ text: String) {
        #expect(SequenceNumber(text) == nil)
    }

    @Test func numbersFromPutsNameTheirShardAndStream() throws {
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource()))
            defer { store.close() }
            try store.createStream(name: "first", shardCount: 3)
            try store.createStream(name: "second", shardCount: 3)
            var incarnations: [String: Set<UInt32>] = [:]
            for stream in ["first", "second"] {
                for hashKey in ["0", "170141183460469231731687303715884105728", "340282366920938463463374607431768211455"] {
                    let result = try store.putRecord(stream: stream, partitionKey: "p", data: [], explicitHashKey: hashKey)
                    #expect(ShardID.format(result.sequenceNumber.shardIndex) == result.shardID)
                    let reparsed = try #require(SequenceNumber(result.sequenceNumber.description))
                    #expect(reparsed.shardIndex == result.sequenceNumber.shardIndex)
                    incarnations[stream, default: []].insert(reparsed.incarnation)
                }
                for shard in try store.listShards(name: stream) {
                    #expect(shard.startingSequenceNumber.shardIndex == shard.index)
                    #expect(ShardID.format(shard.index) == shard.shardID)
                    incarnations[stream, default: []].insert(shard.startingSequenceNumber.incarnation)
                }
            }
            // One incarnation per stream, different between streams (random 32-bit tags).
            let first = try #require(incarnations["first"])
            let second = try #require(incarnations["second"])
            #expect(first.count == 1)
            #expect(second.count == 1)
            #expect(first != second)
        }
    }
}
