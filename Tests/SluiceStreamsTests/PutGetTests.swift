import Foundation
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// PutRecord/PutRecords and GetShardIterator/GetRecords (reference §2.5-2.7).
@Suite struct PutGetTests {
    private typealias Kit = StreamCoreTestKit
    private static let shard0 = "shardId-000000000000"

    /// The shard a hash key routes to in a stream of `count` even shards.
    private static func shardID(of hashKey: UInt128, evenShards count: Int) -> String {
        let index = HashKey.evenRanges(count: count).firstIndex { $0.contains(hashKey) }!
        return ShardID.format(index)
    }

    @Test func recordsOfEachShardComeBackInPutOrder() throws {
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource()))
            defer { store.close() }
            try store.createStream(name: "orders", shardCount: 3)
            var expected: [String: [(key: String, data: [UInt8], sequence: SequenceNumber)]] = [:]
            let keys = ["a", "b", "e", "f", "hello", "x", "y", "z"]
            for index in 0..<64 {
                let key = keys[index % keys.count]
                let data = Kit.bytes("record-\(index)")
                let result = try store.putRecord(stream: "orders", partitionKey: key, data: data)
                #expect(result.shardID == Self.shardID(of: HashKey.of(partitionKey: key), evenShards: 3))
                expected[result.shardID, default: []].append((key, data, result.sequenceNumber))
            }
            #expect(expected.count == 3, "the keys cover every shard")
            for (shardID, records) in expected {
                let read = try Kit.readShard(store, stream: "orders", shardID: shardID).records
                #expect(read.map(\.partitionKey) == records.map(\.key), "keys of \(shardID)")
                #expect(read.map(\.data) == records.map(\.data), "data of \(shardID)")
                #expect(read.map(\.sequenceNumber) == records.map(\.sequence), "sequence numbers of \(shardID)")
            }
        }
    }

    @Test func putRecordsReturnsOneResultPerEntryInRequestOrder() throws {
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource()))
            defer { store.close() }
            try store.createStream(name: "batch", shardCount: 3)
            let entries = (0..<40).map { index in
                PutRecordsEntry(partitionKey: "key-\(index % 9)", data: Kit.bytes("entry-\(index)"))
            }
            let results = try store.putRecords(stream: "batch", entries: entries)
            #expect(results.count == entries.count)
            var perShard: [String: [(data: [UInt8], sequence: SequenceNumber)]] = [:]
            for (entry, result) in zip(entries, results) {
                let success = try result.get()
                #expect(success.shardID == Self.shardID(of: HashKey.of(partitionKey: entry.partitionKey), evenShards: 3))
                perShard[success.shardID, default: []].append((entry.data, success.sequenceNumber))
            }
            for (shardID, expected) in perShard {
                // Within one shard, numbers increase in request order.
                let numbers = expected.map(\.sequence)
                #expect(numbers == numbers.sorted(), "\(shardID) numbers follow request order")
                let read = try Kit.readShard(store, stream: "batch", shardID: shardID).records
                #expect(read.map(\.data) == expected.map(\.data))
                #expect(read.map(\.sequenceNumber) == numbers)
            }
        }
    }

    @Test func putRecordsReportsAFailedShardPerEntryAndKeepsTheRest() throws {
        try withTemporaryDirectory { dir in
            let plan = FaultPlan()
            var configuration = Kit.configuration(dir, clock: ManualTimeSource())
            configuration.fileSystem = FileSystem(faults: plan)
            let store = try StreamStore(configuration)
            defer { store.close() }
            try store.createStream(name: "partial", shardCount: 2)
            // The next frame write to shard 1 fails with ENOSPC; shard 0 is unaffected.
            plan.inject(.write, pathContains: "shardId-000000000001", fault: Fault(errno: Errno.noSpace))
            let entries = (0..<6).map { index in
                PutRecordsEntry(
                    partitionKey: "p\(index)", data: Kit.bytes("d\(index)"),
                    explicitHashKey: index.isMultiple(of: 2) ? "0" : String(HashKey.max))
            }
            let results = try store.putRecords(stream: "partial", entries: entries)
            #expect(results.count == 6)
            var okNumbers: [SequenceNumber] = []
            for (index, result) in results.enumerated() {
                switch result {
                case .success(let put):
                    #expect(index.isMultiple(of: 2), "entry \(index) went to the failing shard but succeeded")
                    #expect(put.shardID == Self.shard0)
                    okNumbers.append(put.sequenceNumber)
                case .failure(let error):
                    #expect(!index.isMultiple(of: 2), "entry \(index) for the healthy shard failed: \(error)")
                    #expect(error.code == .internalFailure)
                }
            }
            #expect(okNumbers.count == 3)
            #expect(okNumbers == okNumbers.sorted())
            let healthy = try Kit.readShard(store, stream: "partial", shardID: Self.shard0).records
            #expect(healthy.map(\.partitionKey) == ["p0", "p2", "p4"])
            #expect(healthy.map(\.sequenceNumber) == okNumbers)
            let failed = try Kit.readShard(store, stream: "partial", shardID: "shardId-000000000001").records
            #expect(failed.isEmpty)
            // The fault is used up: the shard takes records again.
            let retry = try store.putRecord(stream: "partial", partitionKey: "p1", data: Kit.bytes("again"), explicitHashKey: String(HashKey.max))
            #expect(retry.shardID == "shardId-000000000001")
            let recovered = try Kit.readShard(store, stream: "partial", shardID: "shardId-000000000001").records
            #expect(recovered.map(\.data) == [Kit.bytes("again")])
        }
    }

    struct IteratorCase: Sendable, CustomTestStringConvertible {
        enum Anchor: Sendable {
            case none
            case sequence(of: Int)
            /// Milliseconds relative to the arrival of record `of`.
            case timestamp(of: Int, offset: Int64)
        }
        var type: ShardIteratorType
        var anchor: Anchor
        /// Indexes of the records the first GetRecords returns.
        var expected: [Int]
        var label: String
        var testDescription: String { label }
    }

    static let iteratorCases: [IteratorCase] = [
        IteratorCase(type: .trimHorizon, anchor: .none, expected: [0, 1, 2, 3, 4], label: "TRIM_HORIZON"),
        IteratorCase(type: .latest, anchor: .none, expected: [], label: "LATEST"),
        IteratorCase(type: .atSequenceNumber, anchor: .sequence(of: 0), expected: [0, 1, 2, 3, 4], label: "AT_SEQUENCE_NUMBER first"),
        IteratorCase(type: .atSequenceNumber, anchor: .sequence(of: 2), expected: [2, 3, 4], label: "AT_SEQUENCE_NUMBER middle"),
        IteratorCase(type: .atSequenceNumber, anchor: .sequence(of: 4), expected: [4], label: "AT_SEQUENCE_NUMBER last"),
        IteratorCase(type: .afterSequenceNumber, anchor: .sequence(of: 2), expected: [3, 4], label: "AFTER_SEQUENCE_NUMBER middle"),
        IteratorCase(type: .afterSequenceNumber, anchor: .sequence(of: 4), expected: [], label: "AFTER_SEQUENCE_NUMBER last"),
        IteratorCase(type: .atTimestamp, anchor: .timestamp(of: 2, offset: 0), expected: [2, 3, 4], label: "AT_TIMESTAMP exactly a record"),
        IteratorCase(type: .atTimestamp, anchor: .timestamp(of: 2, offset: -5_000), expected: [2, 3, 4], label: "AT_TIMESTAMP between records"),
        IteratorCase(type: .atTimestamp, anchor: .timestamp(of: 2, offset: 1), expected: [3, 4], label: "AT_TIMESTAMP just after a record"),
        IteratorCase(type: .atTimestamp, anchor: .timestamp(of: 0, offset: -86_400_000), expected: [0, 1, 2, 3, 4], label: "AT_TIMESTAMP before everything"),
        IteratorCase(type: .atTimestamp, anchor: .timestamp(of: 4, offset: 1), expected: [], label: "AT_TIMESTAMP after the newest record"),
    ]

    /// Five records r0...r4 put 10 s apart on a manual clock; the iterator starts where the type
    /// says, and after the first read a new record r5 is the only thing that follows.
    @Test(arguments: iteratorCases)
    func everyIteratorTypeStartsAtTheRightRecord(_ testCase: IteratorCase) throws {
        try withTemporaryDirectory { dir in
            let clock = ManualTimeSource()
            let start = clock.now()
            let store = try StreamStore(Kit.configuration(dir, clock: clock))
            defer { store.close() }
            try store.createStream(name: "iter", shardCount: 1)
            var puts: [PutResult] = []
            for index in 0..<5 {
                if index > 0 { clock.advance(seconds: 10) }
                puts.append(try store.putRecord(stream: "iter", partitionKey: "k", data: Kit.bytes("r\(index)")))
            }
            clock.advance(seconds: 10)
            var sequence: String?
            var timestamp: Timestamp?
            switch testCase.anchor {
            case .none: break
            case .sequence(let index): sequence = puts[index].sequenceNumber.description
            case .timestamp(let index, let offset): timestamp = start.adding(milliseconds: Int64(index) * 10_000 + offset)
            }
            let iterator = try store.shardIterator(
                stream: "iter", shardID: Self.shard0, type: testCase.type, startingSequenceNumber: sequence, timestamp: timestamp)
            let first = try store.getRecords(iterator: iterator)
            #expect(first.records.map { Kit.text($0.data) } == testCase.expected.map { "r\($0)" })
            for record in first.records {
                let index = Int(Kit.text(record.data).dropFirst())!
                #expect(record.sequenceNumber == puts[index].sequenceNumber)
                #expect(record.arrival == start.adding(milliseconds: Int64(index) * 10_000))
            }
            let next = try #require(first.nextShardIterator, "an open shard always returns a next iterator")
            let idle = try store.getRecords(iterator: next)
            #expect(idle.records.isEmpty, "nothing new yet")
            let fresh = try store.putRecord(stream: "iter", partitionKey: "k", data: Kit.bytes("r5"))
            let later = try store.getRecords(iterator: next)
            #expect(later.records.map { Kit.text($0.data) } == ["r5"])
            #expect(later.records.first?.sequenceNumber == fresh.sequenceNumber)
        }
    }

    @Test func atAndAfterSequenceNumberWorkForEveryRecordAcrossSegments() throws {
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource(), segmentSize: 1 << 16))
            defer { store.close() }
            try store.createStream(name: "seek", shardCount: 1)
            var puts: [PutResult] = []
            for index in 0..<90 {
                puts.append(try store.putRecord(stream: "seek", partitionKey: "k\(index)", data: [UInt8](repeating: UInt8(index), count: 2000)))
            }
            #expect(Set(puts.map(\.sequenceNumber.position.segment)).count >= 2, "the records span several segments")
            for (index, put) in puts.enumerated() {
                let at = try store.shardIterator(
                    stream: "seek", shardID: Self.shard0, type: .atSequenceNumber, startingSequenceNumber: put.sequenceNumber.description)
                let atRecord = try store.getRecords(iterator: at, limit: 1).records.first?.sequenceNumber
                #expect(atRecord == put.sequenceNumber, "at record \(index)")
                let after = try store.shardIterator(
                    stream: "seek", shardID: Self.shard0, type: .afterSequenceNumber, startingSequenceNumber: put.sequenceNumber.description)
                let following = try store.getRecords(iterator: after, limit: 1).records.first?.sequenceNumber
                #expect(following == (index + 1 < puts.count ? puts[index + 1].sequenceNumber : nil), "after record \(index)")
            }
        }
    }

    @Test func atTimestampFindsTheFirstRecordAtOrAfterItAcrossSegments() throws {
        try withTemporaryDirectory { dir in
            let clock = ManualTimeSource()
            let store = try StreamStore(Kit.configuration(dir, clock: clock, segmentSize: 1 << 16))
            defer { store.close() }
            try store.createStream(name: "times", shardCount: 1)
            var puts: [(sequence: SequenceNumber, arrival: Timestamp)] = []
            var random = SeededRandom(seed: 11)
            for index in 0..<150 {
                // Several records share a millisecond; gaps vary.
                if index % 3 == 0 { clock.advance(milliseconds: Int64.random(in: 1...2_000, using: &random)) }
                let put = try store.putRecord(stream: "times", partitionKey: "k", data: [UInt8](repeating: 1, count: 1800))
                puts.append((put.sequenceNumber, clock.now()))
            }
            clock.advance(seconds: 10)
            #expect(Set(puts.map(\.sequence.position.segment)).count >= 3)
            for probe in stride(from: 0, to: puts.count, by: 7) {
                for offset: Int64 in [-1, 0, 1] {
                    let timestamp = puts[probe].arrival.adding(milliseconds: offset)
                    let expected = puts.first { $0.arrival >= timestamp }
                    let iterator = try store.shardIterator(stream: "times", shardID: Self.shard0, type: .atTimestamp, timestamp: timestamp)
                    let first = try store.getRecords(iterator: iterator, limit: 1).records.first
                    #expect(first?.sequenceNumber == expected?.sequence, "AT_TIMESTAMP \(timestamp.milliseconds) (record \(probe) \(offset))")
                    #expect(first?.arrival == expected?.arrival)
                }
            }
        }
    }

    @Test func arrivalTimesNeverGoBackwardsWhenTheClockDoes() throws {
        try withTemporaryDirectory { dir in
            let clock = ManualTimeSource()
            let configuration = Kit.configuration(dir, clock: clock)
            var store = try StreamStore(configuration)
            defer { store.close() }
            let created = clock.now().milliseconds
            try store.createStream(name: "skew", shardCount: 1)
            clock.set(milliseconds: created + 600_000)
            _ = try store.putRecord(stream: "skew", partitionKey: "k", data: Kit.bytes("a"))
            clock.set(milliseconds: created + 300_000)
            _ = try store.putRecord(stream: "skew", partitionKey: "k", data: Kit.bytes("b"))
            store.close()
            store = try StreamStore(configuration)
            clock.set(milliseconds: created + 120_000)
            _ = try store.putRecord(stream: "skew", partitionKey: "k", data: Kit.bytes("c"))
            let read = try Kit.readShard(store, stream: "skew", shardID: Self.shard0).records
            #expect(read.map { Kit.text($0.data) } == ["a", "b", "c"])
            #expect(read.map(\.arrival.milliseconds) == Array(repeating: created + 600_000, count: 3))
        }
    }

    /// A wall clock stepped back (NTP) must not turn an ACTIVE stream back into a CREATING one,
    /// before or after a restart.
    @Test func anActiveStreamStaysUsableWhenTheClockStepsBack() throws {
        try withTemporaryDirectory { dir in
            let clock = ManualTimeSource()
            let configuration = Kit.configuration(dir, clock: clock)
            var store = try StreamStore(configuration)
            defer { store.close() }
            try store.createStream(name: "stepped", shardCount: 1)
            var puts = [try store.putRecord(stream: "stepped", partitionKey: "k", data: Kit.bytes("before"))]
            for restart in [false, true] {
                clock.advance(milliseconds: -60_000)
                if restart {
                    store.close()
                    store = try StreamStore(configuration)
                }
                let description = try store.describeStream(name: "stepped")
                #expect(description.status == .active, "restart: \(restart)")
                #expect(description.shards.count == (restart ? 3 : 1), "restart: \(restart)")
                puts.append(try store.putRecord(stream: "stepped", partitionKey: "k", data: Kit.bytes("after")))
                try store.splitShard(stream: "stepped", shardToSplit: restart ? "shardId-000000000002" : "shardId-000000000000", newStartingHashKey: restart ? "2000000" : "1000")
            }
            let read = try Kit.readByLineage(store, stream: "stepped")
            #expect(read.records.map(\.sequenceNumber) == puts.map(\.sequenceNumber))
        }
    }

    @Test func iteratorsAndSequenceNumbersStayValidAcrossARestart() throws {
        try withTemporaryDirectory { dir in
            let configuration = Kit.configuration(dir, clock: ManualTimeSource())
            var store = try StreamStore(configuration)
            defer { store.close() }
            try store.createStream(name: "restart", shardCount: 1)
            let first = try store.putRecord(stream: "restart", partitionKey: "k", data: Kit.bytes("1"))
            let second = try store.putRecord(stream: "restart", partitionKey: "k", data: Kit.bytes("2"))
            let fromStart = try store.shardIterator(stream: "restart", shardID: Self.shard0, type: .trimHorizon)
            let latest = try store.shardIterator(stream: "restart", shardID: Self.shard0, type: .latest)
            store.close()
            store = try StreamStore(configuration)
            let third = try store.putRecord(stream: "restart", partitionKey: "k", data: Kit.bytes("3"))
            #expect(try store.getRecords(iterator: fromStart).records.map(\.sequenceNumber) == [first, second, third].map(\.sequenceNumber))
            #expect(try store.getRecords(iterator: latest).records.map(\.sequenceNumber) == [third.sequenceNumber])
            let after = try store.shardIterator(
                stream: "restart", shardID: Self.shard0, type: .afterSequenceNumber, startingSequenceNumber: second.sequenceNumber.description)
            #expect(try store.getRecords(iterator: after).records.map(\.sequenceNumber) == [third.sequenceNumber])
            // LATEST taken after the restart sees only what comes next.
            let latestAgain = try store.shardIterator(stream: "restart", shardID: Self.shard0, type: .latest)
            #expect(try store.getRecords(iterator: latestAgain).records.isEmpty)
            let fourth = try store.putRecord(stream: "restart", partitionKey: "k", data: Kit.bytes("4"))
            #expect(try store.getRecords(iterator: latestAgain).records.map(\.sequenceNumber) == [fourth.sequenceNumber])
        }
    }

    @Test func putRecordsAcceptsExactly500EntriesAndExactlyFiveMebibytes() throws {
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource()))
            defer { store.close() }
            try store.createStream(name: "full", shardCount: 2)
            let many = (0..<500).map { PutRecordsEntry(partitionKey: "k\($0)", data: Kit.bytes("\($0)")) }
            let manyResults = try store.putRecords(stream: "full", entries: many)
            #expect(manyResults.count == 500)
            #expect(manyResults.allSatisfy { (try? $0.get()) != nil })
            // Five records of data + key == 1 MiB each: 5 MiB in total.
            let large = (0..<5).map { PutRecordsEntry(partitionKey: "\($0)", data: [UInt8](repeating: UInt8($0), count: (1 << 20) - 1)) }
            let largeResults = try store.putRecords(stream: "full", entries: large)
            #expect(largeResults.count == 5)
            #expect(largeResults.allSatisfy { (try? $0.get()) != nil })
        }
    }

    @Test(arguments: [1, 7, 25, 10_000])
    func getRecordsHonoursTheLimitAndContinuesWithoutGapsOrDuplicates(_ limit: Int) throws {
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource(), segmentSize: 1 << 16))
            defer { store.close() }
            try store.createStream(name: "paged", shardCount: 1)
            var puts: [SequenceNumber] = []
            for index in 0..<60 {
                puts.append(try store.putRecord(stream: "paged", partitionKey: "k", data: [UInt8](repeating: 7, count: 1500 + index)).sequenceNumber)
            }
            var iterator = try store.shardIterator(stream: "paged", shardID: Self.shard0, type: .trimHorizon)
            var seen: [SequenceNumber] = []
            var batchSizes: [Int] = []
            while true {
                let result = try store.getRecords(iterator: iterator, limit: limit)
                #expect(result.records.count <= limit)
                if result.records.isEmpty { break }
                batchSizes.append(result.records.count)
                seen += result.records.map(\.sequenceNumber)
                iterator = try #require(result.nextShardIterator)
            }
            #expect(seen == puts)
            let full = 60 / limit
            let expectedSizes = Array(repeating: limit, count: full) + (60 % limit == 0 ? [] : [60 % limit])
            #expect(batchSizes == expectedSizes)
        }
    }

    @Test func getRecordsReturnsAtMostTenMebibytes() throws {
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource()))
            defer { store.close() }
            try store.createStream(name: "big", shardCount: 1)
            var puts: [SequenceNumber] = []
            for index in 0..<12 {
                let data = [UInt8](repeating: UInt8(index), count: (1 << 20) - 300)
                puts.append(try store.putRecord(stream: "big", partitionKey: "big-\(index)", data: data).sequenceNumber)
            }
            let iterator = try store.shardIterator(stream: "big", shardID: Self.shard0, type: .trimHorizon)
            let first = try store.getRecords(iterator: iterator)
            #expect(first.records.count >= 1)
            #expect(first.records.count < 12)
            let bytes = first.records.reduce(0) { $0 + $1.data.count + $1.partitionKey.utf8.count }
            #expect(bytes <= 10 << 20)
            #expect(first.millisBehindLatest >= 0)
            var all = first.records
            var next = try #require(first.nextShardIterator)
            while true {
                let result = try store.getRecords(iterator: next)
                if result.records.isEmpty { break }
                all += result.records
                next = try #require(result.nextShardIterator)
            }
            #expect(all.map(\.sequenceNumber) == puts)
            #expect(all.enumerated().allSatisfy { $0.element.data.first == UInt8($0.offset) && $0.element.data.count == (1 << 20) - 300 })
        }
    }

    @Test func millisBehindLatestIsTheGapToTheNewestRecordAndZeroWhenCaughtUp() throws {
        try withTemporaryDirectory { dir in
            let clock = ManualTimeSource()
            let store = try StreamStore(Kit.configuration(dir, clock: clock))
            defer { store.close() }
            try store.createStream(name: "lag", shardCount: 1)
            _ = try store.putRecord(stream: "lag", partitionKey: "k", data: Kit.bytes("old"))
            clock.advance(seconds: 5)
            _ = try store.putRecord(stream: "lag", partitionKey: "k", data: Kit.bytes("new"))
            let iterator = try store.shardIterator(stream: "lag", shardID: Self.shard0, type: .trimHorizon)
            let behind = try store.getRecords(iterator: iterator, limit: 1)
            #expect(behind.records.map { Kit.text($0.data) } == ["old"])
            #expect(behind.millisBehindLatest == 5_000)
            let caughtUp = try store.getRecords(iterator: try #require(behind.nextShardIterator))
            #expect(caughtUp.records.map { Kit.text($0.data) } == ["new"])
            #expect(caughtUp.millisBehindLatest == 0)
            let idle = try store.getRecords(iterator: try #require(caughtUp.nextShardIterator))
            #expect(idle.records.isEmpty)
            #expect(idle.millisBehindLatest == 0)
        }
    }

    @Test func emptyDataIsAValidRecord() throws {
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource()))
            defer { store.close() }
            try store.createStream(name: "empty", shardCount: 1)
            let single = try store.putRecord(stream: "empty", partitionKey: "nothing", data: [])
            let batch = try store.putRecords(stream: "empty", entries: [PutRecordsEntry(partitionKey: "none", data: [])])
            let read = try Kit.readShard(store, stream: "empty", shardID: Self.shard0).records
            #expect(read.map(\.partitionKey) == ["nothing", "none"])
            #expect(read.map(\.data) == [[], []])
            #expect(read.map(\.sequenceNumber) == [single.sequenceNumber, try batch[0].get().sequenceNumber])
        }
    }

    @Test func recordsAtTheSizeAndKeyLengthLimitsAreAccepted() throws {
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource()))
            defer { store.close() }
            try store.createStream(name: "limits", shardCount: 1)
            // data + partition key == 1 MiB exactly.
            let data = [UInt8](repeating: 0xAB, count: (1 << 20) - 1)
            _ = try store.putRecord(stream: "limits", partitionKey: "k", data: data)
            let longKey = String(repeating: "p", count: 256)
            _ = try store.putRecord(stream: "limits", partitionKey: longKey, data: Kit.bytes("v"))
            let read = try Kit.readShard(store, stream: "limits", shardID: Self.shard0).records
            #expect(read.count == 2)
            #expect(read.first?.data == data)
            #expect(read.last?.partitionKey == longKey)
        }
    }

    @Test func iteratorWrappedInDoubleQuotesIsAccepted() throws {
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource()))
            defer { store.close() }
            try store.createStream(name: "quoted", shardCount: 1)
            let put = try store.putRecord(stream: "quoted", partitionKey: "k", data: Kit.bytes("v"))
            let iterator = try store.shardIterator(stream: "quoted", shardID: Self.shard0, type: .trimHorizon)
            let quoted = try store.getRecords(iterator: "\"" + iterator + "\"")
            #expect(quoted.records.map(\.sequenceNumber) == [put.sequenceNumber])
            let plain = try store.getRecords(iterator: iterator)
            #expect(plain.records == quoted.records)
        }
    }

    @Test(arguments: ["shardId-1", "shard-1", "1", "anything-000000000001", "shardId-000000000001"])
    func shardIDsAreNormalisedLikeAWS(_ raw: String) throws {
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource()))
            defer { store.close() }
            try store.createStream(name: "norm", shardCount: 2)
            let put = try store.putRecord(stream: "norm", partitionKey: "k", data: [], explicitHashKey: String(HashKey.max))
            #expect(put.shardID == "shardId-000000000001")
            let read = try Kit.readShard(store, stream: "norm", shardID: raw).records
            #expect(read.map(\.sequenceNumber) == [put.sequenceNumber])
        }
    }
}
