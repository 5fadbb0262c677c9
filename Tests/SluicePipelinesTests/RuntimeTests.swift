import Foundation
import SluicePipelines
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

@Suite("Buffer policy")
struct BufferPolicyTests {
    let policy = BufferPolicy(sizeInMBs: 1, intervalInSeconds: 60)
    let opened = Timestamp(milliseconds: 1_000_000)

    @Test func emptyBufferNeverFlushes() {
        #expect(policy.flushReason(for: BufferState(openedAt: opened), now: opened.adding(milliseconds: 10_000_000)) == nil)
    }

    @Test func sizeFlushesAtTheLimitNotBefore() {
        var state = BufferState(openedAt: opened, uncompressedBytes: (1 << 20) - 1, recordCount: 10)
        #expect(policy.flushReason(for: state, now: opened) == nil)
        state.uncompressedBytes = 1 << 20
        #expect(policy.flushReason(for: state, now: opened) == .size)
    }

    @Test func intervalFlushesWhenTheOldestRecordHasWaited() {
        let state = BufferState(openedAt: opened, uncompressedBytes: 10, recordCount: 1)
        #expect(policy.flushReason(for: state, now: opened.adding(milliseconds: 59_999)) == nil)
        #expect(policy.flushReason(for: state, now: opened.adding(milliseconds: 60_000)) == .interval)
        #expect(policy.deadline(of: state) == opened.adding(milliseconds: 60_000))
    }

    @Test func sizeWinsWhenBothHold() {
        let state = BufferState(openedAt: opened, uncompressedBytes: 2 << 20, recordCount: 3)
        #expect(policy.flushReason(for: state, now: opened.adding(milliseconds: 120_000)) == .size)
    }

    @Test func hintsAreMiB() {
        #expect(BufferPolicy(sizeInMBs: 128, intervalInSeconds: 900).sizeLimitBytes == 128 << 20)
        #expect(BufferPolicy(sizeInMBs: 128, intervalInSeconds: 900).intervalMilliseconds == 900_000)
    }
}

@Suite("Pipeline runner")
struct PipelineRunnerTests {
    @Test func nothingIsPublishedBeforeTheIntervalThenOneFile() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 2)
            let runner = try h.runner(try PipelineHarness.simple(interval: 60))
            let lines = (0..<100).map { "{\"n\":\($0)}\n" }
            try h.put(lines)
            runner.step()
            #expect(try h.archiveFiles().isEmpty)
            #expect(runner.status.bufferedRecords == 100)
            #expect(runner.status.openPartitions == 1)
            h.clock.advance(seconds: 59)
            runner.step()
            #expect(try h.archiveFiles().isEmpty)
            h.clock.advance(seconds: 1)
            runner.step()
            let files = try h.archiveFiles()
            #expect(files.count == 1)
            let (path, content) = try #require(files.first)
            // Default prefix YYYY/MM/dd/HH/ of the oldest arrival (the clock starts at 2026-01-01T00:00Z).
            #expect(path.hasPrefix("out/clicks/2026/01/01/00/clicks-1-2026-01-01-00-00-00-"))
            #expect(path.hasSuffix(".gz"))
            // Records concatenated as stored, no delimiter added; order kept within each shard.
            let text = String(decoding: content, as: UTF8.self)
            #expect(Set(text.split(separator: "\n").map(String.init)) == Set(lines.map { String($0.dropLast()) }))
            #expect(content.count == lines.reduce(0) { $0 + $1.utf8.count })
            #expect(runner.status.counters.flushes[.interval] == 1)
            #expect(runner.status.counters.recordsPublished == 100)
            #expect(runner.status.bufferedRecords == 0)
        }
    }

    @Test func sizeFlushHappensAsSoonAsTheLimitIsReached() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let runner = try h.runner(try PipelineHarness.simple(sizeInMBs: 1, interval: 900))
            let record = String(repeating: "x", count: 1000) + "\n"
            try h.put(Array(repeating: record, count: 1500))  // 1.5 MB
            runner.step()
            let files = try h.archiveFiles()
            #expect(files.count == 1)
            let published = try #require(files.values.first)
            #expect(published.count >= 1 << 20 && published.count < (1 << 20) + 1001)
            #expect(runner.status.counters.flushes[.size] == 1)
            #expect(runner.status.bufferedBytes == 1500 * 1001 - published.count)
            // The rest goes at shutdown, with its reason.
            #expect(runner.flushAll(reason: .shutdown))
            #expect(try h.archiveFiles().values.reduce(0) { $0 + $1.count } == 1500 * 1001)
            #expect(runner.status.counters.flushes[.shutdown] == 1)
        }
    }

    @Test func recordsOfDifferentHoursGoToDifferentPartitions() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            h.clock.set(milliseconds: 1_767_229_140_000)  // 2026-01-01T00:59:00Z
            try h.store.createStream(name: "clicks", shardCount: 1)
            let runner = try h.runner(try PipelineHarness.simple(interval: 300))
            try h.put(["a\n"])
            runner.step()
            h.clock.advance(seconds: 90)  // 01:00:30
            try h.put(["b\n"])
            runner.step()
            #expect(runner.status.openPartitions == 2)
            h.clock.advance(seconds: 300)
            runner.step()
            let files = try h.archiveFiles()
            let byHour = Dictionary(uniqueKeysWithValues: files.map { (String($0.key.prefix(25)), String(decoding: $0.value, as: UTF8.self)) })
            #expect(byHour == ["out/clicks/2026/01/01/00/": "a\n", "out/clicks/2026/01/01/01/": "b\n"])
        }
    }

    @Test func customPrefixAndUncompressedOutput() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let runner = try h.runner(
                try PipelineHarness.simple(
                    interval: 60, prefix: "logs/year=!{timestamp:yyyy}/month=!{timestamp:MM}/",
                    errorPrefix: "errors/!{firehose:error-output-type}/", compression: "none"))
            try h.put(["one\n", "two\n"])
            runner.step()
            h.clock.advance(seconds: 60)
            runner.step()
            let files = try h.archiveFiles(gzip: false)
            #expect(files.count == 1)
            let (path, content) = try #require(files.first)
            #expect(path.hasPrefix("out/clicks/logs/year=2026/month=01/clicks-1-2026-01-01-00-00-00-"))
            #expect(!path.hasSuffix(".gz"))
            #expect(String(decoding: content, as: UTF8.self) == "one\ntwo\n")
        }
    }

    @Test func onDemandFlushPublishesOpenBuffers() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let runner = try h.runner(try PipelineHarness.simple(interval: 900))
            try h.put(["x\n"])
            runner.step()
            let ticket = runner.requestFlush()
            #expect(!runner.isFlushDone(ticket))
            runner.step()
            #expect(runner.isFlushDone(ticket))
            #expect(try h.archiveFiles().count == 1)
            #expect(runner.status.counters.flushes[.onDemand] == 1)
        }
    }

    @Test func activePartitionLimitSendsOverflowToErrorOutput() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            h.clock.set(milliseconds: 1_767_229_140_000)  // 00:59
            try h.store.createStream(name: "clicks", shardCount: 1)
            let runner = try h.runner(try PipelineHarness.simple(interval: 300, maximumOpenPartitions: 1))
            try h.put(["a\n"])
            runner.step()
            h.clock.advance(seconds: 90)  // 01:00:30, a second partition
            let overflow = try h.put(["b\n"])
            runner.step()
            h.clock.advance(seconds: 300)
            runner.step()
            let data = try h.dataFiles()
            #expect(data.count == 1)
            #expect(data.values.first == Array("a\n".utf8))
            let documents = try h.errorDocuments()
            #expect(documents.count == 1)
            let document = try #require(documents.first)
            #expect(document["errorCode"] as? String == "DynamicPartitioning.ActivePartitionsLimitExceeded")
            #expect(document["rawData"] as? String == "Ygo=")
            #expect(document["sequenceNumber"] as? String == overflow[0].description)
            #expect(document["shardId"] as? String == "shardId-000000000000")
            #expect(document["sourceStream"] as? String == "clicks")
            #expect(document["attemptsMade"] as? Int == 1)
            #expect(document["arrivalTimestamp"] as? Int == 1_767_229_230_000)
            let errorPaths = try h.archiveFiles().keys.filter { $0.contains("activePartitionExceeded") }
            #expect(errorPaths.count == 1)
            #expect(errorPaths.first?.hasPrefix("out/clicks/activePartitionExceeded/2026/01/01/01/") == true)
            #expect(runner.status.counters.errorRecords["activePartitionExceeded"] == 1)
        }
    }

    @Test func retentionDoesNotTrimUndeliveredRecords() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let runner = try h.runner(try PipelineHarness.simple(interval: 900))
            let big = String(repeating: "r", count: 100_000)
            try h.put(Array(repeating: big, count: 30))  // several 1 MiB segments
            runner.step()
            h.clock.advance(hours: 25)  // past the 24 h retention
            _ = try h.store.enforceRetention()
            // The pipeline still holds every record it has not delivered.
            #expect(runner.flushAll(reason: .shutdown))
            #expect(try h.dataFiles().values.reduce(0) { $0 + $1.count } == 30 * 100_000)
            // Once delivered, retention may trim.
            _ = try h.store.enforceRetention()
            let horizon = try h.store.getRecords(
                iterator: try h.store.shardIterator(stream: "clicks", shardID: "shardId-000000000000", type: .trimHorizon))
            #expect(horizon.records.count < 30)
        }
    }

    @Test func statusReportsTheOldestUndeliveredRecord() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let runner = try h.runner(try PipelineHarness.simple(interval: 300))
            let first = h.clock.now()
            try h.put(["a"])
            h.clock.advance(seconds: 10)
            try h.put(["b"])
            runner.step()
            #expect(runner.status.oldestUndeliveredArrival == first)
            h.clock.advance(seconds: 300)
            runner.step()
            #expect(runner.status.oldestUndeliveredArrival == nil)
        }
    }

    @Test func splitShardParentsAreReadBeforeChildren() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let runner = try h.runner(try PipelineHarness.simple(interval: 60, compression: "none"))
            try h.put((0..<10).map { "p\($0)\n" }, key: { _ in "same" })
            try h.store.splitShard(stream: "clicks", shardToSplit: "shardId-000000000000", newStartingHashKey: "170141183460469231731687303715884105728")
            try h.put((0..<10).map { "c\($0)\n" }, key: { _ in "same" })
            for _ in 0..<3 { runner.step() }
            h.clock.advance(seconds: 61)
            runner.step()
            let files = try h.archiveFiles(gzip: false)
            #expect(files.count == 1)
            let text = String(decoding: try #require(files.values.first), as: UTF8.self)
            #expect(text == ((0..<10).map { "p\($0)\n" } + (0..<10).map { "c\($0)\n" }).joined())
        }
    }
}

@Suite("Pipeline exactly once")
struct PipelineExactlyOnceTests {
    /// The lines of every data file, and the documents of every error file, as a multiset.
    private func delivered(_ h: PipelineHarness) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for (_, bytes) in try h.dataFiles() {
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") { counts[String(line), default: 0] += 1 }
        }
        for document in try h.errorDocuments() {
            let raw = Data(base64Encoded: document["rawData"] as! String)!
            for line in String(decoding: raw, as: UTF8.self).split(separator: "\n") { counts[String(line), default: 0] += 1 }
        }
        return counts
    }

    @Test func crashWithOpenBuffersRereadsFromTheCheckpoint() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 2)
            let definition = try PipelineHarness.simple(interval: 60)
            var runner: PipelineRunner? = try h.runner(definition)
            try h.put((0..<50).map { "r\($0)\n" })
            runner!.step()
            runner = nil  // crash: open buffers are lost
            let restarted = try h.runner(definition)
            restarted.step()
            h.clock.advance(seconds: 60)
            restarted.step()
            let counts = try delivered(h)
            #expect(counts.count == 50)
            #expect(counts.values.allSatisfy { $0 == 1 })
        }
    }

    @Test func crashBetweenSealAndPublishPublishesTheSameNameOnce() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let definition = try PipelineHarness.simple(interval: 60)
            var runner: PipelineRunner? = try h.runner(definition)
            try h.put((0..<20).map { "r\($0)\n" })
            runner!.step()
            h.faults.inject(.rename, pathContains: "/archive/", fault: Fault(errno: EIO), times: nil)
            h.clock.advance(seconds: 60)
            runner!.step()  // sealed and journaled; publish fails
            #expect(try h.dataFiles().isEmpty)
            #expect(runner!.status.pendingBatches == 1)
            #expect(!runner!.status.healthy)
            runner = nil  // crash
            h.faults.clear()
            // More records after the crash go into a later batch.
            try h.put((20..<30).map { "r\($0)\n" })
            let restarted = try h.runner(definition)
            restarted.step()
            #expect(try h.dataFiles().count == 1)  // the sealed batch, published at start
            h.clock.advance(seconds: 60)
            restarted.step()
            let counts = try delivered(h)
            #expect(counts.count == 30)
            #expect(counts.values.allSatisfy { $0 == 1 })
            #expect(restarted.status.healthy)
        }
    }

    @Test(arguments: [false, true])
    func aLostStagingFileIsRebuiltFromTheStreamUnderTheSameName(parallel: Bool) throws {
        try withTemporaryDirectory { root in
            // Two identical runs; in the second the staging file disappears after the seal.
            var names: [[String]] = []
            var contents: [[[UInt8]]] = []
            for lose in [false, true] {
                let directory = root + "/run-\(lose)"
                try FileSystem.live.createDirectory(directory)
                let h = try PipelineHarness(root: directory, parallelCompression: parallel)
                try h.store.createStream(name: "clicks", shardCount: 2)
                let definition = try PipelineHarness.simple(interval: 60)
                var runner: PipelineRunner? = try h.runner(definition)
                // Interleave two hours so partition membership matters, over several steps.
                h.clock.set(milliseconds: 1_767_229_170_000)  // 00:59:30
                try h.put((0..<10).map { "early\($0)\n" })
                runner!.step()
                h.clock.advance(seconds: 40)  // 01:00:10
                try h.put((0..<10).map { "late\($0)\n" })
                runner!.step()
                try h.put((10..<20).map { "early\($0)\n" })
                runner!.step()
                if lose { h.faults.inject(.rename, pathContains: "/archive/", fault: Fault(errno: EACCES), times: nil) }
                h.clock.advance(seconds: 60)
                runner!.step()
                runner = nil
                if lose {
                    h.faults.clear()
                    let staging = directory + "/data/pipelines/clicks/staging"
                    for name in try FileSystem.live.contentsOfDirectory(staging) { try FileSystem.live.removeFile(staging + "/" + name) }
                }
                let restarted = try h.runner(definition)
                restarted.step()
                let files = try h.archiveFiles()
                names.append(files.keys.sorted())
                contents.append(files.keys.sorted().map { files[$0]! })
                #expect(files.count == 2)
            }
            #expect(names[0] == names[1])
            #expect(contents[0] == contents[1])
        }
    }

    /// An older partition stays open and holds the checkpoint back while a newer one is
    /// published; after a crash the replay must skip exactly the published records.
    @Test func crashAfterPublishBeforeCheckpointSkipsWhatIsPublished() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            h.clock.set(milliseconds: 1_767_229_170_000)  // 00:59:30
            try h.store.createStream(name: "clicks", shardCount: 1)
            let definition = try PipelineHarness.simple(sizeInMBs: 1, interval: 300)
            var runner: PipelineRunner? = try h.runner(definition)
            try h.put(["a0\n"])  // hour 00: stays open, holds the checkpoint
            runner!.step()
            h.clock.advance(seconds: 40)  // 01:00:10
            let pad = String(repeating: "x", count: 1000)
            try h.put((0..<1100).map { "b\($0)-\(pad)\n" })  // hour 01: sealed by size, published
            runner!.step()
            #expect(try h.dataFiles().count == 1)
            #expect(runner!.status.openPartitions == 2)
            runner = nil  // crash: the checkpoint is still before a0
            let restarted = try h.runner(definition)
            restarted.step()
            #expect(restarted.flushAll(reason: .shutdown))
            let counts = try delivered(h)
            #expect(counts.count == 1101)
            #expect(counts.values.allSatisfy { $0 == 1 })
        }
    }

    /// Changing the prefix after an unclean stop must not publish journaled records again.
    @Test func aChangedPrefixAfterACrashDoesNotRepublish() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            h.clock.set(milliseconds: 1_767_229_170_000)  // 00:59:30
            try h.store.createStream(name: "clicks", shardCount: 1)
            var runner: PipelineRunner? = try h.runner(try PipelineHarness.simple(sizeInMBs: 1, interval: 300))
            try h.put(["a0\n"])
            runner!.step()
            h.clock.advance(seconds: 40)
            let pad = String(repeating: "x", count: 1000)
            try h.put((0..<1100).map { "b\($0)-\(pad)\n" })
            runner!.step()
            runner = nil
            let changed = try h.runner(try PipelineHarness.simple(sizeInMBs: 1, interval: 300, prefix: "v2/"))
            #expect(changed.version == 2)
            changed.step()
            #expect(changed.flushAll(reason: .shutdown))
            let counts = try delivered(h)
            #expect(counts.count == 1101)
            #expect(counts.values.allSatisfy { $0 == 1 })
        }
    }

    /// The review's scenario: an overflowing record opens the partition again after a replay,
    /// so a new batch's records interleave with a published batch of the same partition; its
    /// diversion must hold only its own records.
    @Test func aDiversionAfterAReplayHoldsOnlyItsOwnRecords() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            h.clock.set(milliseconds: 1_767_229_190_000)  // 00:59:50
            try h.store.createStream(name: "clicks", shardCount: 1)
            let definition = try PipelineHarness.simple(sizeInMBs: 1, interval: 60, retry: 0, maximumOpenPartitions: 1)
            var runner: PipelineRunner? = try h.runner(definition)
            try h.put(["a0\n"])
            runner!.step()
            h.clock.advance(seconds: 20)  // 01:00:10: over the limit, to error output (open)
            try h.put(["bfirst\n"])
            runner!.step()
            h.clock.advance(seconds: 40)  // hour 00 due
            runner!.step()
            let pad = String(repeating: "x", count: 1000)
            try h.put((0..<1100).map { "b\($0)-\(pad)\n" })  // hour 01: sealed by size, published
            runner!.step()
            runner = nil  // crash: the checkpoint is at bfirst
            h.faults.inject(.createDirectory, pathContains: "/out/clicks/2026/", fault: Fault(errno: EACCES), times: nil)
            let restarted = try h.runner(definition)
            restarted.step()
            h.clock.advance(seconds: 60)
            for _ in 0..<5 {
                restarted.step()
                h.clock.advance(seconds: 60)
            }
            #expect(restarted.flushAll(reason: .shutdown))
            let counts = try delivered(h)
            #expect(counts.count == 1102)
            #expect(counts.filter { $0.value != 1 }.isEmpty)
        }
    }

    /// A rename that worked before its directory sync failed, on the attempt that used up the
    /// retries, must not also send the batch to error output.
    @Test func aFailedDirectorySyncAfterTheRenameIsRetriedNotDiverted() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let runner = try h.runner(try PipelineHarness.simple(interval: 60, retry: 0))
            try h.put(["a\n", "b\n"])
            runner.step()
            h.faults.inject(.sync, pathContains: "/archive/out/clicks/2026/01/01/00", fault: Fault(errno: EIO), after: 1, times: 1)
            h.clock.advance(seconds: 60)
            runner.step()
            h.clock.advance(seconds: 60)
            runner.step()
            #expect(runner.status.pendingBatches == 0)
            let counts = try delivered(h)
            #expect(counts == ["a": 1, "b": 1])
            #expect(try h.errorDocuments().isEmpty)
        }
    }

    /// The same, across a restart while the archive still refuses the sync (found by the crash
    /// soak: the start-up used to fail, so `sluice serve` would not start at all): the pipeline
    /// starts, keeps the batch pending, and publishes it once when the archive recovers.
    @Test func aRestartWhileTheArchiveRefusesTheDirectorySyncStartsAndRetries() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let definition = try PipelineHarness.simple(interval: 60, retry: 0)
            let first = try h.runner(definition)
            try h.put(["a\n", "b\n"])
            first.step()
            let folder = "/archive/out/clicks/2026/01/01/00"
            h.faults.inject(.sync, pathContains: folder, fault: Fault(errno: EIO), after: 1, times: nil)
            h.clock.advance(seconds: 60)
            first.step()
            #expect(first.status.pendingBatches == 1)
            // Crash, and the staging copy is gone too (not needed: the file is in place); the
            // archive still fails every sync of that folder at the restart.
            let staging = root + "/data/pipelines/\(definition.name)/staging"
            for name in try FileManager.default.contentsOfDirectory(atPath: staging) {
                try FileManager.default.removeItem(atPath: staging + "/" + name)
            }
            let second = try h.runner(definition)
            second.step()
            #expect(second.status.pendingBatches == 1)
            #expect(try h.errorDocuments().isEmpty)
            h.faults.clear()
            h.clock.advance(seconds: 60)
            second.step()
            #expect(second.status.pendingBatches == 0)
            #expect(try delivered(h) == ["a": 1, "b": 1])
            #expect(try h.errorDocuments().isEmpty)
        }
    }

    @Test(arguments: [false, true])
    func randomKillPointsNeverLoseOrDoubleARecord(parallel: Bool) throws {
        try withTemporaryDirectory { root in
            var random = SeededRandom(seed: 42)
            let h = try PipelineHarness(root: root, parallelCompression: parallel)
            try h.store.createStream(name: "clicks", shardCount: 3)
            let definition = try PipelineHarness.simple(interval: 60)
            var next = 0
            for _ in 0..<25 {
                let runner = try h.runner(definition)
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    let count = Int.random(in: 1...40, using: &random)
                    try h.put((next..<next + count).map { "r\($0)\n" })
                    next += count
                    if Bool.random(using: &random) { h.clock.advance(seconds: Int64.random(in: 1...70, using: &random)) }
                    if Int.random(in: 0..<5, using: &random) == 0 {
                        h.faults.inject(.rename, pathContains: "/archive/", fault: Fault(errno: EIO), times: 1)
                    }
                    runner.step()
                }
                // Crash at a random point: the runner is dropped without flushing.
            }
            h.faults.clear()
            let last = try h.runner(definition)
            last.step()
            #expect(last.flushAll(reason: .shutdown))
            let counts = try delivered(h)
            #expect(counts.count == next)
            #expect(counts.values.allSatisfy { $0 == 1 })
        }
    }
}

@Suite("Pipeline delivery faults")
struct PipelineFaultTests {
    @Test(arguments: [(EACCES, "Destination.AccessDenied"), (ENOSPC, "Destination.NoSpace"), (EIO, "Destination.IOError")])
    func destinationFailuresRetryThenGoToErrorOutput(errno code: Int32, errorCode: String) throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let runner = try h.runner(try PipelineHarness.simple(interval: 60, retry: 60))
            try h.put(["a\n", "b\n"])
            runner.step()
            // Only the data destination fails (its final rename), not error output.
            h.faults.inject(.write, pathContains: "/out/clicks/2026/", fault: Fault(errno: code), times: nil)
            h.clock.advance(seconds: 60)
            runner.step()
            #expect(runner.status.pendingBatches == 1)
            #expect(runner.status.healthy == false)
            var steps = 0
            while runner.status.pendingBatches > 0 && steps < 100 {
                h.clock.advance(seconds: 5)
                runner.step()
                steps += 1
            }
            #expect(runner.status.pendingBatches == 0)
            #expect(runner.status.counters.retries >= 3)
            #expect(try h.dataFiles().isEmpty)
            let documents = try h.errorDocuments()
            #expect(documents.count == 2)
            #expect(documents.allSatisfy { $0["errorCode"] as? String == errorCode })
            #expect(Set(documents.compactMap { $0["rawData"] as? String }) == ["YQo=", "Ygo="])
            #expect(documents.allSatisfy { ($0["attemptsMade"] as? Int ?? 0) >= 2 })
            let paths = try h.archiveFiles().keys
            #expect(paths.allSatisfy { $0.hasPrefix("out/clicks/delivery-failed/2026/01/01/00/") })
            #expect(runner.status.counters.errorRecords["delivery-failed"] == 2)
            runner.step()
            #expect(runner.status.healthy)
        }
    }

    @Test func recoveryWithinTheRetryWindowDeliversNormally() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let runner = try h.runner(try PipelineHarness.simple(interval: 60, retry: 300))
            try h.put(["a\n"])
            runner.step()
            h.faults.inject(.createDirectory, pathContains: "/archive", fault: Fault(errno: EACCES), times: 3)
            h.clock.advance(seconds: 60)
            for _ in 0..<10 {
                runner.step()
                h.clock.advance(seconds: 30)
            }
            #expect(try h.dataFiles().values.first == Array("a\n".utf8))
            #expect(try h.errorDocuments().isEmpty)
            #expect(runner.status.healthy)
        }
    }

    @Test func whenErrorOutputFailsTooTheDataStaysAndThePipelineIsUnhealthy() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let runner = try h.runner(try PipelineHarness.simple(interval: 60, retry: 0))
            try h.put(["a\n"])
            runner.step()
            h.faults.inject(.createDirectory, pathContains: "/archive", fault: Fault(errno: ENOSPC), times: nil)
            h.clock.advance(seconds: 60)
            for _ in 0..<5 {
                runner.step()
                h.clock.advance(seconds: 120)
            }
            #expect(!runner.status.healthy)
            #expect(runner.status.problem?.contains("error output") == true)
            #expect(runner.status.oldestUndeliveredArrival != nil)
            // More records wait in the stream (reading pauses while publishing fails).
            try h.put(["b\n"])
            runner.step()
            #expect(runner.status.bufferedRecords == 0)
            h.faults.clear()
            h.clock.advance(seconds: 120)
            runner.step()
            runner.step()
            h.clock.advance(seconds: 60)
            runner.step()
            #expect(runner.status.healthy)
            let documents = try h.errorDocuments()
            #expect(documents.count == 1)
            #expect(try h.dataFiles().values.first == Array("b\n".utf8))
        }
    }

    @Test func aDamagedJournalLineIsAClearError() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let definition = try PipelineHarness.simple(interval: 60)
            _ = try h.runner(definition)
            let journal = root + "/data/pipelines/clicks/journal"
            var bytes = try FileSystem.live.readFile(journal)
            bytes = Array("garbage\n".utf8) + bytes
            try FileSystem.live.writeAtomically(bytes, to: journal)
            #expect {
                _ = try h.runner(definition)
            } throws: { error in
                "\(error)".contains("damaged at line 1")
            }
        }
    }

    @Test func aTornLastJournalLineIsIgnored() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let definition = try PipelineHarness.simple(interval: 60)
            _ = try h.runner(definition)
            let journal = root + "/data/pipelines/clicks/journal"
            let bytes = try FileSystem.live.readFile(journal) + Array("{\"type\":\"seal".utf8)
            try FileSystem.live.writeAtomically(bytes, to: journal)
            let runner = try h.runner(definition)
            try h.put(["a\n"])
            runner.step()
            #expect(runner.flushAll(reason: .shutdown))
            #expect(try h.dataFiles().count == 1)
        }
    }
}

@Suite("Pipeline path layout")
struct PipelineLayoutGoldenTests {
    /// Published paths and their decompressed content for a fixed scenario: a custom prefix
    /// with a time zone and a random string, hours crossing, and partition overflow.
    @Test func pathLayoutMatchesTheGoldenFile() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            h.clock.set(milliseconds: 1_767_243_540_000)  // 2026-01-01T04:59:00Z = 23:59 on Dec 31 in New York
            try h.store.createStream(name: "clicks", shardCount: 2)
            let definition = try PipelineHarness.definition(
                """
                {"name": "clicks", "source": {"stream": "clicks"}, "buffering": {"sizeInMBs": 1, "intervalInSeconds": 300},
                 "maximumOpenPartitions": 2,
                 "destination": {"directory": "golden", "timeZone": "America/New_York",
                   "prefix": "logs/!{timestamp:yyyy-MM-dd}/!{timestamp:HH-mm}/r=!{firehose:random-string}/",
                   "errorOutputPrefix": "errors/!{firehose:error-output-type}/!{timestamp:yyyy}/"}}
                """)
            let runner = try h.runner(definition)
            try h.put((0..<4).map { "a\($0)\n" })
            runner.step()
            h.clock.advance(seconds: 90)  // 00:00:30 local on Jan 1: a second partition
            try h.put((0..<4).map { "b\($0)\n" })
            runner.step()
            h.clock.advance(seconds: 70)  // 00:01:40: a third partition, over the limit of 2 while two are open
            try h.put((0..<2).map { "c\($0)\n" })
            runner.step()
            #expect(runner.flushAll(reason: .shutdown))
            let files = try h.archiveFiles()
            var listing = ""
            for path in files.keys.sorted() {
                let content = String(decoding: files[path]!, as: UTF8.self)
                let shown = path.contains("/errors/")
                    ? content.split(separator: "\n").map { line in
                        let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                        return "  \(object?["errorCode"] ?? "?") \(object?["rawData"] ?? "?")"
                    }.joined(separator: "\n")
                    : content.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")
                listing += path + "\n" + shown + "\n"
            }
            if let mismatch = goldenMismatch(listing, named: "pipelines/path-layout.txt") {
                Issue.record(Comment(rawValue: mismatch))
            }
        }
    }
}

@Suite("Pipeline manager")
struct PipelineManagerTests {
    @Test func aMissingSourceStreamIsAClearErrorUnlessThePipelineCreatesIt() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            let missing = try PipelineHarness.simple(stream: "nowhere")
            #expect {
                _ = try PipelineManager(definitions: [missing], context: h.context)
            } throws: { error in
                "\(error)"
                    == #"Pipelines/test.json: /source/stream: stream "nowhere" does not exist; create it with "sluice streams create nowhere" or set "createIfMissing": true"#
            }
            let creating = try PipelineHarness.definition(
                #"{"name": "made", "source": {"stream": "made", "createIfMissing": true, "shardCount": 3}, "destination": {"directory": "made"}}"#)
            let direct = try PipelineHarness.definition(
                #"{"name": "orders", "source": {"directPut": {"shardCount": 2}}, "destination": {"directory": "orders"}}"#)
            let manager = try PipelineManager(definitions: [direct, creating], context: h.context)
            #expect(try h.store.listShards(name: "made").count == 3)
            #expect(try h.store.listShards(name: "firehose-orders").count == 2)
            #expect(manager.runners.map(\.definition.name) == ["made", "orders"])
            manager.shutdown()
        }
    }

    @Test func threadsDeliverAndShutdownFlushesWithReasonShutdown() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            let definition = try PipelineHarness.definition(
                #"{"name": "orders", "source": {"directPut": {"shardCount": 1}}, "destination": {"directory": "orders", "compression": "none"}}"#)
            let manager = try PipelineManager(definitions: [definition], context: h.context)
            manager.start()
            try h.put(["a\n", "b\n"], stream: "firehose-orders")
            #expect(manager.flush(name: "orders", timeoutMilliseconds: 10_000))
            #expect(manager.runners[0].status.counters.flushes[.onDemand] == 1)
            try h.put(["c\n"], stream: "firehose-orders")
            // Wait (bounded) until the thread has read it, then shut down.
            let deadline = Date().addingTimeInterval(10)
            while manager.runners[0].status.bufferedRecords < 1 && Date() < deadline { usleep(5_000) }
            manager.shutdown()
            #expect(manager.runners[0].status.counters.flushes[.shutdown] == 1)
            let all = try h.archiveFiles(gzip: false).values.map { String(decoding: $0, as: UTF8.self) }.sorted()
            #expect(all == ["a\nb\n", "c\n"])
            #expect(!manager.flush(name: "nope", timeoutMilliseconds: 10))
        }
    }
}
