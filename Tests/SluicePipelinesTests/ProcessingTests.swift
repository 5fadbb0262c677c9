import Foundation
import SluicePipelines
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Synchronization
import Testing

/// Test processors with simple, visible rules.
private struct Uppercase: RecordProcessor {
    func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        batch.map { ProcessorResult(recordID: $0.recordID, verdict: .ok(data: Array(String(decoding: $0.data, as: UTF8.self).uppercased().utf8), partitionKeys: [:])) }
    }
}

/// `#…` is dropped, `!…` fails, `a|b|c` splits, `k=V;…` sets partition key `k` to V.
private struct Rules: RecordProcessor {
    func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        batch.map { record in
            let text = String(decoding: record.data, as: UTF8.self)
            if text.hasPrefix("#") { return ProcessorResult(recordID: record.recordID, verdict: .dropped) }
            if text.hasPrefix("!") { return ProcessorResult(recordID: record.recordID, verdict: .processingFailed(code: "Test.Bang", message: "starts with !")) }
            if text.contains("|") {
                let body = text.hasSuffix("\n") ? String(text.dropLast()) : text
                let parts = body.split(separator: "|", omittingEmptySubsequences: false).map { (data: Array(($0 + "\n").utf8), partitionKey: record.partitionKey) }
                return ProcessorResult(recordID: record.recordID, verdict: .split(parts))
            }
            if text.hasPrefix("k="), let end = text.firstIndex(of: ";") {
                let value = String(text[text.index(text.startIndex, offsetBy: 2)..<end])
                return ProcessorResult(recordID: record.recordID, verdict: .ok(data: record.data, partitionKeys: ["k": value]))
            }
            return ProcessorResult(recordID: record.recordID, verdict: .ok(data: record.data, partitionKeys: [:]))
        }
    }
}

/// Answers wrongly, as a broken external processor might.
struct Broken: RecordProcessor {
    enum Mode { case missing, duplicated, unknown, throwing }
    let mode: Mode
    func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        let ok = batch.map { ProcessorResult(recordID: $0.recordID, verdict: .ok(data: $0.data, partitionKeys: [:])) }
        switch mode {
        case .missing: return Array(ok.dropLast())
        case .duplicated: return ok + [ok[0]]
        case .unknown: return Array(ok.dropLast()) + [ProcessorResult(recordID: "nope", verdict: .dropped)]
        case .throwing: throw ProcessorFailure(code: "Lambda.FunctionError", "it crashed")
        }
    }
}

private func records(_ texts: [String]) -> [ProcessorRecord] {
    texts.enumerated().map {
        ProcessorRecord(
            recordID: "r\($0.offset)", data: Array($0.element.utf8), approximateArrival: Timestamp(milliseconds: 0), sourceStream: "s",
            shardID: "shardId-000000000000", sequenceNumber: "1", partitionKey: "pk")
    }
}

@Suite("Processor chain")
struct ProcessorChainTests {
    @Test func verdictsFlowThroughTheChainInOrder() {
        let chain = ProcessorChain([Rules(), Uppercase()])
        let outputs = chain.run(records(["a\n", "#skip\n", "!bad\n", "x|y\n"]))
        #expect(outputs.count == 4)
        #expect(outputs[0] == [ProcessorChain.Output(outcome: .ok(data: Array("A\n".utf8), partitionKeys: [:]), raw: Array("a\n".utf8))])
        #expect(outputs[1].map(\.outcome) == [.dropped])
        #expect(outputs[2].map(\.outcome) == [.failed(code: "Test.Bang", message: "starts with !")])
        #expect(outputs[2][0].raw == Array("!bad\n".utf8))
        // A split record's parts each continue through the later processors, in order.
        #expect(outputs[3].map(\.outcome) == [.ok(data: Array("X\n".utf8), partitionKeys: [:]), .ok(data: Array("Y\n".utf8), partitionKeys: [:])])
        #expect(outputs[3].map(\.raw) == [Array("x\n".utf8), Array("y\n".utf8)])
    }

    @Test(arguments: [
        (Broken.Mode.missing, "Lambda.MissingRecordId"), (.duplicated, "Lambda.DuplicatedRecordId"), (.unknown, "Lambda.MissingRecordId"),
        (.throwing, "Lambda.FunctionError"),
    ])
    func aBrokenAnswerFailsTheWholeBatch(mode: Broken.Mode, code: String) {
        let outputs = ProcessorChain([Broken(mode: mode)]).run(records(["a", "b", "c"]))
        for output in outputs {
            guard case .failed(let got, _) = output[0].outcome else {
                Issue.record("expected a failure, got \(output)")
                continue
            }
            #expect(got == code)
        }
    }
}

@Suite("Pipeline processing")
struct PipelineProcessingTests {
    @Test func droppedFailedAndSplitRecordsEachEndUpInTheRightPlace() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let runner = try h.runner(try PipelineHarness.simple(interval: 60, compression: "none"), processors: [Rules(), Uppercase()])
            let sequences = try h.put(["a\n", "#skip\n", "!bad\n", "x|y\n"])
            runner.step()
            h.clock.advance(seconds: 60)
            runner.step()
            let data = try h.archiveFiles(gzip: false).filter { !$0.key.contains("failed") }
            #expect(data.values.map { String(decoding: $0, as: UTF8.self) } == ["A\nX\nY\n"])
            let documents = try h.errorDocuments()
            #expect(documents.count == 1)
            #expect(documents.first?["errorCode"] as? String == "Test.Bang")
            #expect(documents.first?["errorMessage"] as? String == "starts with !")
            #expect(documents.first?["rawData"] as? String == Data("!bad\n".utf8).base64EncodedString())
            #expect(documents.first?["sequenceNumber"] as? String == sequences[2].description)
            #expect(try h.archiveFiles(gzip: false).keys.contains { $0.hasPrefix("out/clicks/processing-failed/2026/01/01/00/") })
            #expect(runner.status.counters.droppedRecords == 1)
            #expect(runner.status.counters.errorRecords["processing-failed"] == 1)
            #expect(runner.status.counters.recordsPublished == 3)
        }
    }

    @Test func partitionKeysFromProcessorsChooseTheFolderAndHostileValuesGoToErrorOutput() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let definition = try PipelineHarness.simple(
                interval: 60, prefix: "k=!{partitionKeyFromLambda:k}/", errorPrefix: "errors/!{firehose:error-output-type}/", compression: "none")
            let runner = try h.runner(definition, processors: [Rules()])
            let long = String(repeating: "z", count: 300)
            try h.put(["k=red;1\n", "k=blue;2\n", "k=red;3\n", "k=..;4\n", "k=a/b;5\n", "k=;6\n", "k=\(long);7\n", "nokey\n", "k=\u{1};8\n"])
            runner.step()
            h.clock.advance(seconds: 60)
            runner.step()
            #expect(runner.status.problem == nil)
            let files = try h.archiveFiles(gzip: false)
            let red = files.filter { $0.key.hasPrefix("out/clicks/k=red/") }.values.map { String(decoding: $0, as: UTF8.self) }
            let blue = files.filter { $0.key.hasPrefix("out/clicks/k=blue/") }.values.map { String(decoding: $0, as: UTF8.self) }
            #expect(red == ["k=red;1\nk=red;3\n"])
            #expect(blue == ["k=blue;2\n"])
            // Nothing outside the pipeline's directory, and no folder named by a hostile value.
            #expect(files.keys.allSatisfy { $0.hasPrefix("out/clicks/k=red/") || $0.hasPrefix("out/clicks/k=blue/") || $0.hasPrefix("out/clicks/errors/partitioning-failed/") })
            let documents = try h.errorDocuments()
            #expect(documents.count == 6)
            let codes = Set(documents.compactMap { $0["errorCode"] as? String })
            #expect(codes == ["DynamicPartitioning.InvalidPartitionKey", "DynamicPartitioning.PrefixEvaluationFailed"])
        }
    }

    @Test(arguments: [false, true])
    func splitOutputsStayExactlyOnceAcrossACrashAndRebuildIdentically(loseStaging: Bool) throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let definition = try PipelineHarness.simple(
                sizeInMBs: 1, interval: 300, prefix: "k=!{partitionKeyFromLambda:k}/", errorPrefix: "errors/!{firehose:error-output-type}/")
            /// Splits every record in two; the halves go to different partitions.
            struct Halves: RecordProcessor {
                func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
                    batch.map {
                        ProcessorResult(recordID: $0.recordID, verdict: .split([(Array("k=left;".utf8) + $0.data, "l"), (Array("k=right;".utf8) + $0.data, "r")]))
                    }
                }
            }
            var runner: PipelineRunner? = try h.runner(definition, processors: [Halves(), Rules()])
            let pad = String(repeating: "p", count: 1000)
            try h.put((0..<1100).map { "\($0)-\(pad)\n" })  // each half: over 1 MiB, so both seal by size
            runner!.step()
            let published = try h.archiveFiles()
            #expect(published.count == 2)
            if loseStaging { h.faults.inject(.rename, pathContains: "/archive/", fault: Fault(errno: EIO), times: nil) }
            try h.put((1100..<1200).map { "\($0)-\(pad)\n" })
            runner!.step()
            runner = nil  // crash: left and right of 1100..<1200 are open (not journaled)
            h.faults.clear()
            let restarted = try h.runner(definition, processors: [Halves(), Rules()])
            restarted.step()
            #expect(restarted.flushAll(reason: .shutdown))
            var counts: [String: Int] = [:]
            for bytes in try h.archiveFiles().values {
                for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") { counts[String(line.prefix(14)), default: 0] += 1 }
            }
            #expect(counts.values.allSatisfy { $0 == 1 })
            #expect(counts.count == 2400)
            // The first two files are unchanged.
            let now = try h.archiveFiles()
            for (name, bytes) in published { #expect(now[name] == bytes) }
        }
    }
}

/// Fails whole batches `failures` times (or the calls listed in `failingCalls`, counted from 1),
/// else passes records through; remembers the first record of every batch it was given.
/// Thread-safe: the pipeline runs processors on a thread of their own.
private final class Flaky: RecordProcessor, Sendable {
    private let state: Mutex<(failures: Int, calls: Int, firsts: [String])>
    private let failingCalls: Set<Int>
    init(failures: Int, failingCalls: Set<Int> = []) {
        state = Mutex((failures, 0, []))
        self.failingCalls = failingCalls
    }
    var calls: Int { state.withLock { $0.calls } }
    var firsts: [String] { state.withLock { $0.firsts } }
    func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        let fail = state.withLock { state in
            state.calls += 1
            state.firsts.append(String(decoding: batch.first?.data ?? [], as: UTF8.self))
            if failingCalls.contains(state.calls) { return true }
            guard state.failures > 0 else { return false }
            state.failures -= 1
            return true
        }
        if fail { throw ProcessorFailure(code: "Lambda.FunctionError", "exit status 3") }
        return batch.map { ProcessorResult(recordID: $0.recordID, verdict: .ok(data: $0.data, partitionKeys: [:])) }
    }
}

@Suite("Pipeline processing retries")
struct PipelineProcessingRetryTests {
    @Test func aFailingBatchIsRetriedWithBackoffAndThenDelivered() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let flaky = Flaky(failures: 2)
            let runner = try h.runner(try PipelineHarness.simple(interval: 60, compression: "none", retry: 300), processors: [flaky])
            try h.put(["a\n", "b\n"])
            let arrival = h.clock.now()
            #expect(!runner.status.caughtUp)
            runner.step()
            #expect(flaky.calls == 1)
            #expect(!runner.status.healthy)
            #expect(runner.status.bufferedRecords == 0)
            // The failed batch is behind: not caught up, and its records count for freshness
            // (a pipeline stuck on a failing batch must not look idle to a flush or to metrics).
            #expect(!runner.status.caughtUp)
            #expect(runner.status.oldestUndeliveredArrival == arrival)
            runner.step()  // not due yet: no new attempt
            #expect(flaky.calls == 1)
            for _ in 0..<4 {
                h.clock.advance(seconds: 5)
                runner.step()
            }
            #expect(flaky.calls == 3)
            #expect(runner.status.bufferedRecords == 2)
            #expect(runner.status.healthy)
            #expect(runner.status.caughtUp)
            h.clock.advance(seconds: 60)
            runner.step()
            #expect(try h.archiveFiles(gzip: false).values.map { String(decoding: $0, as: UTF8.self) } == ["a\nb\n"])
            #expect(try h.errorDocuments().isEmpty)
        }
    }

    /// With a backlog, the next read of a shard is processed while the previous one is routed;
    /// a failure drops the batch read ahead, and everything still arrives once, in order.
    @Test func aBacklogIsProcessedAheadAndDeliveredOnceInOrderThroughAFailure() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let flaky = Flaky(failures: 0, failingCalls: [3])
            let runner = try h.runner(try PipelineHarness.simple(interval: 60, compression: "none", retry: 300), processors: [flaky])
            let lines = (0..<4500).map { String(format: "%05d\n", $0) }
            try h.put(lines)
            for _ in 0..<20 {
                runner.step()
                h.clock.advance(seconds: 5)
            }
            #expect(runner.status.caughtUp)
            #expect(runner.flushAll(reason: .shutdown))
            let published = try h.archiveFiles(gzip: false).sorted { $0.key < $1.key }.map { String(decoding: $0.value, as: UTF8.self) }
            #expect(published.joined() == lines.joined())
            #expect(try h.errorDocuments().isEmpty)
            // Reads of 1000: the third batch (read ahead while the second was routed) failed and was
            // read again after its retry; the batch read ahead of it never reached the processor
            // before that retry (it was dropped unprocessed and read again).
            #expect(flaky.firsts.prefix(3) == ["00000\n", "01000\n", "02000\n"])
            #expect(flaky.firsts.filter { $0 == "02000\n" }.count == 2)
            #expect(flaky.firsts.filter { $0 == "03000\n" }.count == 1)  // not processed before the batch before it
            #expect(flaky.firsts.last == "04000\n")
        }
    }

    /// A restart does not start a failing batch's retry time over: with restarts more frequent
    /// than retry.durationInSeconds, a batch that always fails still reaches error output.
    /// The pipeline's `processing-retries` file.
    private static func retryMarks(_ root: String) throws -> String {
        try String(contentsOfFile: root + "/data/pipelines/clicks/processing-retries", encoding: .utf8)
    }

    /// A one-shard pipeline holding records a and b, whose processor fails every batch.
    private static func failingPipeline(_ root: String, retry: Int) throws -> (PipelineHarness, PipelineDefinition, PipelineRunner) {
        let h = try PipelineHarness(root: root)
        try h.store.createStream(name: "clicks", shardCount: 1)
        let definition = try PipelineHarness.simple(interval: 60, compression: "none", retry: retry)
        try h.put(["a\n", "b\n"])
        return (h, definition, try h.runner(definition, processors: [Flaky(failures: 100)]))
    }

    @Test func aRestartKeepsAFailingBatchsRetryTime() throws {
        try withTemporaryDirectory { root in
            let (h, definition, first) = try Self.failingPipeline(root, retry: 10)
            var runner = first
            runner.step()  // t = 0: the first failure
            for _ in 0..<3 {
                // A restart every 4 s: each new runner's first attempt fails again.
                h.clock.advance(seconds: 4)
                runner.close()
                runner = try h.runner(definition, processors: [Flaky(failures: 100)])
                runner.step()
            }
            // t = 12 > 10 s after the first failure: the batch went to error output, with every
            // attempt counted (one per runner); its file is published at the buffer interval.
            h.clock.advance(seconds: 60)
            runner.step()
            let documents = try h.errorDocuments()
            #expect(documents.count == 2)
            #expect(documents.allSatisfy { $0["attemptsMade"] as? Int == 4 })
            #expect(try h.dataFiles().isEmpty)
            // The mark is cleared once the batch is in error output.
            #expect(try Self.retryMarks(root).isEmpty)
        }
    }

    /// A batch that went to error output when its retries ran out goes there again after a
    /// restart that lost that error output before it was sealed, even though the processors now
    /// take it: delivered as data, it would land after records that were read after it (the
    /// crash soak found such records of one key out of order across a reshard).
    @Test func aBatchDivertedBeforeARestartIsDivertedAgain() throws {
        try withTemporaryDirectory { root in
            let (h, definition, first) = try Self.failingPipeline(root, retry: 2)
            var runner = first
            for _ in 0..<5 {
                runner.step()
                h.clock.advance(seconds: 1)
            }
            #expect(runner.status.counters.errorRecords["processing-failed"] == 2)
            #expect(try h.errorDocuments().isEmpty)  // not sealed yet
            // A restart that loses the unsealed error output; now every batch goes through.
            runner.close()
            try h.put(["c\n"])
            let healthy = Flaky(failures: 0)
            runner = try h.runner(definition, processors: [healthy])
            runner.step()
            h.clock.advance(seconds: 60)
            runner.step()
            let documents = try h.errorDocuments()
            #expect(Set(documents.compactMap { $0["rawData"] as? String }) == ["YQo=", "Ygo="])
            #expect(documents.allSatisfy { $0["errorCode"] as? String == "Lambda.FunctionError" })
            #expect(documents.allSatisfy { $0["attemptsMade"] as? Int ?? 0 >= 2 })
            #expect(try h.dataFiles().values.map { String(decoding: $0, as: UTF8.self) } == ["c\n"])
            #expect(healthy.firsts == ["c\n"])  // a and b never reached the processors again
            // Once that error output is sealed, the diversion is forgotten.
            #expect(try Self.retryMarks(root).isEmpty)
        }
    }

    @Test func whenRetriesAreSpentTheBatchGoesToErrorOutputWithItsAttempts() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let runner = try h.runner(try PipelineHarness.simple(interval: 60, retry: 10), processors: [Flaky(failures: 100)])
            try h.put(["a\n", "b\n"])
            for _ in 0..<20 {
                runner.step()
                h.clock.advance(seconds: 2)
            }
            h.clock.advance(seconds: 60)
            runner.step()
            let documents = try h.errorDocuments()
            #expect(documents.count == 2)
            #expect(documents.allSatisfy { $0["errorCode"] as? String == "Lambda.FunctionError" })
            #expect(documents.allSatisfy { ($0["attemptsMade"] as? Int ?? 0) >= 3 })
            #expect(Set(documents.compactMap { $0["rawData"] as? String }) == ["YQo=", "Ygo="])
            #expect(try h.dataFiles().isEmpty)
            // Later records are processed again (the processor still fails, so they wait).
            #expect(runner.status.counters.errorRecords["processing-failed"] == 2)
        }
    }
}

@Suite("Pipelines with exec processors")
struct PipelineExecTests {
    @Test(arguments: ["crash", "hang", "garbage", "oversize", "missing-id"])
    func aBrokenPluginEndsWithItsRecordsInErrorOutputAndThePipelineKeepsRunning(behaviour: String) throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let command = "python3 '\(packageRoot)/Fixtures/plugins/faulty_plugin.py' \(behaviour)"
            let definition = try PipelineHarness.simple(
                interval: 60,
                extra: #", "processors": [{"type": "exec", "parameters": {"command": "\#(command)", "timeoutInSeconds": "0.5"}}]"#, retry: 0)
            let runner = try h.runner(definition)
            try h.put(["a\n", "b\n"])
            runner.step()
            h.clock.advance(seconds: 60)
            runner.step()
            let documents = try h.errorDocuments()
            #expect(documents.count == 2)
            #expect(Set(documents.compactMap { $0["rawData"] as? String }) == ["YQo=", "Ygo="])
            #expect(documents.allSatisfy { ($0["errorCode"] as? String)?.hasPrefix("Lambda.") == true })
            #expect(try h.dataFiles().isEmpty)
            // The pipeline keeps running: later records go through the same processor again.
            try h.put(["c\n"])
            runner.step()
            h.clock.advance(seconds: 60)
            runner.step()
            #expect(try h.errorDocuments().count == 3)
        }
    }

    /// `Pipelines/enriched-clicks.json` end to end: its Python Firehose handler through the
    /// persistent exec processor, partitioned by the handler's keys.
    @Test func theShippedEnrichedClicksPipelineRuns() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            let bytes = try FileSystem.live.readFile(packageRoot + "/Pipelines/enriched-clicks.json")
            var definition = try PipelineLoader.decode(bytes, file: "Pipelines/enriched-clicks.json").get()
            // The file's command is relative to the repository root, where `sluice serve` runs.
            definition.processors = definition.processors.map { processor in
                var processor = processor
                processor.parameters["command"] = processor.parameters["command"]?.replacingOccurrences(of: "Pipelines/", with: packageRoot + "/Pipelines/")
                return processor
            }
            try h.store.createStream(name: "enriched-clicks", shardCount: 1)
            let runner = try h.runner(definition)
            try h.put(
                [#"{"event_type":"click","n":1}"# + "\n", #"{"event_type":"view","n":2}"# + "\n", #"{"event_type":"heartbeat"}"# + "\n", "not json\n"],
                stream: "enriched-clicks")
            runner.step()
            #expect(runner.flushAll(reason: .shutdown))
            let files = try h.archiveFiles()
            #expect(files.keys.contains { $0.hasPrefix("enriched-clicks/event_type=click/") })
            #expect(files.keys.contains { $0.hasPrefix("enriched-clicks/event_type=view/") })
            let click = try #require(files.first { $0.key.hasPrefix("enriched-clicks/event_type=click/") }?.value)
            #expect(String(decoding: click, as: UTF8.self).contains(#""enriched""#))
            #expect(runner.status.counters.droppedRecords == 1)
            #expect(runner.status.counters.errorRecords["processing-failed"] == 1)
        }
    }
}
