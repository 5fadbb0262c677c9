import Foundation
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// Retention (reference §2.9, §3.6) and tags (§2.10).
@Suite struct RetentionAndTagsTests {
    private typealias Kit = StreamCoreTestKit
    private static let shard0 = "shardId-000000000000"
    private static let hour: Int64 = 3_600_000

    /// A record as put, with its arrival time on the manual clock.
    private struct Put {
        var sequence: SequenceNumber
        var arrival: Int64
        var data: [UInt8]
        var segment: UInt32 { sequence.position.segment }
    }

    /// Puts `count` records of about 2 KB to shard 0 of `stream`.
    private static func put(
        _ count: Int, tag: String, to stream: String, _ store: StreamStore, _ clock: ManualTimeSource
    ) throws -> [Put] {
        try (0..<count).map { index in
            let data = Kit.bytes("\(tag)-\(index)-") + [UInt8](repeating: 0x5A, count: 2000)
            let result = try store.putRecord(stream: stream, partitionKey: "k", data: data, explicitHashKey: "0")
            return Put(sequence: result.sequenceNumber, arrival: clock.now().milliseconds, data: data)
        }
    }

    /// Segment files (`NNNNNNNNNN.seg`) present in a shard directory.
    private static func segmentFiles(_ dir: String, stream: String, shard: String = shard0) throws -> Set<UInt32> {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/data/streams/\(stream)/\(shard)")
        return Set(names.filter { $0.hasSuffix(".seg") }.compactMap { UInt32($0.prefix(10)) })
    }

    // MARK: - Retention period

    @Test func newStreamsKeepRecordsFor24Hours() throws {
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource()))
            defer { store.close() }
            try store.createStream(name: "kept", shardCount: 1)
            #expect(try store.describeStream(name: "kept").retentionHours == 24)
        }
    }

    enum RetentionCall: String, Sendable {
        case increase, decrease
    }

    /// Starting from 48 hours.
    @Test(arguments: [
        (RetentionCall.increase, 23, "Minimum allowed retention period is 24 hours. Requested retention period (23 hours) is too short."),
        (.decrease, 23, "Minimum allowed retention period is 24 hours. Requested retention period (23 hours) is too short."),
        (.increase, 8761, "Maximum allowed retention period is 8760 hours. Requested retention period (8761 hours) is too long."),
        (.decrease, 9999, "Maximum allowed retention period is 8760 hours. Requested retention period (9999 hours) is too long."),
        (.increase, 30,
         "Requested retention period (30 hours) for stream kept can not be shorter than existing retention period (48 hours). Use DecreaseRetentionPeriod API."),
        (.decrease, 72,
         "Requested retention period (72 hours) for stream kept can not be longer than existing retention period (48 hours). Use IncreaseRetentionPeriod API."),
    ])
    func invalidRetentionChangesAreInvalidArguments(call: RetentionCall, hours: Int, message: String) throws {
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource()))
            defer { store.close() }
            try store.createStream(name: "kept", shardCount: 1)
            try store.increaseRetention(stream: "kept", hours: 48)
            let error = #expect(throws: StreamError.self) {
                switch call {
                case .increase: try store.increaseRetention(stream: "kept", hours: hours)
                case .decrease: try store.decreaseRetention(stream: "kept", hours: hours)
                }
            }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message == message)
            #expect(try store.describeStream(name: "kept").retentionHours == 48)
        }
    }

    @Test func retentionChangesWithinLimitsAndToTheCurrentValueAreAccepted() throws {
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource()))
            defer { store.close() }
            try store.createStream(name: "kept", shardCount: 1)
            var observed: [Int] = []
            try store.increaseRetention(stream: "kept", hours: 24)
            observed.append(try store.describeStream(name: "kept").retentionHours)
            try store.decreaseRetention(stream: "kept", hours: 24)
            observed.append(try store.describeStream(name: "kept").retentionHours)
            try store.increaseRetention(stream: "kept", hours: 8760)
            observed.append(try store.describeStream(name: "kept").retentionHours)
            try store.increaseRetention(stream: "kept", hours: 8760)
            try store.decreaseRetention(stream: "kept", hours: 100)
            observed.append(try store.describeStream(name: "kept").retentionHours)
            try store.decreaseRetention(stream: "kept", hours: 100)
            observed.append(try store.describeStream(name: "kept").retentionHours)
            #expect(observed == [24, 24, 8760, 100, 100])
        }
    }

    @Test func retentionPeriodSurvivesAReopen() throws {
        try withTemporaryDirectory { dir in
            let configuration = Kit.configuration(dir, clock: ManualTimeSource())
            var store = try StreamStore(configuration)
            defer { store.close() }
            try store.createStream(name: "kept", shardCount: 1)
            try store.createStream(name: "other", shardCount: 1)
            try store.increaseRetention(stream: "kept", hours: 168)
            store.close()
            store = try StreamStore(configuration)
            #expect(try store.describeStream(name: "kept").retentionHours == 168)
            #expect(try store.describeStream(name: "other").retentionHours == 24)
        }
    }

    // MARK: - Trimming

    /// A pipeline behind TRIM_HORIZON asks whether retention took records from it. Empty
    /// segments removed at start-up took nothing (the crash soak saw false alarms after every
    /// restart before this); segments retention deleted did, also after a reopen.
    @Test func onlyPositionsInSegmentsRetentionRemovedCountAsLost() throws {
        try withTemporaryDirectory { dir in
            let clock = ManualTimeSource()
            var store = try StreamStore(Kit.configuration(dir, clock: clock, segmentSize: 1 << 16))
            try store.createStream(name: "empty", shardCount: 1)
            try store.createStream(name: "aged", shardCount: 1)
            let start = try store.startingPosition(stream: "empty", shardID: Self.shard0, type: .trimHorizon).position
            let old = try Self.put(100, tag: "old", to: "aged", store, clock)
            store.close()
            store = try StreamStore(Kit.configuration(dir, clock: clock, segmentSize: 1 << 16))
            defer { store.close() }
            // The empty shard's only segment is gone after the reopen: behind the horizon, nothing lost.
            let horizon = try store.startingPosition(stream: "empty", shardID: Self.shard0, type: .trimHorizon).position
            #expect(start < horizon)
            #expect(!store.mayHaveLostToRetention(stream: "empty", shardID: Self.shard0, position: start))

            clock.advance(hours: 25)
            let new = try Self.put(20, tag: "new", to: "aged", store, clock)
            #expect(!store.mayHaveLostToRetention(stream: "aged", shardID: Self.shard0, position: old[0].sequence.position))
            #expect(try store.enforceRetention() >= 1)
            #expect(store.mayHaveLostToRetention(stream: "aged", shardID: Self.shard0, position: old[0].sequence.position))
            #expect(!store.mayHaveLostToRetention(stream: "aged", shardID: Self.shard0, position: new[0].sequence.position))
            store.close()
            store = try StreamStore(Kit.configuration(dir, clock: clock, segmentSize: 1 << 16))
            #expect(store.mayHaveLostToRetention(stream: "aged", shardID: Self.shard0, position: old[0].sequence.position))
            #expect(!store.mayHaveLostToRetention(stream: "aged", shardID: Self.shard0, position: new[0].sequence.position))
        }
    }

    @Test func enforceRetentionDeletesWholeSegmentsOlderThanTheRetentionPeriod() throws {
        try withTemporaryDirectory { dir in
            let clock = ManualTimeSource()
            let store = try StreamStore(Kit.configuration(dir, clock: clock, segmentSize: 1 << 16))
            defer { store.close() }
            try store.createStream(name: "aged", shardCount: 1)
            let old = try Self.put(100, tag: "old", to: "aged", store, clock)
            clock.advance(hours: 23)
            #expect(try store.enforceRetention() == 0, "nothing is older than 24 h yet")
            clock.advance(hours: 2)
            let new = try Self.put(100, tag: "new", to: "aged", store, clock)
            let all = old + new
            let cutoff = clock.now().milliseconds - 24 * Self.hour
            let segments = Array(Set(all.map(\.segment))).sorted()
            let doomed = Set(segments.dropLast().filter { segment in
                all.filter { $0.segment == segment }.allSatisfy { $0.arrival < cutoff }
            })
            #expect(doomed.count >= 2, "the old records fill several segments")
            #expect(try Self.segmentFiles(dir, stream: "aged").isSuperset(of: Set(segments)))

            let heldIterator = try store.shardIterator(stream: "aged", shardID: Self.shard0, type: .trimHorizon)
            let deleted = try store.enforceRetention()
            #expect(deleted == doomed.count)
            let survivors = all.filter { !doomed.contains($0.segment) }
            #expect(survivors.first?.arrival ?? 0 < cutoff, "the segment holding the newest old records survives with them")
            let files = try Self.segmentFiles(dir, stream: "aged")
            #expect(files.isDisjoint(with: doomed))
            #expect(files.isSuperset(of: Set(survivors.map(\.segment))))

            let horizon = try Kit.readShard(store, stream: "aged", shardID: Self.shard0).records
            #expect(horizon.map(\.sequenceNumber) == survivors.map(\.sequence))
            #expect(horizon.map(\.data) == survivors.map(\.data))
            // Positions inside deleted segments resolve to the trim horizon.
            let trimmed = try Kit.readShard(
                store, stream: "aged", shardID: Self.shard0, type: .atSequenceNumber,
                startingSequenceNumber: old[0].sequence.description).records
            #expect(trimmed.first?.sequenceNumber == survivors.first?.sequence)
            let ancient = try Kit.readShard(
                store, stream: "aged", shardID: Self.shard0, type: .atTimestamp, timestamp: Timestamp(milliseconds: 0)).records
            #expect(ancient.first?.sequenceNumber == survivors.first?.sequence)
            // An iterator taken before the trim continues at the trim horizon.
            let held = try store.getRecords(iterator: heldIterator, limit: 1)
            #expect(held.records.first?.sequenceNumber == survivors.first?.sequence)
            #expect(try store.enforceRetention() == 0, "a second pass finds nothing more")
            // Raising the retention period does not bring deleted records back.
            try store.increaseRetention(stream: "aged", hours: 100)
            let afterIncrease = try Kit.readShard(store, stream: "aged", shardID: Self.shard0).records
            #expect(afterIncrease.count == survivors.count)
        }
    }

    @Test func theActiveSegmentIsNeverDeleted() throws {
        try withTemporaryDirectory { dir in
            let clock = ManualTimeSource()
            let store = try StreamStore(Kit.configuration(dir, clock: clock, segmentSize: 1 << 16))
            defer { store.close() }
            try store.createStream(name: "small", shardCount: 1)
            try store.createStream(name: "large", shardCount: 1)
            let small = try Self.put(5, tag: "s", to: "small", store, clock)
            let large = try Self.put(100, tag: "l", to: "large", store, clock)
            clock.advance(hours: 48)
            let largeSegments = Array(Set(large.map(\.segment))).sorted()
            #expect(largeSegments.count >= 3)
            #expect(try store.enforceRetention() == largeSegments.count - 1)
            let smallRead = try Kit.readShard(store, stream: "small", shardID: Self.shard0).records
            #expect(smallRead.map(\.sequenceNumber) == small.map(\.sequence))
            let largeRead = try Kit.readShard(store, stream: "large", shardID: Self.shard0).records
            let active = try #require(largeSegments.last)
            #expect(largeRead.map(\.sequenceNumber) == large.filter { $0.segment == active }.map(\.sequence))
            #expect(!largeRead.isEmpty)
            #expect(try Self.segmentFiles(dir, stream: "large") == [active])
            // New records still land in (and after) the active segment.
            let later = try Self.put(1, tag: "later", to: "large", store, clock)
            let reread = try Kit.readShard(store, stream: "large", shardID: Self.shard0).records
            #expect(reread.last?.sequenceNumber == later.first?.sequence)
        }
    }

    @Test func retentionPeriodChangesMoveTheCutoff() throws {
        try withTemporaryDirectory { dir in
            let clock = ManualTimeSource()
            let store = try StreamStore(Kit.configuration(dir, clock: clock, segmentSize: 1 << 16))
            defer { store.close() }
            try store.createStream(name: "period", shardCount: 1)
            try store.increaseRetention(stream: "period", hours: 48)
            let old = try Self.put(100, tag: "old", to: "period", store, clock)
            clock.advance(hours: 30)
            _ = try Self.put(100, tag: "new", to: "period", store, clock)
            #expect(try store.enforceRetention() == 0, "30 h old records are inside a 48 h period")
            try store.decreaseRetention(stream: "period", hours: 24)
            let deleted = try store.enforceRetention()
            #expect(deleted >= 2)
            let horizon = try Kit.readShard(store, stream: "period", shardID: Self.shard0).records
            #expect(horizon.first?.sequenceNumber != old.first?.sequence)
            #expect(horizon.count < 200)
        }
    }

    @Test func retentionFloorsKeepSegmentsUntilReleased() throws {
        try withTemporaryDirectory { dir in
            let clock = ManualTimeSource()
            let store = try StreamStore(Kit.configuration(dir, clock: clock, segmentSize: 1 << 16))
            defer { store.close() }
            try store.createStream(name: "held", shardCount: 1)
            let old = try Self.put(150, tag: "old", to: "held", store, clock)
            let segments = Array(Set(old.map(\.segment))).sorted()
            #expect(segments.count >= 4)
            let second = try #require(old.first { $0.segment == segments[1] })
            let third = try #require(old.first { $0.segment == segments[2] })
            // Two consumers hold different positions; the lower one wins.
            try store.setRetentionFloor(stream: "held", shardIndex: 0, consumer: "slow", position: second.sequence.position)
            try store.setRetentionFloor(stream: "held", shardIndex: 0, consumer: "fast", position: third.sequence.position)
            clock.advance(hours: 25)
            _ = try Self.put(60, tag: "new", to: "held", store, clock)

            #expect(try store.enforceRetention() == 1)
            var horizon = try Kit.readShard(store, stream: "held", shardID: Self.shard0).records
            #expect(horizon.first?.sequenceNumber == second.sequence)

            try store.setRetentionFloor(stream: "held", shardIndex: 0, consumer: "slow", position: nil)
            #expect(try store.enforceRetention() == 1)
            horizon = try Kit.readShard(store, stream: "held", shardID: Self.shard0).records
            #expect(horizon.first?.sequenceNumber == third.sequence)

            try store.setRetentionFloor(stream: "held", shardIndex: 0, consumer: "fast", position: nil)
            let rest = try store.enforceRetention()
            #expect(rest >= 1)
            horizon = try Kit.readShard(store, stream: "held", shardID: Self.shard0).records
            let firstKept = try #require(horizon.first)
            #expect(firstKept.sequenceNumber.position.segment > segments[2])
            #expect(horizon.last?.data.starts(with: Kit.bytes("new-59-")) == true)
        }
    }

    @Test func closedShardsAreForgottenOnceTrimmedAndOlderThanTheRetentionPeriod() throws {
        try withTemporaryDirectory { dir in
            let clock = ManualTimeSource()
            let configuration = Kit.configuration(dir, clock: clock)
            var store = try StreamStore(configuration)
            defer { store.close() }
            try store.createStream(name: "old", shardCount: 1)
            for index in 0..<5 { _ = try store.putRecord(stream: "old", partitionKey: "k\(index)", data: []) }
            try store.splitShard(stream: "old", shardToSplit: Self.shard0, newStartingHashKey: String(UInt128(1) << 127))
            clock.advance(hours: 23)
            #expect(try store.enforceRetention() == 0)
            #expect(try store.listShards(name: "old").count == 3, "the parent is kept while its records are within retention")
            clock.advance(hours: 2)
            let fresh = try store.putRecord(stream: "old", partitionKey: "fresh", data: [])
            #expect(try store.enforceRetention() == 1)
            let shards = try store.listShards(name: "old")
            #expect(shards.map(\.shardID) == ["shardId-000000000001", "shardId-000000000002"])
            #expect(shards.allSatisfy { $0.parentShardID == Self.shard0 })
            let missing = #expect(throws: StreamError.self) {
                try store.shardIterator(stream: "old", shardID: Self.shard0, type: .trimHorizon)
            }
            #expect(missing?.code == .resourceNotFound)
            #expect(missing?.message == "Shard shardId-000000000000 in stream old under account 000000000000 does not exist")
            #expect(!FileManager.default.fileExists(atPath: dir + "/data/streams/old/" + Self.shard0))
            store.close()
            store = try StreamStore(configuration)
            #expect(try store.listShards(name: "old").map(\.shardID) == ["shardId-000000000001", "shardId-000000000002"])
            let read = try Kit.readByLineage(store, stream: "old")
            #expect(read.records.map(\.sequenceNumber) == [fresh.sequenceNumber])
        }
    }

    // MARK: - Tags

    /// Runs `body` with a store holding a stream `tagged`.
    private func withTaggedStream(_ body: (StreamStore) throws -> Void) throws {
        try withTemporaryDirectory { dir in
            let store = try StreamStore(Kit.configuration(dir, clock: ManualTimeSource()))
            defer { store.close() }
            try store.createStream(name: "tagged", shardCount: 1)
            try body(store)
        }
    }

    private static func keys(_ listing: (tags: [(key: String, value: String)], hasMore: Bool)) -> [String] {
        listing.tags.map(\.key)
    }

    @Test func tagsAreAddedOverwrittenAndListedInCodePointOrder() throws {
        try withTaggedStream { store in
            // Reference §2.10: ' ' < '+' < '/' < '0' < '=' < '@' < 'Zb' < '_' < 'a' < 'ÿ'.
            let ordered = [" ", "+", "/", "0", "=", "@", "Zb", "_", "a", "\u{FF}"]
            try store.addTags(stream: "tagged", tags: Dictionary(uniqueKeysWithValues: ordered.reversed().map { ($0, "v-\($0)") }))
            try store.addTags(stream: "tagged", tags: ["a": "overwritten", "0": ""])
            let listing = try store.listTags(stream: "tagged", limit: 50)
            #expect(Self.keys(listing) == ordered)
            #expect(!listing.hasMore)
            let values = Dictionary(uniqueKeysWithValues: listing.tags.map { ($0.key, $0.value) })
            #expect(values["a"] == "overwritten")
            #expect(values["0"] == "")
            #expect(values["Zb"] == "v-Zb")
        }
    }

    @Test func listTagsPagesByExclusiveStartKeyAndLimit() throws {
        try withTaggedStream { store in
            let all = (0..<12).map { String(format: "t%02d", $0) }
            try store.addTags(stream: "tagged", tags: Dictionary(uniqueKeysWithValues: all.map { ($0, "v") }))
            let firstPage = try store.listTags(stream: "tagged")
            #expect(Self.keys(firstPage) == Array(all.prefix(10)), "the default limit is 10")
            #expect(firstPage.hasMore)
            let rest = try store.listTags(stream: "tagged", exclusiveStartKey: "t09")
            #expect(Self.keys(rest) == ["t10", "t11"])
            #expect(!rest.hasMore)
            let small = try store.listTags(stream: "tagged", limit: 5)
            #expect(Self.keys(small) == Array(all.prefix(5)))
            #expect(small.hasMore)
            let between = try store.listTags(stream: "tagged", exclusiveStartKey: "t045", limit: 3)
            #expect(Self.keys(between) == ["t05", "t06", "t07"], "the start key need not exist")
            #expect(between.hasMore)
            let exact = try store.listTags(stream: "tagged", exclusiveStartKey: "t06", limit: 5)
            #expect(Self.keys(exact) == ["t07", "t08", "t09", "t10", "t11"])
            #expect(!exact.hasMore)
            let past = try store.listTags(stream: "tagged", exclusiveStartKey: "zzz")
            #expect(past.tags.isEmpty)
            #expect(!past.hasMore)
        }
    }

    @Test(arguments: [0, 51])
    func listTagsLimitOutsideOneTo50IsAValidationError(_ limit: Int) throws {
        try withTaggedStream { store in
            let error = #expect(throws: StreamError.self) { try store.listTags(stream: "tagged", limit: limit) }
            #expect(error?.code == .validation)
            let rule = limit < 1 ? "Member must have value greater than or equal to 1" : "Member must have value less than or equal to 50"
            #expect(error?.message == "1 validation error detected: Value '\(limit)' at 'limit' failed to satisfy constraint: \(rule)")
        }
    }

    @Test func removingTagsIgnoresUnknownKeys() throws {
        try withTaggedStream { store in
            try store.addTags(stream: "tagged", tags: ["a": "1", "b": "2", "c": "3"])
            try store.removeTags(stream: "tagged", keys: ["b", "never-added"])
            #expect(Self.keys(try store.listTags(stream: "tagged")) == ["a", "c"])
            try store.removeTags(stream: "tagged", keys: ["b"])
            #expect(Self.keys(try store.listTags(stream: "tagged")) == ["a", "c"])
        }
    }

    @Test func moreThan50TagsIsAnInvalidArgument() throws {
        try withTaggedStream { store in
            let fifty = Dictionary(uniqueKeysWithValues: (0..<50).map { ("key\($0)", "v") })
            try store.addTags(stream: "tagged", tags: fifty)
            let error = #expect(throws: StreamError.self) { try store.addTags(stream: "tagged", tags: ["one-more": "v", "key1": "changed"]) }
            #expect(error?.code == .invalidArgument)
            #expect(
                error?.message
                    == "Failed to add tags to stream tagged under account 000000000000 because a given stream cannot have more than 50 tags.")
            var listing = try store.listTags(stream: "tagged", limit: 50)
            #expect(listing.tags.count == 50)
            #expect(!Self.keys(listing).contains("one-more"))
            #expect(listing.tags.first { $0.key == "key1" }?.value == "v", "a rejected request changes nothing")
            // Overwriting at the limit is fine.
            try store.addTags(stream: "tagged", tags: ["key1": "changed"])
            listing = try store.listTags(stream: "tagged", limit: 50)
            #expect(listing.tags.first { $0.key == "key1" }?.value == "changed")
        }
    }

    @Test(arguments: [["bad!": "v"], ["k": "v#"], ["k<": "v"], ["k": "a*b"], ["semi;colon": "v"]])
    func tagsWithInvalidCharactersAreInvalidArguments(_ tags: [String: String]) throws {
        try withTaggedStream { store in
            var request = tags
            request["good"] = "fine"
            let error = #expect(throws: StreamError.self) { try store.addTags(stream: "tagged", tags: request) }
            #expect(error?.code == .invalidArgument)
            #expect(
                error?.message
                    == "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @.")
            let stored = try store.listTags(stream: "tagged")
            #expect(stored.tags.isEmpty, "a rejected request adds nothing")
        }
    }

    /// Reference §2.10 (kinesalite, AWS-observed): `%` gets its own message.
    @Test(arguments: [["100%": "v"], ["k": "50%"]])
    func tagsWithAPercentSignAreRejectedWithAWSMessage(_ tags: [String: String]) throws {
        try withTaggedStream { store in
            let error = #expect(throws: StreamError.self) { try store.addTags(stream: "tagged", tags: tags) }
            #expect(error?.code == .invalidArgument)
            #expect(
                error?.message
                    == "Failed to add tags to stream tagged under account 000000000000 because some tags contained illegal characters. "
                    + "The allowed characters are Unicode letters, white-spaces, '_',',','/','=','+','-','@'.")
            let stored = try store.listTags(stream: "tagged")
            #expect(stored.tags.isEmpty, "a rejected request adds nothing")
        }
    }

    @Test(arguments: ["aws:owner", "AWS:owner"])
    func tagKeysWithTheReservedAWSPrefixAreRejected(_ key: String) throws {
        try withTaggedStream { store in
            let error = #expect(throws: StreamError.self) { try store.addTags(stream: "tagged", tags: [key: "me"]) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("starts with 'aws:', which is reserved for AWS use") == true, "\(error?.message ?? "")")
            let stored = try store.listTags(stream: "tagged")
            #expect(stored.tags.isEmpty, "a rejected request adds nothing")
        }
    }

    @Test(arguments: [
        (String(repeating: "k", count: 129), "v",
         "Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]"),
        ("", "v",
         "Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]"),
        ("k", String(repeating: "v", count: 257), "Map value must satisfy constraint: [Member must have length less than or equal to 256]"),
    ])
    func tagKeysAndValuesOutsideTheirLengthsAreValidationErrors(key: String, value: String, rule: String) throws {
        try withTaggedStream { store in
            let error = #expect(throws: StreamError.self) { try store.addTags(stream: "tagged", tags: [key: value]) }
            #expect(error?.code == .validation)
            #expect(error?.message == "1 validation error detected: Value '{\(key)=\(value)}' at 'tags' failed to satisfy constraint: \(rule)")
            // The longest allowed key and value are fine.
            try store.addTags(stream: "tagged", tags: [String(repeating: "k", count: 128): String(repeating: "v", count: 256)])
        }
    }

    @Test func tagsSurviveAReopen() throws {
        try withTemporaryDirectory { dir in
            let configuration = Kit.configuration(dir, clock: ManualTimeSource())
            var store = try StreamStore(configuration)
            defer { store.close() }
            try store.createStream(name: "tagged", shardCount: 1, tags: ["created": "yes"])
            try store.addTags(stream: "tagged", tags: ["team": "data", "env": "test", "gone": "soon"])
            try store.removeTags(stream: "tagged", keys: ["gone"])
            store.close()
            store = try StreamStore(configuration)
            let listing = try store.listTags(stream: "tagged")
            #expect(listing.tags.map(\.key) == ["created", "env", "team"])
            #expect(listing.tags.map(\.value) == ["yes", "test", "data"])
        }
    }
}
