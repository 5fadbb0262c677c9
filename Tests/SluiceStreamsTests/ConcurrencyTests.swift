import Dispatch
import Foundation
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Synchronization
import Testing

/// Many threads putting and reading at once: every acknowledged record is read back exactly
/// once, each writer's records in its own order, and group commit lets every appender finish.
@Suite struct ConcurrencyTests {
    private static let stream = "s"

    /// A value shared between threads (a `Mutex` cannot be captured by an escaping closure).
    private final class Shared<Value: Sendable>: Sendable {
        private let mutex: Mutex<Value>
        init(_ value: Value) { mutex = Mutex(value) }
        func update(_ body: (inout Value) -> Void) { mutex.withLock { body(&$0) } }
        var value: Value { mutex.withLock { $0 } }
    }

    /// Runs `body(0..<count)` on `count` dedicated threads at once and waits for all of them
    /// (dedicated threads, so blocking readers cannot starve writers of a small thread pool).
    private static func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for index in 0..<count {
            group.enter()
            let thread = Thread {
                body(index)
                group.leave()
            }
            thread.name = "concurrency-test-\(index)"
            thread.start()
        }
        group.wait()
    }

    /// A store with small (64 KiB) segments, so that concurrent appends and reads cross segment
    /// rolls many times.
    private static func open(_ dir: String, faults: FaultPlan? = nil) throws -> StreamStore {
        var configuration = StreamStoreConfiguration(dataDirectory: dir + "/data")
        configuration.fileSystem = FileSystem(faults: faults)
        configuration.segmentSize = 64 << 10
        return try StreamStore(configuration)
    }

    /// `text`, a separator and padding: records of a few hundred bytes fill segments quickly.
    private static func payload(_ text: String) -> [UInt8] {
        Array((text + "|").utf8) + [UInt8](repeating: UInt8(ascii: "."), count: 200 + text.utf8.count * 7)
    }

    /// Every record of one shard from TRIM_HORIZON.
    private static func readShard(_ store: StreamStore, _ shard: Int) throws -> [StoredRecord] {
        var (_, position) = try store.startingPosition(stream: stream, shardID: "shardId-\(shard)", type: .trimHorizon)
        var records: [StoredRecord] = []
        for _ in 0..<10_000 {
            let read = try store.read(stream: stream, shardIndex: shard, from: position, limit: 333)
            records += read.records
            position = read.next
            if read.caughtUp || read.reachedShardEnd { return records }
        }
        Issue.record("reading shard \(shard) did not catch up after 10000 pages")
        return records
    }

    /// Every record of every shard, each shard in sequence order.
    private static func readAllShards(_ store: StreamStore, shardCount: Int) throws -> [[StoredRecord]] {
        try (0..<shardCount).map { try readShard(store, $0) }
    }

    /// The text of a record made by `payload(_:)`.
    private static func text(_ record: StoredRecord) -> String {
        let full = String(decoding: record.data, as: UTF8.self)
        guard let bar = full.firstIndex(of: "|"), Array(record.data) == payload(String(full[..<bar])) else {
            return "malformed: " + full
        }
        return String(full[..<bar])
    }

    /// Checks that `shards` hold exactly the texts `expected[key]` for each partition key, in that
    /// order, each exactly once, every record of a key in one shard, and sequence numbers
    /// increasing within every shard.
    private static func expectExactlyOnceInOrder(
        _ shards: [[StoredRecord]], _ expected: [String: [String]], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        var byKey: [String: [String]] = [:]
        var shardOfKey: [String: Int] = [:]
        for (index, records) in shards.enumerated() {
            for (previous, next) in zip(records, records.dropFirst()) where previous.sequenceNumber >= next.sequenceNumber {
                Issue.record(
                    "shard \(index): sequence number \(next.sequenceNumber) follows \(previous.sequenceNumber)",
                    sourceLocation: sourceLocation)
            }
            for record in records {
                byKey[record.partitionKey, default: []].append(text(record))
                if let shard = shardOfKey[record.partitionKey], shard != index {
                    Issue.record("key \(record.partitionKey) found in shards \(shard) and \(index)", sourceLocation: sourceLocation)
                }
                shardOfKey[record.partitionKey] = index
            }
        }
        #expect(Set(byKey.keys) == Set(expected.keys), sourceLocation: sourceLocation)
        for (key, texts) in expected.sorted(by: { $0.key < $1.key }) {
            let found = byKey[key] ?? []
            #expect(found.count == texts.count, "key \(key): \(found.count) records, expected \(texts.count)", sourceLocation: sourceLocation)
            #expect(found == texts, "key \(key): records missing, duplicated or out of order", sourceLocation: sourceLocation)
        }
    }

    // MARK: - PutRecord

    @Test("8 threads × 300 PutRecord calls: all acknowledged, each read back exactly once in its thread's order")
    func concurrentPutRecord() throws {
        try withTemporaryDirectory { dir in
            let store = try Self.open(dir)
            defer { store.close() }
            try store.createStream(name: Self.stream, shardCount: 3)
            let threads = 8
            let perThread = 300
            let failures = Shared<[String]>([])
            let acknowledged = Shared<[String: [PutResult]]>([:])
            Self.onThreads(threads) { thread in
                var results: [PutResult] = []
                for i in 0..<perThread {
                    do {
                        results.append(
                            try store.putRecord(stream: Self.stream, partitionKey: "p\(thread)", data: Self.payload("t\(thread)-\(i)")))
                    } catch {
                        failures.update { $0.append("thread \(thread) record \(i): \(error)") }
                    }
                }
                acknowledged.update { $0["p\(thread)"] = results }
            }
            #expect(failures.value.isEmpty, "\(failures.value)")
            let acks = acknowledged.value
            for (key, results) in acks {
                #expect(results.count == perThread, "key \(key)")
                #expect(zip(results, results.dropFirst()).allSatisfy { $0.sequenceNumber < $1.sequenceNumber }, "key \(key): acks not increasing")
                #expect(Set(results.map(\.shardID)).count == 1, "key \(key) went to several shards")
            }
            let shards = try Self.readAllShards(store, shardCount: 3)
            var expected: [String: [String]] = [:]
            for thread in 0..<threads { expected["p\(thread)"] = (0..<perThread).map { "t\(thread)-\($0)" } }
            Self.expectExactlyOnceInOrder(shards, expected)
            // What was read is exactly what was acknowledged, number for number.
            let read = Set(shards.joined().map(\.sequenceNumber))
            let acked = Set(acks.values.joined().map(\.sequenceNumber))
            #expect(read == acked)
            #expect(acked.count == threads * perThread, "a sequence number was handed out twice")
            #expect(Set(read.map(\.position.segment)).count > 3, "test setup: appends should cross segment rolls")
        }
    }

    // MARK: - PutRecords

    @Test("8 threads × 30 PutRecords batches of 20: each entry read back exactly once, in batch and thread order")
    func concurrentPutRecords() throws {
        try withTemporaryDirectory { dir in
            let store = try Self.open(dir)
            defer { store.close() }
            try store.createStream(name: Self.stream, shardCount: 4)
            let threads = 8
            let batches = 30
            let perBatch = 20
            let failures = Shared<[String]>([])
            Self.onThreads(threads) { thread in
                for b in 0..<batches {
                    // Two keys per thread, so one batch lands in up to two shards.
                    let entries = (0..<perBatch).map { j in
                        PutRecordsEntry(partitionKey: "p\(thread)-\(j % 2)", data: Self.payload("t\(thread)-\(b)-\(j)"))
                    }
                    do {
                        let results = try store.putRecords(stream: Self.stream, entries: entries)
                        for (j, result) in results.enumerated() {
                            if case .failure(let error) = result {
                                failures.update { $0.append("thread \(thread) batch \(b) entry \(j): \(error)") }
                            }
                        }
                    } catch {
                        failures.update { $0.append("thread \(thread) batch \(b): \(error)") }
                    }
                }
            }
            #expect(failures.value.isEmpty, "\(failures.value)")
            var expected: [String: [String]] = [:]
            for thread in 0..<threads {
                for b in 0..<batches {
                    for j in 0..<perBatch { expected["p\(thread)-\(j % 2)", default: []].append("t\(thread)-\(b)-\(j)") }
                }
            }
            Self.expectExactlyOnceInOrder(try Self.readAllShards(store, shardCount: 4), expected)
        }
    }

    // MARK: - Following while writing

    @Test("readers following each shard while 6 writers put collect every record exactly once, in order")
    func followWhileWriting() throws {
        try withTemporaryDirectory { dir in
            let store = try Self.open(dir)
            defer { store.close() }
            let shardCount = 2
            try store.createStream(name: Self.stream, shardCount: shardCount)
            let writers = 6
            let perWriter = 150
            let total = writers * perWriter
            let writersDone = Shared(false)
            let finishedWriters = Shared(0)
            let collected = Shared<[Int: [StoredRecord]]>([:])
            let failures = Shared<[String]>([])
            let readerCount = Shared(0)
            Self.onThreads(writers + shardCount) { task in
                if task < shardCount {
                    // A reader: follows shard `task` until every record is in, or the writers are done
                    // and a follow found nothing more, or a generous number of rounds has passed.
                    let shard = task
                    var records: [StoredRecord] = []
                    do {
                        var (_, position) = try store.startingPosition(
                            stream: Self.stream, shardID: "shardId-\(shard)", type: .trimHorizon)
                        for _ in 0..<100_000 {
                            let finished = writersDone.value
                            let read = try store.follow(
                                stream: Self.stream, shardIndex: shard, from: position, limit: 50, timeoutMilliseconds: 200)
                            records += read.records
                            position = read.next
                            readerCount.update { $0 += read.records.count }
                            if readerCount.value >= total || (finished && read.records.isEmpty && read.caughtUp) { break }
                        }
                    } catch {
                        failures.update { $0.append("reader \(shard): \(error)") }
                    }
                    collected.update { $0[shard] = records }
                } else {
                    let writer = task - shardCount
                    for i in 0..<perWriter {
                        do {
                            _ = try store.putRecord(
                                stream: Self.stream, partitionKey: "w\(writer)", data: Self.payload("w\(writer)-\(i)"))
                        } catch {
                            failures.update { $0.append("writer \(writer) record \(i): \(error)") }
                        }
                    }
                    // The last writer to finish tells the readers.
                    finishedWriters.update { count in
                        count += 1
                        if count == writers { writersDone.update { $0 = true } }
                    }
                }
            }
            #expect(failures.value.isEmpty, "\(failures.value)")
            let followed = collected.value
            let shards = try Self.readAllShards(store, shardCount: shardCount)
            for shard in 0..<shardCount {
                let seen = followed[shard] ?? []
                #expect(
                    seen.map(\.sequenceNumber) == shards[shard].map(\.sequenceNumber),
                    "shard \(shard): the follower saw \(seen.count) records, the shard holds \(shards[shard].count)")
            }
            for (index, records) in shards.enumerated() {
                #expect(
                    Set(records.map(\.sequenceNumber.position.segment)).count >= 2,
                    "test setup: appends to shard \(index) should cross a segment roll")
            }
            var expected: [String: [String]] = [:]
            for writer in 0..<writers { expected["w\(writer)"] = (0..<perWriter).map { "w\(writer)-\($0)" } }
            Self.expectExactlyOnceInOrder((0..<shardCount).map { followed[$0] ?? [] }, expected)
        }
    }

    // MARK: - Group commit

    @Test("group commit: 32 concurrent appenders on one shard with durability .always all complete")
    func groupCommitManyAppenders() throws {
        try withTemporaryDirectory { dir in
            var configuration = StreamStoreConfiguration(dataDirectory: dir + "/data")
            configuration.segmentSize = 64 << 10
            configuration.durability = .always
            let store = try StreamStore(configuration)
            defer { store.close() }
            try store.createStream(name: Self.stream, shardCount: 1)
            let appenders = 32
            let perAppender = 40
            let failures = Shared<[String]>([])
            let completed = Shared(0)
            Self.onThreads(appenders) { appender in
                for i in 0..<perAppender {
                    do {
                        let result = try store.putRecord(
                            stream: Self.stream, partitionKey: "a\(appender)", data: Self.payload("a\(appender)-\(i)"))
                        // Acknowledged means durable, and durable means readable at once.
                        let read = try store.read(stream: Self.stream, shardIndex: 0, from: result.sequenceNumber.position, limit: 1)
                        if read.records.first?.sequenceNumber != result.sequenceNumber {
                            failures.update { $0.append("a\(appender)-\(i) acknowledged but not readable at its sequence number") }
                        }
                        completed.update { $0 += 1 }
                    } catch {
                        failures.update { $0.append("appender \(appender) record \(i): \(error)") }
                    }
                }
            }
            #expect(failures.value.isEmpty, "\(failures.value)")
            #expect(completed.value == appenders * perAppender)
            var expected: [String: [String]] = [:]
            for appender in 0..<appenders { expected["a\(appender)"] = (0..<perAppender).map { "a\(appender)-\($0)" } }
            Self.expectExactlyOnceInOrder([try Self.readShard(store, 0)], expected)
        }
    }

    @Test("group commit with failing fsyncs: every failed record is absent and every acknowledged one present, in order")
    func groupCommitWithSyncFailures() throws {
        try withTemporaryDirectory { dir in
            let faults = FaultPlan()
            let store = try Self.open(dir, faults: faults)
            try store.createStream(name: Self.stream, shardCount: 1)
            let appenders = 16
            let perAppender = 40
            // Fail a few group syncs somewhere in the middle of the run.
            faults.inject(.sync, pathContains: ".seg", fault: Fault(errno: Errno.io), after: 20, times: 1)
            faults.inject(.sync, pathContains: ".seg", fault: Fault(errno: Errno.io), after: 60, times: 2)
            let failures = Shared<[String]>([])
            let acknowledged = Shared<[String: [String]]>([:])
            let failed = Shared(0)
            Self.onThreads(appenders) { appender in
                var acked: [String] = []
                for i in 0..<perAppender {
                    let text = "a\(appender)-\(i)"
                    do throws(StreamError) {
                        _ = try store.putRecord(stream: Self.stream, partitionKey: "a\(appender)", data: Self.payload(text))
                        acked.append(text)
                    } catch {
                        if error.code == .internalFailure {
                            failed.update { $0 += 1 }
                        } else {
                            failures.update { $0.append("\(text): unexpected \(error)") }
                        }
                    }
                }
                acknowledged.update { $0["a\(appender)"] = acked }
            }
            #expect(failures.value.isEmpty, "\(failures.value)")
            #expect(failed.value > 0, "test setup: no put failed")
            let expected = acknowledged.value.filter { !$0.value.isEmpty }
            Self.expectExactlyOnceInOrder([try Self.readShard(store, 0)], expected)
            store.close()
            let reopened = try Self.open(dir)
            defer { reopened.close() }
            Self.expectExactlyOnceInOrder([try Self.readShard(reopened, 0)], expected)
        }
    }
}

/// Group commit across a burst of appends (the HTTP event loop over one epoll wake-up).
@Suite struct AppendBurstTests {
    /// Waits until `condition` holds (at most 60 s, which only a failing test reaches).
    private static func wait<State>(_ lock: ConditionLock<State>, until condition: (State) -> Bool) {
        lock.withLock { locked in
            let deadline = monotonicNanoseconds() + 60_000_000_000
            while !condition(locked.state) && monotonicNanoseconds() < deadline {
                locked.wait(nanoseconds: deadline - monotonicNanoseconds())
            }
        }
    }

    /// Counts `fdatasync` calls on segment files and fails none; while closed, holds each one
    /// until `open()`.
    private final class SyncGate: FaultInjecting {
        let state: ConditionLock<(syncs: Int, open: Bool)>
        init(open: Bool) { state = ConditionLock((0, open)) }
        var syncs: Int { state.withLock { $0.state.syncs } }
        func fault(for operation: FileOperation, path: String) -> Fault? {
            guard operation == .sync && path.hasSuffix(".seg") else { return nil }
            state.withLock { locked in
                locked.state.syncs += 1
                locked.broadcast()
            }
            AppendBurstTests.wait(state) { $0.open }
            return nil
        }
        func waitForSyncs(_ count: Int) {
            AppendBurstTests.wait(state) { $0.syncs >= count }
        }
        func open() {
            state.withLock { locked in
                locked.state.open = true
                locked.broadcast()
            }
        }
    }

    /// A store on `<dir>/data` whose segment syncs go through `gate`, with a one-shard stream "s".
    private static func store(_ dir: String, gate: SyncGate) throws -> StreamStore {
        var configuration = StreamStoreConfiguration(dataDirectory: dir + "/data")
        configuration.fileSystem = FileSystem(faults: gate)
        configuration.creationDelayMilliseconds = 0
        let store = try StreamStore(configuration)
        try store.createStream(name: "s", shardCount: 1)
        return store
    }

    @Test func appendsOfOneBurstAreMadeDurableByOneSyncAfterTheBurst() throws {
        try withTemporaryDirectory { dir in
            let counter = SyncGate(open: true)
            let store = try Self.store(dir, gate: counter)
            defer { store.close() }
            // A first record outside any burst: synced at once (and starts the shard's syncer).
            _ = try store.putRecord(stream: "s", partitionKey: "k", data: [0])
            let before = counter.syncs
            let done = ConditionLock<[Result<PutResult, StreamError>]>([])
            try WakeupBatch.collect {
                for index in 1...20 {
                    try store.putRecord(stream: "s", partitionKey: "k", data: [UInt8(index)]) { result in
                        done.withLock { locked in
                            locked.state.append(result)
                            locked.broadcast()
                        }
                    }
                }
                // Nothing of the burst is synced, or acknowledged, before it ends.
                #expect(counter.syncs == before)
                #expect(done.withLock { $0.state.isEmpty })
            }
            Self.wait(done) { $0.count >= 20 }
            let results = done.withLock { $0.state }
            #expect(results.count == 20)
            #expect(results.allSatisfy { (try? $0.get()) != nil })
            #expect(counter.syncs == before + 1)
        }
    }

    /// When a sync ends while a burst that reaches the shard is still being written, the syncer
    /// waits for the burst to end and covers it and what was released before with one sync.
    @Test func aSyncerWaitsForABurstStillBeingWritten() throws {
        try withTemporaryDirectory { dir in
            let gate = SyncGate(open: false)
            let store = try Self.store(dir, gate: gate)
            defer { store.close() }
            let acknowledged = ConditionLock<[String]>([])
            func put(_ name: String) throws {
                try store.putRecord(stream: "s", partitionKey: "k", data: Array(name.utf8)) { result in
                    #expect((try? result.get()) != nil)
                    acknowledged.withLock { locked in
                        locked.state.append(name)
                        locked.broadcast()
                    }
                }
            }
            func waitFor(_ count: Int) { Self.wait(acknowledged) { $0.count >= count } }
            try put("a")  // outside a burst: its sync starts at once, and is held by the gate
            gate.waitForSyncs(1)
            try WakeupBatch.collect {
                try put("b")
                WakeupBatch.drain()  // b is released while a's sync is held
                try put("c")  // c is written but the burst goes on
                gate.open()
                waitFor(1)  // a is acknowledged; its syncer now sees b released and c not yet
                try put("d")
            }
            waitFor(4)
            #expect(acknowledged.withLock { $0.state } == ["a", "b", "c", "d"])
            #expect(gate.syncs == 2)
        }
    }

    /// A thread that blocks for its own append inside a burst must not wait for itself.
    @Test func aBlockingPutInsideABurstReturns() throws {
        try withTemporaryDirectory { dir in
            var configuration = StreamStoreConfiguration(dataDirectory: dir + "/data")
            configuration.creationDelayMilliseconds = 0
            let store = try StreamStore(configuration)
            defer { store.close() }
            try store.createStream(name: "s", shardCount: 2)
            let results = try WakeupBatch.collect {
                try (0..<5).map { try store.putRecord(stream: "s", partitionKey: "k\($0)", data: [UInt8($0)]) }
            }
            #expect(results.count == 5)
        }
    }
}
