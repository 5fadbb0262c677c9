#if canImport(Glibc)
internal import Glibc
#endif
internal import CZlib

/// What a pipeline's staging file is written through: compressed (`GzipFileWriter`,
/// `ParallelGzipFileWriter`) or not.
package protocol StagingFileWriter: AnyObject {
    /// Bytes given to `append` so far.
    var uncompressedBytes: Int { get }
    /// Bytes written to the file so far.
    var writtenBytes: Int { get }
    func append(_ bytes: [UInt8]) throws(SystemError)
    /// Ends the file (gzip trailer); does not sync.
    func finish() throws(SystemError)
    /// Writes what is buffered and flushes the file's data to the device.
    func synchronize() throws(SystemError)
    /// Closes the file; idempotent.
    func close()
}

extension GzipFileWriter: StagingFileWriter {}

/// Worker threads that compress chunks for `ParallelGzipFileWriter`s, so that compression uses
/// every core instead of the one pipeline thread.
///
/// Thread-safe. Jobs run in submission order, each on whichever worker is free.
package final class CompressionPool: Sendable {
    /// Taken slots are set to nil at once, so a finished job's buffers are not kept alive.
    private let queue = ConditionLock<(jobs: [CompressionJob?], head: Int, stopped: Bool, running: Int)>(([], 0, false, 0))

    /// Starts `threads` workers (at least 1).
    package init(threads: Int) {
        let count = max(1, threads)
        queue.withLock { $0.state.running = count }
        for index in 0..<count {
            Threads.spawn(name: "sluice-gzip-\(index)") { [self] in work() }
        }
    }

    func submit(_ job: CompressionJob) {
        queue.withLock { locked in
            precondition(!locked.state.stopped, "CompressionPool used after shutdown")
            locked.state.jobs.append(job)
            locked.signal()
        }
    }

    /// Finishes queued jobs, then stops the workers and waits for them.
    package func shutdown() {
        queue.withLock { locked in
            locked.state.stopped = true
            locked.broadcast()
            while locked.state.running > 0 { locked.wait() }
        }
    }

    private func work() {
        var compressor = ChunkCompressor()
        while true {
            let job: CompressionJob? = queue.withLock { locked in
                while locked.state.head == locked.state.jobs.count && !locked.state.stopped { locked.wait() }
                guard locked.state.head < locked.state.jobs.count else { return nil }
                let job = locked.state.jobs[locked.state.head]
                locked.state.jobs[locked.state.head] = nil
                locked.state.head += 1
                if locked.state.head > 1024 && locked.state.head * 2 > locked.state.jobs.count {
                    locked.state.jobs.removeFirst(locked.state.head)
                    locked.state.head = 0
                }
                return job
            }
            guard let job else { break }
            job.complete(compressor.compress(job))
        }
        queue.withLock { locked in
            locked.state.running -= 1
            locked.broadcast()
        }
    }
}

/// One chunk to compress: its bytes, the 32 KiB of input before it (the deflate dictionary, so
/// the chunk compresses as well as if the stream had not been split), and whether it is the last.
final class CompressionJob: Sendable {
    let inputCount: Int
    let level: Int
    let last: Bool
    /// The input and dictionary until a worker takes them (so they are freed once compressed),
    /// then the result.
    private let material: ConditionLock<(input: [UInt8], dictionary: [UInt8])?>
    private let result = ConditionLock<(output: [UInt8], crc: UInt32)?>(nil)

    init(input: [UInt8], dictionary: [UInt8], level: Int, last: Bool) {
        self.inputCount = input.count
        self.level = level
        self.last = last
        material = ConditionLock((input, dictionary))
    }

    /// The input and dictionary, handed over once to the worker.
    func take() -> (input: [UInt8], dictionary: [UInt8]) {
        material.withLock { locked in
            let value = locked.state!
            locked.state = nil
            return value
        }
    }

    func complete(_ value: (output: [UInt8], crc: UInt32)) {
        result.withLock { locked in
            locked.state = value
            locked.broadcast()
        }
    }

    var isDone: Bool { result.withLock { $0.state != nil } }

    func wait() -> (output: [UInt8], crc: UInt32) {
        result.withLock { locked in
            while locked.state == nil { locked.wait() }
            return locked.state!
        }
    }
}

/// A worker's raw-deflate streams, one per level, reused across chunks.
private struct ChunkCompressor: ~Copyable {
    private var streams: [Int: UnsafeMutablePointer<z_stream>] = [:]

    deinit {
        for stream in streams.values {
            deflateEnd(stream)
            stream.deinitialize(count: 1)
            stream.deallocate()
        }
    }

    mutating func compress(_ job: CompressionJob) -> (output: [UInt8], crc: UInt32) {
        let (input, dictionary) = job.take()
        let stream: UnsafeMutablePointer<z_stream>
        if let existing = streams[job.level] {
            stream = existing
            deflateReset(stream)
        } else {
            stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            stream.initialize(to: z_stream())
            let status = CZlib_deflateInit2(stream, Int32(job.level), -15, 8, Z_DEFAULT_STRATEGY)
            precondition(status == Z_OK, "zlib deflateInit2 failed with status \(status) (out of memory)")
            streams[job.level] = stream
        }
        if !dictionary.isEmpty {
            dictionary.withUnsafeBufferPointer { buffer in
                _ = deflateSetDictionary(stream, buffer.baseAddress, uInt(buffer.count))
            }
        }
        let bound = Int(deflateBound(stream, uLong(input.count))) + 64
        var output = [UInt8](repeating: 0, count: bound)
        var produced = 0
        let flush = job.last ? Z_FINISH : Z_SYNC_FLUSH
        input.withUnsafeBufferPointer { input in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.pointee.avail_in = uInt(input.count)
            while true {
                if produced == output.count { output += [UInt8](repeating: 0, count: output.count) }
                let (status, roomLeft) = output.withUnsafeMutableBufferPointer { out -> (Int32, Bool) in
                    stream.pointee.next_out = out.baseAddress! + produced
                    stream.pointee.avail_out = uInt(out.count - produced)
                    let status = deflate(stream, flush)
                    produced = out.count - Int(stream.pointee.avail_out)
                    return (status, stream.pointee.avail_out > 0)
                }
                precondition(status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR, "zlib deflate failed with status \(status)")
                if job.last ? status == Z_STREAM_END : (stream.pointee.avail_in == 0 && roomLeft) { break }
            }
            stream.pointee.next_in = nil
            stream.pointee.next_out = nil
        }
        output = Array(output[..<produced])  // exact size: finished jobs may wait a while to be written
        let crc = input.withUnsafeBufferPointer { buffer in
            UInt32(truncatingIfNeeded: crc32(0, buffer.baseAddress, uInt(buffer.count)))
        }
        return (output, crc)
    }
}

/// A gzip staging writer that compresses on a `CompressionPool`: input is cut into chunks, each
/// compressed as raw deflate primed with the 32 KiB before it (as pigz does), and the pieces are
/// written in order as one gzip member whose CRC-32 is combined from the chunks'.
///
/// The output is a single standard gzip member (`gzip -t`, `zcat`, any reader) and depends only
/// on the input, the level and the chunk size, so a batch rebuilt from the log is byte-identical.
/// Memory per writer: one chunk of input plus the 32 KiB dictionary, and the chunks in flight.
///
/// Not thread-safe: one owner thread.
package final class ParallelGzipFileWriter: StagingFileWriter {
    package let handle: FileHandle
    package let level: Int
    package private(set) var uncompressedBytes = 0
    package private(set) var writtenBytes = 0

    private let pool: CompressionPool
    private let chunkSize: Int
    private let maximumInFlight: Int
    private var pending: [UInt8] = []
    private var dictionary: [UInt8] = []
    private var inFlight: [CompressionJob] = []
    private var crc: UInt32 = 0
    private var finished = false
    private var closed = false
    private var failure: SystemError?

    package init(handle: FileHandle, level: Int, pool: CompressionPool, chunkSize: Int = 128 << 10, maximumInFlight: Int = 4) {
        precondition((1...9).contains(level), "gzip compression level must be 1...9, got \(level)")
        precondition(chunkSize >= 1024, "chunk size must be at least 1 KiB")
        self.handle = handle
        self.level = level
        self.pool = pool
        self.chunkSize = chunkSize
        self.maximumInFlight = max(1, maximumInFlight)
    }

    deinit {
        // Jobs still queued complete into nothing; the handle closes with the writer.
        handle.close()
    }

    package func append(_ bytes: [UInt8]) throws(SystemError) {
        precondition(!closed && !finished, "ParallelGzipFileWriter.append after finish or close")
        if let failure { throw failure }
        if writtenBytes == 0 && uncompressedBytes == 0 { try write(Self.header) }
        uncompressedBytes += bytes.count
        var offset = 0
        while offset < bytes.count {
            if pending.isEmpty { pending.reserveCapacity(chunkSize) }
            let take = min(chunkSize - pending.count, bytes.count - offset)
            pending.append(contentsOf: bytes[offset..<offset + take])
            offset += take
            if pending.count == chunkSize { try submit(last: false) }
        }
    }

    package func finish() throws(SystemError) {
        precondition(!closed, "ParallelGzipFileWriter.finish after close")
        if let failure { throw failure }
        if finished { return }
        if writtenBytes == 0 && uncompressedBytes == 0 { try write(Self.header) }
        try submit(last: true)
        while !inFlight.isEmpty { try drainHead() }
        var trailer: [UInt8] = []
        for shift in stride(from: 0, to: 32, by: 8) { trailer.append(UInt8(truncatingIfNeeded: crc >> UInt32(shift))) }
        let size = UInt32(truncatingIfNeeded: uncompressedBytes)
        for shift in stride(from: 0, to: 32, by: 8) { trailer.append(UInt8(truncatingIfNeeded: size >> UInt32(shift))) }
        try write(trailer)
        finished = true
    }

    package func synchronize() throws(SystemError) {
        if let failure { throw failure }
        do throws(SystemError) { try handle.synchronizeData() } catch {
            failure = error
            throw error
        }
    }

    package func close() {
        if closed { return }
        closed = true
        pending = []
        handle.close()
    }

    /// gzip header: magic, deflate, no flags, mtime 0, no extra flags, OS Unix.
    private static let header: [UInt8] = [0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]

    private func submit(last: Bool) throws(SystemError) {
        let chunk = pending
        pending = []
        let job = CompressionJob(input: chunk, dictionary: dictionary, level: level, last: last)
        if !last {
            // The next chunk's dictionary: the last 32 KiB of input so far.
            if chunk.count >= 32 << 10 {
                dictionary = Array(chunk[(chunk.count - (32 << 10))...])
            } else {
                dictionary = Array((dictionary + chunk).suffix(32 << 10))
            }
        }
        pool.submit(job)
        inFlight.append(job)
        while inFlight.count > maximumInFlight { try drainHead() }
        while let head = inFlight.first, head.isDone { try drainHead() }
    }

    private func drainHead() throws(SystemError) {
        let job = inFlight.removeFirst()
        let (output, chunkCRC) = job.wait()
        crc = UInt32(truncatingIfNeeded: crc32_combine(uLong(crc), uLong(chunkCRC), Int(job.inputCount)))
        try write(output)
    }

    private func write(_ bytes: [UInt8]) throws(SystemError) {
        if bytes.isEmpty { return }
        do throws(SystemError) {
            try handle.write(bytes, at: Int64(writtenBytes))
        } catch {
            failure = error
            throw error
        }
        writtenBytes += bytes.count
    }
}
