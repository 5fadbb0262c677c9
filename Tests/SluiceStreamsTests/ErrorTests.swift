import Foundation
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// Every bad input gets the precise AWS error (reference §2, §4) and leaves the stored records
/// intact: each test runs against a stream holding records and re-reads all of them afterwards.
@Suite struct ErrorTests {
    private typealias Kit = StreamCoreTestKit
    private static let stream = "orders"
    private static let account = StreamCoreTestKit.account
    private static let shard0 = "shardId-000000000000"
    private static let shard1 = "shardId-000000000001"

    /// The records put before a test's bad call.
    struct Stored {
        var byShard: [String: [StoredRecord]]
        var incarnation: UInt32

        func last(in shardID: String) throws -> StoredRecord {
            try #require(byShard[shardID]?.last)
        }
    }

    /// Runs `body` against a 2-shard stream `orders` holding records in both shards, then checks
    /// that every record is still readable, unchanged and in order.
    private func withRecords(
        configure: (inout StreamStoreConfiguration) -> Void = { _ in }, shardsStayUnchanged: Bool = true,
        _ body: (StreamStore, ManualTimeSource, Stored) throws -> Void
    ) throws {
        try withTemporaryDirectory { dir in
            let clock = ManualTimeSource()
            var configuration = Kit.configuration(dir, clock: clock)
            configure(&configuration)
            let store = try StreamStore(configuration)
            defer { store.close() }
            try store.createStream(name: Self.stream, shardCount: 2)
            var byShard: [String: [StoredRecord]] = [:]
            for index in 0..<10 {
                // Even records to shard 0, odd ones to shard 1.
                let hashKey = index.isMultiple(of: 2) ? "\(index)" : String(HashKey.max - UInt128(index))
                let key = "key-\(index)"
                let data = Kit.bytes("payload-\(index)")
                let put = try store.putRecord(stream: Self.stream, partitionKey: key, data: data, explicitHashKey: hashKey)
                byShard[put.shardID, default: []].append(
                    StoredRecord(sequenceNumber: put.sequenceNumber, arrival: clock.now(), partitionKey: key, data: data))
            }
            #expect(byShard[Self.shard0]?.count == 5 && byShard[Self.shard1]?.count == 5)
            let incarnation = try #require(byShard[Self.shard0]?.first).sequenceNumber.incarnation
            try body(store, clock, Stored(byShard: byShard, incarnation: incarnation))
            for (shardID, expected) in byShard {
                let read = try Kit.readShard(store, stream: Self.stream, shardID: shardID).records
                #expect(read == expected, "records of \(shardID) after the error")
            }
            if shardsStayUnchanged {
                let shards = try store.describeStream(name: Self.stream).shards
                #expect(shards.map(\.shardID) == [Self.shard0, Self.shard1])
                #expect(shards.filter(\.isOpen).count == 2)
            }
        }
    }

    // MARK: - Streams

    @Test(arguments: [
        ("", "Member must have length greater than or equal to 1"),
        ("a b", "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"),
        ("x/y", "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"),
        ("caf\u{E9}", "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"),
        (String(repeating: "s", count: 129), "Member must have length less than or equal to 128"),
    ])
    func invalidStreamNameIsAValidationError(name: String, rule: String) throws {
        try withRecords { store, _, _ in
            let expected = "1 validation error detected: Value '\(name)' at 'streamName' failed to satisfy constraint: \(rule)"
            let create = #expect(throws: StreamError.self) { try store.createStream(name: name, shardCount: 1) }
            #expect(create?.code == .validation)
            #expect(create?.message == expected)
            let put = #expect(throws: StreamError.self) { try store.putRecord(stream: name, partitionKey: "k", data: []) }
            #expect(put?.code == .validation)
            #expect(put?.message == expected)
            #expect(store.listStreams() == [Self.stream])
        }
    }

    @Test func streamNameOf128CharactersIsAccepted() throws {
        try withRecords { store, _, _ in
            let name = String(repeating: "s", count: 128)
            try store.createStream(name: name, shardCount: 1)
            #expect(store.listStreams() == [Self.stream, name].sorted())
        }
    }

    @Test func creatingAnExistingStreamIsResourceInUseAndKeepsItsData() throws {
        try withRecords { store, _, _ in
            let error = #expect(throws: StreamError.self) { try store.createStream(name: Self.stream, shardCount: 5) }
            #expect(error?.code == .resourceInUse)
            #expect(error?.message == "Stream orders under account 000000000000 already exists.")
            let description = try store.describeStream(name: Self.stream)
            #expect(description.openShardCount == 2)
        }
    }

    @Test(arguments: [0, -1])
    func shardCountBelowOneIsAValidationError(_ count: Int) throws {
        try withRecords { store, _, _ in
            let error = #expect(throws: StreamError.self) { try store.createStream(name: "fresh", shardCount: count) }
            #expect(error?.code == .validation)
            #expect(
                error?.message
                    == "1 validation error detected: Value '\(count)' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1")
            #expect(store.listStreams() == [Self.stream])
        }
    }

    @Test func creatingPastTheShardLimitIsLimitExceeded() throws {
        try withTemporaryDirectory { dir in
            var configuration = Kit.configuration(dir, clock: ManualTimeSource())
            configuration.shardLimit = 3
            let store = try StreamStore(configuration)
            defer { store.close() }
            let error = #expect(throws: StreamError.self) { try store.createStream(name: "wide", shardCount: 4) }
            #expect(error?.code == .limitExceeded)
            #expect(
                error?.message
                    == "This request would exceed the shard limit for the account 000000000000 in us-east-1. "
                    + "Current shard count for the account: 0. Limit: 3. Number of additional shards that would have resulted from this request: 4. "
                    + "Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) "
                    + "for current limits and how to request higher limits.")
            #expect(store.listStreams().isEmpty)
            try store.createStream(name: "fits", shardCount: 3)
        }
    }

    @Test func shardLimitCountsOpenShardsOfExistingStreams() throws {
        try withRecords(configure: { $0.shardLimit = 3 }, shardsStayUnchanged: false) { store, _, _ in
            let create = #expect(throws: StreamError.self) { try store.createStream(name: "more", shardCount: 2) }
            #expect(create?.code == .limitExceeded)
            #expect(
                create?.message.hasPrefix(
                    "This request would exceed the shard limit for the account 000000000000 in us-east-1. Current shard count for the account: 2. "
                        + "Limit: 3. Number of additional shards that would have resulted from this request: 2.") == true)
            // A split adds one open shard: the first fits (3), the second would not (4).
            try store.splitShard(stream: Self.stream, shardToSplit: Self.shard0, newStartingHashKey: "1000000")
            let split = #expect(throws: StreamError.self) {
                try store.splitShard(stream: Self.stream, shardToSplit: Self.shard1, newStartingHashKey: "270141183460469231731687303715884105728")
            }
            #expect(split?.code == .limitExceeded)
            #expect(split?.message.contains("Current shard count for the account: 3. Limit: 3.") == true)
            let shards = try store.listShards(name: Self.stream)
            #expect(shards.count == 4)
            try store.mergeShards(stream: Self.stream, shardToMerge: "shardId-000000000002", adjacentShardToMerge: "shardId-000000000003")
        }
    }

    enum StreamOperation: String, Sendable, CaseIterable {
        case putRecord, putRecords, describe, delete, shardIterator, split, merge, updateShardCount
        case increaseRetention, decreaseRetention, addTags, removeTags, listTags
    }

    @Test(arguments: StreamOperation.allCases)
    func unknownStreamIsResourceNotFound(_ operation: StreamOperation) throws {
        try withRecords { store, _, _ in
            let error = #expect(throws: StreamError.self) {
                switch operation {
                case .putRecord: _ = try store.putRecord(stream: "missing", partitionKey: "k", data: [])
                case .putRecords: _ = try store.putRecords(stream: "missing", entries: [PutRecordsEntry(partitionKey: "k", data: [])])
                case .describe: _ = try store.describeStream(name: "missing")
                case .delete: try store.deleteStream(name: "missing")
                case .shardIterator: _ = try store.shardIterator(stream: "missing", shardID: Self.shard0, type: .trimHorizon)
                case .split: try store.splitShard(stream: "missing", shardToSplit: Self.shard0, newStartingHashKey: "1000")
                case .merge: try store.mergeShards(stream: "missing", shardToMerge: Self.shard0, adjacentShardToMerge: Self.shard1)
                case .updateShardCount: try store.updateShardCount(stream: "missing", targetShardCount: 2)
                case .increaseRetention: try store.increaseRetention(stream: "missing", hours: 48)
                case .decreaseRetention: try store.decreaseRetention(stream: "missing", hours: 24)
                case .addTags: try store.addTags(stream: "missing", tags: ["k": "v"])
                case .removeTags: try store.removeTags(stream: "missing", keys: ["k"])
                case .listTags: _ = try store.listTags(stream: "missing")
                }
            }
            #expect(error?.code == .resourceNotFound)
            #expect(error?.message == "Stream missing under account 000000000000 not found.")
        }
    }

    @Test func deletedStreamIsGoneAndItsIteratorsNameTheMissingShard() throws {
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource()))
            defer { store.close() }
            try store.createStream(name: "doomed", shardCount: 1)
            _ = try store.putRecord(stream: "doomed", partitionKey: "k", data: Kit.bytes("old"))
            let iterator = try store.shardIterator(stream: "doomed", shardID: Self.shard0, type: .trimHorizon)
            try store.deleteStream(name: "doomed")
            let describe = #expect(throws: StreamError.self) { try store.describeStream(name: "doomed") }
            #expect(describe?.code == .resourceNotFound)
            #expect(describe?.message == "Stream doomed under account 000000000000 not found.")
            let read = #expect(throws: StreamError.self) { try store.getRecords(iterator: iterator) }
            #expect(read?.code == .resourceNotFound)
            #expect(read?.message == "Shard shardId-000000000000 in stream doomed under account 000000000000 does not exist")
            // A new stream of the same name does not honour the old stream's iterator or records.
            try store.createStream(name: "doomed", shardCount: 1)
            let again = #expect(throws: StreamError.self) { try store.getRecords(iterator: iterator) }
            #expect(again?.code == .resourceNotFound)
            let fresh = try Kit.readShard(store, stream: "doomed", shardID: Self.shard0).records
            #expect(fresh.isEmpty)
        }
    }

    /// DeleteStream renames the stream aside and then shuts its shards down; the shutdown must not
    /// try to write into the directory that is gone (it did: "could not write segment summary").
    @Test func deletingAStreamReportsNoStorageFailures() throws {
        try withTemporaryDirectory { dir in
            let sink = InMemoryLogSink()
            var configuration = Kit.configuration(dir, clock: ManualTimeSource())
            configuration.logger = Logger(label: "test", level: .debug, sink: sink)
            let store = try StreamStore(configuration)
            defer { store.close() }
            try store.createStream(name: "doomed", shardCount: 2)
            for index in 0..<6 { _ = try store.putRecord(stream: "doomed", partitionKey: "k\(index)", data: [UInt8(index)]) }
            try store.deleteStream(name: "doomed")
            let complaints = sink.events.filter { $0.level >= .notice }
            #expect(complaints.isEmpty, "\(complaints.map { "\($0.message) \($0.metadata)" })")
            #expect(!FileManager.default.fileExists(atPath: dir + "/data/streams/doomed"))
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir + "/data/streams")
            #expect(leftovers.isEmpty, "nothing of the deleted stream is left: \(leftovers)")
        }
    }

    @Test func streamBeingCreatedRejectsDataCallsUntilItIsActive() throws {
        try withTemporaryDirectory { dir in
            let clock = ManualTimeSource()
            var configuration = Kit.configuration(dir, clock: clock)
            configuration.creationDelayMilliseconds = 1000
            let store = try StreamStore(configuration)
            defer { store.close() }
            try store.createStream(name: "slow", shardCount: 2)
            for step: Int64 in [0, 999] {
                clock.advance(milliseconds: step)
                let description = try store.describeStream(name: "slow")
                #expect(description.status == .creating)
                #expect(description.shards.isEmpty)
                let put = #expect(throws: StreamError.self) { try store.putRecord(stream: "slow", partitionKey: "k", data: []) }
                #expect(put?.code == .resourceNotFound)
                #expect(put?.message == "Stream slow under account 000000000000 not found.")
                let iterator = #expect(throws: StreamError.self) {
                    try store.shardIterator(stream: "slow", shardID: Self.shard0, type: .trimHorizon)
                }
                #expect(iterator?.code == .resourceNotFound)
                let split = #expect(throws: StreamError.self) {
                    try store.splitShard(stream: "slow", shardToSplit: Self.shard0, newStartingHashKey: "1000")
                }
                #expect(split?.code == .resourceInUse)
                #expect(split?.message == "Stream slow under account 000000000000 not ACTIVE, instead in state CREATING")
            }
            clock.advance(milliseconds: 1)
            let active = try store.describeStream(name: "slow")
            #expect(active.status == .active)
            #expect(active.shards.count == 2)
            let put = try store.putRecord(stream: "slow", partitionKey: "k", data: Kit.bytes("now"))
            let read = try Kit.readShard(store, stream: "slow", shardID: put.shardID).records
            #expect(read.map(\.data) == [Kit.bytes("now")])
        }
    }

    // MARK: - Records

    @Test func dataOverTheRecordSizeIsAValidationError() throws {
        try withRecords { store, _, _ in
            let data = [UInt8](repeating: 1, count: (1 << 20) + 1)
            let single = #expect(throws: StreamError.self) { try store.putRecord(stream: Self.stream, partitionKey: "k", data: data) }
            #expect(single?.code == .validation)
            #expect(
                single?.message
                    == "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]' at 'data' "
                    + "failed to satisfy constraint: Member must have length less than or equal to 1048576")
            let batch = #expect(throws: StreamError.self) {
                try store.putRecords(
                    stream: Self.stream, entries: [PutRecordsEntry(partitionKey: "ok", data: [1]), PutRecordsEntry(partitionKey: "k", data: data)])
            }
            #expect(batch?.code == .validation)
            #expect(
                batch?.message
                    == "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]' at 'records.2.member.data' "
                    + "failed to satisfy constraint: Member must have length less than or equal to 1048576")
        }
    }

    @Test func dataPlusPartitionKeyOverTheRecordSizeIsAnInvalidArgument() throws {
        try withRecords { store, _, _ in
            let error = #expect(throws: StreamError.self) {
                try store.putRecord(stream: Self.stream, partitionKey: "kk", data: [UInt8](repeating: 1, count: (1 << 20) - 1))
            }
            #expect(error?.code == .invalidArgument)
            #expect(
                error?.message
                    == "Record has 1048575 bytes of data and 2 bytes of partition key; together they must not exceed 1048576 bytes in stream orders. Send smaller records.")
        }
    }

    @Test(arguments: [
        ("", "Member must have length greater than or equal to 1"),
        (String(repeating: "p", count: 257), "Member must have length less than or equal to 256"),
    ])
    func partitionKeyOutsideOneTo256CharactersIsAValidationError(key: String, rule: String) throws {
        try withRecords { store, _, _ in
            let single = #expect(throws: StreamError.self) { try store.putRecord(stream: Self.stream, partitionKey: key, data: [1]) }
            #expect(single?.code == .validation)
            #expect(single?.message == "1 validation error detected: Value '\(key)' at 'partitionKey' failed to satisfy constraint: \(rule)")
            let batch = #expect(throws: StreamError.self) {
                try store.putRecords(stream: Self.stream, entries: [PutRecordsEntry(partitionKey: key, data: [1])])
            }
            #expect(batch?.code == .validation)
            #expect(batch?.message == "1 validation error detected: Value '\(key)' at 'records.1.member.partitionKey' failed to satisfy constraint: \(rule)")
        }
    }

    @Test(arguments: [0, 501])
    func putRecordsWithoutOneTo500EntriesIsAValidationError(_ count: Int) throws {
        try withRecords { store, _, _ in
            let entries = (0..<count).map { PutRecordsEntry(partitionKey: "k\($0)", data: [1]) }
            let error = #expect(throws: StreamError.self) { try store.putRecords(stream: Self.stream, entries: entries) }
            #expect(error?.code == .validation)
            let rule = count == 0 ? "Member must have length greater than or equal to 1" : "Member must have length less than or equal to 500"
            #expect(error?.message.hasPrefix("1 validation error detected: Value '") == true)
            #expect(error?.message.hasSuffix("' at 'records' failed to satisfy constraint: \(rule)") == true)
        }
    }

    @Test func putRecordsOverFiveMebibytesIsRejectedWhole() throws {
        try withRecords { store, _, _ in
            // Six records under the per-record limit, 6 MB together.
            let entries = (0..<6).map { PutRecordsEntry(partitionKey: "k\($0)", data: [UInt8](repeating: 2, count: 1_000_000)) }
            let error = #expect(throws: StreamError.self) { try store.putRecords(stream: Self.stream, entries: entries) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message == "Records size exceeds 5 MB limit")
        }
    }

    // MARK: - Iterators

    @Test(arguments: [0, 1, 9, 20, -2])
    func tamperedIteratorIsInvalid(_ position: Int) throws {
        try withRecords { store, _, _ in
            let iterator = try store.shardIterator(stream: Self.stream, shardID: Self.shard0, type: .trimHorizon)
            var characters = Array(iterator)
            let index = position >= 0 ? position : characters.count + position
            characters[index] = characters[index] == "A" ? "B" : "A"
            let tampered = String(characters)
            #expect(tampered != iterator)
            let error = #expect(throws: StreamError.self) { try store.getRecords(iterator: tampered) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message == "Invalid ShardIterator.")
            // The untouched iterator still works.
            let untouched = try store.getRecords(iterator: iterator)
            #expect(untouched.records.count == 5)
        }
    }

    @Test(arguments: ["garbage", "AAAA", "!!!!", String(repeating: "A", count: 80), "\"\"", "\"unterminated"])
    func garbageIteratorIsInvalid(_ iterator: String) throws {
        try withRecords { store, _, _ in
            let error = #expect(throws: StreamError.self) { try store.getRecords(iterator: iterator) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message == "Invalid ShardIterator.")
        }
    }

    @Test(arguments: [0, 513])
    func iteratorOutsideOneTo512CharactersIsAValidationError(_ length: Int) throws {
        try withRecords { store, _, _ in
            let iterator = String(repeating: "A", count: length)
            let error = #expect(throws: StreamError.self) { try store.getRecords(iterator: iterator) }
            #expect(error?.code == .validation)
            let rule = length == 0 ? "Member must have length greater than or equal to 1" : "Member must have length less than or equal to 512"
            #expect(error?.message == "1 validation error detected: Value '\(iterator)' at 'shardIterator' failed to satisfy constraint: \(rule)")
        }
    }

    @Test func iteratorFromAnotherDataDirectoryIsInvalid() throws {
        try withRecords { store, _, _ in
            try withTemporaryDirectory { otherDirectory in
                let other = try StreamStore(Kit.configuration(otherDirectory, clock: ManualTimeSource()))
                defer { other.close() }
                try other.createStream(name: Self.stream, shardCount: 2)
                _ = try other.putRecord(stream: Self.stream, partitionKey: "foreign", data: Kit.bytes("x"), explicitHashKey: "0")
                let foreign = try other.shardIterator(stream: Self.stream, shardID: Self.shard0, type: .trimHorizon)
                let error = #expect(throws: StreamError.self) { try store.getRecords(iterator: foreign) }
                #expect(error?.code == .invalidArgument)
                #expect(error?.message == "Invalid ShardIterator.")
                let ours = try store.shardIterator(stream: Self.stream, shardID: Self.shard0, type: .trimHorizon)
                let reverse = #expect(throws: StreamError.self) { try other.getRecords(iterator: ours) }
                #expect(reverse?.message == "Invalid ShardIterator.")
                let own = try other.getRecords(iterator: foreign)
                #expect(own.records.map(\.partitionKey) == ["foreign"])
            }
        }
    }

    @Test func iteratorExpiresAfterThreeHundredSeconds() throws {
        try withRecords { store, clock, _ in
            let iterator = try store.shardIterator(stream: Self.stream, shardID: Self.shard0, type: .trimHorizon)
            clock.advance(milliseconds: 300_001)
            let error = #expect(throws: StreamError.self) { try store.getRecords(iterator: iterator) }
            #expect(error?.code == .expiredIterator)
            #expect(error?.message.hasPrefix("Iterator expired. The iterator was created at time") == true)
            // The manual clock starts at 2026-01-01T00:00:00Z, a Thursday.
            #expect(
                error?.message
                    == "Iterator expired. The iterator was created at time Thu Jan 01 00:00:00 UTC 2026 while right now it is "
                    + "Thu Jan 01 00:05:00 UTC 2026 which is further in the future than the tolerated delay of 300000 milliseconds.")
        }
    }

    @Test func iteratorIsStillValidAtExactlyThreeHundredSeconds() throws {
        try withRecords { store, clock, stored in
            let iterator = try store.shardIterator(stream: Self.stream, shardID: Self.shard0, type: .trimHorizon)
            clock.advance(milliseconds: 300_000)
            let result = try store.getRecords(iterator: iterator)
            #expect(result.records == stored.byShard[Self.shard0])
        }
    }

    @Test func nextIteratorIsIssuedAfreshByEachGetRecords() throws {
        try withRecords { store, clock, _ in
            let iterator = try store.shardIterator(stream: Self.stream, shardID: Self.shard0, type: .trimHorizon)
            clock.advance(seconds: 200)
            let firstPage = try store.getRecords(iterator: iterator, limit: 2)
            let next = try #require(firstPage.nextShardIterator)
            clock.advance(seconds: 200)
            let expired = #expect(throws: StreamError.self) { try store.getRecords(iterator: iterator) }
            #expect(expired?.code == .expiredIterator)
            let rest = try store.getRecords(iterator: next)
            #expect(rest.records.count == 3)
        }
    }

    @Test(arguments: [0, -1, 10_001])
    func getRecordsLimitOutsideOneTo10000IsAValidationError(_ limit: Int) throws {
        try withRecords { store, _, _ in
            let iterator = try store.shardIterator(stream: Self.stream, shardID: Self.shard0, type: .trimHorizon)
            let error = #expect(throws: StreamError.self) { try store.getRecords(iterator: iterator, limit: limit) }
            #expect(error?.code == .validation)
            let rule = limit < 1 ? "Member must have value greater than or equal to 1" : "Member must have value less than or equal to 10000"
            #expect(error?.message == "1 validation error detected: Value '\(limit)' at 'limit' failed to satisfy constraint: \(rule)")
        }
    }

    // MARK: - Starting positions

    @Test(arguments: [ShardIteratorType.atSequenceNumber, .afterSequenceNumber])
    func sequenceNumberFromAnotherShardIsInvalid(_ type: ShardIteratorType) throws {
        try withRecords { store, _, stored in
            let foreign = try stored.last(in: Self.shard1).sequenceNumber.description
            let error = #expect(throws: StreamError.self) {
                try store.shardIterator(stream: Self.stream, shardID: Self.shard0, type: type, startingSequenceNumber: foreign)
            }
            #expect(error?.code == .invalidArgument)
            #expect(
                error?.message
                    == "Invalid StartingSequenceNumber. It encodes shardId-000000000001, while it was used in a call to a shard with shardId-000000000000")
        }
    }

    @Test func sequenceNumberBeyondTheTipIsInvalid() throws {
        try withRecords { store, _, stored in
            let last = try stored.last(in: Self.shard0).sequenceNumber
            let candidates = [
                SequenceNumber(
                    shardIndex: 0, incarnation: stored.incarnation,
                    position: ShardPosition(segment: last.position.segment, offset: last.position.offset + 100_000)),
                SequenceNumber(
                    shardIndex: 0, incarnation: stored.incarnation,
                    position: ShardPosition(segment: last.position.segment + 5, offset: 32)),
            ]
            for beyond in candidates {
                let error = #expect(throws: StreamError.self) {
                    try store.shardIterator(
                        stream: Self.stream, shardID: Self.shard0, type: .atSequenceNumber, startingSequenceNumber: beyond.description)
                }
                #expect(error?.code == .invalidArgument)
                #expect(
                    error?.message.hasPrefix(
                        "StartingSequenceNumber \(beyond) used in GetShardIterator on shard shardId-000000000000 in stream orders under account 000000000000 is invalid")
                        == true)
            }
        }
    }

    @Test func malformedSequenceNumberIsAValidationError() throws {
        try withRecords { store, _, _ in
            let error = #expect(throws: StreamError.self) {
                try store.shardIterator(stream: Self.stream, shardID: Self.shard0, type: .atSequenceNumber, startingSequenceNumber: "12x")
            }
            #expect(error?.code == .validation)
            #expect(
                error?.message
                    == "1 validation error detected: Value '12x' at 'startingSequenceNumber' failed to satisfy constraint: "
                    + "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})")
        }
    }

    @Test(arguments: ["123", "0", "49543463076548007577105092703039560359975228518395012686"])
    func wellFormedSequenceNumberThatIsNotOursIsInvalid(_ number: String) throws {
        try withRecords { store, _, _ in
            let error = #expect(throws: StreamError.self) {
                try store.shardIterator(stream: Self.stream, shardID: Self.shard0, type: .afterSequenceNumber, startingSequenceNumber: number)
            }
            #expect(error?.code == .invalidArgument)
            #expect(
                error?.message
                    == "StartingSequenceNumber \(number) used in GetShardIterator on shard shardId-000000000000 in stream orders under account 000000000000 is invalid.")
        }
    }

    @Test func sequenceNumberOfAnotherStreamIsInvalid() throws {
        try withRecords { store, _, _ in
            try store.createStream(name: "elsewhere", shardCount: 1)
            let foreign = try store.putRecord(stream: "elsewhere", partitionKey: "k", data: []).sequenceNumber.description
            let error = #expect(throws: StreamError.self) {
                try store.shardIterator(stream: Self.stream, shardID: Self.shard0, type: .atSequenceNumber, startingSequenceNumber: foreign)
            }
            #expect(error?.code == .invalidArgument)
            #expect(
                error?.message
                    == "StartingSequenceNumber \(foreign) used in GetShardIterator on shard shardId-000000000000 in stream orders under account 000000000000 is invalid because it did not come from this stream.")
        }
    }

    @Test(arguments: [ShardIteratorType.atSequenceNumber, .afterSequenceNumber])
    func sequenceTypeWithoutSequenceNumberIsInvalid(_ type: ShardIteratorType) throws {
        try withRecords { store, _, _ in
            let error = #expect(throws: StreamError.self) { try store.shardIterator(stream: Self.stream, shardID: Self.shard0, type: type) }
            #expect(error?.code == .invalidArgument)
            #expect(
                error?.message
                    == "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or "
                    + "(2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified \(type.rawValue) and no StartingSequenceNumber.")
        }
    }

    @Test(arguments: [ShardIteratorType.latest, .trimHorizon])
    func positionTypeWithSequenceNumberIsInvalid(_ type: ShardIteratorType) throws {
        try withRecords { store, _, stored in
            let number = try stored.last(in: Self.shard0).sequenceNumber.description
            let error = #expect(throws: StreamError.self) {
                try store.shardIterator(stream: Self.stream, shardID: Self.shard0, type: type, startingSequenceNumber: number)
            }
            #expect(error?.code == .invalidArgument)
            #expect(
                error?.message
                    == "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or "
                    + "(2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified \(type.rawValue) and also a StartingSequenceNumber.")
        }
    }

    @Test func atTimestampWithoutTimestampIsInvalid() throws {
        try withRecords { store, _, _ in
            let error = #expect(throws: StreamError.self) { try store.shardIterator(stream: Self.stream, shardID: Self.shard0, type: .atTimestamp) }
            #expect(error?.code == .invalidArgument)
            #expect(
                error?.message
                    == "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.")
        }
    }

    @Test func atTimestampInTheFutureIsInvalid() throws {
        try withRecords { store, clock, _ in
            let now = clock.now()
            let future = now.adding(milliseconds: 1)
            let error = #expect(throws: StreamError.self) {
                try store.shardIterator(stream: Self.stream, shardID: Self.shard0, type: .atTimestamp, timestamp: future)
            }
            #expect(error?.code == .invalidArgument)
            #expect(
                error?.message
                    == "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. "
                    + "timestampInMillis: \(future.milliseconds), currentTimestampInMillis: \(now.milliseconds)")
            // Exactly now is allowed.
            _ = try store.shardIterator(stream: Self.stream, shardID: Self.shard0, type: .atTimestamp, timestamp: now)
        }
    }

    @Test(arguments: ["shardId-000000000009", "shardId-9", "9"])
    func unknownShardOfAKnownStreamIsResourceNotFound(_ shardID: String) throws {
        try withRecords { store, _, _ in
            let error = #expect(throws: StreamError.self) { try store.shardIterator(stream: Self.stream, shardID: shardID, type: .trimHorizon) }
            #expect(error?.code == .resourceNotFound)
            #expect(error?.message == "Shard shardId-000000000009 in stream orders under account 000000000000 does not exist")
        }
    }

    @Test(arguments: ["foo", "shardId-", "shardId-abc", "shardId-99999999999"])
    func unparseableShardIDIsResourceNotFound(_ shardID: String) throws {
        try withRecords { store, _, _ in
            let error = #expect(throws: StreamError.self) { try store.shardIterator(stream: Self.stream, shardID: shardID, type: .trimHorizon) }
            #expect(error?.code == .resourceNotFound)
            #expect(error?.message == "Could not find shard \(shardID) in stream orders under account 000000000000.")
        }
    }
}

@Suite struct StreamDirectoryNameTests {
    @Test func streamsWhoseNamesStartWithADotSurviveAReopen() throws {
        try withTemporaryDirectory { directory in
            let configuration = StreamStoreConfiguration(dataDirectory: directory + "/data")
            do {
                let store = try StreamStore(configuration)
                defer { store.close() }
                for name in [".creating-x", ".deleted-y", ".hidden"] {
                    try store.createStream(name: name, shardCount: 1)
                    _ = try store.putRecord(stream: name, partitionKey: "k", data: Array(name.utf8))
                }
            }
            let store = try StreamStore(configuration)
            defer { store.close() }
            #expect(store.listStreams() == [".creating-x", ".deleted-y", ".hidden"])
            for name in store.listStreams() {
                let records = try store.read(stream: name, shardIndex: 0, from: .start).records
                #expect(records.map { String(decoding: $0.data, as: UTF8.self) } == [name])
            }
        }
    }

    @Test(arguments: [".", ".."])
    func dotAndDotDotAreRefusedWithAReason(name: String) throws {
        try withTemporaryDirectory { directory in
            let store = try StreamStore(StreamStoreConfiguration(dataDirectory: directory + "/data"))
            defer { store.close() }
            let error = #expect(throws: StreamError.self) { try store.createStream(name: name, shardCount: 1) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("choose another name") == true)
            #expect(store.listStreams().isEmpty)
        }
    }
}
