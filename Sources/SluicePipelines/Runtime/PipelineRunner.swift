package import SluiceStreams
package import SluiceSupport
internal import Synchronization

/// What a pipeline needs from the service around it.
package struct PipelineContext: Sendable {
    package var store: StreamStore
    package var clock: any TimeSource
    /// File access for staging, the journal and the archive (tests inject faults here).
    package var fileSystem: FileSystem
    /// The archive root; a pipeline writes under `<archiveRoot>/<destination.directory>`.
    package var archiveRoot: String
    /// Where pipelines keep their journals and staging files (`<data-dir>/pipelines`).
    package var stateRoot: String
    package var logger: Logger
    /// Records read from the stream per step, at most (bounds the time one step takes).
    package var readBatchRecords: Int = 2_000
    /// Worker threads that gzip staging data on every core; nil compresses on the pipeline's own
    /// thread (the output is a standard gzip file either way).
    package var compressionPool: CompressionPool?

    package init(store: StreamStore, clock: any TimeSource, fileSystem: FileSystem, archiveRoot: String, stateRoot: String, logger: Logger) {
        self.store = store
        self.clock = clock
        self.fileSystem = fileSystem
        self.archiveRoot = archiveRoot
        self.stateRoot = stateRoot
        self.logger = logger
    }
}

/// One pipeline's engine: follows its stream from the checkpoint, buffers records per evaluated
/// prefix, seals batches into the journal, publishes them, and diverts what fails to error output.
///
/// Not thread-safe by design: one thread drives it through `step()` (the service's pipeline
/// thread, or a test with a manual clock). `requestFlush()`, `status` and `stop` are safe from any
/// thread.
///
/// Exactly once: a batch is journaled (spans of sequence positions, partition, object name)
/// before it is published; after a crash, recovery publishes sealed batches that did not make it
/// (rebuilding them from the stream if their staging file is gone) and replays the stream from the
/// checkpoint, skipping every record that a journaled batch already holds.
package final class PipelineRunner: @unchecked Sendable {
    package let definition: PipelineDefinition
    package let context: PipelineContext
    package private(set) var version = 1
    private let directory: String
    private let stagingDirectory: String
    private let journal: BatchJournal
    private let publisher: Publisher
    private let policy: BufferPolicy
    private let timeZone: PrefixTimeZone
    private let consumerName: String
    private let logger: Logger
    /// The pipeline's processors; empty means records go to buffers as they are.
    private let chain: ProcessorChain
    /// Runs the processors on a batch read ahead while this thread routes the current one (nil
    /// without processors).
    private let worker: ProcessingWorker?
    /// The next batch of a shard being read, read while the previous one was processed; it may
    /// outlive a step (then the processors work while the step publishes). At most
    /// `maximumReadAhead` shards have one.
    private var ahead: [Int: ReadAhead] = [:]
    static let maximumReadAhead = 2

    // Driving-thread state.
    private var journalState = JournalState()
    private var cursors: [Int: Cursor] = [:]
    private var dataBuffers: [String: PartitionBuffer] = [:]
    private var errorBuffers: [String: PartitionBuffer] = [:]
    private var pending: [PendingBatch] = []
    /// Runs of journaled batches, per shard and sorted: records a replay must skip.
    private var skipRuns: [Int: [ShardSpan]] = [:]
    /// Where each shard's previous record went (a run grows only over consecutive records).
    private var lastRouting: [Int: String] = [:]
    private var readRotation = 0
    /// A batch whose processing failed and waits to be tried again (reading stops meanwhile).
    /// Per shard: a batch whose processing failed and waits to be tried again (that shard's
    /// reading waits meanwhile; other shards go on).
    private var processingRetries: [Int: (firstFailure: Timestamp, attempts: Int, nextAttempt: Timestamp)] = [:]
    /// The batches whose processing is failing, as last written to `processing-retries` in the
    /// pipeline's state directory, so a restart does not start their retry time over.
    private var retryMarks: [Int: RetryMark] = [:]
    /// Batches whose retries ran out and went to error output, per shard, kept (in the same
    /// file) until that error output is sealed. After a restart their records go to error
    /// output again, cut the same way, instead of being processed anew: a batch that now went
    /// through would reach the data files after records of child shards that followed it.
    private var divertedBatches: [Int: [DivertedBatch]] = [:]
    private var persistedCheckpoint: Checkpoint?
    private var stagingCounter = 0
    private var lastShardRefresh = Timestamp(milliseconds: 0)
    private var partitionCache: (arrival: Int64, key: String)?
    private var problem: String?
    private var counters = PipelineCounters()
    private var started = false

    private let requests = Mutex<(flush: Bool, flushDone: UInt64, flushRequested: UInt64)>((false, 0, 0))
    private let snapshot: Mutex<PipelineStatus>

    private struct Cursor {
        var position: ShardPosition
        var finished: Bool
        var parents: [Int]
        /// Arrival of the newest record read while the shard was not caught up (data freshness).
        var behindArrival: Timestamp?
        /// The last read reached the shard's newest record and everything read was routed.
        var caughtUp = false
    }

    private struct PendingBatch {
        var batch: SealedBatch
        var diversion: Diversion?
        var attempts = 0
        var firstFailure: Timestamp?
        var nextAttempt = Timestamp(milliseconds: 0)
        var lastError: String?
    }

    /// - Parameter processors: the processors to run instead of the definition's (an embedding
    ///   program's own `RecordProcessor`s); nil builds them from the definition.
    package init(definition: PipelineDefinition, context: PipelineContext, processors: ProcessorChain? = nil) throws(PipelineRuntimeError) {
        self.definition = definition
        self.context = context
        directory = context.stateRoot + "/" + definition.name
        stagingDirectory = directory + "/staging"
        journal = BatchJournal(path: directory + "/journal", fileSystem: context.fileSystem)
        publisher = Publisher(archiveRoot: context.archiveRoot, fileSystem: context.fileSystem)
        policy = BufferPolicy(sizeInMBs: definition.buffering.sizeInMBs, intervalInSeconds: definition.buffering.intervalInSeconds)
        guard let timeZone = PrefixTimeZone(identifier: definition.destination.timeZone) else {
            throw PipelineRuntimeError("Pipeline \(definition.name): unknown time zone \(definition.destination.timeZone)")
        }
        self.timeZone = timeZone
        if let processors {
            chain = processors
        } else {
            do {
                let store = context.store.configuration
                chain = try ProcessorChain(
                    definitions: definition.processors,
                    environment: ProcessorEnvironment(
                        pipelineName: definition.name,
                        deliveryStreamARN: "arn:aws:firehose:\(store.region):\(store.accountID):deliverystream/\(definition.name)",
                        region: store.region, logger: context.logger.with("pipeline", definition.name)))
            } catch {
                throw PipelineRuntimeError("\(definition.file): /processors: \(error.message)")
            }
        }
        worker = chain.isEmpty ? nil : ProcessingWorker(label: "sluice-processors-\(definition.name)")
        consumerName = "pipeline:" + definition.name
        logger = context.logger.with("pipeline", definition.name)
        snapshot = Mutex(PipelineStatus(name: definition.name))
    }

    // MARK: - Start and recovery

    /// Opens the journal, settles what a crash left (publishes sealed batches, rebuilding them
    /// from the stream when needed), and positions the readers at the checkpoint.
    package func start() throws(PipelineRuntimeError) {
        let fs = context.fileSystem
        do {
            if !fs.isDirectory(stagingDirectory) {
                try fs.createDirectory(stagingDirectory)
                // New directories are made durable in their parents, so the journal cannot vanish.
                try fs.synchronizeDirectory(directory)
                try fs.synchronizeDirectory(context.stateRoot)
                try fs.synchronizeDirectory(containing: context.stateRoot)
            }
        } catch {
            throw PipelineRuntimeError("Pipeline \(definition.name): cannot create '\(stagingDirectory)': \(error)")
        }
        try loadVersion()
        (retryMarks, divertedBatches) = loadRetryMarks()
        var state = try journal.load()
        let now = context.clock.now()
        if state.checkpoint == nil {
            state.checkpoint = try initialCheckpoint()
            do { try journal.append([.checkpoint(state.checkpoint!)], synchronize: true) } catch {
                throw PipelineRuntimeError("Pipeline \(definition.name): cannot write the batch journal: \(error)")
            }
        }
        journalState = state
        do { try journal.reconcileManifest(with: state) } catch {
            throw PipelineRuntimeError("Pipeline \(definition.name): cannot write the manifest: \(error)")
        }
        let checkpoint = state.checkpoint!
        persistedCheckpoint = checkpoint
        cursors = [:]
        for (shard, position) in checkpoint.positions {
            cursors[shard] = Cursor(position: position, finished: checkpoint.finished.contains(shard), parents: [])
        }
        for shard in checkpoint.finished where cursors[shard] == nil {
            cursors[shard] = Cursor(position: .end, finished: true, parents: [])
        }
        // Skip sets and unfinished publications.
        rebuildSkipRuns(from: state.sealed)
        pending = []
        for batch in state.sealed {
            if state.isDone(batch) { continue }
            var item = PendingBatch(batch: batch, diversion: state.diversions[batch.id])
            item.nextAttempt = now
            if item.diversion == nil, fs.exists(publisher.path(of: batch.object)) {
                // Renamed into place just before the crash; only the journal line was missing.
                // Its directory entry is made durable before it counts as published. If the
                // archive refuses that now (unwritable, full), the batch stays pending and the
                // sync is retried; being in place already, it is never diverted to error output
                // (see `attempt`).
                do {
                    try fs.synchronizeDirectory(containing: publisher.path(of: batch.object))
                    markPublished(batch.id)
                } catch {
                    // Its staging file is not needed: publishing a file already in place only
                    // syncs the directory (`Publisher.publish`).
                    logger.log(.warning, "cannot sync the directory of a file published before a stop; retrying",
                               ["object": batch.object, "error": "\(error)"])
                    pending.append(item)
                }
                continue
            }
            try ensureStaging(&item)
            pending.append(item)
        }
        // Staging files nobody refers to any more are leftovers of open buffers.
        let keep = Set(pending.flatMap { [$0.batch.staging, $0.diversion?.staging].compactMap { $0 } })
        if let names = try? fs.contentsOfDirectory(stagingDirectory) {
            for name in names where !keep.contains(name) {
                try? fs.removeFile(stagingDirectory + "/" + name)  // a leftover of an unsealed buffer; its records are re-read
            }
        }
        if let names = try? fs.contentsOfDirectory(directory) {
            for name in names where name.hasPrefix("journal.tmp-") || name.hasPrefix("version.tmp-") {
                try? fs.removeFile(directory + "/" + name)  // an interrupted atomic rewrite
            }
        }
        try refreshShards(now: now)
        try updateRetentionFloors()
        reportRetentionGaps()
        started = true
        publishSnapshot(now: now)
    }

    private func loadVersion() throws(PipelineRuntimeError) {
        let path = directory + "/version"
        let fs = context.fileSystem
        var known: (version: Int, hash: String)?
        if let bytes = try? fs.readFile(path), let text = String(validating: bytes, as: UTF8.self) {
            let parts = text.split(separator: " ")
            if parts.count == 2, let number = Int(parts[0]) { known = (number, String(parts[1]).trimmingSpaces()) }
        }
        if let known, known.hash == definition.configHash {
            version = known.version
            return
        }
        version = (known?.version ?? 0) + 1
        do {
            try fs.writeAtomically(Array("\(version) \(definition.configHash)\n".utf8), to: path)
        } catch {
            throw PipelineRuntimeError("Pipeline \(definition.name): cannot write '\(path)': \(error)")
        }
        if known != nil {
            logger.log(.info, "pipeline configuration changed", ["version": "\(version)"])
        }
    }

    private func initialCheckpoint() throws(PipelineRuntimeError) -> Checkpoint {
        var checkpoint = Checkpoint()
        let shards = try listShards()
        let type: ShardIteratorType = definition.startsAtLatest ? .latest : .trimHorizon
        for shard in shards {
            do {
                let start = try context.store.startingPosition(stream: definition.streamName, shardID: shard.shardID, type: type)
                checkpoint.positions[shard.index] = start.position
            } catch {
                throw PipelineRuntimeError("Pipeline \(definition.name): cannot position on \(shard.shardID): \(error.message)")
            }
        }
        return checkpoint
    }

    private func listShards() throws(PipelineRuntimeError) -> [ShardDescription] {
        do {
            return try context.store.listShards(name: definition.streamName)
        } catch {
            throw PipelineRuntimeError("Pipeline \(definition.name): cannot list the shards of stream \(definition.streamName): \(error.message)")
        }
    }

    /// Picks up shards created by resharding (children start at their beginning) and parents.
    private func refreshShards(now: Timestamp) throws(PipelineRuntimeError) {
        lastShardRefresh = now
        for shard in try listShards() {
            let parents = [shard.parentShardID, shard.adjacentParentShardID].compactMap { $0.flatMap(ShardID.index(of:)) }
            if cursors[shard.index] == nil {
                let start: ShardPosition
                do {
                    start = try context.store.startingPosition(stream: definition.streamName, shardID: shard.shardID, type: .trimHorizon).position
                } catch {
                    throw PipelineRuntimeError("Pipeline \(definition.name): cannot position on \(shard.shardID): \(error.message)")
                }
                cursors[shard.index] = Cursor(position: start, finished: false, parents: parents)
            } else {
                cursors[shard.index]!.parents = parents
            }
        }
    }

    /// Makes sure a pending batch has a complete staging file: the one written before the crash
    /// if its size matches the journal, otherwise rebuilt from the stream.
    private func ensureStaging(_ item: inout PendingBatch) throws(PipelineRuntimeError) {
        let fs = context.fileSystem
        if let diversion = item.diversion {
            let path = stagingDirectory + "/" + diversion.staging
            if (try? fs.fileSize(path)) == diversion.stagingSize { return }
            try writeDiversionStaging(for: item.batch, diversion: diversion)
            return
        }
        let path = stagingDirectory + "/" + item.batch.staging
        if (try? fs.fileSize(path)) == item.batch.stagingSize { return }
        guard case .data = item.batch.kind else {
            throw PipelineRuntimeError(
                "Pipeline \(definition.name): the staging file of error batch \(item.batch.id) ('\(path)') is missing or damaged. "
                    + "Its records are still in stream \(definition.streamName); move the pipeline's journal aside to deliver them again.")
        }
        logger.log(.info, "rebuilding sealed batch from the stream", ["batch": item.batch.id, "object": item.batch.object])
        let writer = try openWriter(name: item.batch.staging, level: item.batch.compressionLevel)
        var count = 0
        do {
            try forEachMember(of: item.batch) { (_, _, output) throws(SystemError) in
                guard case .ok(let data, _) = output.outcome else { return }
                try writer.append(data)
                count += 1
            }
            try writer.finish()
            try writer.synchronize()
        } catch let error as SystemError {
            writer.close()
            throw PipelineRuntimeError("Pipeline \(definition.name): cannot rebuild batch \(item.batch.id): \(error)")
        } catch {
            writer.close()
            throw (error as? PipelineRuntimeError) ?? PipelineRuntimeError("Pipeline \(definition.name): cannot rebuild batch \(item.batch.id): \(error)")
        }
        writer.close()
        guard count == item.batch.recordCount else {
            throw PipelineRuntimeError(
                "Pipeline \(definition.name): rebuilding batch \(item.batch.id) found \(count) records; the journal says \(item.batch.recordCount). "
                    + (item.batch.configHash == definition.configHash
                        ? "The stream no longer holds the batch (were its records trimmed by retention while the pipeline was not running?), "
                            + "or a processor answered differently this time."
                        : "The pipeline file changed since the batch was sealed (its processors no longer produce the same records); "
                            + "restore the file, let the batch publish, then change it."))
        }
        item.batch.stagingSize = (try? fs.fileSize(path)) ?? item.batch.stagingSize
    }

    /// Calls `body` with every record of a batch in the order it was buffered, reading them again
    /// from the stream: the runs are exact (every record of a run belongs to the batch) and in
    /// append order, so the rebuilt file is byte-identical to the original.
    ///
    /// With processors, each record is processed again (built-ins are deterministic) and the
    /// outputs of the span are taken.
    private func forEachMember(
        of batch: SealedBatch, _ body: (StoredRecord, Int, ProcessorChain.Output) throws(SystemError) -> Void
    ) throws(any Error) {
        for span in batch.spans {
            var position = span.first
            reading: while true {
                let read: ShardRead
                do {
                    read = try context.store.read(stream: definition.streamName, shardIndex: span.shard, from: position, limit: 1000)
                } catch {
                    throw PipelineRuntimeError("Pipeline \(definition.name): cannot read \(ShardID.format(span.shard)) to rebuild batch \(batch.id): \(error.message)")
                }
                // The records of this read inside the span, through the processors in one batch.
                let inside = read.records.filter { $0.sequenceNumber.position >= span.first && $0.sequenceNumber.position <= span.last }
                let results = (try? self.outputs(of: inside, shard: span.shard)) ?? inside.map { _ in [] }
                for (index, record) in inside.enumerated() {
                    let at = record.sequenceNumber.position
                    for (sub, output) in results[index].enumerated() where span.contains(at, sub: sub) {
                        try body(record, span.shard, output)
                    }
                }
                if read.records.isEmpty || read.reachedShardEnd { break }
                if let last = read.records.last, last.sequenceNumber.position >= span.last { break reading }
                position = read.next
            }
        }
    }

    /// Records that went before the checkpoint could be read (retention trimmed them while the
    /// pipeline was not holding them, for example while its file was removed) are reported.
    private func reportRetentionGaps() {
        for (shard, cursor) in cursors where !cursor.finished {
            guard let horizon = try? context.store.startingPosition(
                stream: definition.streamName, shardID: ShardID.format(shard), type: .trimHorizon).position
            else { continue }
            if cursor.position < horizon,
                context.store.mayHaveLostToRetention(stream: definition.streamName, shardID: ShardID.format(shard), position: cursor.position)
            {
                logger.log(
                    .error, "records the pipeline had not delivered were trimmed by retention before it ran again; delivery continues at the trim horizon",
                    ["shard": ShardID.format(shard), "checkpoint": "\(cursor.position)", "trimHorizon": "\(horizon)"])
            }
        }
    }

    // MARK: - The step

    /// What one step did and when the next one is due.
    package struct StepResult: Sendable, Equatable {
        /// Records were read or batches were published: call again soon.
        package var progressed: Bool
        /// The earliest buffer deadline or retry time, if any.
        package var nextDeadline: Timestamp?
    }

    /// Reads what is available (without blocking), routes it into buffers, seals buffers that
    /// are due, and publishes what is sealed. Errors are reported in `status`, never thrown: a
    /// failing step resets the runner to its journal and tries again later.
    @discardableResult
    package func step() -> StepResult {
        let now = context.clock.now()
        var progressed = false
        let flushRequest = requests.withLock { state -> UInt64? in
            guard state.flush else { return nil }
            state.flush = false
            return state.flushRequested
        }
        do {
            if !started { try start() }
            progressed = try retryPending(now: now) || progressed
            if pending.isEmpty {
                if now.milliseconds - lastShardRefresh.milliseconds >= 1000 { try refreshShards(now: now) }
                progressed = try readAvailable(now: now) || progressed
            }
            try sealDue(now: now, forced: flushRequest != nil ? .onDemand : nil)
            try persistCheckpoint()
            if problem != nil && processingRetries.isEmpty && pending.allSatisfy({ $0.firstFailure == nil }) { problem = nil }
        } catch {
            fail("\(error)", now: now)
        }
        publishSnapshot(now: now)
        // After the snapshot, so a waiting flusher sees this step's outcome (also when it failed).
        if let flushRequest {
            requests.withLock { $0.flushDone = max($0.flushDone, flushRequest) }
        }
        return StepResult(progressed: progressed, nextDeadline: nextDeadline())
    }

    /// Seals and publishes every open buffer now (graceful shutdown or an operator's flush).
    /// Returns false if something could not be published (it stays in the journal and the stream).
    @discardableResult
    package func flushAll(reason: FlushReason) -> Bool {
        let now = context.clock.now()
        do {
            if !started { try start() }
            try sealDue(now: now, forced: reason)
            _ = try retryPending(now: now, force: true)
            try persistCheckpoint()
            try compactIfNeeded(force: true)
        } catch {
            fail("\(error)", now: now)
        }
        publishSnapshot(now: now)
        return pending.isEmpty && problem == nil
    }

    /// Asks the driving thread to flush every open buffer at its next step; returns a ticket for
    /// `isFlushDone`.
    package func requestFlush() -> UInt64 {
        requests.withLock { state in
            state.flush = true
            state.flushRequested += 1
            return state.flushRequested
        }
    }

    package func isFlushDone(_ ticket: UInt64) -> Bool {
        requests.withLock { $0.flushDone >= ticket }
    }

    package var status: PipelineStatus { snapshot.withLock { $0 } }

    /// Lets go of files and the retention hold's bookkeeping (the hold itself stays with the store).
    package func close() {
        dropAhead()
        for buffer in dataBuffers.values { buffer.writer.close() }
        for buffer in errorBuffers.values { buffer.writer.close() }
        dataBuffers = [:]
        errorBuffers = [:]
    }

    private func fail(_ message: String, now: Timestamp) {
        if problem != message { logger.log(.error, "pipeline step failed; starting over from the journal", ["error": message]) }
        problem = message
        // Forget in-memory buffers: their records are re-read from the checkpoint.
        close()
        lastRouting = [:]
        partitionCache = nil
        processingRetries = [:]
        started = false
    }

    private func nextDeadline() -> Timestamp? {
        var deadline: Timestamp?
        func consider(_ t: Timestamp) { deadline = deadline.map { min($0, t) } ?? t }
        for buffer in dataBuffers.values { consider(policy.deadline(of: buffer.state)) }
        for buffer in errorBuffers.values { consider(policy.deadline(of: buffer.state)) }
        for item in pending { consider(item.nextAttempt) }
        for retry in processingRetries.values { consider(retry.nextAttempt) }
        if !started { consider(context.clock.now().adding(milliseconds: 1000)) }
        return deadline
    }

    // MARK: - Reading and routing

    private func readAvailable(now: Timestamp) throws(PipelineRuntimeError) -> Bool {
        var progressed = false
        var budget = context.readBatchRecords
        // Start at a different shard each step, so one busy shard cannot starve the others.
        var order = cursors.keys.sorted()
        if !order.isEmpty {
            readRotation = (readRotation + 1) % order.count
            order = Array(order[readRotation...] + order[..<readRotation])
        }
        for shard in order where budget > 0 {
            guard let cursor = cursors[shard], !cursor.finished else { continue }
            // Children wait until every parent is read to its end, so each key keeps its order.
            if cursor.parents.contains(where: { cursors[$0].map { !$0.finished } ?? false }) { continue }
            if let retry = processingRetries[shard], now < retry.nextAttempt { continue }
            // Reads are cut at the edges of batches diverted before a restart (no read-ahead).
            let diverted = divertedBatches[shard] ?? []
            if !diverted.isEmpty { dropAhead(shard) }
            while budget > 0 {
                var read: ShardRead
                var computed: ProcessingJob?
                var fromAhead = false
                let position = cursors[shard]!.position
                if let next = takeAhead(shard: shard, from: position) {
                    read = next.read
                    computed = next.job
                    fromAhead = true
                } else {
                    read = try readShard(shard, from: position, limit: min(budget, 1000))
                    if !diverted.isEmpty { read = Self.cut(read, at: diverted) }
                }
                let redivert = diverted.first { $0.contains(read.records.first?.sequenceNumber.position) }
                if !read.records.isEmpty && redivert == nil {
                    if let worker {
                        // The processors start on this batch, then on the next one (read now),
                        // which they work on while this thread routes this one. At most two
                        // shards have a batch read ahead, so the memory held stays bounded
                        // however many shards the stream has.
                        let readsAhead =
                            !read.caughtUp && !read.reachedShardEnd && pending.isEmpty && ahead.count < Self.maximumReadAhead
                            && diverted.isEmpty
                        if computed == nil {
                            // Without a batch behind it this thread only waits: a pure chain may
                            // then use several threads (with one, it runs beside the routing).
                            computed = worker.submit(
                                read.records, shard: shard, chain: chain, streamName: definition.streamName, parallel: !readsAhead)
                        }
                        if readsAhead {
                            let next: ShardRead
                            do { next = try readShard(shard, from: read.next, limit: 1000) } catch {
                                _ = computed?.wait()  // nothing may run the processors while it does
                                throw error
                            }
                            if !next.records.isEmpty {
                                ahead[shard] = ReadAhead(
                                    shard: shard, from: read.next, read: next,
                                    job: worker.submit(
                                        next.records, shard: shard, chain: chain, streamName: definition.streamName, parallel: false,
                                        after: computed))
                            }
                        }
                    }
                }
                if !read.records.isEmpty {
                    let result = computed?.wait()
                    if case .failure? = result { dropAhead(shard) }  // not run: read again after this one
                    guard try process(read.records, shard: shard, now: now, computed: result, redivert: redivert) else {
                        // Processing failed: this shard's batch is read again when its retry is
                        // due; until then its first record is the oldest undelivered one.
                        let first = read.records[0].arrival
                        cursors[shard]!.behindArrival = cursors[shard]!.behindArrival.map { min($0, first) } ?? first
                        cursors[shard]!.caughtUp = false
                        dropAhead(shard)
                        break
                    }
                }
                budget -= read.records.count
                if !read.records.isEmpty { progressed = true }
                // A batch read ahead may be old: its "caught up" is checked by a fresh read.
                let caughtUp = read.caughtUp && !fromAhead
                cursors[shard]!.position = read.next
                cursors[shard]!.behindArrival = caughtUp ? nil : read.records.last?.arrival
                cursors[shard]!.caughtUp = caughtUp
                if read.reachedShardEnd {
                    cursors[shard]!.finished = true
                    progressed = true
                    try refreshShards(now: now)
                    break
                }
                // A failing publication stops reading (the records wait in the stream).
                if read.records.isEmpty || caughtUp || !pending.isEmpty { break }
            }
        }
        return progressed
    }

    private func readShard(_ shard: Int, from position: ShardPosition, limit: Int) throws(PipelineRuntimeError) -> ShardRead {
        do {
            // With processors, reads of at most 1 MiB bound what one batch of outputs can hold in
            // memory (a decompressed record can be far larger than the record).
            return try context.store.read(
                stream: definition.streamName, shardIndex: shard, from: position, limit: limit,
                maximumBytes: chain.isEmpty ? StreamLimits.getRecordsMaximumBytes : 1 << 20)
        } catch {
            throw PipelineRuntimeError(
                "Pipeline \(definition.name): cannot read \(ShardID.format(shard)) of stream \(definition.streamName): \(error.message)")
        }
    }

    /// The batch read ahead for `shard` if its cursor is still where the read started (else it
    /// is dropped).
    private func takeAhead(shard: Int, from position: ShardPosition) -> ReadAhead? {
        guard let next = ahead.removeValue(forKey: shard) else { return nil }
        if next.from == position { return next }
        _ = next.job.wait()  // the processors finish with it before anything else runs
        return nil
    }

    /// Forgets batches read ahead (read again from the stream when their turn comes), once the
    /// processors are done with them.
    private func dropAhead(_ shard: Int? = nil) {
        for (index, next) in ahead where shard == nil || index == shard {
            ahead[index] = nil
            _ = next.job.wait()
        }
    }

    /// The outputs of records: through the processors, or each record as it is.
    private func outputs(of records: [StoredRecord], shard: Int, throwingFailures: Bool = false) throws(ProcessorFailure) -> [ProcessorChain.Outputs] {
        if let worker {
            // Through the worker's queue: never at the same time as a batch read ahead.
            return try worker.runNow(records, shard: shard, chain: chain, streamName: definition.streamName, throwingFailures: throwingFailures)
        }
        return try ProcessingWorker.outputs(
            of: records, shard: shard, chain: chain, streamName: definition.streamName, throwingFailures: throwingFailures)
    }

    /// Runs records read from one shard through the processors and routes every output.
    ///
    /// When the processors fail the whole batch (an external processor crashed, hung or answered
    /// garbage), nothing is routed and false is returned: the batch is read and tried again with
    /// backoff for `retry.durationInSeconds`, then its records go to error output as
    /// `processing-failed` with the number of attempts.
    private func process(
        _ records: [StoredRecord], shard: Int, now: Timestamp, computed: Result<[ProcessorChain.Outputs], ProcessorFailure>? = nil,
        redivert: DivertedBatch? = nil
    ) throws(PipelineRuntimeError) -> Bool {
        var results: [ProcessorChain.Outputs]
        var attemptsMade = 1
        var batchFailed = false
        let retry = processingRetries[shard]
        if let redivert {
            // Went to error output before a restart (its read is cut to lie inside): again.
            attemptsMade = redivert.attempts
            batchFailed = true
            let message = "Processing failed \(redivert.attempts) time(s) before the service restarted, and the batch went to error output then."
            results = records.map { [ProcessorChain.Output(outcome: .failed(code: redivert.code, message: message), raw: $0.data)] }
        } else {
        do {
            if let computed {
                results = try computed.get()
            } else {
                results = try outputs(of: records, shard: shard, throwingFailures: true)
            }
            if retry != nil && processingRetries.count == 1 { problem = nil }
            attemptsMade = (retry?.attempts ?? 0) + 1
            processingRetries[shard] = nil
            if let mark = retryMarks[shard], records.last!.sequenceNumber.position >= mark.first {
                setRetryMark(nil, shard: shard)  // the batch that failed before a restart went through
            }
        } catch {
            // Retries of this batch before a restart count: the mark says since when it fails.
            let earlier = retry == nil ? retryMarks[shard].flatMap { $0.covers(records) ? $0 : nil } : nil
            let attempts = (retry?.attempts ?? earlier?.attempts ?? 0) + 1
            let first = retry?.firstFailure ?? earlier?.firstFailure ?? now
            counters.retries += 1
            if now.milliseconds - first.milliseconds < Int64(definition.retryDurationSeconds) * 1000 {
                setRetryMark(
                    RetryMark(
                        first: records.first!.sequenceNumber.position, last: records.last!.sequenceNumber.position, firstFailure: first,
                        attempts: attempts),
                    shard: shard)
                processingRetries[shard] = (first, attempts, now.adding(milliseconds: RetryBackoff.delay(attempt: attempts)))
                problem = "processing \(ShardID.format(shard)) failed (attempt \(attempts)); retrying: \(error)"
                logger.log(.warning, "processing failed; will retry", ["shard": ShardID.format(shard), "attempt": "\(attempts)", "error": "\(error)"])
                return false
            }
            logger.log(.error, "processing failed; the batch goes to error output", ["attempts": "\(attempts)", "error": "\(error)"])
            processingRetries[shard] = nil
            retryMarks[shard] = nil
            divertedBatches[shard, default: []].append(
                DivertedBatch(
                    first: records.first!.sequenceNumber.position, last: records.last!.sequenceNumber.position, attempts: attempts,
                    code: error.code))
            saveRetryMarks()
            attemptsMade = attempts
            batchFailed = true
            results = records.map { [ProcessorChain.Output(outcome: .failed(code: error.code, message: error.message), raw: $0.data)] }
        }
        }
        for (index, record) in records.enumerated() {
            counters.incomingRecords += 1
            counters.incomingBytes += record.data.count
            let position = record.sequenceNumber.position
            if batchFailed, !skipRuns.isEmpty, hasJournaledOutput(position, shard: shard) {
                if !chain.maySplit {
                    // One output per record, and it was delivered before a restart (found by the
                    // crash soak: it used to be routed to error output a second time).
                    lastRouting[shard] = nil
                    continue
                }
                // Some outputs of this record were delivered before a crash; the others cannot be
                // told apart now. The whole record goes to error output (under an output index no
                // run uses), so nothing is lost; a replay may repeat the delivered outputs.
                if case .failed(let code, let message) = results[index][0].outcome {
                    try routeToError(
                        record, sub: Self.wholeRecordSub, raw: record.data, shard: shard, type: ErrorOutputType.of(code: code), code: code,
                        message: message + " (some outputs of this record were delivered before a restart)", attemptsMade: attemptsMade, now: now)
                }
                continue
            }
            for (sub, output) in results[index].enumerated() {
                if !skipRuns.isEmpty, isJournaled(position, sub: sub, shard: shard) {
                    lastRouting[shard] = nil  // a skipped output ends every run on its shard
                    continue
                }
                switch output.outcome {
                case .ok(let data, let keys):
                    try route(record, sub: sub, data: data, raw: output.raw, keys: keys, shard: shard, now: now)
                case .dropped:
                    lastRouting[shard] = nil
                    counters.droppedRecords += 1
                case .failed(let code, let message):
                    // Key extraction failures are partitioning failures, as Firehose files them.
                    let type = ErrorOutputType.of(code: code)
                    try routeToError(
                        record, sub: sub, raw: output.raw, shard: shard, type: type, code: code, message: message,
                        attemptsMade: attemptsMade, now: now)
                }
            }
        }
        return true
    }

    /// The record's partition: its evaluated data prefix (random strings rendered with seed 0;
    /// the batch's own seed names the file at seal).
    private func partitionKey(for record: StoredRecord, keys: [String: String]) throws(PrefixError) -> String {
        let prefix = definition.destination.prefix
        if prefix.usesPartitionKeys.isEmpty, let cache = partitionCache, cache.arrival == record.arrival.milliseconds { return cache.key }
        let key = try prefix.render(
            PrefixContext(timestamp: record.arrival, errorOutputType: nil, partitionKeys: keys, randomSeed: 0), timeZone: timeZone)
        if prefix.usesPartitionKeys.isEmpty { partitionCache = (record.arrival.milliseconds, key) }
        return key
    }

    /// Why a partition key value cannot name a folder, or nil when it can.
    static func unsafePartitionValue(_ value: String) -> String? {
        if value.isEmpty { return "is empty" }
        if value == "." || value == ".." { return "is \"\(value)\", which names a directory, not a folder of its own" }
        if value.contains("/") { return "contains \"/\", which would create another folder level" }
        if value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) { return "contains a control character" }
        if value.utf8.count > maximumPartitionValueBytes { return "is \(value.utf8.count) bytes long; at most \(maximumPartitionValueBytes) are allowed" }
        if Replayer.errorTypes.contains(value) { return "is \"\(value)\", an error-output type, which would mix data with error output" }
        return nil
    }

    /// Why an evaluated prefix cannot name folders on Linux (a folder name, or the last folder
    /// name joined with the file name, over 255 bytes), or nil.
    func folderProblem(_ prefix: String) -> String? {
        var segments = prefix.split(separator: "/", omittingEmptySubsequences: false)
        let last = segments.removeLast()
        for segment in segments where segment.utf8.count > 255 {
            return "the prefix has a folder name of \(segment.utf8.count) bytes; Linux allows 255"
        }
        // The file name is the pipeline's name, a version, a time, a 36-character id and the extension.
        let fileName = definition.name.utf8.count + 64 + definition.destination.fileExtension.utf8.count
        if last.utf8.count + fileName > 255 {
            return "the prefix's last part and the file name make a name of \(last.utf8.count + fileName) bytes; Linux allows 255"
        }
        return nil
    }

    static let maximumPartitionValueBytes = 256

    /// Whether a journaled batch holds output `sub` of the record at `position` (binary search
    /// over the shard's sorted runs).
    private func isJournaled(_ position: ShardPosition, sub: Int, shard: Int) -> Bool {
        guard let runs = skipRuns[shard], !runs.isEmpty else { return false }
        var low = 0
        var high = runs.count
        while low < high {  // the first run that starts after (position, sub)
            let middle = (low + high) / 2
            let run = runs[middle]
            if run.first < position || (run.first == position && run.firstSub <= sub) { low = middle + 1 } else { high = middle }
        }
        return low > 0 && runs[low - 1].contains(position, sub: sub)
    }

    /// An output index for a whole record that goes to error output after some of its outputs were
    /// delivered; no split produces this many outputs.
    static let wholeRecordSub = 1 << 30

    /// Whether any output of the record at `position` is in a journaled batch.
    private func hasJournaledOutput(_ position: ShardPosition, shard: Int) -> Bool {
        guard let runs = skipRuns[shard] else { return false }
        return runs.contains { ($0.first < position || ($0.first == position)) && ($0.last > position || $0.last == position) }
    }

    private func rebuildSkipRuns(from batches: [SealedBatch]) {
        skipRuns = [:]
        for batch in batches {
            for span in batch.spans { skipRuns[span.shard, default: []].append(span) }
        }
        for shard in skipRuns.keys { skipRuns[shard]!.sort { ($0.first, $0.firstSub) < ($1.first, $1.firstSub) } }
    }

    private func route(
        _ record: StoredRecord, sub: Int, data: [UInt8], raw: [UInt8], keys: [String: String], shard: Int, now: Timestamp
    ) throws(PipelineRuntimeError) {
        for name in definition.destination.prefix.usesPartitionKeys.sorted() {
            if let value = keys[name], let problem = Self.unsafePartitionValue(value) {
                try routeToError(
                    record, sub: sub, raw: raw, shard: shard, type: "partitioning-failed", code: "DynamicPartitioning.InvalidPartitionKey",
                    message: "Partition key \(name) \(problem); it cannot be part of the prefix.", now: now)
                return
            }
        }
        let partition: String
        do {
            partition = try partitionKey(for: record, keys: keys)
        } catch {
            try routeToError(
                record, sub: sub, raw: raw, shard: shard, type: "partitioning-failed", code: "DynamicPartitioning.PrefixEvaluationFailed",
                message: "\(error)", now: now)
            return
        }
        if dataBuffers[partition] == nil, let problem = folderProblem(partition) {
            try routeToError(
                record, sub: sub, raw: raw, shard: shard, type: "partitioning-failed", code: "DynamicPartitioning.PrefixEvaluationFailed",
                message: problem, now: now)
            return
        }
        let buffer: PartitionBuffer
        if let open = dataBuffers[partition] {
            buffer = open
        } else {
            if openPartitionCount >= definition.maximumOpenPartitions {
                try routeToError(
                    record, sub: sub, raw: raw, shard: shard, type: "activePartitionExceeded",
                    code: "DynamicPartitioning.ActivePartitionsLimitExceeded",
                    message: "The pipeline has \(openPartitionCount) open partitions, its limit (maximumOpenPartitions \(definition.maximumOpenPartitions)). "
                        + "Raise maximumOpenPartitions or lower intervalInSeconds.", now: now)
                return
            }
            buffer = try openBuffer(kind: .data(partition: partition), now: now)
            // The keys the prefix uses name the file at seal (the partition already holds their values).
            for name in definition.destination.prefix.usesPartitionKeys { buffer.partitionKeys[name] = keys[name] }
            dataBuffers[partition] = buffer
        }
        do {
            try buffer.writer.append(data)
        } catch {
            throw PipelineRuntimeError("Pipeline \(definition.name): cannot write staging file '\(buffer.stagingPath)': \(error)")
        }
        buffer.add(record, sub: sub, shard: shard, bytes: data.count, consecutive: lastRouting[shard] == partition)
        lastRouting[shard] = partition
        if policy.flushReason(for: buffer.state, now: now) == .size || buffer.spans.count >= PartitionBuffer.maximumRuns {
            try seal(buffer, reason: .size, now: now)
        }
    }

    /// Open data partitions, counting batches that wait to be published (Firehose keeps a
    /// partition active until it is delivered).
    private var openPartitionCount: Int {
        dataBuffers.count + pending.reduce(0) { $0 + ($1.batch.kind.isData ? 1 : 0) }
    }

    private func routeToError(
        _ record: StoredRecord, sub: Int, raw: [UInt8], shard: Int, type: String, code: String, message: String, attemptsMade: Int = 1,
        now: Timestamp
    ) throws(PipelineRuntimeError) {
        let partition: String
        do {
            partition = try definition.destination.errorOutputPrefix.render(
                PrefixContext(timestamp: record.arrival, errorOutputType: type, partitionKeys: [:], randomSeed: 0), timeZone: timeZone)
        } catch {
            throw PipelineRuntimeError("Pipeline \(definition.name): cannot evaluate errorOutputPrefix: \(error)")
        }
        let key = type + "\u{0}" + partition
        let buffer: PartitionBuffer
        if let open = errorBuffers[key] {
            buffer = open
        } else {
            buffer = try openBuffer(kind: .error(type: type, partition: partition), now: now)
            errorBuffers[key] = buffer
        }
        let document = ErrorDocument.encode(
            record: record, rawData: raw, streamName: definition.streamName, shard: shard, attemptsMade: attemptsMade, errorCode: code,
            errorMessage: message, attemptEnding: now)
        do {
            try buffer.writer.append(document)
        } catch {
            throw PipelineRuntimeError("Pipeline \(definition.name): cannot write staging file '\(buffer.stagingPath)': \(error)")
        }
        buffer.add(record, sub: sub, shard: shard, bytes: document.count, consecutive: lastRouting[shard] == key)
        lastRouting[shard] = key
        counters.errorRecords[type, default: 0] += 1
        if policy.flushReason(for: buffer.state, now: now) == .size || buffer.spans.count >= PartitionBuffer.maximumRuns {
            try seal(buffer, reason: .size, now: now)
        }
    }

    /// The gzip level of the current definition, nil for no compression.
    private var compressionLevel: Int? {
        switch definition.destination.compression {
        case .none: nil
        case .gzip(let level): level
        }
    }

    private func openWriter(name: String, level: Int?) throws(PipelineRuntimeError) -> any StagingFileWriter {
        let path = stagingDirectory + "/" + name
        do {
            let handle = try context.fileSystem.open(path, .truncateCreate)
            if let level, let pool = context.compressionPool {
                return ParallelGzipFileWriter(handle: handle, level: level, pool: pool)
            }
            return GzipFileWriter(handle: handle, level: level, bufferCapacity: 32 << 10)
        } catch {
            throw PipelineRuntimeError("Pipeline \(definition.name): cannot create staging file '\(path)': \(error)")
        }
    }

    private func openBuffer(kind: BatchKind, now: Timestamp) throws(PipelineRuntimeError) -> PartitionBuffer {
        stagingCounter += 1
        // Unique across restarts: a sealed batch from before a crash may still own its staging file.
        let name = "buffer-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))-\(stagingCounter)"
        let writer = try openWriter(name: name, level: compressionLevel)
        return PartitionBuffer(kind: kind, stagingName: name, stagingPath: stagingDirectory + "/" + name, writer: writer, openedAt: now)
    }

    // MARK: - Sealing and publishing

    private func sealDue(now: Timestamp, forced: FlushReason?) throws(PipelineRuntimeError) {
        for buffer in Array(dataBuffers.values) + Array(errorBuffers.values) {
            if let forced, buffer.state.recordCount > 0 {
                try seal(buffer, reason: forced, now: now)
            } else if let reason = policy.flushReason(for: buffer.state, now: now) {
                try seal(buffer, reason: reason, now: now)
            }
        }
    }

    private func seal(_ buffer: PartitionBuffer, reason: FlushReason, now: Timestamp) throws(PipelineRuntimeError) {
        switch buffer.kind {
        case .data(let partition): dataBuffers[partition] = nil
        case .error(let type, let partition): errorBuffers[type + "\u{0}" + partition] = nil
        }
        do {
            try buffer.writer.finish()
            try buffer.writer.synchronize()
            // The staging file's directory entry too: a sealed batch's staging file must survive power loss.
            try context.fileSystem.synchronizeDirectory(stagingDirectory)
        } catch {
            buffer.writer.close()
            throw PipelineRuntimeError("Pipeline \(definition.name): cannot finish staging file '\(buffer.stagingPath)': \(error)")
        }
        let stagingSize = Int64(buffer.writer.writtenBytes)
        buffer.writer.close()
        let spans = buffer.spans
        let id = BatchIdentity.id(pipeline: definition.name, kind: buffer.kind, spans: spans)
        let object = try objectName(kind: buffer.kind, id: id, oldestArrival: buffer.oldestArrival, partitionKeys: buffer.partitionKeys)
        let batch = SealedBatch(
            id: id, kind: buffer.kind, object: object, reason: reason, configHash: definition.configHash, version: version,
            recordCount: buffer.state.recordCount, uncompressedBytes: buffer.state.uncompressedBytes, oldestArrival: buffer.oldestArrival,
            spans: spans, staging: buffer.stagingName, stagingSize: stagingSize, sealedAt: now, compressionLevel: compressionLevel)
        do {
            try journal.append([.sealed(batch)], synchronize: true)
        } catch {
            throw PipelineRuntimeError("Pipeline \(definition.name): cannot write the batch journal: \(error)")
        }
        journalState.apply(.sealed(batch))
        counters.flushes[reason, default: 0] += 1
        var item = PendingBatch(batch: batch)
        item.nextAttempt = now
        pending.append(item)
        _ = try attempt(index: pending.count - 1, now: now)
    }

    private func objectName(
        kind: BatchKind, id: String, oldestArrival: Timestamp, partitionKeys: [String: String] = [:]
    ) throws(PipelineRuntimeError) -> String {
        let seed = BatchIdentity.seed(id)
        let prefix: String
        do {
            switch kind {
            case .data:
                prefix = try definition.destination.prefix.render(
                    PrefixContext(timestamp: oldestArrival, errorOutputType: nil, partitionKeys: partitionKeys, randomSeed: seed), timeZone: timeZone)
            case .error(let type, _):
                prefix = try definition.destination.errorOutputPrefix.render(
                    PrefixContext(timestamp: oldestArrival, errorOutputType: type, partitionKeys: [:], randomSeed: seed), timeZone: timeZone)
            }
        } catch {
            throw PipelineRuntimeError("Pipeline \(definition.name): cannot evaluate the prefix: \(error)")
        }
        let name = ObjectName.make(
            pipeline: definition.name, version: version, timestamp: oldestArrival, timeZone: timeZone, id: id,
            fileExtension: definition.destination.fileExtension)
        return definition.destination.directory + "/" + prefix + name
    }

    /// Tries every pending batch that is due. Returns true if one was published.
    private func retryPending(now: Timestamp, force: Bool = false) throws(PipelineRuntimeError) -> Bool {
        var progressed = false
        var index = 0
        while index < pending.count {
            if force || pending[index].nextAttempt <= now {
                if try attempt(index: index, now: now) {
                    progressed = true
                    continue  // the item was removed
                }
            }
            index += 1
        }
        return progressed
    }

    /// One publication attempt of `pending[index]`. Returns true when it is done (and removed).
    private func attempt(index: Int, now: Timestamp) throws(PipelineRuntimeError) -> Bool {
        var item = pending[index]
        let staging: String
        let object: String
        let id: String
        if let diversion = item.diversion {
            (staging, object, id) = (diversion.staging, diversion.object, diversion.id)
        } else {
            (staging, object, id) = (item.batch.staging, item.batch.object, item.batch.id)
        }
        do {
            try publisher.publish(stagingPath: stagingDirectory + "/" + staging, object: object)
        } catch {
            item.attempts += 1
            counters.retries += 1
            let first = item.firstFailure ?? now
            item.firstFailure = first
            item.lastError = "\(error)"
            let exhausted = now.milliseconds - first.milliseconds >= Int64(definition.retryDurationSeconds) * 1000
            // A rename that succeeded before a failed directory sync leaves the file in place:
            // such a batch is retried (the sync), never diverted, or it would be in two places.
            // (Unknown counts as in place: a failed lstat must not send a published file's
            // records to error output as well.)
            let renamed = item.diversion == nil && context.fileSystem.mayExist(publisher.path(of: object))
            if item.diversion == nil && exhausted && !renamed {
                // Retries are spent: the records go to error output as delivery-failed.
                do {
                    item.diversion = try divert(item.batch, error: error, attempts: item.attempts, now: now)
                    pending[index] = item
                    if try attempt(index: index, now: now) { return true }
                    item = pending[index]
                } catch {
                    item.lastError = "\(item.lastError ?? ""); error output: \(error)"
                }
            }
            item.nextAttempt = now.adding(milliseconds: RetryBackoff.delay(attempt: item.attempts))
            let destination = item.diversion == nil ? "destination" : "error output"
            problem = "cannot publish \(object) to the \(destination) (attempt \(item.attempts)): \(item.lastError ?? "")"
            if item.diversion != nil || exhausted {
                logger.log(.error, "delivery failing; records stay in the stream", ["object": object, "error": item.lastError ?? ""])
            } else {
                logger.log(.warning, "publish failed; will retry", ["object": object, "error": item.lastError ?? ""])
            }
            pending[index] = item
            return false
        }
        markPublished(id)
        if item.diversion != nil {
            counters.errorRecords["delivery-failed", default: 0] += item.batch.recordCount
            counters.errorFilesPublished += 1
        } else if case .error = item.batch.kind {
            counters.errorFilesPublished += 1
        } else {
            counters.filesPublished += 1
            counters.recordsPublished += item.batch.recordCount
            counters.bytesPublished += Int(item.batch.stagingSize)
            counters.uncompressedBytesPublished += item.batch.uncompressedBytes
        }
        try? context.fileSystem.removeFile(stagingDirectory + "/" + item.batch.staging)  // published; the copy is in the archive
        if let diversion = item.diversion { try? context.fileSystem.removeFile(stagingDirectory + "/" + diversion.staging) }
        pending.remove(at: index)
        return true
    }

    private func markPublished(_ id: String) {
        // Not synced: if the line is lost, recovery finds the object in place and says so again.
        try? journal.append([.published(id: id)], synchronize: false)
        journalState.apply(.published(id: id))
    }

    /// Writes the batch's records as `delivery-failed` error documents and journals the diversion.
    private func divert(_ batch: SealedBatch, error: SystemError, attempts: Int, now: Timestamp) throws(PipelineRuntimeError) -> Diversion {
        let (code, message) = DeliveryError.describe(error)
        let id = BatchIdentity.id(pipeline: definition.name, kind: .error(type: "delivery-failed", partition: batch.id), spans: batch.spans)
        let object = try objectName(kind: .error(type: "delivery-failed", partition: ""), id: id, oldestArrival: batch.oldestArrival)
        var diversion = Diversion(
            batchID: batch.id, id: id, object: object, staging: batch.staging + ".delivery-failed", stagingSize: 0, errorCode: code,
            errorMessage: message, attemptsMade: attempts, attemptEndingTimestamp: now)
        diversion.stagingSize = try writeDiversionStaging(for: batch, diversion: diversion)
        do {
            try journal.append([.diverted(diversion)], synchronize: true)
        } catch {
            throw PipelineRuntimeError("Pipeline \(definition.name): cannot write the batch journal: \(error)")
        }
        journalState.apply(.diverted(diversion))
        return diversion
    }

    @discardableResult
    private func writeDiversionStaging(for batch: SealedBatch, diversion: Diversion) throws(PipelineRuntimeError) -> Int64 {
        guard case .data = batch.kind else {
            throw PipelineRuntimeError("Pipeline \(definition.name): error batch \(batch.id) cannot be diverted")
        }
        let writer = try openWriter(name: diversion.staging, level: batch.compressionLevel)
        defer { writer.close() }
        var count = 0
        do {
            try forEachMember(of: batch) { (record, shard, output) throws(SystemError) in
                count += 1
                try writer.append(
                    ErrorDocument.encode(
                        record: record, rawData: output.raw, streamName: definition.streamName, shard: shard, attemptsMade: diversion.attemptsMade,
                        errorCode: diversion.errorCode, errorMessage: diversion.errorMessage, attemptEnding: diversion.attemptEndingTimestamp))
            }
            try writer.finish()
            try writer.synchronize()
            try context.fileSystem.synchronizeDirectory(stagingDirectory)
        } catch let error as PipelineRuntimeError {
            throw error
        } catch {
            throw PipelineRuntimeError("Pipeline \(definition.name): cannot write error output staging: \(error)")
        }
        guard count == batch.recordCount else {
            throw PipelineRuntimeError(
                "Pipeline \(definition.name): batch \(batch.id) holds \(batch.recordCount) records but \(count) were found again in the stream"
                    + (batch.configHash == definition.configHash ? "" : " (the pipeline file changed since it was sealed; restore it to deliver this batch)")
                    + "; it stays in the journal and is retried.")
        }
        return Int64(writer.writtenBytes)
    }

    // MARK: - Checkpoint

    /// Everything before the returned position of each shard is delivered or journaled.
    private func currentCheckpoint() -> Checkpoint {
        var checkpoint = Checkpoint()
        for (shard, cursor) in cursors {
            checkpoint.positions[shard] = cursor.position
        }
        func lower(_ spans: [ShardSpan]) {
            for span in spans {
                if let current = checkpoint.positions[span.shard], span.first < current { checkpoint.positions[span.shard] = span.first }
            }
        }
        for buffer in dataBuffers.values { lower(buffer.spans) }
        for buffer in errorBuffers.values { lower(buffer.spans) }
        for item in pending { lower(item.batch.spans) }
        for (shard, cursor) in cursors where cursor.finished && checkpoint.positions[shard] == cursor.position {
            checkpoint.finished.insert(shard)
        }
        return checkpoint
    }

    private func persistCheckpoint() throws(PipelineRuntimeError) {
        let checkpoint = currentCheckpoint()
        guard checkpoint != persistedCheckpoint else { return }
        do {
            try journal.append([.checkpoint(checkpoint)], synchronize: false)
        } catch {
            throw PipelineRuntimeError("Pipeline \(definition.name): cannot write the batch journal: \(error)")
        }
        journalState.apply(.checkpoint(checkpoint))
        persistedCheckpoint = checkpoint
        forgetSealedDiversions(checkpoint)
        try updateRetentionFloors()
        try compactIfNeeded(force: false)
    }

    private func updateRetentionFloors() throws(PipelineRuntimeError) {
        guard let checkpoint = persistedCheckpoint else { return }
        for (shard, position) in checkpoint.positions {
            let floor: ShardPosition? = checkpoint.finished.contains(shard) ? nil : position
            do {
                try context.store.setRetentionFloor(stream: definition.streamName, shardIndex: shard, consumer: consumerName, position: floor)
            } catch {
                // The shard expired (retention after a reshard): nothing to hold any more.
                continue
            }
        }
    }

    private func compactIfNeeded(force: Bool) throws(PipelineRuntimeError) {
        guard force || journal.linesSinceCompaction >= 2_000 else { return }
        journalState.prune()
        do {
            try journal.compact(journalState)
        } catch {
            throw PipelineRuntimeError("Pipeline \(definition.name): cannot compact the batch journal: \(error)")
        }
        // Skip sets only need what the journal still holds.
        rebuildSkipRuns(from: journalState.sealed)
    }

    // MARK: - Processing retries across restarts

    private var retryMarksPath: String { directory + "/processing-retries" }

    /// Records (or clears) the failing batch of `shard` in `processing-retries`. Best effort: if
    /// the file cannot be written, a restart only starts that batch's retry time over.
    private func setRetryMark(_ mark: RetryMark?, shard: Int) {
        guard retryMarks[shard] != mark else { return }
        retryMarks[shard] = mark
        saveRetryMarks()
    }

    /// Writes `processing-retries`: failing batches, then diverted ones.
    private func saveRetryMarks() {
        let text =
            retryMarks.keys.sorted().map { retryMarks[$0]!.line(shard: $0) }.joined()
            + divertedBatches.keys.sorted().flatMap { shard in divertedBatches[shard]!.map { $0.line(shard: shard) } }.joined()
        do {
            try context.fileSystem.writeAtomically(Array(text.utf8), to: retryMarksPath)
        } catch {
            logger.log(.warning, "cannot record processing retries; a restart starts their retry time over", ["error": "\(error)"])
        }
    }

    /// Forgets diverted batches whose error output is sealed (the checkpoint is past them).
    private func forgetSealedDiversions(_ checkpoint: Checkpoint) {
        var changed = false
        for (shard, batches) in divertedBatches {
            let kept = batches.filter { batch in
                guard !checkpoint.finished.contains(shard), let sealedUpTo = checkpoint.positions[shard] else { return false }
                return sealedUpTo <= batch.last
            }
            if kept.count != batches.count {
                divertedBatches[shard] = kept.isEmpty ? nil : kept
                changed = true
            }
        }
        if changed { saveRetryMarks() }
    }

    private func loadRetryMarks() -> ([Int: RetryMark], [Int: [DivertedBatch]]) {
        guard context.fileSystem.mayExist(retryMarksPath), let bytes = try? context.fileSystem.readFile(retryMarksPath) else { return ([:], [:]) }
        var marks: [Int: RetryMark] = [:]
        var diverted: [Int: [DivertedBatch]] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            if let (shard, batch) = DivertedBatch.parse(line) {
                diverted[shard, default: []].append(batch)
                continue
            }
            guard let (shard, mark) = RetryMark.parse(line) else {
                logger.log(.warning, "ignoring an unreadable line of processing-retries", ["line": String(line.prefix(200))])
                continue
            }
            marks[shard] = mark
        }
        return (marks, diverted)
    }

    /// A read cut so that it lies wholly inside one diverted batch or wholly before the next.
    static func cut(_ read: ShardRead, at diverted: [DivertedBatch]) -> ShardRead {
        guard let head = read.records.first?.sequenceNumber.position else { return read }
        let end: Int
        if let batch = diverted.first(where: { $0.contains(head) }) {
            end = read.records.firstIndex { $0.sequenceNumber.position > batch.last } ?? read.records.count
        } else if let next = diverted.map(\.first).filter({ $0 > head }).min() {
            end = read.records.firstIndex { $0.sequenceNumber.position >= next } ?? read.records.count
        } else {
            return read
        }
        guard end < read.records.count else { return read }
        var cut = read
        cut.records = Array(read.records[..<end])
        cut.next = read.records[end].sequenceNumber.position
        cut.reachedShardEnd = false
        cut.caughtUp = false
        return cut
    }

    // MARK: - Status

    private func publishSnapshot(now: Timestamp) {
        var status = PipelineStatus(name: definition.name)
        status.version = version
        status.healthy = problem == nil
        status.problem = problem
        status.openPartitions = dataBuffers.count
        status.pendingBatches = pending.count
        var oldest: Timestamp?
        func consider(_ t: Timestamp?) {
            guard let t else { return }
            oldest = oldest.map { min($0, t) } ?? t
        }
        for buffer in dataBuffers.values {
            status.bufferedBytes += buffer.state.uncompressedBytes
            status.bufferedRecords += buffer.state.recordCount
            consider(buffer.oldestArrival)
            status.oldestBufferAgeMilliseconds = max(status.oldestBufferAgeMilliseconds ?? 0, now.milliseconds - buffer.state.openedAt.milliseconds)
        }
        for buffer in errorBuffers.values { consider(buffer.oldestArrival) }
        for item in pending { consider(item.batch.oldestArrival) }
        for cursor in cursors.values { consider(cursor.behindArrival) }
        status.oldestUndeliveredArrival = oldest
        status.caughtUp = started && processingRetries.isEmpty && cursors.values.allSatisfy { $0.finished || $0.caughtUp }
        status.counters = counters
        snapshot.withLock { $0 = status }
    }
}

extension BatchKind {
    var isData: Bool {
        if case .data = self { return true }
        return false
    }
}

/// An open buffer: a staging file the records are compressed into as they arrive, and the spans
/// of sequence positions it holds.
final class PartitionBuffer {
    let kind: BatchKind
    let stagingName: String
    let stagingPath: String
    let writer: any StagingFileWriter
    var state: BufferState
    var oldestArrival = Timestamp(milliseconds: Int64.max)
    /// Values of the partition keys the prefix uses (the same for every record of the buffer).
    var partitionKeys: [String: String] = [:]
    /// Runs of consecutive records of one shard, in append order; every record of a run is in
    /// this buffer.
    private(set) var spans: [ShardSpan] = []

    init(kind: BatchKind, stagingName: String, stagingPath: String, writer: any StagingFileWriter, openedAt: Timestamp) {
        self.kind = kind
        self.stagingName = stagingName
        self.stagingPath = stagingPath
        self.writer = writer
        state = BufferState(openedAt: openedAt)
    }

    /// Runs are capped so a batch's record map stays bounded; a buffer is sealed at the cap.
    static let maximumRuns = 65_536
    /// The shard of the record appended last.
    private var lastShard: Int?

    /// Adds a record that was appended to the staging file. `consecutive`: the shard's previous
    /// record went to this buffer too. A run grows only when that holds and this buffer's
    /// previous record came from the same shard, so the runs are exact and in append order.
    func add(_ record: StoredRecord, sub: Int, shard: Int, bytes: Int, consecutive: Bool) {
        let position = record.sequenceNumber.position
        state.recordCount += 1
        state.uncompressedBytes += bytes
        if record.arrival < oldestArrival { oldestArrival = record.arrival }
        if consecutive && lastShard == shard && !spans.isEmpty {
            spans[spans.count - 1].last = position
            spans[spans.count - 1].lastSub = sub
        } else {
            spans.append(ShardSpan(shard: shard, first: position, last: position, firstSub: sub, lastSub: sub))
        }
        lastShard = shard
    }
}

/// Deterministic batch identities: the same records of the same partition always get the same
/// id, so a rebuilt batch is published under the same name.
enum BatchIdentity {
    static func id(pipeline: String, kind: BatchKind, spans: [ShardSpan]) -> String {
        var text = pipeline + "\u{0}"
        switch kind {
        case .data(let partition): text += "data\u{0}" + partition
        case .error(let type, let partition): text += "error\u{0}" + type + "\u{0}" + partition
        }
        for span in spans.sorted(by: { ($0.shard, $0.first) < ($1.shard, $1.first) }) {
            text += "\u{0}\(span.shard):\(span.first.packed)" + (span.firstSub == 0 ? "" : ".\(span.firstSub)")
        }
        let digest = Digest.sha256(Array(text.utf8))
        let hex = digest.prefix(16).map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
        }.joined()
        let chars = Array(hex)
        return String(chars[0..<8]) + "-" + String(chars[8..<12]) + "-" + String(chars[12..<16]) + "-" + String(chars[16..<20]) + "-"
            + String(chars[20..<32])
    }

    /// The seed for `!{firehose:random-string}` of a batch.
    static func seed(_ id: String) -> UInt64 {
        let digest = Digest.sha256(Array(id.utf8))
        return digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }
}

/// Exponential backoff with jitter for publication retries: 1 s, 2 s, 4 s ... up to 60 s, each
/// drawn between half and the whole of the step.
enum RetryBackoff {
    static func delay(attempt: Int) -> Int64 {
        let step = min(Int64(60_000), Int64(1000) << Int64(min(max(attempt - 1, 0), 6)))
        return step / 2 + Int64.random(in: 0...(step / 2))
    }
}

/// How a failed write to the destination is named in `delivery-failed` error documents.
enum DeliveryError {
    static func describe(_ error: SystemError) -> (code: String, message: String) {
        let code: String
        switch error.errnoName {
        case "EACCES", "EPERM", "EROFS": code = "Destination.AccessDenied"
        case "ENOSPC", "EDQUOT": code = "Destination.NoSpace"
        case "EIO": code = "Destination.IOError"
        default: code = "Destination.WriteFailed"
        }
        return (code, "\(error)")
    }
}

/// Firehose's error-output document, one JSON line per record, plus the source stream, shard and
/// sequence number so a replay can be exact.
enum ErrorDocument {
    static func encode(
        record: StoredRecord, rawData: [UInt8], streamName: String, shard: Int, attemptsMade: Int, errorCode: String, errorMessage: String,
        attemptEnding: Timestamp
    ) -> [UInt8] {
        var w = JSONWriter(capacity: rawData.count * 4 / 3 + 256)
        w.beginObject()
        w.key("attemptsMade"); w.number(attemptsMade)
        w.key("arrivalTimestamp"); w.number(record.arrival.milliseconds)
        w.key("errorCode"); w.string(errorCode)
        w.key("errorMessage"); w.string(errorMessage)
        w.key("attemptEndingTimestamp"); w.number(attemptEnding.milliseconds)
        w.key("rawData"); w.base64(rawData)
        w.key("sourceStream"); w.string(streamName)
        w.key("shardId"); w.string(ShardID.format(shard))
        w.key("sequenceNumber"); w.string(record.sequenceNumber.description)
        w.endObject()
        var bytes = w.bytes
        bytes.append(0x0A)
        return bytes
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var s = Substring(self)
        while let c = s.last, c == "\n" || c == " " { s = s.dropLast() }
        return String(s)
    }
}

/// The error-output type a processor's failure code files under, as Firehose files them:
/// key extraction and prefix failures under `partitioning-failed`, decompression failures under
/// `decompression-failed`, everything else under `processing-failed`.
package enum ErrorOutputType {
    package static func of(code: String) -> String {
        if code.hasPrefix("DynamicPartitioning.") { return "partitioning-failed" }
        if code.hasPrefix("Decompression.") { return "decompression-failed" }
        return "processing-failed"
    }
}

/// A batch whose processing used up its retries and went to error output: its first and last
/// records, the attempts made and the failure's code. One line of `processing-retries`:
/// `diverted <shard> <first packed position> <last packed position> <attempts> <code>`.
struct DivertedBatch: Equatable {
    var first: ShardPosition
    var last: ShardPosition
    var attempts: Int
    var code: String

    func contains(_ position: ShardPosition?) -> Bool {
        guard let position else { return false }
        return first <= position && position <= last
    }

    func line(shard: Int) -> String {
        "diverted \(shard) \(first.packed) \(last.packed) \(attempts) \(code.isEmpty ? "-" : String(code.map { $0 == " " ? "_" : $0 }))\n"
    }

    static func parse(_ line: Substring) -> (Int, DivertedBatch)? {
        let fields = line.split(separator: " ")
        guard fields.count == 6, fields[0] == "diverted", let shard = Int(fields[1]), let first = UInt64(fields[2]),
            let last = UInt64(fields[3]), let attempts = Int(fields[4]), shard >= 0, attempts >= 1
        else { return nil }
        return (
            shard,
            DivertedBatch(
                first: ShardPosition(packed: first), last: ShardPosition(packed: last), attempts: attempts,
                code: fields[5] == "-" ? "" : String(fields[5]))
        )
    }
}

/// A batch whose processing was failing: its first and last records, since when it fails and
/// how many attempts were made. One line of `processing-retries`:
/// `<shard> <first packed position> <last packed position> <first failure ms> <attempts>`.
struct RetryMark: Equatable {
    var first: ShardPosition
    var last: ShardPosition
    var firstFailure: Timestamp
    var attempts: Int

    /// The batch read now holds records of the marked one (batches may be cut differently after
    /// a restart).
    func covers(_ records: [StoredRecord]) -> Bool {
        guard let head = records.first?.sequenceNumber.position, let tail = records.last?.sequenceNumber.position else { return false }
        return head <= last && tail >= first
    }

    func line(shard: Int) -> String {
        "\(shard) \(first.packed) \(last.packed) \(firstFailure.milliseconds) \(attempts)\n"
    }

    static func parse(_ line: Substring) -> (Int, RetryMark)? {
        let fields = line.split(separator: " ")
        guard fields.count == 5, let shard = Int(fields[0]), let first = UInt64(fields[1]), let last = UInt64(fields[2]),
            let failure = Int64(fields[3]), let attempts = Int(fields[4]), shard >= 0, attempts >= 1
        else { return nil }
        return (
            shard,
            RetryMark(
                first: ShardPosition(packed: first), last: ShardPosition(packed: last), firstFailure: Timestamp(milliseconds: failure),
                attempts: attempts)
        )
    }
}
