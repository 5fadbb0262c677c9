import SluiceStreams
import SluiceSupport
internal import Synchronization

/// Runs every pipeline of the service, each on its own thread, and flushes them on shutdown.
///
/// Each thread steps its runner while there is work, then waits on the store's change signal
/// (new records in any shard) or until the next buffer deadline, whichever is first: no polling.
package final class PipelineManager: Sendable {
    package let runners: [PipelineRunner]
    private let context: PipelineContext
    private let control = ConditionLock<(stop: Bool, running: Int)>((false, 0))

    /// Creates missing source streams where the pipeline says so, and recovers every pipeline.
    ///
    /// - Throws: `PipelineRuntimeError` naming the pipeline file, when a source stream is missing
    ///   or a journal cannot be read.
    package init(definitions: [PipelineDefinition], context: PipelineContext) throws(PipelineRuntimeError) {
        self.context = context
        var runners: [PipelineRunner] = []
        for definition in definitions.sorted(by: { $0.name < $1.name }) {
            try PipelineManager.ensureSource(definition, store: context.store)
            let runner = try PipelineRunner(definition: definition, context: context)
            try runner.start()
            runners.append(runner)
        }
        self.runners = runners
    }

    static func ensureSource(_ definition: PipelineDefinition, store: StreamStore) throws(PipelineRuntimeError) {
        let name = definition.streamName
        if (try? store.describeStream(name: name)) != nil { return }
        let shardCount: Int
        switch definition.source {
        case .directPut(let count):
            shardCount = count
        case .stream(_, let create, let count, _):
            guard create else {
                throw PipelineRuntimeError(
                    "\(definition.file): /source/stream: stream \"\(name)\" does not exist; create it with \"sluice streams create \(name)\" or set \"createIfMissing\": true")
            }
            shardCount = count
        }
        do {
            try store.createStream(name: name, shardCount: shardCount, activeAtOnce: true)
        } catch {
            throw PipelineRuntimeError("\(definition.file): cannot create stream \"\(name)\" for pipeline \(definition.name): \(error.message)")
        }
    }

    package func runner(named name: String) -> PipelineRunner? {
        runners.first { $0.definition.name == name }
    }

    /// The pipeline that owns a Firehose delivery stream name (its pipeline name).
    package func deliveryStream(named name: String) -> PipelineRunner? { runner(named: name) }

    package var statuses: [PipelineStatus] { runners.map(\.status) }

    /// Starts one thread per pipeline.
    package func start() {
        for runner in runners {
            control.withLock { $0.state.running += 1 }
            Threads.spawn(name: "sluice-pipe-" + String(runner.definition.name.prefix(4))) { [self] in
                loop(runner)
                control.withLock { locked in
                    locked.state.running -= 1
                    locked.broadcast()
                }
            }
        }
    }

    private func loop(_ runner: PipelineRunner) {
        let changes = context.store.changes
        while !control.withLock({ $0.state.stop }) {
            let generation = changes.generation
            let result = runner.step()
            if result.progressed { continue }
            var wait: Int64 = 1_000
            if let deadline = result.nextDeadline {
                wait = max(5, min(wait, deadline.milliseconds - context.clock.now().milliseconds))
            }
            changes.wait(since: generation, nanoseconds: wait * 1_000_000)
        }
    }

    /// Flushes a pipeline's open buffers and waits until the flush is published (or `timeout`).
    /// - Returns: false when the pipeline does not exist or the flush did not finish in time.
    package func flush(name: String, timeoutMilliseconds: Int64 = 30_000) -> Bool {
        guard let runner = runner(named: name) else { return false }
        let ticket = runner.requestFlush()
        context.store.changes.signal()
        let deadline = monotonicNanoseconds() + timeoutMilliseconds * 1_000_000
        while monotonicNanoseconds() < deadline {
            if runner.isFlushDone(ticket) { return runner.status.pendingBatches == 0 }
            context.store.changes.wait(since: context.store.changes.generation, nanoseconds: 10_000_000)
        }
        return false
    }

    /// Stops the threads, then seals and publishes every open buffer (reason `shutdown`).
    package func shutdown() {
        control.withLock { $0.state.stop = true }
        context.store.changes.signal()
        control.withLock { locked in
            while locked.state.running > 0 { locked.wait() }
        }
        for runner in runners {
            if !runner.flushAll(reason: .shutdown) {
                context.logger.log(
                    .error, "pipeline could not publish everything at shutdown; it is kept in the journal and the stream",
                    ["pipeline": runner.definition.name, "problem": runner.status.problem ?? ""])
            }
            runner.close()
        }
    }
}
