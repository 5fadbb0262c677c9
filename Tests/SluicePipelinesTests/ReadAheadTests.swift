import Foundation
import SluicePipelines
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Synchronization
import Testing

/// Records every batch's first record, how many calls run at once, and fails the calls listed.
private final class Recorder: RecordProcessor, Sendable {
    private let state = Mutex<(calls: Int, inFlight: Int, maxInFlight: Int, firsts: [String])>((0, 0, 0, []))
    private let failingCalls: Set<Int>
    private let sleepMicroseconds: UInt32
    init(failingCalls: Set<Int> = [], sleepMicroseconds: UInt32 = 0) {
        self.failingCalls = failingCalls
        self.sleepMicroseconds = sleepMicroseconds
    }
    var firsts: [String] { state.withLock { $0.firsts } }
    var maxInFlight: Int { state.withLock { $0.maxInFlight } }
    func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        let call = state.withLock { s in
            s.calls += 1
            s.inFlight += 1
            s.maxInFlight = max(s.maxInFlight, s.inFlight)
            s.firsts.append(String(decoding: batch.first?.data ?? [], as: UTF8.self))
            return s.calls
        }
        if sleepMicroseconds > 0 { usleep(sleepMicroseconds) }
        state.withLock { $0.inFlight -= 1 }
        if failingCalls.contains(call) { throw ProcessorFailure(code: "Lambda.FunctionError", "exit status 3") }
        return batch.map { ProcessorResult(recordID: $0.recordID, verdict: .ok(data: $0.data, partitionKeys: [:])) }
    }
}

@Suite("Pipeline read-ahead") struct ReadAheadTests {
    private func runner(_ h: PipelineHarness, _ definition: PipelineDefinition, _ p: any RecordProcessor, budget: Int) throws -> PipelineRunner {
        var context = h.context
        context.readBatchRecords = budget
        let runner = try PipelineRunner(definition: definition, context: context, processors: ProcessorChain([p]))
        try runner.start()
        return runner
    }

    /// A batch whose processing failed is the next one the processor sees (its retry), as before
    /// read-ahead; the batch read ahead of it must not be processed in between.
    @Test func afterAFailureTheProcessorSeesTheRetryBeforeTheNextBatch() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let p = Recorder(failingCalls: [1])
            let r = try runner(h, try PipelineHarness.simple(interval: 60, compression: "none", retry: 300), p, budget: 10_000)
            try h.put((0..<2500).map { String(format: "%05d\n", $0) })
            r.step()
            for _ in 0..<10 { h.clock.advance(seconds: 5); r.step() }
            #expect(r.flushAll(reason: .shutdown))
            #expect(Array(p.firsts.prefix(2)) == ["00000\n", "00000\n"], "processor saw \(p.firsts)")
        }
    }

    /// A batch read ahead when it reached the shard's newest record is old by the time it is
    /// used: the pipeline must not say caughtUp while records written since are unread.
    @Test func aStaleReadAheadDoesNotSayCaughtUp() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let p = Recorder()
            let r = try runner(h, try PipelineHarness.simple(interval: 60, compression: "none", retry: 300), p, budget: 2000)
            try h.put((0..<2500).map { String(format: "%05d\n", $0) })
            r.step()  // routes 0..<2000; 2000..<2500 read ahead (then the tip)
            h.clock.advance(seconds: 1)
            try h.put((2500..<3000).map { String(format: "%05d\n", $0) })
            r.step()  // takes the batch read ahead: stale caughtUp
            #expect(!r.status.caughtUp || r.status.bufferedRecords == 3000, "caughtUp with records unread: \(r.status.bufferedRecords) of 3000 read")
        }
    }

    /// While a batch read ahead is being processed, a batch diverted to error output needs the
    /// processors too: it waits its turn, so they never run two calls at once.
    @Test func aDiversionDoesNotRunTheProcessorsWhileABatchReadAheadIsProcessed() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let p = Recorder(sleepMicroseconds: 300_000)
            let r = try runner(h, try PipelineHarness.simple(interval: 60, compression: "none", retry: 0), p, budget: 2000)
            try h.put((0..<5000).map { String(format: "%05d\n", $0) })
            h.faults.inject(.rename, pathContains: "/archive/", fault: Fault(errno: EIO), times: nil)
            _ = r.requestFlush()
            r.step()  // routes 2000 records (a third batch is processed ahead), seals, fails to publish, diverts
            h.faults.clear()
            #expect(p.maxInFlight == 1, "processor calls at once: \(p.maxInFlight)")
            r.close()
        }
    }
}
