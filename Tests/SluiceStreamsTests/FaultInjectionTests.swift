import Foundation
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// Storage failures injected through `FaultPlan`: a failed write, torn write or fsync is never
/// acknowledged and never readable, earlier records stay readable, and the store recovers once
/// the fault is gone. Startup failures give a message that names the path and what to do.
@Suite struct FaultInjectionTests {
    private static let stream = "s"

    /// A store on `<dir>/data` whose file system consults `faults`.
    private static func open(_ dir: String, faults: FaultPlan? = nil) throws -> StreamStore {
        var configuration = StreamStoreConfiguration(dataDirectory: dir + "/data")
        configuration.fileSystem = FileSystem(faults: faults)
        return try StreamStore(configuration)
    }

    /// Every record of one shard from TRIM_HORIZON, read in pages until caught up.
    private static func readAll(_ store: StreamStore, shard: Int = 0) throws -> [StoredRecord] {
        var (_, position) = try store.startingPosition(stream: stream, shardID: "shardId-\(shard)", type: .trimHorizon)
        var records: [StoredRecord] = []
        for _ in 0..<10_000 {
            let read = try store.read(stream: stream, shardIndex: shard, from: position, limit: 5)
            records += read.records
            position = read.next
            if read.caughtUp || read.reachedShardEnd { return records }
        }
        Issue.record("reading shard \(shard) did not catch up after 10000 pages")
        return records
    }

    private static func texts(_ records: [StoredRecord]) -> [String] {
        records.map { String(decoding: $0.data, as: UTF8.self) }
    }

    @discardableResult
    private static func put(_ store: StreamStore, _ text: String, key: String = "k") throws -> PutResult {
        try store.putRecord(stream: stream, partitionKey: key, data: Array(text.utf8))
    }

    private static func segmentFiles(_ dir: String, shard: String = "shardId-000000000000", suffix: String) throws -> [String] {
        let directory = dir + "/data/streams/s/" + shard
        return try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(suffix) }.sorted()
            .map { directory + "/" + $0 }
    }

    // MARK: - Write failures

    @Test("a write failing with ENOSPC fails the put with the errno and a remedy; nothing of it is readable")
    func writeFailsWithNoSpace() throws {
        try withTemporaryDirectory { dir in
            let faults = FaultPlan()
            let store = try Self.open(dir, faults: faults)
            defer { store.close() }
            try store.createStream(name: Self.stream, shardCount: 1)
            for i in 0..<3 { try Self.put(store, "before-\(i)") }

            faults.inject(.write, pathContains: ".seg", fault: Fault(errno: Errno.noSpace))
            let error = #expect(throws: StreamError.self) { try Self.put(store, "lost") }
            #expect(error?.code == .internalFailure)
            #expect(error?.message.contains("ENOSPC") == true, "message names the errno: \(error?.message ?? "")")
            #expect(error?.message.contains("Free disk space") == true, "message says what to do: \(error?.message ?? "")")
            #expect(error?.message.contains("shardId-000000000000") == true, "message names the shard: \(error?.message ?? "")")
            #expect(Self.texts(try Self.readAll(store)) == ["before-0", "before-1", "before-2"])

            faults.clear()
            var sequences: [SequenceNumber] = []
            for i in 0..<3 { sequences.append(try Self.put(store, "after-\(i)").sequenceNumber) }
            let all = try Self.readAll(store)
            #expect(Self.texts(all) == ["before-0", "before-1", "before-2", "after-0", "after-1", "after-2"])
            #expect(Array(all.suffix(3).map(\.sequenceNumber)) == sequences)
        }
    }

    @Test("records written after a write failure survive close and reopen, the failed one does not")
    func writeFailureThenReopen() throws {
        try withTemporaryDirectory { dir in
            do {
                let faults = FaultPlan()
                let store = try Self.open(dir, faults: faults)
                defer { store.close() }
                try store.createStream(name: Self.stream, shardCount: 1)
                try Self.put(store, "a")
                faults.inject(.write, pathContains: ".seg", fault: Fault(errno: Errno.io))
                #expect(throws: StreamError.self) { try Self.put(store, "lost") }
                try Self.put(store, "b")
            }
            let store = try Self.open(dir)
            defer { store.close() }
            #expect(Self.texts(try Self.readAll(store)) == ["a", "b"])
        }
    }

    @Test("a torn write leaves no readable garbage and survives reopen with exactly the acknowledged records", arguments: [false, true])
    func tornWrite(crashBeforeSummaries: Bool) throws {
        try withTemporaryDirectory { dir in
            var acknowledged: [SequenceNumber] = []
            do {
                let faults = FaultPlan()
                let store = try Self.open(dir, faults: faults)
                defer { store.close() }
                try store.createStream(name: Self.stream, shardCount: 1)
                for i in 0..<3 { acknowledged.append(try Self.put(store, "before-\(i)").sequenceNumber) }
                faults.inject(.write, pathContains: ".seg", fault: Fault(errno: Errno.noSpace, bytesWritten: 20))
                let error = #expect(throws: StreamError.self) {
                    try Self.put(store, "torn-" + String(repeating: "x", count: 100))
                }
                #expect(error?.code == .internalFailure)
                #expect(Self.texts(try Self.readAll(store)) == ["before-0", "before-1", "before-2"])
                faults.clear()
                for i in 0..<3 { acknowledged.append(try Self.put(store, "after-\(i)").sequenceNumber) }
                #expect(try Self.readAll(store).map(\.sequenceNumber) == acknowledged)
            }
            if crashBeforeSummaries {
                // Summaries are written without fsync: after a power loss they may be gone.
                for path in try Self.segmentFiles(dir, suffix: ".idx") { try FileManager.default.removeItem(atPath: path) }
            }
            let store = try Self.open(dir)
            defer { store.close() }
            let records = try Self.readAll(store)
            #expect(records.map(\.sequenceNumber) == acknowledged)
            #expect(Self.texts(records) == ["before-0", "before-1", "before-2", "after-0", "after-1", "after-2"])
        }
    }

    /// A torn write whose clean-up `ftruncate` also fails leaves the torn bytes in a sealed
    /// segment. Nothing after it may be acknowledged until that segment's summary, which records
    /// where its records end, is durable; then recovery trusts the summary and keeps every later
    /// acknowledged record. With `summariesFail`, summaries cannot be written until the faults
    /// are cleared, and puts are refused meanwhile.
    @Test(
        "a torn write whose truncate also fails never costs acknowledged records at recovery",
        arguments: [false, true])
    func tornWriteWithFailedTruncate(summariesFail: Bool) throws {
        try withTemporaryDirectory { dir in
            var acknowledged: [String] = []
            do {
                let faults = FaultPlan()
                let store = try Self.open(dir, faults: faults)
                defer { store.close() }
                try store.createStream(name: Self.stream, shardCount: 1)
                for i in 0..<3 {
                    try Self.put(store, "before-\(i)")
                    acknowledged.append("before-\(i)")
                }
                faults.inject(.write, pathContains: ".seg", fault: Fault(errno: Errno.noSpace, bytesWritten: 20))
                faults.inject(.truncate, pathContains: ".seg", fault: Fault(errno: Errno.io))
                if summariesFail {
                    faults.inject(.open, pathContains: ".idx", fault: Fault(errno: Errno.noSpace), times: nil)
                }
                #expect(throws: StreamError.self) { try Self.put(store, "torn-" + String(repeating: "x", count: 100)) }
                if summariesFail {
                    for i in 0..<3 {
                        let error = #expect(throws: StreamError.self) { try Self.put(store, "refused-\(i)") }
                        #expect(error?.code == .internalFailure)
                    }
                    #expect(Self.texts(try Self.readAll(store)) == acknowledged)
                    faults.clear()
                }
                for i in 0..<3 {
                    try Self.put(store, "after-\(i)")
                    acknowledged.append("after-\(i)")
                }
                #expect(Self.texts(try Self.readAll(store)) == acknowledged)
            }
            // The torn bytes are still in the first segment; its durable summary says where its
            // records end.
            let store = try Self.open(dir)
            defer { store.close() }
            let recovered = Self.texts(try Self.readAll(store))
            #expect(recovered == acknowledged, "records acknowledged after the torn write must survive recovery")
        }
    }

    @Test("a segment roll that cannot create the next segment fails only the put that needed it", arguments: [FileOperation.open, .write])
    func rollFailure(operation: FileOperation) throws {
        try withTemporaryDirectory { dir in
            var acknowledged: [String] = []
            var failed: [Int] = []
            do {
                let faults = FaultPlan()
                var configuration = StreamStoreConfiguration(dataDirectory: dir + "/data")
                configuration.fileSystem = FileSystem(faults: faults)
                configuration.segmentSize = 64 << 10
                let store = try StreamStore(configuration)
                defer { store.close() }
                try store.createStream(name: Self.stream, shardCount: 1)
                // The first segment is 0000000001.seg; its successor cannot be created (or its header
                // cannot be written) once.
                faults.inject(operation, pathContains: "0000000002.seg", fault: Fault(errno: Errno.noSpace))
                for i in 0..<150 {
                    let text = "r\(i)-" + String(repeating: "x", count: 1000)
                    do throws(StreamError) {
                        _ = try store.putRecord(stream: Self.stream, partitionKey: "k", data: Array(text.utf8))
                        acknowledged.append(text)
                    } catch {
                        #expect(error.code == .internalFailure)
                        #expect(error.message.contains("ENOSPC"), "\(error.message)")
                        failed.append(i)
                    }
                }
                #expect(failed.count == 1, "exactly the put that rolled fails: \(failed)")
                #expect(Self.texts(try Self.readAll(store)) == acknowledged)
            }
            let store = try Self.open(dir)
            defer { store.close() }
            let recovered = Self.texts(try Self.readAll(store))
            #expect(recovered == acknowledged)
            #expect(try Self.segmentFiles(dir, suffix: ".seg").count >= 3, "test setup: the records span several segments")
        }
    }

    // MARK: - Sync failures

    @Test("an fsync failure fails the put; the record is never readable, before or after reopen; later puts succeed")
    func syncFailure() throws {
        try withTemporaryDirectory { dir in
            do {
                let faults = FaultPlan()
                let store = try Self.open(dir, faults: faults)
                defer { store.close() }
                try store.createStream(name: Self.stream, shardCount: 1)
                for i in 0..<3 { try Self.put(store, "before-\(i)") }
                faults.inject(.sync, pathContains: ".seg", fault: Fault(errno: Errno.io))
                let error = #expect(throws: StreamError.self) { try Self.put(store, "unacknowledged") }
                #expect(error?.code == .internalFailure)
                #expect(error?.message.contains("EIO") == true, "message names the errno: \(error?.message ?? "")")
                #expect(error?.message.contains("check the disk") == true, "message says what to do: \(error?.message ?? "")")
                #expect(Self.texts(try Self.readAll(store)) == ["before-0", "before-1", "before-2"])
                for i in 0..<3 { try Self.put(store, "after-\(i)") }
                #expect(
                    Self.texts(try Self.readAll(store)) == ["before-0", "before-1", "before-2", "after-0", "after-1", "after-2"])
            }
            let store = try Self.open(dir)
            defer { store.close() }
            #expect(
                Self.texts(try Self.readAll(store)) == ["before-0", "before-1", "before-2", "after-0", "after-1", "after-2"])
        }
    }

    @Test("a failing directory fsync for a new segment fails its records, which are never readable, before or after reopen")
    func directorySyncFailure() throws {
        try withTemporaryDirectory { dir in
            do {
                let faults = FaultPlan()
                let store = try Self.open(dir, faults: faults)
                defer { store.close() }
                try store.createStream(name: Self.stream, shardCount: 1)
                try Self.put(store, "a")
                // A failed write seals the segment, so the next put starts a new one, whose directory
                // entry must be synced before that put is acknowledged.
                faults.inject(.write, pathContains: ".seg", fault: Fault(errno: Errno.io))
                #expect(throws: StreamError.self) { try Self.put(store, "lost") }
                // The group sync for the next put runs fdatasync on the sealed segment and the new
                // one, then on the sealed segment's summary, then fsync on the directory: let the
                // first three through and fail the directory's.
                faults.inject(.sync, pathContains: "shardId-000000000000", fault: Fault(errno: Errno.io), after: 3)
                let error = #expect(throws: StreamError.self) { try Self.put(store, "unacknowledged") }
                #expect(error?.message.contains("fsync '") == true, "the directory sync failed: \(error?.message ?? "")")
                #expect(error?.message.hasSuffix("shardId-000000000000': Input/output error (EIO, errno 5). The storage device reported an I/O error; check the disk (dmesg) before retrying.") == true)
                #expect(Self.texts(try Self.readAll(store)) == ["a"])
                try Self.put(store, "after")
                #expect(Self.texts(try Self.readAll(store)) == ["a", "after"])
            }
            let store = try Self.open(dir)
            defer { store.close() }
            #expect(Self.texts(try Self.readAll(store)) == ["a", "after"])
        }
    }

    // MARK: - Partial failure

    @Test("PutRecords reports per-entry failures for a failing shard while the other shard's entries succeed")
    func putRecordsWithOneFailingShard() throws {
        try withTemporaryDirectory { dir in
            let faults = FaultPlan()
            let store = try Self.open(dir, faults: faults)
            defer { store.close() }
            try store.createStream(name: Self.stream, shardCount: 2)
            let low = "0"
            let high = String(UInt128.max)
            func entries(_ tag: String) -> [PutRecordsEntry] {
                (0..<10).map { i in
                    PutRecordsEntry(partitionKey: "k\(i)", data: Array("\(tag)-\(i)".utf8), explicitHashKey: i % 2 == 0 ? low : high)
                }
            }
            faults.inject(.write, pathContains: "shardId-000000000001", fault: Fault(errno: Errno.noSpace), times: nil)
            let results = try store.putRecords(stream: Self.stream, entries: entries("first"))
            #expect(results.count == 10)
            for (i, result) in results.enumerated() {
                switch result {
                case .success(let put):
                    #expect(i % 2 == 0, "entry \(i) for the failing shard was acknowledged")
                    #expect(put.shardID == "shardId-000000000000")
                case .failure(let error):
                    #expect(i % 2 == 1, "entry \(i) for the healthy shard failed: \(error)")
                    #expect(error.code == .internalFailure)
                    #expect(error.message.contains("ENOSPC"))
                }
            }
            #expect(Self.texts(try Self.readAll(store, shard: 0)) == ["first-0", "first-2", "first-4", "first-6", "first-8"])
            #expect(try Self.readAll(store, shard: 1).isEmpty)

            faults.clear()
            let retried = try store.putRecords(stream: Self.stream, entries: entries("second"))
            #expect(retried.allSatisfy { (try? $0.get()) != nil }, "\(retried)")
            #expect(
                Self.texts(try Self.readAll(store, shard: 0))
                    == ["first-0", "first-2", "first-4", "first-6", "first-8", "second-0", "second-2", "second-4", "second-6", "second-8"])
            #expect(Self.texts(try Self.readAll(store, shard: 1)) == ["second-1", "second-3", "second-5", "second-7", "second-9"])
        }
    }

    // MARK: - Read failures

    @Test("a read failure is reported as an error naming the segment, and reading works again afterwards")
    func readFailure() throws {
        try withTemporaryDirectory { dir in
            let faults = FaultPlan()
            let store = try Self.open(dir, faults: faults)
            defer { store.close() }
            try store.createStream(name: Self.stream, shardCount: 1)
            try Self.put(store, "a")
            faults.inject(.read, pathContains: ".seg", fault: Fault(errno: Errno.io))
            let error = #expect(throws: StreamError.self) { _ = try Self.readAll(store) }
            #expect(error?.code == .internalFailure)
            #expect(error?.message.contains(".seg") == true, "message names the segment: \(error?.message ?? "")")
            #expect(Self.texts(try Self.readAll(store)) == ["a"])
        }
    }

    // MARK: - Startup failures

    @Test("a data directory under a regular file gives an error naming the path")
    func dataDirectoryUnderAFile() throws {
        try withTemporaryDirectory { dir in
            #expect(FileManager.default.createFile(atPath: dir + "/file", contents: Data("x".utf8)))
            let data = dir + "/file/data"
            let error = #expect(throws: StreamError.self) { _ = try StreamStore(StreamStoreConfiguration(dataDirectory: data)) }
            #expect(error?.code == .internalFailure)
            #expect(error?.message.contains(data) == true, "message names the data directory: \(error?.message ?? "")")
            #expect(error?.message.contains("mkdir") == true, "message names the failing call: \(error?.message ?? "")")
        }
    }

    @Test("a data directory that cannot be created (injected EACCES) names the path and suggests --data-dir")
    func dataDirectoryAccessDenied() throws {
        try withTemporaryDirectory { dir in
            let faults = FaultPlan()
            faults.inject(.createDirectory, pathContains: "/data", fault: Fault(errno: Errno.accessDenied))
            let error = #expect(throws: StreamError.self) { _ = try Self.open(dir, faults: faults) }
            #expect(error?.message.contains(dir + "/data") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("EACCES") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("--data-dir") == true, "\(error?.message ?? "")")
        }
    }

    @Test("a locked data directory names the holder's pid and asks for another --data-dir; it opens once released")
    func lockedDataDirectory() throws {
        try withTemporaryDirectory { dir in
            let first = try Self.open(dir)
            try first.createStream(name: Self.stream, shardCount: 1)
            try Self.put(first, "a")
            let pid = ProcessInfo.processInfo.processIdentifier
            let error = #expect(throws: StreamError.self) { _ = try Self.open(dir) }
            #expect(error?.code == .resourceInUse)
            #expect(error?.message.contains("locked by process \(pid)") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("--data-dir") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains(dir + "/data") == true, "\(error?.message ?? "")")
            // The refused open did not disturb the holder.
            try Self.put(first, "b")
            first.close()

            let second = try Self.open(dir)
            defer { second.close() }
            #expect(Self.texts(try Self.readAll(second)) == ["a", "b"])
        }
    }

    @Test("a lock failure at startup gives a clear error")
    func lockFailure() throws {
        try withTemporaryDirectory { dir in
            let faults = FaultPlan()
            faults.inject(.lock, fault: Fault(errno: Errno.io))
            let error = #expect(throws: StreamError.self) { _ = try Self.open(dir, faults: faults) }
            #expect(error?.message.contains("Cannot lock data directory") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("EIO") == true, "\(error?.message ?? "")")
            let store = try Self.open(dir, faults: faults)
            store.close()
        }
    }

    @Test("an open failure under streams/ at startup gives a clear error, releases the lock, and a later open works")
    func openFaultAtStartup() throws {
        try withTemporaryDirectory { dir in
            do {
                let store = try Self.open(dir)
                defer { store.close() }
                try store.createStream(name: Self.stream, shardCount: 1)
                try Self.put(store, "a")
            }
            let faults = FaultPlan()
            faults.inject(.open, pathContains: "streams", fault: Fault(errno: Errno.accessDenied), times: nil)
            let error = #expect(throws: StreamError.self) { _ = try Self.open(dir, faults: faults) }
            #expect(error?.code == .internalFailure)
            #expect(error?.message.contains(dir + "/data/streams/s") == true, "message names the path: \(error?.message ?? "")")
            #expect(error?.message.contains("EACCES") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("--data-dir") == true, "\(error?.message ?? "")")

            faults.clear()
            let store = try Self.open(dir, faults: faults)
            defer { store.close() }
            #expect(Self.texts(try Self.readAll(store)) == ["a"])
        }
    }

    @Test("a read failure while recovering a segment at startup gives a clear error and leaves the data intact")
    func readFaultDuringRecovery() throws {
        try withTemporaryDirectory { dir in
            do {
                let store = try Self.open(dir)
                defer { store.close() }
                try store.createStream(name: Self.stream, shardCount: 1)
                try Self.put(store, "a")
            }
            // Without summaries, the segment is scanned at startup.
            for path in try Self.segmentFiles(dir, suffix: ".idx") { try FileManager.default.removeItem(atPath: path) }
            let faults = FaultPlan()
            faults.inject(.read, pathContains: ".seg", fault: Fault(errno: Errno.io), times: nil)
            let error = #expect(throws: StreamError.self) { _ = try Self.open(dir, faults: faults) }
            #expect(error?.message.contains("shardId-000000000000") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("EIO") == true, "\(error?.message ?? "")")

            let store = try Self.open(dir)
            defer { store.close() }
            #expect(Self.texts(try Self.readAll(store)) == ["a"])
        }
    }
}
