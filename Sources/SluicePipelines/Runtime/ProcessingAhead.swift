internal import Dispatch
internal import SluiceStreams
internal import SluiceSupport

/// Runs a pipeline's processors on one thread of its own, so the pipeline thread can route the
/// outputs of one batch while the processors work on the next (read ahead from the same shard).
///
/// Without it the two alternate: an external processor idles while Sluice routes and compresses,
/// and Sluice idles while the processor works. Jobs run one at a time in submission order, so a
/// processor never sees two batches at once and batches reach it in stream order; the pipeline
/// thread's own calls (diversions, start-up) go through the same queue (`runNow`). A batch read
/// ahead of one that failed does not reach the processors: the failed one is retried first.
final class ProcessingWorker: Sendable {
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label)
    }

    /// Starts the processors on `records` of `shard`; the job's `wait()` returns their outputs.
    /// - Parameter parallel: whether a pure chain may cut the batch into parts on several threads
    ///   (worth it only while the pipeline thread waits instead of routing another batch).
    func submit(
        _ records: [StoredRecord], shard: Int, chain: ProcessorChain, streamName: String, parallel: Bool,
        after previous: ProcessingJob? = nil
    ) -> ProcessingJob {
        let job = ProcessingJob()
        queue.async {
            // The batch before it failed: it is retried first, so this one must not reach the
            // processors now (serial queue: `previous` is complete).
            if let previous, case .failure = previous.wait() {
                job.complete(.failure(ProcessorFailure(code: "Sluice.NotRun", "the batch before it failed")))
                return
            }
            job.complete(Result { () throws(ProcessorFailure) in
                try ProcessingWorker.outputs(
                    of: records, shard: shard, chain: chain, streamName: streamName, throwingFailures: true, parallel: parallel)
            })
        }
        return job
    }

    /// Runs the processors now on the calling thread's behalf, after every job submitted before.
    func runNow(
        _ records: [StoredRecord], shard: Int, chain: ProcessorChain, streamName: String, throwingFailures: Bool
    ) throws(ProcessorFailure) -> [ProcessorChain.Outputs] {
        let result = queue.sync {
            Result { () throws(ProcessorFailure) in
                try ProcessingWorker.outputs(
                    of: records, shard: shard, chain: chain, streamName: streamName, throwingFailures: throwingFailures, parallel: true)
            }
        }
        return try result.get()
    }

    /// The outputs of records through the processors (one `Outputs` per record, in order).
    static func outputs(
        of records: [StoredRecord], shard: Int, chain: ProcessorChain, streamName: String, throwingFailures: Bool,
        parallel: Bool = true
    ) throws(ProcessorFailure) -> [ProcessorChain.Outputs] {
        if chain.isEmpty {
            return records.map { [ProcessorChain.Output(outcome: .ok(data: $0.data, partitionKeys: [:]), raw: $0.data)] }
        }
        let shardID = ShardID.format(shard)
        let batch = records.map { record in
            ProcessorRecord(
                recordID: "\(shard)-\(record.sequenceNumber.position.packed)", data: record.data, approximateArrival: record.arrival,
                sourceStream: streamName, shardID: shardID, sequenceNumberValue: record.sequenceNumber.value,
                partitionKey: record.partitionKey)
        }
        return try chain.run(batch, throwingFailures: throwingFailures, parallel: parallel)
    }
}

/// The outcome of one batch given to a `ProcessingWorker`.
final class ProcessingJob: Sendable {
    private let outcome = ConditionLock<Result<[ProcessorChain.Outputs], ProcessorFailure>?>(nil)

    fileprivate func complete(_ result: Result<[ProcessorChain.Outputs], ProcessorFailure>) {
        outcome.withLock { locked in
            locked.state = result
            locked.broadcast()
        }
    }

    /// Blocks until the processors have answered.
    func wait() -> Result<[ProcessorChain.Outputs], ProcessorFailure> {
        outcome.withLock { locked in
            while locked.state == nil { locked.wait() }
            return locked.state!
        }
    }
}

/// A batch read ahead of a shard's cursor, with its processors already running.
struct ReadAhead {
    var shard: Int
    /// The cursor position the read started at: it is used only if the cursor is still there.
    var from: ShardPosition
    var read: ShardRead
    var job: ProcessingJob
}
