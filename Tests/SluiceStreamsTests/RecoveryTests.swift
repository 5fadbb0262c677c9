import Foundation
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// Recovery after a crash: a segment cut at every byte offset of its last records, random garbage
/// after the last record, corrupt bytes inside a record, torn segment headers. Recovery must
/// always return an exact prefix of the acknowledged records and never hand out a sequence number
/// twice.
@Suite struct RecoveryTests {
    /// One acknowledged record and where its frame ends in its segment file.
    private struct Acked {
        var sequence: SequenceNumber
        var partitionKey: String
        var data: [UInt8]
        var frameEnd: UInt32 {
            sequence.position.offset
                + UInt32(RecordFrame.size(keyBytes: partitionKey.utf8.count, dataBytes: data.count))
        }
    }

    private static let stream = "s"
    private static let shardDirectory = "streams/s/shardId-000000000000"

    private static func segmentName(_ number: UInt32) -> String {
        let digits = String(number)
        return String(repeating: "0", count: 10 - digits.count) + digits + ".seg"
    }

    private static func open(_ data: String, faults: FaultPlan? = nil, segmentSize: Int? = nil) throws -> StreamStore {
        var configuration = StreamStoreConfiguration(dataDirectory: data)
        configuration.fileSystem = FileSystem(faults: faults)
        if let segmentSize { configuration.segmentSize = segmentSize }
        return try StreamStore(configuration)
    }

    /// Writes `count` small records of varying size into a one-shard stream, closes the store and
    /// returns what was acknowledged.
    private static func populate(_ data: String, count: Int) throws -> [Acked] {
        let store = try open(data)
        defer { store.close() }
        try store.createStream(name: stream, shardCount: 1)
        var acked: [Acked] = []
        for i in 0..<count {
            let key = "key-\(i % 3)"
            let payload = Array("r\(i)-".utf8) + [UInt8](repeating: UInt8(97 + i % 26), count: i % 9)
            let result = try store.putRecord(stream: stream, partitionKey: key, data: payload)
            acked.append(Acked(sequence: result.sequenceNumber, partitionKey: key, data: payload))
        }
        return acked
    }

    /// Every record of shard 0 from TRIM_HORIZON, read in pages until caught up.
    private static func readAll(_ store: StreamStore) throws -> [StoredRecord] {
        var (_, position) = try store.startingPosition(stream: stream, shardID: "shardId-000000000000", type: .trimHorizon)
        var records: [StoredRecord] = []
        for _ in 0..<10_000 {
            let read = try store.read(stream: stream, shardIndex: 0, from: position, limit: 7)
            records += read.records
            position = read.next
            if read.caughtUp || read.reachedShardEnd { return records }
        }
        Issue.record("reading shard 0 did not catch up after 10000 pages")
        return records
    }

    /// Checks that `records` are exactly `expected`, field by field.
    private static func expectSame(
        _ records: [StoredRecord], _ expected: [Acked], _ context: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(
            records.map(\.sequenceNumber) == expected.map(\.sequence), "\(context): sequence numbers",
            sourceLocation: sourceLocation)
        #expect(
            records.map(\.partitionKey) == expected.map(\.partitionKey), "\(context): partition keys",
            sourceLocation: sourceLocation)
        #expect(records.map(\.data) == expected.map(\.data), "\(context): data", sourceLocation: sourceLocation)
    }

    /// The segment file holding `acked` (they all land in one segment here).
    private static func segmentPath(_ data: String, _ acked: [Acked]) throws -> String {
        let numbers = Set(acked.map(\.sequence.position.segment))
        try #require(numbers.count == 1, "test setup: records span segments \(numbers.sorted())")
        return data + "/" + shardDirectory + "/" + segmentName(numbers.first!)
    }

    private static func removeSummaries(_ data: String) throws {
        let directory = data + "/" + shardDirectory
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) where name.hasSuffix(".idx") {
            try FileManager.default.removeItem(atPath: directory + "/" + name)
        }
    }

    private static func truncate(_ path: String, to length: Int64) throws {
        let handle = try FileSystem.live.open(path, .readWrite)
        defer { handle.close() }
        try handle.truncate(to: length)
    }

    private static func write(_ bytes: [UInt8], to path: String, at offset: Int64) throws {
        let handle = try FileSystem.live.open(path, .readWrite)
        defer { handle.close() }
        try handle.write(bytes, at: offset)
    }

    private static func fileBytes(_ path: String) throws -> [UInt8] {
        try FileSystem.live.readFile(path)
    }

    /// Opens `data`, checks it holds exactly `expected`, then appends two records and checks they
    /// read back after the survivors with sequence numbers above every number ever handed out.
    private static func expectRecovered(
        _ data: String, _ expected: [Acked], handedOut: [Acked], _ context: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let store = try open(data)
        defer { store.close() }
        expectSame(try readAll(store), expected, context, sourceLocation: sourceLocation)
        let highest = handedOut.map(\.sequence).max()!
        var added: [Acked] = []
        for i in 0..<2 {
            let payload = Array("after-\(i)".utf8)
            let result = try store.putRecord(stream: stream, partitionKey: "new", data: payload)
            let reused = handedOut.firstIndex { $0.sequence == result.sequenceNumber }
            let message =
                "\(context): new record got sequence number \(result.sequenceNumber) (position \(result.sequenceNumber.position)), "
                + "not above \(highest) (position \(highest.position)) handed out before"
                + (reused.map { "; it is the number of acknowledged record \($0)" } ?? "")
            #expect(result.sequenceNumber > highest, Comment(rawValue: message), sourceLocation: sourceLocation)
            added.append(Acked(sequence: result.sequenceNumber, partitionKey: "new", data: payload))
        }
        expectSame(try readAll(store), expected + added, context + " (after new puts)", sourceLocation: sourceLocation)
    }

    // MARK: - Truncation at every offset

    @Test(
        "recovery after truncating a segment at every byte offset of its last records returns an exact prefix",
        arguments: [false, true])
    func truncationAtEveryOffset(keepSummary: Bool) throws {
        try withTemporaryDirectory { dir in
            let pristine = dir + "/pristine"
            let acked = try Self.populate(pristine, count: 40)
            if !keepSummary { try Self.removeSummaries(pristine) }
            let segment = try Self.segmentPath(pristine, acked)
            let relativeSegment = String(segment.dropFirst(pristine.count))
            let fileSize = try FileSystem.live.fileSize(segment)
            #expect(fileSize == Int64(acked.last!.frameEnd), "the segment ends right after the last acknowledged frame")
            let first = Int64(acked[acked.count - 3].sequence.position.offset)
            var trials = 0
            for offset in first...fileSize {
                let trial = dir + "/trial-\(offset)"
                try FileManager.default.copyItem(atPath: pristine, toPath: trial)
                defer { try? FileManager.default.removeItem(atPath: trial) }  // best effort: the whole dir goes anyway
                try Self.truncate(trial + relativeSegment, to: offset)
                let expected = acked.filter { Int64($0.frameEnd) <= offset }
                try Self.expectRecovered(
                    trial, expected, handedOut: acked, "truncated at \(offset) of \(fileSize), summary kept: \(keepSummary)")
                trials += 1
            }
            #expect(trials > 3 * RecordFrame.overhead)
        }
    }

    // MARK: - Garbage after and inside records

    @Test("random garbage after the last record is cut and nothing extra is read", arguments: 1...8)
    func garbageAfterLastRecord(seed: UInt64) throws {
        try withTemporaryDirectory { dir in
            let data = dir + "/data"
            let acked = try Self.populate(data, count: 40)
            try Self.removeSummaries(data)
            let segment = try Self.segmentPath(data, acked)
            var random = SeededRandom(seed: seed)
            let garbage = random.bytes(Int.random(in: 1...300, using: &random))
            try Self.write(garbage, to: segment, at: try FileSystem.live.fileSize(segment))
            try Self.expectRecovered(data, acked, handedOut: acked, "seed \(seed), \(garbage.count) garbage bytes")
            #expect(try FileSystem.live.fileSize(segment) == Int64(acked.last!.frameEnd), "the garbage was cut off")
        }
    }

    @Test("zeros after the last record (a file extended by a crash) are cut")
    func zerosAfterLastRecord() throws {
        try withTemporaryDirectory { dir in
            let data = dir + "/data"
            let acked = try Self.populate(data, count: 40)
            try Self.removeSummaries(data)
            let segment = try Self.segmentPath(data, acked)
            try Self.write([UInt8](repeating: 0, count: 4096), to: segment, at: try FileSystem.live.fileSize(segment))
            try Self.expectRecovered(data, acked, handedOut: acked, "4096 zero bytes")
        }
    }

    @Test("a valid frame replayed after the last record (wrong position) is not read twice")
    func replayedFrameAfterLastRecord() throws {
        try withTemporaryDirectory { dir in
            let data = dir + "/data"
            let acked = try Self.populate(data, count: 40)
            try Self.removeSummaries(data)
            let segment = try Self.segmentPath(data, acked)
            let bytes = try Self.fileBytes(segment)
            let last = acked.last!
            let frame = Array(bytes[Int(last.sequence.position.offset)..<Int(last.frameEnd)])
            try Self.write(frame, to: segment, at: Int64(bytes.count))
            try Self.expectRecovered(data, acked, handedOut: acked, "last frame duplicated")
        }
    }

    @Test("garbage overwriting the middle of the last record loses exactly that record", arguments: 1...4)
    func garbageInsideLastRecord(seed: UInt64) throws {
        try withTemporaryDirectory { dir in
            let data = dir + "/data"
            let acked = try Self.populate(data, count: 40)
            try Self.removeSummaries(data)
            let segment = try Self.segmentPath(data, acked)
            let bytes = try Self.fileBytes(segment)
            let last = acked.last!
            let start = Int(last.sequence.position.offset)
            let end = Int(last.frameEnd)
            var random = SeededRandom(seed: seed)
            let at = Int.random(in: (start + 1)..<(end - 4), using: &random)
            // XOR with non-zero bytes so every overwritten byte really changes.
            let garbage = (0..<4).map { bytes[at + $0] ^ UInt8.random(in: 1...255, using: &random) }
            try Self.write(garbage, to: segment, at: Int64(at))
            try Self.expectRecovered(
                data, Array(acked.dropLast()), handedOut: acked, "seed \(seed), 4 bytes overwritten at \(at)")
        }
    }

    @Test("a flipped byte anywhere in an earlier record cuts the log right before that record")
    func flippedByteInEarlierRecord() throws {
        try withTemporaryDirectory { dir in
            let pristine = dir + "/pristine"
            let acked = try Self.populate(pristine, count: 40)
            try Self.removeSummaries(pristine)
            let segment = try Self.segmentPath(pristine, acked)
            let relativeSegment = String(segment.dropFirst(pristine.count))
            let bytes = try Self.fileBytes(segment)
            let victim = 17
            let start = Int(acked[victim].sequence.position.offset)
            let end = Int(acked[victim].frameEnd)
            for at in start..<end {
                let trial = dir + "/trial-\(at)"
                try FileManager.default.copyItem(atPath: pristine, toPath: trial)
                defer { try? FileManager.default.removeItem(atPath: trial) }  // best effort: the whole dir goes anyway
                try Self.write([bytes[at] ^ 0x5A], to: trial + relativeSegment, at: Int64(at))
                try Self.expectRecovered(
                    trial, Array(acked.prefix(victim)), handedOut: acked,
                    "byte \(at - start) of record \(victim)'s frame flipped")
            }
        }
    }

    // MARK: - Large frames

    /// Frames of up to the largest record (1 MiB of data) are larger than the buffer a scan reads
    /// at a time, and small ones straddle its boundaries.
    @Test("a scan recovers frames larger than its read buffer and cuts a torn one", arguments: [false, true])
    func largeFrames(tearLast: Bool) throws {
        try withTemporaryDirectory { dir in
            let data = dir + "/data"
            var acked: [Acked] = []
            do {
                let store = try Self.open(data)
                defer { store.close() }
                try store.createStream(name: Self.stream, shardCount: 1)
                var random = SeededRandom(seed: 42)
                for i in 0..<12 {
                    let size = i % 3 == 2 ? (1 << 20) - 1 : Int.random(in: 1...300_000, using: &random)
                    // Distinct per record and cheap to make: a random head on a constant body.
                    var payload = [UInt8](repeating: UInt8(truncatingIfNeeded: i &* 37), count: size)
                    let head = random.bytes(min(size, 64))
                    payload.replaceSubrange(0..<head.count, with: head)
                    let result = try store.putRecord(stream: Self.stream, partitionKey: "k", data: payload)
                    acked.append(Acked(sequence: result.sequenceNumber, partitionKey: "k", data: payload))
                }
            }
            try Self.removeSummaries(data)
            let segment = try Self.segmentPath(data, acked)
            var expected = acked
            if tearLast {
                let last = acked.last!
                try Self.truncate(segment, to: Int64(last.frameEnd) - Int64(last.data.count / 2))
                expected.removeLast()
            }
            let store = try Self.open(data)
            defer { store.close() }
            let records = try Self.readAll(store)
            #expect(records.count == expected.count)
            #expect(records.map(\.sequenceNumber) == expected.map(\.sequence))
            #expect(records.map(\.data) == expected.map(\.data), "the data of the large records is intact")
        }
    }

    // MARK: - Torn headers

    @Test("a segment whose header is torn is removed and the store opens")
    func tornHeaderOfOnlySegment() throws {
        try withTemporaryDirectory { dir in
            let data = dir + "/data"
            let acked = try Self.populate(data, count: 10)
            let segment = try Self.segmentPath(data, acked)
            try Self.truncate(segment, to: 10)
            try Self.expectRecovered(data, [], handedOut: acked, "header torn to 10 bytes")
            #expect(!FileManager.default.fileExists(atPath: segment), "the torn segment is removed")
            #expect(
                !FileManager.default.fileExists(atPath: String(segment.dropLast(4)) + ".idx"),
                "the torn segment's summary is removed with it")
        }
    }

    @Test("a new segment torn while its header was written is removed; earlier records survive")
    func tornHeaderOfNewSegment() throws {
        try withTemporaryDirectory { dir in
            let data = dir + "/data"
            let acked = try Self.populate(data, count: 10)
            let segment = try Self.segmentPath(data, acked)
            let header = Array(try Self.fileBytes(segment).prefix(10))
            let next = data + "/" + Self.shardDirectory + "/" + Self.segmentName(acked[0].sequence.position.segment + 1)
            #expect(!FileManager.default.fileExists(atPath: next), "test setup: the next segment does not exist yet")
            #expect(FileManager.default.createFile(atPath: next, contents: Data(header)))
            try Self.removeSummaries(data)
            try Self.expectRecovered(data, acked, handedOut: acked, "next segment's header torn")
            #expect(!FileManager.default.fileExists(atPath: next), "the torn segment is removed")
        }
    }

    @Test("a segment file of zero bytes is removed and the store opens")
    func emptySegmentFile() throws {
        try withTemporaryDirectory { dir in
            let data = dir + "/data"
            let acked = try Self.populate(data, count: 10)
            let segment = try Self.segmentPath(data, acked)
            let next = data + "/" + Self.shardDirectory + "/" + Self.segmentName(acked[0].sequence.position.segment + 1)
            #expect(FileManager.default.createFile(atPath: next, contents: Data()))
            try Self.expectRecovered(data, acked, handedOut: acked, "empty next segment")
            #expect(FileManager.default.fileExists(atPath: segment))
        }
    }

    // MARK: - Several segments

    /// Fills several 64 KiB segments with records of about 1 KiB, closes the store and returns
    /// what was acknowledged.
    private static func populateSegments(_ data: String, count: Int) throws -> [Acked] {
        let store = try open(data, segmentSize: 64 << 10)
        defer { store.close() }
        try store.createStream(name: stream, shardCount: 1)
        var acked: [Acked] = []
        for i in 0..<count {
            let payload = Array("r\(i)-".utf8) + [UInt8](repeating: UInt8(65 + i % 26), count: 1000)
            let result = try store.putRecord(stream: stream, partitionKey: "k", data: payload)
            acked.append(Acked(sequence: result.sequenceNumber, partitionKey: "k", data: payload))
        }
        return acked
    }

    @Test("with several segments and no summaries, a torn last record is cut and every earlier segment is kept")
    func severalSegmentsTornTail() throws {
        try withTemporaryDirectory { dir in
            let data = dir + "/data"
            let acked = try Self.populateSegments(data, count: 200)
            let segments = Set(acked.map(\.sequence.position.segment))
            try #require(segments.count >= 3, "test setup: records should span several segments")
            try Self.removeSummaries(data)
            let last = acked.last!
            try Self.truncate(try Self.segmentPath(data, [last]), to: Int64(last.frameEnd) - 10)
            try Self.expectRecovered(data, Array(acked.dropLast()), handedOut: acked, "last of \(segments.count) segments torn")
        }
    }

    @Test("a flipped byte in an earlier segment cuts the log there; numbers of the dropped segments are not reused")
    func corruptEarlierSegment() throws {
        try withTemporaryDirectory { dir in
            let data = dir + "/data"
            let acked = try Self.populateSegments(data, count: 200)
            let numbers = Set(acked.map(\.sequence.position.segment)).sorted()
            try #require(numbers.count >= 3, "test setup: records should span several segments")
            // A record in the middle of the second segment.
            let inSecond = acked.indices.filter { acked[$0].sequence.position.segment == numbers[1] }
            let victim = inSecond[inSecond.count / 2]
            try Self.removeSummaries(data)
            let segment = try Self.segmentPath(data, [acked[victim]])
            let at = Int(acked[victim].sequence.position.offset) + RecordFrame.overhead + 10
            try Self.write([try Self.fileBytes(segment)[at] ^ 0xFF], to: segment, at: Int64(at))
            try Self.expectRecovered(data, Array(acked.prefix(victim)), handedOut: acked, "record \(victim) corrupt")
        }
    }

    /// Recovery cuts the log and removes later segments before it starts a new segment. If that
    /// start fails (or the process dies right then), the next start must still not hand out the
    /// sequence numbers of the removed segments again.
    @Test("a start that fails after recovery removed segments does not let the next start reuse their sequence numbers")
    func failedStartAfterCut() throws {
        try withTemporaryDirectory { dir in
            let data = dir + "/data"
            let acked = try Self.populateSegments(data, count: 200)
            let numbers = Set(acked.map(\.sequence.position.segment)).sorted()
            try #require(numbers.count >= 3, "test setup: records should span several segments")
            let victim = 5
            try Self.removeSummaries(data)
            let segment = try Self.segmentPath(data, [acked[victim]])
            let at = Int(acked[victim].sequence.position.offset) + RecordFrame.overhead + 10
            try Self.write([try Self.fileBytes(segment)[at] ^ 0xFF], to: segment, at: Int64(at))

            let faults = FaultPlan()
            faults.inject(.open, pathContains: Self.segmentName(numbers.last! + 1), fault: Fault(errno: Errno.noSpace), times: nil)
            let error = #expect(throws: StreamError.self) { _ = try Self.open(data, faults: faults) }
            #expect(error?.message.contains("ENOSPC") == true, "\(error?.message ?? "")")

            try Self.expectRecovered(data, Array(acked.prefix(victim)), handedOut: acked, "after a failed start")
        }
    }

    // MARK: - Repeated recovery

    @Test("recovering twice in a row, each time after cutting the tail, keeps numbers increasing")
    func repeatedCrashes() throws {
        try withTemporaryDirectory { dir in
            let data = dir + "/data"
            var survivors = try Self.populate(data, count: 12)
            var handedOut = survivors
            for round in 0..<4 {
                // Cut the newest segment in the middle of its last record, as a crash would.
                try Self.removeSummaries(data)
                let last = survivors.last!
                let segment = try Self.segmentPath(data, [last])
                try Self.truncate(segment, to: Int64(last.frameEnd) - 3)
                survivors.removeLast()
                let store = try Self.open(data)
                defer { store.close() }
                Self.expectSame(try Self.readAll(store), survivors, "round \(round)")
                for i in 0..<3 {
                    let payload = Array("round\(round)-\(i)".utf8)
                    let result = try store.putRecord(stream: Self.stream, partitionKey: "k", data: payload)
                    #expect(result.sequenceNumber > handedOut.map(\.sequence).max()!, "round \(round): number reused")
                    let record = Acked(sequence: result.sequenceNumber, partitionKey: "k", data: payload)
                    survivors.append(record)
                    handedOut.append(record)
                }
                Self.expectSame(try Self.readAll(store), survivors, "round \(round) after puts")
            }
        }
    }
}

/// Segment files are allocated ahead of appends (so a group sync need not write the inode) and
/// cut back to their last record when sealed.
@Suite struct PreallocationTests {
    private static func segmentName(_ number: UInt32) -> String {
        let digits = String(number)
        return String(repeating: "0", count: 10 - digits.count) + digits + ".seg"
    }

    @Test func theActiveSegmentIsAllocatedAheadAndSealedSegmentsEndAtTheirLastRecord() throws {
        try withTemporaryDirectory { dir in
            var configuration = StreamStoreConfiguration(dataDirectory: dir + "/data")
            configuration.segmentSize = 3 << 20
            let store = try StreamStore(configuration)
            try store.createStream(name: "s", shardCount: 1)
            let shard = dir + "/data/streams/s/shardId-000000000000"
            func segments() throws -> [String] {
                try FileSystem.live.contentsOfDirectory(shard).filter { $0.hasSuffix(".seg") }.sorted()
            }
            var last: PutResult?
            for index in 0..<10 {
                last = try store.putRecord(stream: "s", partitionKey: "k", data: [UInt8](repeating: UInt8(index), count: 1000))
            }
            let active = try #require(try segments().last)
            // Allocated one step ahead, not grown record by record.
            #expect(try FileSystem.live.fileSize(shard + "/" + active) == 1 << 20)
            // Fill past the first segment: it is sealed and cut back to its last record.
            for index in 0..<4000 {
                last = try store.putRecord(stream: "s", partitionKey: "k", data: [UInt8](repeating: UInt8(index % 251), count: 1000))
            }
            let names = try segments()
            #expect(names.count >= 2)
            let first = shard + "/" + names[0]
            let size = try FileSystem.live.fileSize(first)
            #expect(size < 3 << 20)
            #expect(size % (1 << 20) != 0)
            store.close()
            // After a clean close every segment file ends at its last record.
            let reopened = try StreamStore(configuration)
            defer { reopened.close() }
            let position = try #require(last).sequenceNumber.position
            let lastSize = try FileSystem.live.fileSize(shard + "/" + Self.segmentName(position.segment))
            let end = position.offset + UInt32(RecordFrame.size(keyBytes: 1, dataBytes: 1000))
            #expect(lastSize == Int64(end))
            var (_, from) = try reopened.startingPosition(stream: "s", shardID: "shardId-000000000000", type: .trimHorizon)
            var count = 0
            for _ in 0..<10_000 {
                let read = try reopened.read(stream: "s", shardIndex: 0, from: from, limit: 1000)
                count += read.records.count
                from = read.next
                if read.caughtUp { break }
            }
            #expect(count == 4010)
        }
    }

    /// A crash leaves the allocated space as zeros after the last record: recovery cuts it and
    /// keeps every record, and appends go on after them.
    @Test func zerosOfAllocatedSpaceAreCutAfterACrash() throws {
        try withTemporaryDirectory { dir in
            let data = dir + "/data"
            let shard = data + "/streams/s/shardId-000000000000"
            var acked: [PutResult] = []
            do {
                let store = try StreamStore(StreamStoreConfiguration(dataDirectory: data))
                try store.createStream(name: "s", shardCount: 1)
                for index in 0..<20 { acked.append(try store.putRecord(stream: "s", partitionKey: "k", data: [UInt8(index)])) }
                store.close()
            }
            // What a crash leaves: no summaries, the file still as long as its allocation.
            for name in try FileSystem.live.contentsOfDirectory(shard) where name.hasSuffix(".idx") {
                try FileSystem.live.removeFile(shard + "/" + name)
            }
            let segment = shard + "/" + Self.segmentName(acked[0].sequenceNumber.position.segment)
            let handle = try FileSystem.live.open(segment, .readWrite)
            #expect(handle.preallocate(offset: try handle.size(), length: 1 << 20))
            handle.close()
            let store = try StreamStore(StreamStoreConfiguration(dataDirectory: data))
            defer { store.close() }
            let end = acked[19].sequenceNumber.position.offset + UInt32(RecordFrame.size(keyBytes: 1, dataBytes: 1))
            #expect(try FileSystem.live.fileSize(segment) == Int64(end))
            let next = try store.putRecord(stream: "s", partitionKey: "k", data: [99])
            #expect(next.sequenceNumber > acked[19].sequenceNumber)
            var (_, position) = try store.startingPosition(stream: "s", shardID: "shardId-000000000000", type: .trimHorizon)
            var values: [UInt8] = []
            for _ in 0..<100 {
                let read = try store.read(stream: "s", shardIndex: 0, from: position, limit: 100)
                values += read.records.map { $0.data[0] }
                position = read.next
                if read.caughtUp { break }
            }
            #expect(values == Array(0..<20) + [99])
        }
    }
}
