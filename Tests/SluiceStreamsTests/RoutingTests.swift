import Foundation
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// Hash-key routing against the worked vectors of reference §3.1 and the ExplicitHashKey rules of §2.5.
@Suite struct RoutingTests {
    private typealias Kit = StreamCoreTestKit

    struct KeyVector: Sendable, CustomTestStringConvertible {
        var partitionKey: String
        var md5: String
        var shardID: String
        var testDescription: String { "partition key \(partitionKey)" }
    }

    struct ExplicitVector: Sendable, CustomTestStringConvertible {
        var explicitHashKey: String
        var shardID: String
        var note: String
        var testDescription: String { note }
    }

    /// Reference §3.1 (kinesalite's AWS-run expectations; MD5 values computed).
    static let keyVectors: [KeyVector] = [
        KeyVector(partitionKey: "a", md5: "16955237001963240173058271559858726497", shardID: "shardId-000000000000"),
        KeyVector(partitionKey: "b", md5: "195289424170611159128911017612795795343", shardID: "shardId-000000000001"),
        KeyVector(partitionKey: "e", md5: "299611584147932843547128611849858313266", shardID: "shardId-000000000002"),
        KeyVector(partitionKey: "f", md5: "190917122200326810055233066464581373159", shardID: "shardId-000000000001"),
        KeyVector(partitionKey: "hello", md5: "123957004363873451094272536567338222994", shardID: "shardId-000000000001"),
    ]

    static let explicitVectors: [ExplicitVector] = [
        ExplicitVector(explicitHashKey: "340282366920938463463374607431768211455", shardID: "shardId-000000000002", note: "2^128-1"),
        ExplicitVector(explicitHashKey: "226854911280625642308916404954512140969", shardID: "shardId-000000000001", note: "floor(2^128/3)*2 - 1"),
        ExplicitVector(explicitHashKey: "226854911280625642308916404954512140970", shardID: "shardId-000000000002", note: "floor(2^128/3)*2"),
        ExplicitVector(explicitHashKey: "0", shardID: "shardId-000000000000", note: "0"),
        ExplicitVector(explicitHashKey: "113427455640312821154458202477256070484", shardID: "shardId-000000000000", note: "end of shard 0"),
        ExplicitVector(explicitHashKey: "113427455640312821154458202477256070485", shardID: "shardId-000000000001", note: "start of shard 1"),
    ]

    /// The 3-shard ranges of reference §3.1.
    static let threeShardRanges: [(start: String, end: String)] = [
        ("0", "113427455640312821154458202477256070484"),
        ("113427455640312821154458202477256070485", "226854911280625642308916404954512140969"),
        ("226854911280625642308916404954512140970", "340282366920938463463374607431768211455"),
    ]

    private static let shardIDs = ["shardId-000000000000", "shardId-000000000001", "shardId-000000000002"]

    /// Runs `body` with a store holding one 3-shard stream named `routing`.
    private func withThreeShardStream(_ body: (StreamStore) throws -> Void) throws {
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource()))
            defer { store.close() }
            try store.createStream(name: "routing", shardCount: 3)
            try body(store)
        }
    }

    /// Record counts per shard, read through iterators.
    private func recordsPerShard(_ store: StreamStore) throws -> [String: [StoredRecord]] {
        var result: [String: [StoredRecord]] = [:]
        for shardID in Self.shardIDs {
            result[shardID] = try Kit.readShard(store, stream: "routing", shardID: shardID).records
        }
        return result
    }

    @Test func threeShardStreamHasTheReferenceRanges() throws {
        try withThreeShardStream { store in
            let shards = try store.listShards(name: "routing")
            #expect(shards.map(\.shardID) == Self.shardIDs)
            #expect(shards.map { String($0.hashKeyRange.start) } == Self.threeShardRanges.map(\.start))
            #expect(shards.map { String($0.hashKeyRange.end) } == Self.threeShardRanges.map(\.end))
            #expect(HashKey.evenRanges(count: 3) == shards.map(\.hashKeyRange))
            #expect(shards.allSatisfy { $0.parentShardID == nil && $0.adjacentParentShardID == nil && $0.isOpen })
        }
    }

    @Test func referenceExplicitKeysAreTheThirdsOfTheHashSpace() {
        let third = UInt128.max / 3  // 2^128 ≡ 1 (mod 3), so floor(2^128/3) == (2^128-1)/3
        #expect(String(third) == "113427455640312821154458202477256070485")
        #expect(String(third * 2 - 1) == "226854911280625642308916404954512140969")
        #expect(String(third * 2) == "226854911280625642308916404954512140970")
        #expect(String(HashKey.max) == "340282366920938463463374607431768211455")
    }

    @Test(arguments: keyVectors)
    func partitionKeyHashesToTheReferenceValueAndShard(_ vector: KeyVector) throws {
        #expect(HashKey.of(partitionKey: vector.partitionKey) == UInt128(vector.md5))
        try withThreeShardStream { store in
            let result = try store.putRecord(stream: "routing", partitionKey: vector.partitionKey, data: Kit.bytes("v"))
            #expect(result.shardID == vector.shardID)
            #expect(result.sequenceNumber.shardIndex == Self.shardIDs.firstIndex(of: vector.shardID))
            let perShard = try recordsPerShard(store)
            for shardID in Self.shardIDs {
                let keys = perShard[shardID]?.map(\.partitionKey) ?? []
                #expect(keys == (shardID == vector.shardID ? [vector.partitionKey] : []), "records of \(shardID)")
            }
        }
    }

    @Test(arguments: explicitVectors)
    func explicitHashKeyRoutesToTheShardOwningIt(_ vector: ExplicitVector) throws {
        try withThreeShardStream { store in
            let result = try store.putRecord(
                stream: "routing", partitionKey: "pk", data: Kit.bytes("v"), explicitHashKey: vector.explicitHashKey)
            #expect(result.shardID == vector.shardID)
            let batch = try store.putRecords(
                stream: "routing", entries: [PutRecordsEntry(partitionKey: "pk", data: [], explicitHashKey: vector.explicitHashKey)])
            let batchShard = try batch[0].get().shardID
            #expect(batchShard == vector.shardID)
            let records = try Kit.readShard(store, stream: "routing", shardID: vector.shardID).records
            #expect(records.map(\.partitionKey) == ["pk", "pk"])
        }
    }

    @Test func explicitHashKeyOverridesThePartitionKeyHash() throws {
        try withThreeShardStream { store in
            // "a" hashes into shard 0 and "e" into shard 2 (reference §3.1); the explicit key wins.
            let a = try store.putRecord(
                stream: "routing", partitionKey: "a", data: Kit.bytes("to-2"),
                explicitHashKey: "340282366920938463463374607431768211455")
            let e = try store.putRecord(stream: "routing", partitionKey: "e", data: Kit.bytes("to-0"), explicitHashKey: "0")
            #expect(a.shardID == "shardId-000000000002")
            #expect(e.shardID == "shardId-000000000000")
            let perShard = try recordsPerShard(store)
            #expect(perShard["shardId-000000000000"]?.map(\.partitionKey) == ["e"])
            #expect(perShard["shardId-000000000001"]?.isEmpty == true)
            #expect(perShard["shardId-000000000002"]?.map(\.partitionKey) == ["a"])
            #expect(perShard["shardId-000000000002"]?.first?.data == Kit.bytes("to-2"))
        }
    }

    @Test(arguments: [
        (2, ["0", "170141183460469231731687303715884105728"]),
        (4, ["0", "85070591730234615865843651857942052864", "170141183460469231731687303715884105728",
             "255211775190703847597530955573826158592"]),
    ])
    func evenStreamsSplitAtTheReferencePoints(shardCount: Int, starts: [String]) throws {
        #expect(String(UInt128(85070591730234615865843651857942052864) * 3) == "255211775190703847597530955573826158592")
        let ranges = HashKey.evenRanges(count: shardCount)
        #expect(ranges.map { String($0.start) } == starts)
        for index in ranges.indices {
            let expectedEnd = index + 1 < ranges.count ? ranges[index + 1].start - 1 : HashKey.max
            #expect(ranges[index].end == expectedEnd)
        }
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource()))
            defer { store.close() }
            try store.createStream(name: "even", shardCount: shardCount)
            let listed = try store.listShards(name: "even")
            #expect(listed.map(\.hashKeyRange) == ranges)
            // The boundary key belongs to the upper shard, one below it to the lower shard.
            for index in ranges.indices.dropFirst() {
                let boundary = ranges[index].start
                let upper = try store.putRecord(stream: "even", partitionKey: "p", data: [], explicitHashKey: String(boundary))
                let lower = try store.putRecord(stream: "even", partitionKey: "p", data: [], explicitHashKey: String(boundary - 1))
                #expect(upper.shardID == ShardID.format(index))
                #expect(lower.shardID == ShardID.format(index - 1))
            }
        }
    }

    @Test(arguments: ["abc", "-1", "01", "", " 1", "1.0", "+5"])
    func malformedExplicitHashKeyIsAValidationError(_ key: String) throws {
        try withThreeShardStream { store in
            let single = #expect(throws: StreamError.self) {
                try store.putRecord(stream: "routing", partitionKey: "pk", data: [], explicitHashKey: key)
            }
            #expect(single?.code == .validation)
            #expect(
                single?.message
                    == "1 validation error detected: Value '\(key)' at 'explicitHashKey' failed to satisfy constraint: "
                    + "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})")
            let batch = #expect(throws: StreamError.self) {
                try store.putRecords(
                    stream: "routing",
                    entries: [
                        PutRecordsEntry(partitionKey: "ok", data: []),
                        PutRecordsEntry(partitionKey: "pk", data: [], explicitHashKey: key),
                    ])
            }
            #expect(batch?.code == .validation)
            #expect(batch?.message.contains("Value '\(key)' at 'records.2.member.explicitHashKey'") == true)
            let stored = try recordsPerShard(store).values.reduce(0) { $0 + $1.count }
            #expect(stored == 0, "nothing of a rejected request is stored")
        }
    }

    @Test(arguments: ["340282366920938463463374607431768211456", "1234567890123456789012345678901234567890"])
    func explicitHashKeyOutsideTheHashSpaceIsAnInvalidArgument(_ key: String) throws {
        try withThreeShardStream { store in
            let expected = "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was \(key)"
            let single = #expect(throws: StreamError.self) {
                try store.putRecord(stream: "routing", partitionKey: "pk", data: [], explicitHashKey: key)
            }
            #expect(single?.code == .invalidArgument)
            #expect(single?.message == expected)
            // PutRecords: the whole request is rejected, good entries included.
            let batch = #expect(throws: StreamError.self) {
                try store.putRecords(
                    stream: "routing",
                    entries: [
                        PutRecordsEntry(partitionKey: "ok", data: Kit.bytes("good")),
                        PutRecordsEntry(partitionKey: "pk", data: [], explicitHashKey: key),
                    ])
            }
            #expect(batch?.code == .invalidArgument)
            #expect(batch?.message == expected)
            let stored = try recordsPerShard(store).values.reduce(0) { $0 + $1.count }
            #expect(stored == 0, "nothing of a rejected request is stored")
        }
    }
}
