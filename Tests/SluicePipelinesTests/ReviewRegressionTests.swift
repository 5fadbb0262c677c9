import Foundation
import SluicePipelines
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// Throws for any batch holding a record that starts with "poison".
private struct Poison: RecordProcessor {
    func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        if batch.contains(where: { $0.data.starts(with: Array("poison".utf8)) }) {
            throw ProcessorFailure(code: "Lambda.FunctionError", "crashes on poison")
        }
        return batch.map { ProcessorResult(recordID: $0.recordID, verdict: .ok(data: $0.data, partitionKeys: [:])) }
    }
}

/// `a|b` splits; each part gets partition key k = its first character.
private struct SplitAndKey: RecordProcessor {
    func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        batch.map { record in
            let text = String(decoding: record.data, as: UTF8.self).trimmingCharacters(in: .newlines)
            let parts = text.split(separator: "|").map { (data: Array(($0 + "\n").utf8), partitionKey: record.partitionKey) }
            return ProcessorResult(recordID: record.recordID, verdict: .split(parts))
        }
    }
}

private struct KeyFromFirstChar: RecordProcessor {
    func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        batch.map { record in
            let first = String(decoding: record.data.prefix(1), as: UTF8.self)
            return ProcessorResult(recordID: record.recordID, verdict: .ok(data: record.data, partitionKeys: ["k": first]))
        }
    }
}

/// Sets partition key k to the text before ";".
private struct KeyBeforeSemicolon: RecordProcessor {
    func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        batch.map { record in
            let text = String(decoding: record.data, as: UTF8.self)
            let key = String(text.prefix { $0 != ";" })
            return ProcessorResult(recordID: record.recordID, verdict: .ok(data: record.data, partitionKeys: ["k": key]))
        }
    }
}

private struct AlwaysThrow: RecordProcessor {
    func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        if batch.isEmpty { return [] }
        throw ProcessorFailure(code: "Lambda.FunctionError", "plugin down")
    }
}

private struct Pass: RecordProcessor {
    func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        batch.map { ProcessorResult(recordID: $0.recordID, verdict: .ok(data: $0.data, partitionKeys: [:])) }
    }
}

private struct Wrap2: RecordProcessor {
    func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        batch.map {
            let text = String(decoding: $0.data, as: UTF8.self).trimmingCharacters(in: .newlines)
            return ProcessorResult(recordID: $0.recordID, verdict: .ok(data: Array("{\"wrapped\":\"\(text)\"}\n".utf8), partitionKeys: [:]))
        }
    }
}

private struct FailNonJSON: RecordProcessor {
    func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        batch.map {
            $0.data.first == UInt8(ascii: "{")
                ? ProcessorResult(recordID: $0.recordID, verdict: .ok(data: $0.data, partitionKeys: [:]))
                : ProcessorResult(recordID: $0.recordID, verdict: .processingFailed(code: "Test.NotJSON", message: "not JSON"))
        }
    }
}

@Suite("Review regressions: runner and replay")
struct ReviewRegressionTests {
    /// A poison batch on one shard of a two-shard stream: retries must run out after
    /// retry.durationInSeconds and the record must reach processing-failed error output.
    @Test(arguments: [1, 2])
    func poisonBatchEventuallyGoesToErrorOutput(shards: Int) throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: shards)
            let runner = try h.runner(try PipelineHarness.simple(interval: 60, compression: "none", retry: 300), processors: [Poison()])
            try h.put(["poison\n"])
            for _ in 0..<1000 {
                h.clock.advance(seconds: 2)
                runner.step()
            }
            h.clock.advance(seconds: 61)
            runner.step()
            let documents = try h.errorDocuments()
            #expect(documents.count == 1)
        }
    }

    /// A split record whose first output was published before a crash, while the second was
    /// in an open buffer; after the restart the processors fail the whole batch until the retry
    /// duration is spent. The second output must still end up somewhere.
    @Test func splitRecordPartiallyJournaledThenBatchFailureLosesOutputs() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let definition = try PipelineHarness.simple(
                interval: 60, prefix: "p=!{partitionKeyFromLambda:k}/", errorPrefix: "errors/!{firehose:error-output-type}/",
                compression: "none", retry: 0)
            var runner: PipelineRunner? = try h.runner(definition, processors: [SplitAndKey(), KeyFromFirstChar()])
            try h.put(["x0\n"])
            runner!.step()  // buffer p=x opens now
            h.clock.advance(seconds: 30)
            try h.put(["x1|y1\n"])
            runner!.step()  // x1 -> p=x, y1 -> p=y (opens now)
            h.clock.advance(seconds: 30)
            runner!.step()  // p=x is due: sealed and published with (R2, sub 0); p=y is open
            _ = try h.archiveFiles(gzip: false)
            runner = nil  // crash: p=y's buffer (y1) is lost
            // After the restart the external processor fails whole batches.
            let restarted = try h.runner(definition, processors: [SplitAndKey(), AlwaysThrow()])
            for _ in 0..<3 {
                h.clock.advance(seconds: 61)
                restarted.step()
            }
            _ = restarted.flushAll(reason: .shutdown)
            let after = try h.archiveFiles(gzip: false)
            let everything = after.values.map { String(decoding: $0, as: UTF8.self) }.joined()
            let y1Base64 = Data("y1\n".utf8).base64EncodedString()
            let x1y1Base64 = Data("x1|y1\n".utf8).base64EncodedString()
            #expect(everything.contains("y1") || everything.contains(y1Base64) || everything.contains(x1y1Base64), "y1 is in no file")
        }
    }

    /// A 250-byte partition value passes the value checks, but the folder name is over NAME_MAX.
    @Test func longPartitionValueStallsThePipelineAndIsDiverted() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let definition = try PipelineHarness.simple(
                interval: 60, prefix: "customer=!{partitionKeyFromLambda:k}/", errorPrefix: "errors/!{firehose:error-output-type}/",
                compression: "none", retry: 30)
            let runner = try h.runner(definition, processors: [KeyBeforeSemicolon()])
            let long = String(repeating: "a", count: 250)
            try h.put(["\(long);1\n", "good;2\n"])
            runner.step()
            h.clock.advance(seconds: 60)
            runner.step()
            try h.put(["good;3\n"])
            for _ in 0..<3 {
                h.clock.advance(seconds: 5)
                runner.step()
            }
            for _ in 0..<10 {
                h.clock.advance(seconds: 61)
                runner.step()
            }
            let files = try h.archiveFiles(gzip: false).keys.sorted()
            let documents = try h.errorDocuments()
            // The record whose folder name would be too long goes to partitioning-failed at once;
            // nothing stalls and nothing is diverted to delivery-failed.
            #expect(documents.count == 1)
            #expect(documents.first?["errorCode"] as? String == "DynamicPartitioning.PrefixEvaluationFailed")
            #expect(files.filter { $0.hasPrefix("out/clicks/customer=good/") }.count >= 1)
        }
    }

    /// Two replays of one error file, split by --until inside one second: both halves must be published.
    @Test func replaySplitByUntilWithinOneSecondLosesTheSecondHalf() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let definition = try PipelineHarness.simple(interval: 60)
            let runner = try h.runner(definition, processors: [FailNonJSON()])
            let t0 = h.clock.now()
            try h.put(["bad0\n"])
            h.clock.advance(milliseconds: 100)
            try h.put(["bad1\n"])
            runner.step()
            h.clock.advance(seconds: 60)
            runner.step()
            #expect(try h.errorDocuments().count == 2)
            func replayer() throws -> Replayer {
                try Replayer(
                    definition: definition, archiveRoot: h.archive, stateRoot: h.root + "/data/pipelines", fileSystem: FileSystem(faults: h.faults),
                    clock: h.clock, processors: ProcessorChain([Wrap2()]))
            }
            let first = try replayer().run(ReplayOptions(until: t0.adding(milliseconds: 50)))
            let second = try replayer().run(ReplayOptions())
            var wrapped: [String] = []
            for (path, bytes) in try h.archiveFiles() where !path.contains("failed") {
                for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.contains("wrapped") { wrapped.append(String(line)) }
            }
            #expect(second.replayed + first.replayed == 2)
            #expect(wrapped.count == 2, "the second replay claimed bad1 but its file name already existed")
        }
    }

    /// A data partition whose value contains an error-output type makes replay read data files.
    @Test func replayTreatsDataFolderNamedLikeAnErrorTypeAsErrorOutput() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let definition = try PipelineHarness.simple(
                interval: 60, prefix: "c=!{partitionKeyFromLambda:k}/", errorPrefix: "errors/!{firehose:error-output-type}/", compression: "none")
            let runner = try h.runner(definition, processors: [KeyBeforeSemicolon()])
            try h.put(["processing-failed-inc;hello\n"])
            runner.step()
            h.clock.advance(seconds: 60)
            runner.step()
            let replayer = try Replayer(
                definition: definition, archiveRoot: h.archive, stateRoot: h.root + "/data/pipelines", fileSystem: FileSystem(faults: h.faults),
                clock: h.clock, processors: ProcessorChain([Pass()]))
            do {
                _ = try replayer.run(ReplayOptions())
            } catch {
                Issue.record("replay failed on a data file: \(error)")
            }
        }
    }
}

@Suite("Review regressions: exec")
struct ReviewRegressionExecTests {
    /// A batch-mode plugin that answers, exits 0 and leaves a background child in its group.
    @Test func batchModeLeavesBackgroundChildrenRunning() throws {
        let response = #"{"records":[{"recordId":"r0","result":"Dropped","data":""}]}"#
        let command = "sh -c 'cat >/dev/null; (sleep 987 </dev/null >/dev/null 2>&1 &); printf %s \"$0\"' '\(response)'"
        let processor = try ExecProcessor(
            parameters: ["command": command, "timeoutInSeconds": "5"], environment: .validation(pipelineName: "t"))
        let record = ProcessorRecord(
            recordID: "r0", data: Array("x".utf8), approximateArrival: Timestamp(milliseconds: 0), sourceStream: "s",
            shardID: "shardId-000000000000", sequenceNumber: "1", partitionKey: "p")
        let results = try processor.process([record])
        #expect(results.count == 1)
        Thread.sleep(forTimeInterval: 0.3)
        let pgrep = Process()
        pgrep.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
        pgrep.arguments = ["-f", "^sleep 987$"]
        let pipe = Pipe()
        pgrep.standardOutput = pipe
        try pgrep.run()
        pgrep.waitUntilExit()
        let pids = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(separator: "\n").compactMap { Int32($0) }
        for pid in pids { kill(pid, SIGKILL) }  // clean up what this test started
        #expect(pids.isEmpty, "a background child of the plugin outlived the invocation")
    }
}

private struct KeyProcessingFailed: RecordProcessor {
    func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        batch.map { ProcessorResult(recordID: $0.recordID, verdict: .ok(data: $0.data, partitionKeys: ["k": "processing-failed"])) }
    }
}

@Suite("Review regressions: hostile documents")
struct ReviewRegressionHostileTests {
    /// A producer's record lands in a data folder named like an error type; replay reads it as an
    /// error document and overflows on attemptsMade + 1.
    @Test(arguments: ["arrival"])
    func hostileRecordCrashesReplay(which: String) throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let definition = try PipelineHarness.simple(
                interval: 60, prefix: "c=!{partitionKeyFromLambda:k}/", errorPrefix: "errors/!{firehose:error-output-type}/", compression: "none")
            let runner = try h.runner(definition, processors: [KeyProcessingFailed()])
            let line = which == "attempts"
                ? #"{"rawData":"eA==","attemptsMade":9223372036854775807}"#
                : #"{"rawData":"eA==","arrivalTimestamp":9223372036854775807}"#
            try h.put([line + "\n"])
            runner.step()
            h.clock.advance(seconds: 60)
            runner.step()
            let replayer = try Replayer(
                definition: definition, archiveRoot: h.archive, stateRoot: h.root + "/data/pipelines", fileSystem: FileSystem(faults: h.faults),
                clock: h.clock, processors: ProcessorChain(which == "attempts" ? [FailNonJSON()] : [Pass()]))
            _ = try replayer.run(ReplayOptions())
        }
    }
}

/// Fails every batch that holds a record starting with "poison"; passes the others. Never splits.
private struct FailsOnPoison: RecordProcessor {
    var maySplit: Bool { false }
    func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        if batch.contains(where: { $0.data.starts(with: Array("poison".utf8)) }) {
            throw ProcessorFailure(code: "Lambda.FunctionError", "the plugin crashed")
        }
        return batch.map { ProcessorResult(recordID: $0.recordID, verdict: .ok(data: $0.data, partitionKeys: [:])) }
    }
}

@Suite("Crash soak regressions")
struct CrashSoakRegressionTests {
    /// Found by the crash soak: a record whose batch failed processing went to error output and
    /// was published, the server was killed while an older buffer (so the checkpoint) was still
    /// open, and after the restart the re-read batch failed again: the record, already in a
    /// published error file, went to error output a second time.
    @Test func aFailedBatchDeliveredBeforeAKillIsNotDeliveredAgain() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let definition = try PipelineHarness.simple(sizeInMBs: 1, interval: 60, errorPrefix: "errors/", retry: 0)
            let first = try h.runner(definition, processors: [FailsOnPoison()])
            try h.put(["a\n"])
            first.step()  // "a" waits in an open data buffer: the checkpoint stays before it
            let poison = "poison " + String(repeating: "p", count: 800_000) + "\n"
            try h.put([poison])
            first.step()
            first.step()
            // The error document (more than 1 MB with its base64) was sealed by size and published.
            #expect(try h.errorDocuments().count == 1)
            #expect(first.status.bufferedRecords == 1)
            // Kill: the next runner reads both records again.
            let second = try h.runner(definition, processors: [FailsOnPoison()])
            second.step()
            second.step()
            #expect(second.flushAll(reason: .shutdown))
            // Re-read together, "a" now fails with the poison's batch (Firehose fails whole
            // batches); each record is delivered once, somewhere.
            let raw = try h.errorDocuments().map { document in
                String(decoding: Data(base64Encoded: document["rawData"] as? String ?? "") ?? Data(), as: UTF8.self)
            }
            #expect(raw.filter { $0 == poison }.count == 1, "the poison record is in error output \(raw.filter { $0 == poison }.count) times")
            let delivered = try h.dataFiles().values.map { String(decoding: $0, as: UTF8.self) }.joined()
            #expect((delivered == "a\n" ? 1 : 0) + raw.filter { $0 == "a\n" }.count == 1)
        }
    }
}
