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
        var durable: Int64 = 0
        var syncing = false
        var directoryDirty = false
        var failures: [SyncFailure] = []
        var closed: Bool
        var shutDown = false
        var lastArrival: Int64
        var floors: [String: ShardPosition] = [:]
    }

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
    /// Segments with a valid `.idx` are trusted. Every other segment is scanned frame by frame;
    /// at the first torn or corrupt frame the segment is cut there and every later segment is
    /// removed, so what remains is an exact prefix of what was written. An open shard then starts
    /// a new segment, so sequence numbers handed out before a crash are never handed out again.
    static func open(
        directory: String, index: Int, incarnation: UInt32, closed: Bool, settings: ShardSettings
    ) throws(StreamError) -> Shard {
        let fs = settings.fileSystem
        let logger = settings.logger.with("shard", ShardID.format(index))
        do throws(SystemError) {
            try fs.createDirectory(directory)
            let names = try fs.contentsOfDirectory(directory)
            let numbers = names.compactMap(SegmentFile.number(ofSegmentFile:)).sorted()
            var segments: [Segment] = []
            var cut = false
            var changedDirectory = false
            var lastArrival: Int64 = 0
            for number in numbers {
                let segmentPath = directory + "/" + SegmentFile.name(number)
                let indexPath = directory + "/" + SegmentFile.indexName(number)
                if cut {
                    try fs.removeFile(segmentPath)
                    if fs.exists(indexPath) { try fs.removeFile(indexPath) }
                    changedDirectory = true
                    continue
                }
                if fs.exists(indexPath), let summary = SegmentFile.decodeIndex(try fs.readFile(indexPath)),
                    try fs.fileSize(segmentPath) >= Int64(summary.end)
                {
                    segments.append(
                        Segment(
                            number: number, path: segmentPath, writtenEnd: summary.end, durableEnd: summary.end,
                            recordCount: summary.count, firstArrival: summary.first, lastArrival: summary.last,
                            index: summary.index, sealed: true, indexPersisted: true))
                    if let last = summary.last { lastArrival = max(lastArrival, last) }
                    continue
                }
                let handle = try fs.open(segmentPath, .readWrite)
                defer { handle.close() }
                let header = try handle.read(count: Int(SegmentFile.headerSize), at: 0)
                guard SegmentFile.isValidHeader(header, shardIndex: index, segment: number, incarnation: incarnation) else {
                    logger.log(.warning, "removing segment with a torn or foreign header", ["path": segmentPath])
                    try fs.removeFile(segmentPath)
                    if fs.exists(indexPath) { try fs.removeFile(indexPath) }
                    cut = true
                    changedDirectory = true
                    continue
                }
                let scan = try SegmentFile.scan(
                    handle, shardIndex: index, incarnation: incarnation, segment: number,
                    maximumFrame: settings.maximumFrame, indexInterval: settings.indexInterval)
                if let problem = scan.problem {
                    logger.log(
                        .warning, "cutting torn or corrupt tail",
                        ["path": segmentPath, "offset": String(scan.validEnd), "reason": problem])
                    cut = true
                }
                if try handle.size() != Int64(scan.validEnd) {
                    try handle.truncate(to: Int64(scan.validEnd))
                }
                // Bytes recovered from the page cache after a process crash may not be on the device yet.
                try handle.synchronizeData()
                if fs.exists(indexPath) {
                    try fs.removeFile(indexPath)
                    changedDirectory = true
                }
                segments.append(
                    Segment(
                        number: number, path: segmentPath, writtenEnd: scan.validEnd, durableEnd: scan.validEnd,
                        recordCount: scan.recordCount, firstArrival: scan.firstArrival, lastArrival: scan.lastArrival,
                        index: scan.index, sealed: true, indexPersisted: false))
                if let last = scan.lastArrival { lastArrival = max(lastArrival, last) }
            }
            // Segments without records serve no reader; remove them (their numbers stay used:
            // the next segment number is above every number ever seen here).
            let nextNumber = (numbers.last ?? 0) &+ 1
            var kept: [Segment] = []
            for segment in segments {
                if segment.isEmpty {
                    try fs.removeFile(segment.path)
                    if fs.exists(directory + "/" + SegmentFile.indexName(segment.number)) {
                        try fs.removeFile(directory + "/" + SegmentFile.indexName(segment.number))
                    }
                    changedDirectory = true
                } else {
                    kept.append(segment)
                }
            }
            let shard = Shard(
                index: index, incarnation: incarnation, directory: directory, settings: settings,
                state: State(segments: kept, nextSegmentNumber: nextNumber, closed: closed, lastArrival: lastArrival))
            // Summaries for segments that were scanned: they are durable now.
            for segment in kept where !segment.indexPersisted {
                shard.persistIndex(segment)
            }
            if !closed {
                try shard.lock.withLock { locked throws(SystemError) in
                    try shard.startSegment(&locked.state)
                }
                changedDirectory = true
            }
            if changedDirectory {
                try fs.synchronizeDirectory(directory)
            }
            shard.lock.withLock { $0.state.directoryDirty = false }
            return shard
        } catch {
            throw StreamError.storage("Cannot open shard directory '\(directory)'", error)
        }
    }

    /// Creates the next segment file and makes it the active one. Lock held.
    private func startSegment(_ state: inout State) throws(SystemError) {
        if !state.segments.isEmpty { state.segments[state.segments.count - 1].sealed = true }
        let number = state.nextSegmentNumber
        let segmentPath = path(number)
        let fs = settings.fileSystem
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
        state.nextSegmentNumber = number &+ 1
        state.handles[number] = handle
        state.segments.append(
            Segment(
                number: number, path: segmentPath, writtenEnd: SegmentFile.headerSize, durableEnd: SegmentFile.headerSize,
                recordCount: 0, firstArrival: nil, lastArrival: nil, index: [], sealed: false, indexPersisted: false))
        state.directoryDirty = true
    }

    // MARK: - Appending

    /// Appends a batch and returns the sequence numbers, in batch order, and the commit position
    /// to wait for. Does not wait for durability; see `waitUntilDurable(_:)`.
    ///
    /// Thread-safe; holds the shard lock while stamping and writing the frames (no fsync).
    func append(_ batch: inout PreparedBatch) throws(AppendRefusal) -> (sequences: [SequenceNumber], commit: Int64) {
        let interval = settings.indexInterval
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
            if settings.durability != .always {
                locked.broadcast()
            }
            return .success((sequences, locked.state.appended))
        }
        switch result {
        case .success(let value): return value
        case .failure(let refusal): throw refusal
        }
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
            runSync(plan)
        }
    }

    /// Syncs everything appended so far (used by the interval flusher and at shutdown).
    func flush() throws(StreamError) {
        let target = lock.withLock { $0.state.appended }
        try waitUntilDurable(target)
    }

    private struct SyncPlan {
        var files: [(number: UInt32, handle: FileHandle, end: UInt32)]
        var directory: Bool
        var target: Int64
    }

    /// Claims the sync leadership and snapshots what must be synced. Lock held.
    private func makeSyncPlan(_ state: inout State) -> SyncPlan {
        state.syncing = true
        var files: [(UInt32, FileHandle, UInt32)] = []
        for segment in state.segments where segment.writtenEnd > segment.durableEnd {
            if let handle = state.handles[segment.number] {
                files.append((segment.number, handle, segment.writtenEnd))
            }
        }
        let plan = SyncPlan(files: files, directory: state.directoryDirty, target: state.appended)
        state.directoryDirty = false
        return plan
    }

    /// Runs a sync plan outside the lock, then publishes the result and wakes every waiter.
    private func runSync(_ plan: SyncPlan) {
        var failure: SystemError?
        do throws(SystemError) {
            for file in plan.files {
                try file.handle.synchronizeData()
            }
            if plan.directory {
                try settings.fileSystem.synchronizeDirectory(directory)
            }
        } catch {
            failure = error
        }
        let toPersist: [Segment] = lock.withLock { locked in
            locked.state.syncing = false
            defer { locked.broadcast() }
            if let failure {
                // After a failed fsync the page cache can no longer be trusted: fail every
                // record not yet durable, cut it off, and start a fresh segment for what comes next.
                let error = StreamError.storage("Cannot make records of \(shardID) durable", failure)
                locked.state.failures.append(SyncFailure(from: locked.state.durable, to: locked.state.appended, error: error))
                if locked.state.failures.count > 64 { locked.state.failures.removeFirst() }
                for slot in locked.state.segments.indices
                where locked.state.segments[slot].writtenEnd > locked.state.segments[slot].durableEnd {
                    let end = locked.state.segments[slot].durableEnd
                    try? locked.state.handles[locked.state.segments[slot].number]?.truncate(to: Int64(end))  // best effort, see append
                    locked.state.segments[slot].writtenEnd = end
                    locked.state.segments[slot].index.removeAll { $0.offset >= end }
                    locked.state.segments[slot].sealed = true
                }
                locked.state.durable = locked.state.appended
                locked.state.directoryDirty = true
                settings.logger.log(.error, "sync failed; unacknowledged records discarded", ["shard": shardID, "error": "\(failure)"])
                return []
            }
            for file in plan.files {
                if let slot = locked.state.segments.firstIndex(where: { $0.number == file.number }) {
                    locked.state.segments[slot].durableEnd = max(locked.state.segments[slot].durableEnd, file.end)
                }
            }
            locked.state.durable = max(locked.state.durable, plan.target)
            // Sealed segments that are now fully durable: write their summaries, let go of handles.
            var ready: [Segment] = []
            let count = locked.state.segments.count
            for slot in locked.state.segments.indices {
                let segment = locked.state.segments[slot]
                guard segment.sealed, segment.writtenEnd == segment.durableEnd else { continue }
                if !segment.indexPersisted && !segment.isEmpty {
                    locked.state.segments[slot].indexPersisted = true
                    ready.append(segment)
                }
                if slot < count - 2 { locked.state.handles[segment.number] = nil }
            }
            return ready
        }
        for segment in toPersist { persistIndex(segment) }
    }

    /// Writes a sealed, durable segment's `.idx` summary (temporary file and rename; no fsync:
    /// a lost or torn summary is detected by its CRC and rebuilt by scanning).
    private func persistIndex(_ segment: Segment) {
        let target = indexPath(segment.number)
        let temporary = target + ".tmp"
        do throws(SystemError) {
            let handle = try settings.fileSystem.open(temporary, .truncateCreate)
            defer { handle.close() }
            try handle.write(SegmentFile.encodeIndex(segment), at: 0)
            try settings.fileSystem.rename(temporary, to: target)
        } catch {
            settings.logger.log(.notice, "could not write segment summary; it will be rebuilt by a scan", ["path": target, "error": "\(error)"])
        }
    }

    // MARK: - Closing

    /// Stops appends for good (the shard was split or merged). Appenders that race with this get
    /// `AppendRefusal.closed` and route again.
    func closeForResharding() {
        lock.withLock { locked in
            locked.state.closed = true
            if !locked.state.segments.isEmpty { locked.state.segments[locked.state.segments.count - 1].sealed = true }
            locked.broadcast()
        }
    }

    /// Syncs what is pending, writes summaries, and releases file handles. Later appends fail.
    func shutDown() {
        do throws(StreamError) { try flush() } catch {
            settings.logger.log(.error, "final sync failed", ["shard": shardID, "error": "\(error)"])
        }
        let segments: [Segment] = lock.withLock { locked in
            locked.state.shutDown = true
            for slot in locked.state.segments.indices { locked.state.segments[slot].sealed = true }
            let ready = locked.state.segments.filter {
                !$0.indexPersisted && !$0.isEmpty && $0.writtenEnd == $0.durableEnd
            }
            for slot in locked.state.segments.indices where !locked.state.segments[slot].isEmpty {
                locked.state.segments[slot].indexPersisted = true
            }
            // Drop the handles rather than close them: a reader still inside `read` may hold
            // one, and closing it under that reader could hand its descriptor number to another
            // file. Each closes when its last reference goes.
            locked.state.handles.removeAll()
            locked.broadcast()
            return ready
        }
        for segment in segments { persistIndex(segment) }
    }

    /// Wakes every thread waiting in `waitForRecords`.
    func wakeWaiters() {
        lock.broadcast()
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

    private func tipLocked(_ state: State) -> ShardPosition {
        guard let last = state.segments.last else {
            return state.closed ? .end : ShardPosition(segment: state.nextSegmentNumber, offset: 0)
        }
        return ShardPosition(segment: last.number, offset: readableEnd(last))
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
                        isLast: slot == state.segments.count - 1, isComplete: segment.sealed && end == segment.writtenEnd))
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
        let found: (segment: Segment, readable: UInt32, next: UInt32?)? = lock.withLock { locked in
            guard let slot = locked.state.segments.firstIndex(where: { $0.number >= position.segment }) else { return nil }
            let segment = locked.state.segments[slot]
            let next = slot + 1 < locked.state.segments.count ? locked.state.segments[slot + 1].number : nil
            return (segment, readableEnd(segment), next)
        }
        guard let found else { return tip() }
        if found.segment.number > position.segment || position.offset <= SegmentFile.headerSize {
            return ShardPosition(segment: found.segment.number, offset: SegmentFile.headerSize)
        }
        if position.offset >= found.readable {
            if let next = found.next { return ShardPosition(segment: next, offset: SegmentFile.headerSize) }
            return ShardPosition(segment: found.segment.number, offset: found.readable)
        }
        let entry = found.segment.index.last { $0.offset <= position.offset }
        let start = entry?.offset ?? SegmentFile.headerSize
        let offset = try scanForFrame(found.segment, from: start, end: found.readable) { frameOffset, _ in frameOffset >= position.offset }
        if let offset { return ShardPosition(segment: found.segment.number, offset: offset) }
        if let next = found.next { return ShardPosition(segment: next, offset: SegmentFile.headerSize) }
        return ShardPosition(segment: found.segment.number, offset: found.readable)
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
        guard !doomed.isEmpty else { return 0 }
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

    /// Whether the shard holds no segments (a closed shard fully trimmed).
    var isEmpty: Bool { lock.withLock { $0.state.segments.isEmpty } }

    /// Total bytes of all segments (for describing and metrics).
    var storedBytes: Int64 {
        lock.withLock { locked in locked.state.segments.reduce(0) { $0 + Int64($1.writtenEnd) } }
    }
}
