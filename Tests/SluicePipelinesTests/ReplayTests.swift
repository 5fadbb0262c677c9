import Foundation
import SluicePipelines
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// Fails records that are not JSON objects starting with `{` (a stand-in for a buggy transform
/// that is fixed before the replay).
private struct StrictJSON: RecordProcessor {
    func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        batch.map {
            $0.data.first == UInt8(ascii: "{")
                ? ProcessorResult(recordID: $0.recordID, verdict: .ok(data: $0.data, partitionKeys: [:]))
                : ProcessorResult(recordID: $0.recordID, verdict: .processingFailed(code: "Test.NotJSON", message: "not JSON"))
        }
    }
}

/// Wraps anything into JSON: the fixed transform.
private struct Wrap: RecordProcessor {
    func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        batch.map {
            let text = String(decoding: $0.data, as: UTF8.self).trimmingCharacters(in: .newlines)
            return ProcessorResult(recordID: $0.recordID, verdict: .ok(data: Array("{\"wrapped\":\"\(text)\"}\n".utf8), partitionKeys: [:]))
        }
    }
}

@Suite("Replay")
struct ReplayTests {
    /// A pipeline that sent `bad` records to processing-failed error output.
    private func withFailedRecords(
        bad: Int = 6, _ body: (PipelineHarness, PipelineDefinition) throws -> Void
    ) throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 2)
            let definition = try PipelineHarness.simple(interval: 60)
            let runner = try h.runner(definition, processors: [StrictJSON()])
            try h.put((0..<bad).map { "bad\($0)\n" } + ["{\"good\":1}\n"])
            runner.step()
            h.clock.advance(seconds: 60)
            runner.step()
            #expect(try h.errorDocuments().count == bad)
            try body(h, definition)
        }
    }

    private func replayer(_ h: PipelineHarness, _ definition: PipelineDefinition, _ processors: [any RecordProcessor]) throws -> Replayer {
        try Replayer(
            definition: definition, archiveRoot: h.archive, stateRoot: h.root + "/data/pipelines", fileSystem: FileSystem(faults: h.faults),
            clock: h.clock, processors: ProcessorChain(processors))
    }

    private func wrappedLines(_ h: PipelineHarness) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for (path, bytes) in try h.archiveFiles() where !path.contains("failed") {
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.contains("wrapped") {
                counts[String(line), default: 0] += 1
            }
        }
        return counts
    }

    @Test func replayPublishesFixedRecordsAndASecondRunChangesNothing() throws {
        try withFailedRecords { h, definition in
            let first = try replayer(h, definition, [Wrap()]).run(ReplayOptions())
            #expect(first.replayed == 6)
            #expect(first.failedAgain == 0)
            #expect(first.skipped == 0)
            #expect(try wrappedLines(h).count == 6)
            #expect(try wrappedLines(h).values.allSatisfy { $0 == 1 })
            let files = try h.archiveFiles().keys.sorted()
            let second = try replayer(h, definition, [Wrap()]).run(ReplayOptions())
            #expect(second.replayed == 0)
            #expect(second.skipped == 6)
            #expect(try h.archiveFiles().keys.sorted() == files)
        }
    }

    @Test func aReplayKilledHalfwayAndRunAgainPublishesEachRecordOnce() throws {
        /// Fixes odd records and fails even ones again, so one error file yields a data file and an error file.
        struct Half: RecordProcessor {
            func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
                batch.map {
                    let text = String(decoding: $0.data, as: UTF8.self).trimmingCharacters(in: .newlines)
                    let odd = (Int(text.dropFirst(3)) ?? 0) % 2 == 1
                    return odd
                        ? ProcessorResult(recordID: $0.recordID, verdict: .ok(data: Array("{\"wrapped\":\"\(text)\"}\n".utf8), partitionKeys: [:]))
                        : ProcessorResult(recordID: $0.recordID, verdict: .processingFailed(code: "Test.Even", message: "even"))
                }
            }
        }
        try withFailedRecords { h, definition in
            // Publishing fails after the first file (a crash at that point looks the same: the
            // ledger does not have the file yet).
            h.faults.inject(.rename, pathContains: "/archive/", fault: Fault(errno: EIO), after: 1, times: nil)
            #expect(throws: ReplayError.self) { _ = try replayer(h, definition, [Half()]).run(ReplayOptions()) }
            h.faults.clear()
            let again = try replayer(h, definition, [Half()]).run(ReplayOptions())
            #expect(again.replayed == 3)
            #expect(again.failedAgain == 3)
            let counts = try wrappedLines(h)
            #expect(counts.count == 3)
            #expect(counts.values.allSatisfy { $0 == 1 })
            // 6 original error documents and 3 new ones, none twice.
            let documents = try h.errorDocuments()
            #expect(documents.count == 9)
            #expect(documents.filter { $0["errorCode"] as? String == "Test.Even" }.count == 3)
        }
    }

    @Test func recordsThatFailAgainGetANewErrorDocumentWithOneMoreAttempt() throws {
        try withFailedRecords(bad: 2) { h, definition in
            let summary = try replayer(h, definition, [StrictJSON()]).run(ReplayOptions())
            #expect(summary.failedAgain == 2)
            let documents = try h.errorDocuments()
            #expect(documents.count == 4)
            #expect(documents.filter { $0["attemptsMade"] as? Int == 2 }.count == 2)
            // The new error documents are replayed by the next run; the old ones are in the ledger.
            let next = try replayer(h, definition, [Wrap()]).run(ReplayOptions())
            #expect(next.replayed == 2)
            #expect(next.skipped == 2)
        }
    }

    @Test func filtersAndDryRun() throws {
        try withFailedRecords { h, definition in
            let dry = try replayer(h, definition, [Wrap()]).run(ReplayOptions(dryRun: true))
            #expect(dry.replayed == 6)
            #expect(try wrappedLines(h).isEmpty)
            let otherType = try replayer(h, definition, [Wrap()]).run(ReplayOptions(types: ["delivery-failed"]))
            #expect(otherType.replayed == 0)
            let later = try replayer(h, definition, [Wrap()]).run(ReplayOptions(since: h.clock.now()))
            #expect(later.replayed == 0)
            #expect(later.filteredOut == 6)
            let all = try replayer(h, definition, [Wrap()]).run(ReplayOptions(types: ["processing-failed"], until: h.clock.now()))
            #expect(all.replayed == 6)
        }
    }
}
