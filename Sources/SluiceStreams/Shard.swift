package import SluiceSupport

/// Settings a shard needs from its store.
struct ShardSettings: Sendable {
    var segmentSize: UInt32
    var indexInterval: UInt32
    var maximumFrame: Int
    var durability: DurabilityPolicy
    var fileSystem: FileSystem
    var clock: any TimeSource
    var logger: Logger
    /// Bumped whenever records become readable or a shard closes, for in-process followers.
    var changes: ChangeSignal
}

/// A generation counter that readers wait on: shared by every shard of a store so one pipeline
/// thread can wait for new records on any of its shards without polling.
package final class ChangeSignal: Sendable {
    private let lock = ConditionLock<UInt64>(0)

    package init() {}

    /// The current generation.
    package var generation: UInt64 { lock.withLock { $0.state } }

    /// Bumps the generation and wakes every waiter.
    package func signal() {
        lock.withLock { locked in
            locked.state &+= 1
            locked.broadcast()
        }
    }

    /// Waits until the generation differs from `seen` or `nanoseconds` pass; returns the
    /// current generation.
    @discardableResult
    package func wait(since seen: UInt64, nanoseconds: Int64) -> UInt64 {
        let deadline = monotonicNanoseconds() + nanoseconds
        return lock.withLock { locked in
            while locked.state == seen {
                let left = deadline - monotonicNanoseconds()
                if left <= 0 { break }
                locked.wait(nanoseconds: left)
            }
            return locked.state
        }
    }
}

/// What one read of a shard returned.
package struct ShardRead: Sendable {
    /// The records, in sequence order.
    package var records: [StoredRecord]
    /// Where the next read continues.
    package var next: ShardPosition
    /// The shard is closed and the reader has consumed all of it.
    package var reachedShardEnd: Bool
    /// Arrival time of the newest readable record of the shard, if any.
    package var tipArrival: Timestamp?
    /// The read ended at the newest readable record.
    package var caughtUp: Bool
}

/// One shard's log: a directory of segment files, appended to under a lock and made durable by
/// group commit.
///
/// Thread-safe. Appends write frames to the page cache while holding the shard lock; the
/// `fdatasync` that makes them durable runs outside the lock, led by one waiting appender on
/// behalf of all of them (group commit). Readers see only durable bytes under
/// `DurabilityPolicy.always`.
final class Shard: Sendable {
    let index: Int
    let incarnation: UInt32
    let directory: String
    let settings: ShardSettings
    private let lock: ConditionLock<State>

    /// A failed group sync: appends whose commit position lies in `(from, to]` failed.
    private struct SyncFailure {
        var from: Int64
        var to: Int64
        var error: StreamError
    }

    private struct State {
        var segments: [Segment]
        var handles: [UInt32: FileHandle] = [:]
        var nextSegmentNumber: UInt32
        var appended: Int64 = 0
        /// What the syncer may start a group sync for: `appended`, except while the appender
        /// that wrote the rest is still in a burst (`WakeupBatch`); see `releaseAppends`.
        var released: Int64 = 0
        var durable: Int64 = 0
        var syncing = false
        var directoryDirty = false
        var failures: [SyncFailure] = []
        var closed: Bool
        var shutDown = false
        var lastArrival: Int64
        var floors: [String: ShardPosition] = [:]
        /// The highest segment number retention has removed (the `trimmed` file), if any: the
        /// positions a reader can have lost to retention, as opposed to empty segments removed
        /// at open, which held nothing.
        var trimmedThrough: UInt32?
        /// Callbacks waiting for durability, in commit order.
        var pending: [(commit: Int64, callback: DurableCallback)] = []
        var syncerRunning = false
        /// The active segment's file is allocated up to here (`preallocate`); 0 when it is not.
        var preallocatedEnd: UInt32 = 0
        /// The file system refused to preallocate the active segment: append without it.
        var preallocationOff = false
    }

    /// Called once the records of an append are durable (nil) or have failed (the error).
    typealias DurableCallback = @Sendable (StreamError?) -> Void

    /// Why an append was refused without writing anything.
    enum AppendRefusal: Error {
        /// The shard was closed by a reshard: route the records again.
        case closed
        case failed(StreamError)
    }

    private init(index: Int, incarnation: UInt32, directory: String, settings: ShardSettings, state: State) {
        self.index = index
        self.incarnation = incarnation
        self.directory = directory
        self.settings = settings
        self.lock = ConditionLock(state)
    }

    var shardID: String { ShardID.format(index) }

    private func sequence(_ position: ShardPosition) -> SequenceNumber {
        SequenceNumber(shardIndex: index, incarnation: incarnation, position: position)
    }

    private func path(_ number: UInt32) -> String { directory + "/" + SegmentFile.name(number) }
    private func indexPath(_ number: UInt32) -> String { directory + "/" + SegmentFile.indexName(number) }

    // MARK: - Opening and recovery

    /// Opens (or creates) a shard directory and recovers it.
    ///
    /// Invariant kept while running: a segment that is sealed gets a durable `.idx` summary in the
    /// same group sync that makes anything after it durable, so only segments after the last
    /// acknowledged record can lack one. On open, segments with a valid `.idx` are trusted; every
    /// other segment is scanned frame by frame, and at the first torn or corrupt frame the log is
    /// cut: that segment is truncated there and every later segment removed. What remains is an
    /// exact prefix of what was written, holding every acknowledged record. An open shard then
    /// starts a new segment numbered above every segment file seen, made durable before anything
    /// is removed, so sequence numbers handed out before a crash are never handed out again.
    static func open(
        directory: String, index: Int, incarnation: UInt32, closed: Bool, settings: ShardSettings
    ) throws(StreamError) -> Shard {
        let fs = settings.fileSystem
        let logger = settings.logger.with("shard", ShardID.format(index))
        do throws(SystemError) {
            if !fs.isDirectory(directory) {
                try fs.createDirectory(directory)
                try fs.synchronizeDirectory(containing: directory)
            }
            let names = try fs.contentsOfDirectory(directory)
            let numbers = names.compactMap(SegmentFile.number(ofSegmentFile:)).sorted()
            // The high-water mark: above every segment or summary file present, so a number is
            // never handed out twice even if an earlier open stopped half-way.
            let highest = max(numbers.last ?? 0, names.compactMap(SegmentFile.number(ofIndexFile:)).max() ?? 0)
            // Pass 1 (read-only): what is trusted, what is scanned, where the log is cut.
            var segments: [Segment] = []
            var doomed: [UInt32] = []
            var truncations: [(number: UInt32, end: UInt32)] = []
            var cut = false
            var lastArrival: Int64 = 0
            for number in numbers {
                let segmentPath = directory + "/" + SegmentFile.name(number)
                let indexPath = directory + "/" + SegmentFile.indexName(number)
                if cut {
                    doomed.append(number)
                    continue
                }
                if fs.exists(indexPath), let summary = SegmentFile.decodeIndex(try fs.readFile(indexPath)),
                    try fs.fileSize(segmentPath) >= Int64(summary.validEnd)
                {
                    // Bytes past the summary's end were never acknowledged (a failed write whose
                    // undo failed too); they are cut so nothing reads them.
                    if try fs.fileSize(segmentPath) > Int64(summary.validEnd) { truncations.append((number, summary.validEnd)) }
                    segments.append(Segment(recovered: number, path: segmentPath, summary: summary, summarised: true))
                    lastArrival = max(lastArrival, summary.lastArrival ?? 0)
                    continue
                }
                let handle = try fs.open(segmentPath, .readOnly)
                defer { handle.close() }
                let header = try handle.read(count: Int(SegmentFile.headerSize), at: 0)
                guard SegmentFile.isValidHeader(header, shardIndex: index, segment: number, incarnation: incarnation) else {
                    logger.log(.warning, "cutting the log at a segment with a torn or foreign header", ["path": segmentPath])
                    doomed.append(number)
                    cut = true
                    continue
                }
                let scan = try SegmentFile.scan(
                    handle, shardIndex: index, incarnation: incarnation, segment: number,
                    maximumFrame: settings.maximumFrame, indexInterval: settings.indexInterval)
                if let problem = scan.problem {
                    logger.log(
                        scan.stoppedAtZeros ? .info : .warning,
                        scan.stoppedAtZeros ? "cutting unwritten tail" : "cutting torn or corrupt tail",
                        ["path": segmentPath, "offset": String(scan.validEnd), "reason": problem])
                    cut = true
                }
                if try handle.size() != Int64(scan.validEnd) { truncations.append((number, scan.validEnd)) }
                segments.append(Segment(recovered: number, path: segmentPath, summary: scan, summarised: false))
                lastArrival = max(lastArrival, scan.lastArrival ?? 0)
            }
            // Segments without records serve no reader.
            for segment in segments where segment.isEmpty { doomed.append(segment.number) }
            let kept = segments.filter { !$0.isEmpty }
            var state = State(segments: kept, nextSegmentNumber: highest &+ 1, closed: closed, lastArrival: lastArrival)
            for name in names where name.hasPrefix(Shard.trimmedFileName + ".tmp-") {
                try? fs.removeFile(directory + "/" + name)  // an interrupted rewrite of the mark
            }
            if fs.exists(directory + "/" + Shard.trimmedFileName),
                let text = String(validating: try fs.readFile(directory + "/" + Shard.trimmedFileName), as: UTF8.self)
            {
                state.trimmedThrough = UInt32(text.filter { $0 != "\n" })
            }
            let shard = Shard(index: index, incarnation: incarnation, directory: directory, settings: settings, state: state)
            // Pass 2, in an order that is safe to interrupt at any point:
            // 1. the new active segment, numbered above every file seen, made durable;
            if !closed {
                try shard.lock.withLock { locked throws(SystemError) in
                    try shard.startSegment(&locked.state)
                }
                try fs.synchronizeDirectory(directory)
            }
            // 2. remove what lies after the cut, and empty segments (summary first, so a summary
            //    never outlives its segment);
            if !doomed.isEmpty {
                for number in doomed {
                    let indexPath = directory + "/" + SegmentFile.indexName(number)
                    if fs.exists(indexPath) { try fs.removeFile(indexPath) }
                    try fs.removeFile(directory + "/" + SegmentFile.name(number))
                }
                try fs.synchronizeDirectory(directory)
            }
            // 3. cut torn tails; flush bytes recovered from the page cache after a process crash;
            for segment in kept where !segment.indexPersisted || truncations.contains(where: { $0.number == segment.number }) {
                let handle = try fs.open(segment.path, .readWrite)
                defer { handle.close() }
                if let cut = truncations.first(where: { $0.number == segment.number }) {
                    try handle.truncate(to: Int64(cut.end))
                }
                try handle.synchronizeData()
            }
            // 4. durable summaries for every scanned segment: none of them is scanned again.
            let scanned = kept.filter { !$0.indexPersisted }
            for segment in scanned {
                try shard.writeIndex(segment)
            }
            if !scanned.isEmpty { try fs.synchronizeDirectory(directory) }
            shard.lock.withLock { locked in
                locked.state.directoryDirty = false
                for slot in locked.state.segments.indices where locked.state.segments[slot].sealed {
                    locked.state.segments[slot].indexPersisted = true
                }
            }
            return shard
        } catch {
            throw StreamError.storage("Cannot open shard directory '\(directory)'", error)
        }
    }

    /// Creates the next segment file and makes it the active one. Lock held.
    private func startSegment(_ state: inout State) throws(SystemError) {
        sealActiveSegment(&state)
        let number = state.nextSegmentNumber
        let segmentPath = path(number)
        let fs = settings.fileSystem
        // Whatever happens below, this number is used up.
        state.nextSegmentNumber = number &+ 1
        let handle = try fs.open(segmentPath, .createNew)
        do throws(SystemError) {
            let header = SegmentFile.header(
                shardIndex: index, segment: number, incarnation: incarnation, created: settings.clock.now())
            try handle.write(header, at: 0)
        } catch {
            handle.close()
            try? fs.removeFile(segmentPath)  // best effort: an empty file without a header is removed on open anyway
            throw error
        }
        state.handles[number] = handle
        state.preallocatedEnd = 0
        state.preallocationOff = false
        state.segments.append(
            Segment(
                number: number, path: segmentPath, writtenEnd: SegmentFile.headerSize, durableEnd: SegmentFile.headerSize,
                recordCount: 0, firstArrival: nil, lastArrival: nil, index: [], sealed: false, indexPersisted: false))
        state.directoryDirty = true
    }

    /// Seals the active segment and gives back the space preallocated past its last record,
    /// so a sealed segment's file ends at its last record. Lock held.
    private func sealActiveSegment(_ state: inout State) {
        guard let slot = state.segments.indices.last else { return }
        state.segments[slot].sealed = true
        let end = state.segments[slot].writtenEnd
        if state.preallocatedEnd > end, let handle = state.handles[state.segments[slot].number] {
            // Best effort: if the cut fails, recovery cuts the zeros after a restart.
            _ = handle.releasePreallocation(after: Int64(end))
        }
        state.preallocatedEnd = 0
    }

    /// Appends write into space allocated ahead in steps of this many bytes.
    static let preallocationStep: UInt64 = 1 << 20

    /// Allocates the active segment's file ahead of `end` (in `preallocationStep`s, never past
    /// the segment size), so that appends do not change the file's size and each group sync
    /// is one device write fewer. Lock held.
    private func preallocate(_ state: inout State, through end: UInt32) {
        guard !state.preallocationOff, end > state.preallocatedEnd, let slot = state.segments.indices.last else { return }
        let limit = UInt64(settings.segmentSize)
        guard UInt64(end) < limit, let handle = state.handles[state.segments[slot].number] else { return }
        let target = min(limit, (UInt64(end) / Shard.preallocationStep + 1) * Shard.preallocationStep)
        let from = UInt64(max(state.segments[slot].writtenEnd, state.preallocatedEnd))
        if handle.preallocate(offset: Int64(from), length: Int64(target - from)) {
            state.preallocatedEnd = UInt32(target)
        } else {
            state.preallocationOff = true  // the file system cannot: appends extend the file
        }
    }

    // MARK: - Appending

    /// Appends a batch and returns the sequence numbers, in batch order, and the commit position
    /// to wait for. Does not wait for durability; see `waitUntilDurable(_:)`.
    ///
    /// Thread-safe; holds the shard lock while stamping and writing the frames (no fsync).
    func append(
        _ batch: inout PreparedBatch, onDurable: DurableCallback? = nil
    ) throws(AppendRefusal) -> (sequences: [SequenceNumber], commit: Int64) {
        let interval = settings.indexInterval
        var startSyncer = false
        // An appender in a burst (the event loop over one epoll wake-up) releases its appends
        // to the syncer when the burst ends, so one group sync covers the whole burst.
        let deferred = onDurable != nil && settings.durability == .always && WakeupBatch.isCollecting
        let result: Result<([SequenceNumber], Int64), AppendRefusal> = lock.withLock { locked in
            if locked.state.closed { return .failure(.closed) }
            if locked.state.shutDown {
                return .failure(.failed(StreamError(.internalFailure, "Shard \(shardID) is shutting down; retry against the restarted service.")))
            }
            let arrival = max(settings.clock.now().milliseconds, locked.state.lastArrival)
            do throws(SystemError) {
                if locked.state.segments.last?.sealed ?? true {
                    try startSegment(&locked.state)
                }
            } catch {
                return .failure(.failed(.storage("Cannot start a new segment in '\(directory)'", error)))
            }
            // Plan the runs: consecutive frames that land in the same segment.
            struct Run { var segmentSlot: Int; var firstFrame: Int; var frameCount: Int; var fileOffset: UInt32 }
            var runs: [Run] = []
            var sequences: [SequenceNumber] = []
            sequences.reserveCapacity(batch.count)
            var slot = locked.state.segments.count - 1
            var writeAt = locked.state.segments[slot].writtenEnd
            var frameOffsets: [[UInt32]] = []
            for frame in 0..<batch.count {
                let size = UInt32(batch.frameSize(frame))
                let segmentHasData = writeAt > SegmentFile.headerSize
                if segmentHasData && UInt64(writeAt) + UInt64(size) > UInt64(settings.segmentSize) {
                    do throws(SystemError) {
                        try startSegment(&locked.state)
                    } catch {
                        // Nothing of this batch has been written yet.
                        return .failure(.failed(.storage("Cannot roll to a new segment in '\(directory)'", error)))
                    }
                    slot = locked.state.segments.count - 1
                    writeAt = SegmentFile.headerSize
                }
                if runs.last?.segmentSlot != slot {
                    runs.append(Run(segmentSlot: slot, firstFrame: frame, frameCount: 0, fileOffset: writeAt))
                    frameOffsets.append([])
                }
                let position = ShardPosition(segment: locked.state.segments[slot].number, offset: writeAt)
                let sequence = sequence(position)
                let start = batch.frameStarts[frame]
                let crc = batch.payloadCRCs[frame]
                batch.buffer.withUnsafeMutableBytes { raw in
                    RecordFrame.seal(raw, at: start, sequence: sequence, arrival: Timestamp(milliseconds: arrival), payloadCRC: crc)
                }
                sequences.append(sequence)
                runs[runs.count - 1].frameCount += 1
                frameOffsets[frameOffsets.count - 1].append(writeAt)
                writeAt += size
            }
            if runs.last?.segmentSlot == locked.state.segments.count - 1 {
                preallocate(&locked.state, through: writeAt)
            }
            // Write each run with one pwrite.
            for (runIndex, run) in runs.enumerated() {
                let segment = locked.state.segments[run.segmentSlot]
                let first = batch.frameStarts[run.firstFrame]
                let lastFrame = run.firstFrame + run.frameCount - 1
                let end = batch.frameStarts[lastFrame] + batch.frameSize(lastFrame)
                guard let handle = locked.state.handles[segment.number] else {
                    preconditionFailure("active segment \(segment.number) of \(shardID) has no open handle")
                }
                var failure: SystemError?
                batch.buffer.withUnsafeBytes { raw in
                    do throws(SystemError) {
                        try handle.write(UnsafeRawBufferPointer(rebasing: raw[first..<end]), at: Int64(run.fileOffset))
                    } catch { failure = error }
                }
                if let failure {
                    // Undo: cut every run of this batch back off, and never append to these
                    // segments again (their numbers are not handed out twice).
                    for undone in runs[0...runIndex] {
                        let slot = undone.segmentSlot
                        let number = locked.state.segments[slot].number
                        // Best effort: if the truncate fails too, the bytes beyond writtenEnd are
                        // never read (reads stop at the durable end) and are not acknowledged.
                        try? locked.state.handles[number]?.truncate(to: Int64(undone.fileOffset))
                        locked.state.segments[slot].sealed = true
                    }
                    return .failure(.failed(.storage("Cannot append \(batch.count) record(s) to \(shardID) ('\(segment.path)')", failure)))
                }
            }
            for (runIndex, run) in runs.enumerated() {
                let offsets = frameOffsets[runIndex]
                let last = offsets[offsets.count - 1] + UInt32(batch.frameSize(run.firstFrame + run.frameCount - 1))
                locked.state.segments[run.segmentSlot].noteAppended(frameOffsets: offsets, end: last, arrival: arrival, interval: interval)
            }
            locked.state.lastArrival = arrival
            locked.state.appended += Int64(batch.byteCount)
            if !deferred { locked.state.released = locked.state.appended }
            if let onDurable, settings.durability == .always {
                locked.state.pending.append((locked.state.appended, onDurable))
                if !deferred && !locked.state.syncerRunning {
                    locked.state.syncerRunning = true
                    startSyncer = true
                }
            }
            locked.broadcast()
            return .success((sequences, locked.state.appended))
        }
        if settings.durability != .always, case .success = result { settings.changes.signal() }
        if startSyncer { spawnSyncer() }
        if deferred, case .success = result {
            WakeupBatch.enqueue(ObjectIdentifier(self)) { [self] in releaseAppends() }
        }
        switch result {
        case .success(let value):
            // Under a relaxed policy the records count as acknowledged once written.
            if settings.durability != .always { onDurable?(nil) }
            return value
        case .failure(let refusal): throw refusal
        }
    }

    /// Ends a burst of appends: the syncer may now sync them (and is started if it is not running).
    private func releaseAppends() {
        let start = lock.withLock { locked -> Bool in
            locked.state.released = max(locked.state.released, locked.state.appended)
            locked.broadcast()
            guard !locked.state.syncerRunning, !locked.state.pending.isEmpty else { return false }
            locked.state.syncerRunning = true
            return true
        }
        if start { spawnSyncer() }
    }

    // MARK: - Syncer

    /// How long an idle syncer waits for more appends before its thread exits.
    static let syncerLingerNanoseconds: Int64 = 1_000_000_000

    /// The shard's syncer thread: while callbacks wait, it leads group syncs and then runs the
    /// callbacks whose records are durable (or failed), outside the lock. Started by the first
    /// append with a callback; exits once none have come for `syncerLingerNanoseconds`, or at
    /// shutdown.
    private func spawnSyncer() {
        Threads.spawn(name: "sluice-sync-\(shardID)") { [self] in
            var lingerUntil: Int64?
            while true {
                let (ready, plan) = lock.withLock { locked -> ([(DurableCallback, StreamError?)], SyncPlan?) in
                    while true {
                        let ready = takeResolved(&locked.state)
                        if !ready.isEmpty { return (ready, nil) }
                        if locked.state.pending.isEmpty {
                            // Stay a moment for the next burst rather than start a thread per
                            // burst; exit when the shard goes quiet or shuts down.
                            if !locked.state.shutDown {
                                let now = monotonicNanoseconds()
                                let until = lingerUntil ?? now + Shard.syncerLingerNanoseconds
                                lingerUntil = until
                                if now < until {
                                    locked.wait(nanoseconds: until - now)
                                    continue
                                }
                            }
                            locked.state.syncerRunning = false
                            return ([], nil)
                        }
                        lingerUntil = nil
                        // While a burst that reaches this shard is still being written, wait
                        // for its end: the sync then covers both, one fsync instead of two.
                        if !locked.state.syncing && locked.state.durable < locked.state.released
                            && locked.state.appended == locked.state.released
                        {
                            return ([], makeSyncPlan(&locked.state))
                        }
                        locked.wait()
                    }
                }
                for (callback, error) in ready { callback(error) }
                if let plan {
                    _ = runSync(plan)  // its callbacks learn the outcome through `takeResolved`
                    continue
                }
                if ready.isEmpty { return }
            }
        }
    }

    /// Removes and returns the callbacks whose commit is durable or inside a failed range. Lock held.
    private func takeResolved(_ state: inout State) -> [(DurableCallback, StreamError?)] {
        var ready: [(DurableCallback, StreamError?)] = []
        var kept: [(commit: Int64, callback: DurableCallback)] = []
        for entry in state.pending {
            if let failure = state.failures.last(where: { entry.commit > $0.from && entry.commit <= $0.to }) {
                ready.append((entry.callback, failure.error))
            } else if state.durable >= entry.commit {
                ready.append((entry.callback, nil))
            } else {
                kept.append(entry)
            }
        }
        if !ready.isEmpty { state.pending = kept }
        return ready
    }

    /// Blocks until everything up to `commit` is durable, leading a group sync if none is running.
    ///
    /// - Throws: `StreamError` (`InternalFailureException`) if the sync that covered `commit`
    ///   failed; those records are not acknowledged and are never readable.
    func waitUntilDurable(_ commit: Int64) throws(StreamError) {
        while true {
            let plan: SyncPlan? = try lock.withLock { locked throws(StreamError) -> SyncPlan? in
                while true {
                    if let failure = locked.state.failures.last(where: { commit > $0.from && commit <= $0.to }) {
                        throw failure.error
                    }
                    if locked.state.durable >= commit { return nil }
                    if !locked.state.syncing {
                        return makeSyncPlan(&locked.state)
                    }
                    locked.wait()
                }
            }
            guard let plan else { return }
            _ = runSync(plan)  // the loop above reads the outcome from `failures`/`durable`
        }
    }

    /// Syncs everything appended so far, and writes the summaries of sealed segments (used by
    /// the interval flusher and at shutdown).
    func flush() throws(StreamError) {
        while true {
            let plan: SyncPlan? = lock.withLock { locked -> SyncPlan? in
                while locked.state.syncing { locked.wait() }
                let state = locked.state
                let pending = state.durable < state.appended || state.directoryDirty
                    || state.segments.contains { $0.sealed && !$0.indexPersisted }
                return pending ? makeSyncPlan(&locked.state) : nil
            }
            guard let plan else { return }
            if let failure = runSync(plan) { throw failure }
            return
        }
    }

    private struct SyncPlan {
        /// Files to `fdatasync`: segments with unsynced bytes, and sealed segments whose summary
        /// is due (their header may never have been synced).
        var files: [(number: UInt32, handle: FileHandle, end: UInt32)]
        /// Sealed segments whose `.idx` must be made durable before anything after them is
        /// acknowledged.
        var summaries: [Segment]
        /// A segment with unsynced bytes has no open handle (the shard was shut down): the sync
        /// must fail rather than claim durability.
        var missingHandle: String?
        var directory: Bool
        var target: Int64
    }

    /// Claims the sync leadership and snapshots what must be synced. Lock held.
    private func makeSyncPlan(_ state: inout State) -> SyncPlan {
        state.syncing = true
        var files: [(UInt32, FileHandle, UInt32)] = []
        var summaries: [Segment] = []
        var missing: String?
        for segment in state.segments {
            let dirty = segment.writtenEnd > segment.durableEnd
            let needsSummary = segment.sealed && !segment.indexPersisted
            if needsSummary { summaries.append(segment) }
            if dirty || needsSummary {
                if let handle = state.handles[segment.number] {
                    files.append((segment.number, handle, segment.writtenEnd))
                } else if dirty {
                    missing = segment.path
                }
            }
        }
        let plan = SyncPlan(
            files: files, summaries: summaries, missingHandle: missing,
            directory: state.directoryDirty || !summaries.isEmpty, target: state.appended)
        state.directoryDirty = false
        return plan
    }

    /// Runs a sync plan outside the lock, then publishes the result and wakes every waiter.
    /// - Returns: the failure of this sync, if it failed.
    @discardableResult
    private func runSync(_ plan: SyncPlan) -> StreamError? {
        var failure: SystemError?
        do throws(SystemError) {
            if let missing = plan.missingHandle {
                throw SystemError(call: "fdatasync", errno: Errno.badDescriptor, path: missing)
            }
            for file in plan.files {
                try file.handle.synchronizeData()
            }
            for segment in plan.summaries {
                try writeIndex(segment)
            }
            if plan.directory {
                try settings.fileSystem.synchronizeDirectory(directory)
            }
        } catch {
            failure = error
        }
        let outcome = failure.map { StreamError.storage("Cannot make records of \(shardID) durable", $0) }
        lock.withLock { locked in
            locked.state.syncing = false
            defer { locked.broadcast() }
            if let failure, settings.durability != .always {
                // Under a relaxed policy these records were acknowledged already: keep them (they
                // may still reach the device) and retry at the next interval.
                locked.state.directoryDirty = locked.state.directoryDirty || plan.directory
                settings.logger.log(.error, "periodic sync failed; will retry", ["shard": shardID, "error": "\(failure)"])
                return
            }
            if let failure {
                // After a failed fsync the page cache can no longer be trusted: fail every
                // record not yet durable, cut it off, and start a fresh segment for what comes next.
                let error = StreamError.storage("Cannot make records of \(shardID) durable", failure)
                let from = locked.state.durable
                let to = locked.state.appended
                if let last = locked.state.failures.indices.last, locked.state.failures[last].to == from {
                    locked.state.failures[last].to = to  // adjacent failures merge, so the list stays short
                } else if to > from {
                    locked.state.failures.append(SyncFailure(from: from, to: to, error: error))
                }
                for slot in locked.state.segments.indices
                where locked.state.segments[slot].writtenEnd > locked.state.segments[slot].durableEnd {
                    let end = locked.state.segments[slot].durableEnd
                    // Best effort: if the truncate fails too, the bytes past `end` are never read
                    // (reads stop at the durable end) and the segment's summary records `end`.
                    try? locked.state.handles[locked.state.segments[slot].number]?.truncate(to: Int64(end))
                    locked.state.segments[slot].writtenEnd = end
                    locked.state.segments[slot].index.removeAll { $0.offset >= end }
                    if end <= SegmentFile.headerSize {
                        locked.state.segments[slot].recordCount = 0
                        locked.state.segments[slot].firstArrival = nil
                        locked.state.segments[slot].lastArrival = nil
                    }
                    locked.state.segments[slot].sealed = true
                    locked.state.segments[slot].indexPersisted = false
                }
                locked.state.durable = locked.state.appended
                locked.state.directoryDirty = true
                settings.logger.log(.error, "sync failed; unacknowledged records discarded", ["shard": shardID, "error": "\(failure)"])
                return
            }
            for file in plan.files {
                if let slot = locked.state.segments.firstIndex(where: { $0.number == file.number }) {
                    locked.state.segments[slot].durableEnd = max(locked.state.segments[slot].durableEnd, file.end)
                }
            }
            for summary in plan.summaries {
                if let slot = locked.state.segments.firstIndex(where: { $0.number == summary.number }),
                    locked.state.segments[slot].writtenEnd == summary.writtenEnd
                {
                    locked.state.segments[slot].indexPersisted = true
                }
            }
            locked.state.durable = max(locked.state.durable, plan.target)
            // Keep handles for the newest segments only; older sealed, summarised ones are opened
            // per read.
            let count = locked.state.segments.count
            for slot in locked.state.segments.indices where slot < count - 2 {
                let segment = locked.state.segments[slot]
                if segment.sealed && segment.indexPersisted && segment.writtenEnd == segment.durableEnd {
                    locked.state.handles[segment.number] = nil
                }
            }
        }
        if outcome == nil { settings.changes.signal() }
        return outcome
    }

    /// Writes a sealed segment's `.idx` summary durably: temporary file, fsync, rename. The caller
    /// fsyncs the directory.
    private func writeIndex(_ segment: Segment) throws(SystemError) {
        let target = indexPath(segment.number)
        let temporary = target + ".tmp"
        let handle = try settings.fileSystem.open(temporary, .truncateCreate)
        defer { handle.close() }
        try handle.write(SegmentFile.encodeIndex(segment), at: 0)
        try handle.synchronizeData()
        try settings.fileSystem.rename(temporary, to: target)
    }

    // MARK: - Closing

    /// Stops appends for good (the shard was split or merged). Appenders that race with this get
    /// `AppendRefusal.closed` and route again.
    func closeForResharding() {
        lock.withLock { locked in
            locked.state.closed = true
            sealActiveSegment(&locked.state)
            locked.broadcast()
        }
        settings.changes.signal()
    }

    /// Refuses further appends, syncs what is pending, writes durable summaries of every segment,
    /// and releases file handles.
    func shutDown() {
        lock.withLock { locked in
            locked.state.shutDown = true
            sealActiveSegment(&locked.state)
        }
        do throws(StreamError) { try flush() } catch {
            settings.logger.log(.error, "final sync failed", ["shard": shardID, "error": "\(error)"])
        }
        lock.withLock { locked in
            // Drop the handles rather than close them: a reader still inside `read` may hold
            // one, and closing it under that reader could hand its descriptor number to another
            // file. Each closes when its last reference goes.
            locked.state.handles.removeAll()
            locked.broadcast()
        }
    }

    /// Refuses further appends and lets go of file handles without syncing (the stream is being
    /// deleted). Appenders still waiting for durability fail.
    func discard() {
        lock.withLock { locked in
            locked.state.shutDown = true
            locked.state.handles.removeAll()
            locked.broadcast()
        }
    }

    /// Wakes every thread waiting in `waitForRecords`.
    func wakeWaiters() {
        lock.broadcast()
        settings.changes.signal()
    }

    // MARK: - Positions

    private func readableEnd(_ segment: Segment) -> UInt32 {
        settings.durability == .always ? segment.durableEnd : segment.writtenEnd
    }

    var isClosed: Bool { lock.withLock { $0.state.closed } }

    /// The position of the oldest record still kept (TRIM_HORIZON).
    func trimHorizon() -> ShardPosition {
        lock.withLock { locked in
            guard let first = locked.state.segments.first else {
                return locked.state.closed ? .end : ShardPosition(segment: locked.state.nextSegmentNumber, offset: 0)
            }
            return ShardPosition(segment: first.number, offset: SegmentFile.headerSize)
        }
    }

    /// The position just after the newest readable record (LATEST).
    func tip() -> ShardPosition {
        lock.withLock { locked in tipLocked(locked.state) }
    }

    /// The readable end of the first segment that is not complete (a rolled segment whose tail
    /// is not durable yet, or the active one): records past it are not readable yet, so LATEST
    /// must not point beyond it.
    private func tipLocked(_ state: State) -> ShardPosition {
        guard var slot = state.segments.indices.last else {
            return state.closed ? .end : ShardPosition(segment: state.nextSegmentNumber, offset: 0)
        }
        while slot > 0 && !isComplete(state.segments[slot - 1]) { slot -= 1 }
        let segment = state.segments[slot]
        return ShardPosition(segment: segment.number, offset: readableEnd(segment))
    }

    /// Sealed and readable to its written end: a reader may move past it.
    private func isComplete(_ segment: Segment) -> Bool {
        segment.sealed && readableEnd(segment) == segment.writtenEnd
    }

    /// A snapshot of the segments from `position` on, for reading outside the lock.
    private struct ReadView {
        struct Entry {
            var number: UInt32
            var path: String
            /// End of the readable bytes.
            var end: UInt32
            var handle: FileHandle?
            var isLast: Bool
            /// Sealed and readable to its written end: a reader may move past it.
            var isComplete: Bool
        }
        var segments: [Entry]
        var closed: Bool
        var tipArrival: Int64?
    }

    private func view(from position: ShardPosition, maximumSegments: Int) -> ReadView {
        lock.withLock { locked in
            let state = locked.state
            var segments: [ReadView.Entry] = []
            var slot = state.segments.firstIndex { $0.number >= position.segment } ?? state.segments.count
            while slot < state.segments.count && segments.count < maximumSegments {
                let segment = state.segments[slot]
                let end = readableEnd(segment)
                segments.append(
                    ReadView.Entry(
                        number: segment.number, path: segment.path, end: end, handle: state.handles[segment.number],
                        isLast: slot == state.segments.count - 1, isComplete: isComplete(segment)))
                slot += 1
            }
            let tipArrival = state.segments.last(where: { !$0.isEmpty })?.lastArrival
            return ReadView(segments: segments, closed: state.closed, tipArrival: tipArrival)
        }
    }

    // MARK: - Reading

    /// Reads records at or after `position`.
    ///
    /// Returns at most `limit` records and stops before the key and data bytes would pass
    /// `maximumBytes` (but always returns at least one record if one is readable). Does not block.
    /// A position inside a segment already removed by retention continues at the trim horizon.
    /// - Throws: `StreamError` (`InternalFailureException`) when a segment cannot be read or a
    ///   frame inside the readable range is corrupt.
    func read(from position: ShardPosition, limit: Int, maximumBytes: Int) throws(StreamError) -> ShardRead {
        let view = view(from: position, maximumSegments: 64)
        var records: [StoredRecord] = []
        var bytes = 0
        var current = position
        var full = false
        var caughtUp = view.segments.isEmpty
        var lastComplete = true
        for segment in view.segments {
            if segment.number > current.segment {
                current = ShardPosition(segment: segment.number, offset: SegmentFile.headerSize)
            }
            current.offset = max(current.offset, SegmentFile.headerSize)
            if current.offset < segment.end {
                let handle: FileHandle
                var opened: FileHandle? = nil
                if let shared = segment.handle {
                    handle = shared
                } else {
                    do throws(SystemError) {
                        opened = try settings.fileSystem.open(segment.path, .readOnly)
                    } catch {
                        if error.errno == Errno.noEntry { continue }  // removed by retention meanwhile
                        throw .storage("Cannot read segment '\(segment.path)'", error)
                    }
                    handle = opened!
                }
                defer { opened?.close() }
                let result = try readFrames(
                    handle: handle, path: segment.path, from: current.offset, end: segment.end,
                    limit: limit - records.count, budget: maximumBytes - bytes, into: &records)
                bytes += result.bytes
                current.offset = result.offset
                if result.full {
                    full = true
                    break
                }
            }
            lastComplete = segment.isComplete
            if segment.isLast {
                caughtUp = true
                break
            }
            if !segment.isComplete { break }
        }
        let reachedShardEnd = view.closed && caughtUp && !full && lastComplete
        return ShardRead(
            records: records, next: reachedShardEnd ? .end : current, reachedShardEnd: reachedShardEnd,
            tipArrival: view.tipArrival.map { Timestamp(milliseconds: $0) }, caughtUp: caughtUp && !full)
    }

    private func readFrames(
        handle: FileHandle, path: String, from start: UInt32, end: UInt32, limit: Int, budget: Int,
        into records: inout [StoredRecord]
    ) throws(StreamError) -> (offset: UInt32, bytes: Int, full: Bool) {
        var offset = start
        var bytes = 0
        var taken = 0
        let chunkLimit = 1 << 20
        var buffer: [UInt8] = []
        var needed = 0
        while offset < end {
            if taken >= limit { return (offset, bytes, true) }
            let want = min(max(chunkLimit, needed), Int(end - offset))
            if buffer.count < want { buffer = [UInt8](repeating: 0, count: want) }
            var got = 0
            var failure: SystemError?
            buffer.withUnsafeMutableBytes { raw in
                do throws(SystemError) {
                    got = try handle.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<want]), at: Int64(offset))
                } catch { failure = error }
            }
            if let failure { throw .storage("Cannot read segment '\(path)'", failure) }
            if got < want {
                throw StreamError(.internalFailure, "Segment '\(path)' is shorter than its recorded end \(end) (read \(got) bytes at \(offset)); the data directory was modified outside sluice.")
            }
            var cursor = 0
            var stop = false
            var problem: String?
            let maximumFrame = settings.maximumFrame
            buffer.withUnsafeBytes { raw in
                let view = UnsafeRawBufferPointer(rebasing: raw[0..<got])
                while cursor < got {
                    if taken >= limit { stop = true; return }
                    switch RecordFrame.inspect(view, at: cursor, maximumSize: maximumFrame) {
                    case .frame(let size, let sequence, let arrival):
                        let payload = size - RecordFrame.overhead
                        if bytes + payload > budget && !records.isEmpty { stop = true; return }
                        records.append(RecordFrame.record(view, at: cursor, size: size, sequence: sequence, arrival: arrival))
                        bytes += payload
                        taken += 1
                        cursor += size
                    case .incomplete(let size):
                        // A frame larger than this chunk: read again from it with room for it.
                        if cursor == 0 {
                            if size > got && Int64(offset) + Int64(size) <= Int64(end) {
                                needed = size
                            } else {
                                problem = "frame at offset \(offset) claims \(size) bytes but the readable end is \(end)"
                            }
                        }
                        return
                    case .corrupt(let reason):
                        problem = "frame at offset \(offset + UInt32(cursor)): \(reason)"
                        return
                    }
                }
            }
            offset += UInt32(cursor)
            if let problem {
                throw StreamError(.internalFailure, "Segment '\(path)' is corrupt: \(problem). Restore the data directory from a backup or delete the shard's damaged segment.")
            }
            if stop { return (offset, bytes, true) }
        }
        return (offset, bytes, false)
    }

    /// Blocks until a record after `position` is readable, the shard is closed, or `nanoseconds`
    /// pass. Returns at once if one already is. Used by in-process consumers (no polling).
    func waitForRecords(after position: ShardPosition, nanoseconds: Int64) {
        let deadline = monotonicNanoseconds() + nanoseconds
        lock.withLock { locked in
            while true {
                if locked.state.closed || locked.state.shutDown { return }
                if tipLocked(locked.state) > position { return }
                let left = deadline - monotonicNanoseconds()
                if left <= 0 { return }
                locked.wait(nanoseconds: left)
            }
        }
    }

    // MARK: - Lookups

    /// The position of the first record at or after `position` (used for AT_SEQUENCE_NUMBER and,
    /// with one byte added, AFTER_SEQUENCE_NUMBER). A position in a segment already removed by
    /// retention resolves to the trim horizon.
    func firstRecord(atOrAfter position: ShardPosition) throws(StreamError) -> ShardPosition {
        let found: (segment: Segment, readable: UInt32, complete: Bool, next: UInt32?)? = lock.withLock { locked in
            guard let slot = locked.state.segments.firstIndex(where: { $0.number >= position.segment }) else { return nil }
            let segment = locked.state.segments[slot]
            let next = slot + 1 < locked.state.segments.count ? locked.state.segments[slot + 1].number : nil
            return (segment, readableEnd(segment), isComplete(segment), next)
        }
        guard let found else { return tip() }
        if found.segment.number > position.segment || position.offset <= SegmentFile.headerSize {
            return ShardPosition(segment: found.segment.number, offset: SegmentFile.headerSize)
        }
        // Past this segment only once all of it is readable; otherwise its tail would be skipped.
        let beyond = found.complete ? found.next.map { ShardPosition(segment: $0, offset: SegmentFile.headerSize) } : nil
        if position.offset >= found.readable {
            return beyond ?? ShardPosition(segment: found.segment.number, offset: found.readable)
        }
        let entry = found.segment.index.last { $0.offset <= position.offset }
        let start = entry?.offset ?? SegmentFile.headerSize
        let offset = try scanForFrame(found.segment, from: start, end: found.readable) { frameOffset, _ in frameOffset >= position.offset }
        if let offset { return ShardPosition(segment: found.segment.number, offset: offset) }
        return beyond ?? ShardPosition(segment: found.segment.number, offset: found.readable)
    }

    /// The position of the first record that arrived at or after `timestamp`, or the tip.
    func firstRecord(arrivedAtOrAfter timestamp: Timestamp) throws(StreamError) -> ShardPosition {
        let found: (Segment, UInt32)? = lock.withLock { locked in
            guard let segment = locked.state.segments.first(where: { ($0.lastArrival ?? Int64.min) >= timestamp.milliseconds }) else {
                return nil
            }
            return (segment, readableEnd(segment))
        }
        guard let (segment, readable) = found else { return tip() }
        let entry = segment.index.last { $0.arrival < timestamp.milliseconds }
        let offset = try scanForFrame(segment, from: entry?.offset ?? SegmentFile.headerSize, end: readable) { _, arrival in
            arrival >= timestamp.milliseconds
        }
        return ShardPosition(segment: segment.number, offset: offset ?? readable)
    }

    /// Walks frame headers from `start` (a frame boundary) until `predicate` holds; nil if none
    /// does before `end`. Reads only frame headers' worth of data per frame (plus CRC checks).
    private func scanForFrame(
        _ segment: Segment, from start: UInt32, end: UInt32, _ predicate: (UInt32, Int64) -> Bool
    ) throws(StreamError) -> UInt32? {
        var offset = start
        let handle: FileHandle
        do throws(SystemError) {
            handle = try settings.fileSystem.open(segment.path, .readOnly)
        } catch {
            if error.errno == Errno.noEntry { return nil }  // removed by retention meanwhile
            throw .storage("Cannot read segment '\(segment.path)'", error)
        }
        defer { handle.close() }
        var header = [UInt8](repeating: 0, count: 32)
        while offset < end {
            var failure: SystemError?
            var got = 0
            header.withUnsafeMutableBytes { raw in
                do throws(SystemError) { got = try handle.read(into: raw, at: Int64(offset)) } catch { failure = error }
            }
            if let failure { throw .storage("Cannot read segment '\(segment.path)'", failure) }
            guard got == 32 else { return nil }
            let (length, arrival) = header.withUnsafeBytes { raw in
                (UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self)),
                 Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 24, as: Int64.self)))
            }
            if predicate(offset, arrival) { return offset }
            guard length >= UInt32(RecordFrame.bodyHeaderSize), Int(length) + RecordFrame.prefixSize <= settings.maximumFrame else {
                throw StreamError(.internalFailure, "Segment '\(segment.path)' is corrupt at offset \(offset). Restore the data directory from a backup.")
            }
            offset += length + UInt32(RecordFrame.prefixSize)
        }
        return nil
    }

    // MARK: - Retention

    /// Holds records at or after `position` against retention for `consumer` (nil releases).
    func setRetentionFloor(_ position: ShardPosition?, for consumer: String) {
        lock.withLock { locked in
            locked.state.floors[consumer] = position
        }
    }

    /// Deletes whole sealed segments whose newest record arrived before `cutoff` and that no
    /// retention floor needs. Never deletes the active segment.
    /// - Returns: the number of segments removed.
    @discardableResult
    func trim(arrivedBefore cutoff: Timestamp) throws(StreamError) -> Int {
        let doomed: [Segment] = lock.withLock { locked in
            let floor = locked.state.floors.values.min()
            var doomed: [Segment] = []
            while let first = locked.state.segments.first, locked.state.segments.count > 1 || locked.state.closed {
                guard first.sealed, first.writtenEnd == first.durableEnd else { break }
                guard (first.lastArrival ?? Int64.min) < cutoff.milliseconds else { break }
                if let floor, floor.segment <= first.number { break }
                doomed.append(locked.state.segments.removeFirst())
                locked.state.handles[first.number] = nil
            }
            return doomed
        }
        guard let newest = doomed.last?.number else { return 0 }
        // First the mark of what retention removed, so a reader left behind can tell a real gap
        // from segments that held nothing. Best effort: on a full disk the mark cannot be
        // written, and removing the segments is what frees space, so they go all the same (this
        // process still knows; a restart then reports no gap for them).
        let through = max(newest, lock.withLock { $0.state.trimmedThrough } ?? 0)
        lock.withLock { $0.state.trimmedThrough = through }
        do throws(SystemError) {
            try settings.fileSystem.writeAtomically(Array("\(through)\n".utf8), to: directory + "/" + Shard.trimmedFileName)
        } catch {
            settings.logger.log(.warning, "cannot record which segments retention removed; removing them anyway", ["shard": shardID, "error": "\(error)"])
        }
        do throws(SystemError) {
            for segment in doomed {
                try settings.fileSystem.removeFile(segment.path)
                let summary = indexPath(segment.number)
                if settings.fileSystem.exists(summary) { try settings.fileSystem.removeFile(summary) }
            }
            try settings.fileSystem.synchronizeDirectory(directory)
        } catch {
            throw .storage("Cannot delete expired segments of \(shardID)", error)
        }
        settings.logger.log(.info, "retention removed segments", ["shard": shardID, "count": String(doomed.count)])
        return doomed.count
    }

    /// The file that holds the highest segment number retention removed.
    static let trimmedFileName = "trimmed"

    /// Whether records at `position` may have been removed by retention (its segment is one
    /// retention deleted); false for positions in segments removed at open because they were
    /// empty.
    func mayHaveLostToRetention(_ position: ShardPosition) -> Bool {
        lock.withLock { locked in
            guard let through = locked.state.trimmedThrough else { return false }
            return position.segment <= through
        }
    }

    /// Whether the shard holds no segments (a closed shard fully trimmed).
    var isEmpty: Bool { lock.withLock { $0.state.segments.isEmpty } }

    /// Total bytes of all segments (for describing and metrics).
    var storedBytes: Int64 {
        lock.withLock { locked in locked.state.segments.reduce(0) { $0 + Int64($1.writtenEnd) } }
    }
}
