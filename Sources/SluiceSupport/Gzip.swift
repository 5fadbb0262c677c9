internal import CZlib

// Streaming gzip (RFC 1952) on zlib: an encoder, a decoder that reads concatenated members like
// `zcat`, one-shot helpers, and the staging-file writer of the pipeline runtime.
//
// zlib keeps a pointer from its internal state back to the `z_stream` and refuses a stream that
// has moved ("stream error"), so every `z_stream` lives in its own heap allocation, never inline
// in a Swift value that may be moved.

// MARK: - GzipError

/// Why gzip data could not be decompressed.
package enum GzipError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes at `offset` do not start a gzip member (magic `1f 8b`, deflate method, known
    /// flags). At offset 0 the input is not gzip at all; later, something other than gzip was
    /// appended after a complete member.
    case notGzip(offset: Int)
    /// The input ended inside a member (or was empty): `inputBytes` were read, and the member
    /// that starts at `memberOffset` has no trailer.
    case truncated(inputBytes: Int, memberOffset: Int)
    /// A member's trailer does not match its content: the CRC-32 (`crc32` is `true`) or the
    /// length modulo 2^32. `member` counts from 1.
    case checksumMismatch(member: Int, crc32: Bool)
    /// The compressed data is invalid (zlib's message in `reason`), detected around `offset`.
    case corrupt(offset: Int, reason: String)
    /// Decompressing would produce more than `limit` bytes.
    case outputLimitExceeded(limit: Int)

    package var description: String {
        switch self {
        case .notGzip(let offset) where offset == 0:
            return "The data is not gzip: it does not start with the gzip magic bytes 1f 8b. "
                + "Check that the file is a .gz file and was not decompressed or replaced."
        case .notGzip(let offset):
            return "The gzip data has trailing bytes that are not gzip at offset \(offset), after a complete member. "
                + "Something was appended to the file; the members before offset \(offset) are intact."
        case .truncated(let inputBytes, _) where inputBytes == 0:
            return "The gzip data is empty: a gzip file holds at least one member (20 bytes or more). "
                + "The file was created but never written; regenerate it from its source."
        case .truncated(let inputBytes, let memberOffset):
            return "The gzip data is truncated: it ends after \(inputBytes) bytes, inside the member that "
                + "starts at offset \(memberOffset), before its trailer. The file was cut short (an interrupted "
                + "copy or a full disk); regenerate it from its source."
        case .checksumMismatch(let member, let crc32):
            let field = crc32 ? "CRC-32" : "length"
            return "The gzip data is corrupt: the \(field) in the trailer of member \(member) does not match the "
                + "decompressed content. The file was damaged after it was written; regenerate it from its source."
        case .corrupt(let offset, let reason):
            return "The gzip data is corrupt near offset \(offset): \(reason). "
                + "The file was damaged after it was written; regenerate it from its source."
        case .outputLimitExceeded(let limit):
            return "The gzip data decompresses to more than \(limit) bytes, the limit for this read. "
                + "Raise the limit if the file is legitimately that large, or read it with the streaming decoder."
        }
    }
}

// MARK: - GzipEncoder

/// A streaming gzip compressor (zlib `deflate`, windowBits 31: gzip header and trailer, memLevel 8).
///
/// Cheap for many small appends: each `compress` call hands the bytes to zlib without flushing
/// (`Z_NO_FLUSH`), and output is appended only when zlib produces it (typically in blocks of
/// tens of KiB). `finish` writes the last block and the trailer (CRC-32, length). zlib's state is
/// about 256 KiB and is released when the encoder is destroyed (`deflateEnd`).
///
/// Not thread-safe: one owner at a time (it is `~Copyable`, so it cannot be shared by copying).
package struct GzipEncoder: ~Copyable {
    private let stream: UnsafeMutablePointer<z_stream>
    /// Bytes given to `compress` so far.
    package private(set) var uncompressedCount = 0
    /// Bytes of gzip output produced so far.
    package private(set) var compressedCount = 0
    /// Whether `finish` has run (the trailer is out; nothing more may be compressed).
    package private(set) var isFinished = false

    /// Creates an encoder.
    ///
    /// - Parameter level: zlib compression level, 0 (stored, no compression) to 9 (best).
    ///   Values outside 0...9 are a programmer error (trap). zlib failing to allocate its
    ///   state traps as any other allocation failure does.
    package init(level: Int = 6) {
        precondition((0...9).contains(level), "gzip compression level must be 0...9, got \(level)")
        stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = CZlib_deflateInit2(stream, Int32(level), 31, 8, Z_DEFAULT_STRATEGY)
        precondition(status == Z_OK, "zlib deflateInit2 failed with status \(status) (out of memory)")
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Compresses `bytes`, appending whatever output zlib produces to `output` (often nothing).
    ///
    /// Must not be called after `finish` (programmer error, traps).
    package mutating func compress(_ bytes: UnsafeRawBufferPointer, into output: inout [UInt8]) {
        precondition(!isFinished, "GzipEncoder.compress after finish")
        var input = bytes
        withUnsafeTemporaryAllocation(byteCount: 16 << 10, alignment: 1) { scratch in
            while true {
                let step = GzipEncoder.deflateStep(stream, input: input, output: scratch, finish: false)
                input = UnsafeRawBufferPointer(rebasing: input[step.consumed...])
                if step.produced > 0 {
                    output.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<step.produced]))
                    compressedCount += step.produced
                }
                // Done when zlib took all input and had room to spare (nothing more pending).
                if input.isEmpty && step.produced < scratch.count { break }
            }
        }
        uncompressedCount += bytes.count
    }

    /// Compresses `bytes`, appending whatever output zlib produces to `output`.
    package mutating func compress(_ bytes: [UInt8], into output: inout [UInt8]) {
        bytes.withUnsafeBytes { compress($0, into: &output) }
    }

    /// Ends the gzip member: appends the remaining compressed data and the trailer to `output`.
    /// Calling it again does nothing.
    package mutating func finish(into output: inout [UInt8]) {
        if isFinished { return }
        withUnsafeTemporaryAllocation(byteCount: 16 << 10, alignment: 1) { scratch in
            while true {
                let step = GzipEncoder.deflateStep(
                    stream, input: UnsafeRawBufferPointer(start: nil, count: 0), output: scratch, finish: true)
                output.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<step.produced]))
                compressedCount += step.produced
                if step.ended { break }
            }
        }
        isFinished = true
    }

    /// Compresses into a caller's buffer (the `GzipFileWriter` path, which avoids a copy).
    ///
    /// - Returns: how much of `input` was consumed and of `output` filled, and whether the
    ///   trailer is complete (only with `finish`).
    mutating func compress(
        _ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, finish: Bool
    ) -> (consumed: Int, produced: Int, ended: Bool) {
        precondition(!isFinished, "GzipEncoder.compress after finish")
        let step = GzipEncoder.deflateStep(stream, input: input, output: output, finish: finish)
        uncompressedCount += step.consumed
        compressedCount += step.produced
        if step.ended { isFinished = true }
        return step
    }

    /// One call of `deflate`. zlib's counts are 32-bit, so at most 1 GiB is offered per call.
    private static func deflateStep(
        _ stream: UnsafeMutablePointer<z_stream>, input: UnsafeRawBufferPointer,
        output: UnsafeMutableRawBufferPointer, finish: Bool
    ) -> (consumed: Int, produced: Int, ended: Bool) {
        let offeredInput = min(input.count, 1 << 30)
        let offeredOutput = min(output.count, 1 << 30)
        stream.pointee.next_in = UnsafeMutablePointer(
            mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(offeredInput)
        stream.pointee.next_out = output.baseAddress?.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = uInt(offeredOutput)
        let status = deflate(stream, finish ? Z_FINISH : Z_NO_FLUSH)
        // Z_BUF_ERROR only means "no progress possible", which the callers' loops handle.
        precondition(
            status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR,
            "zlib deflate failed with status \(status): the stream state is inconsistent")
        let consumed = offeredInput - Int(stream.pointee.avail_in)
        let produced = offeredOutput - Int(stream.pointee.avail_out)
        stream.pointee.next_in = nil
        stream.pointee.next_out = nil
        return (consumed, produced, status == Z_STREAM_END)
    }
}

// MARK: - GzipDecoder

/// A streaming gzip decompressor that reads concatenated members, as `zcat` does.
///
/// Feed the compressed bytes in chunks of any size with `decompress`; decompressed bytes come
/// out in pieces of at most 32 KiB, so memory stays bounded whatever the compression ratio.
/// Call `finish` after the last chunk: it detects input that ends inside a member. Each member's
/// CRC-32 and length are checked by zlib as its trailer arrives.
///
/// Not thread-safe: one owner at a time. After an error the decoder must not be used again.
package struct GzipDecoder: ~Copyable {
    private let stream: UnsafeMutablePointer<z_stream>
    private let maximumOutput: Int
    /// Compressed bytes consumed so far.
    package private(set) var consumedCount = 0
    /// Decompressed bytes produced so far.
    package private(set) var producedCount = 0
    /// Complete members read so far.
    package private(set) var memberCount = 0
    /// Whether the current member has started (some of its bytes were consumed).
    private var inMember = false
    /// Input offset at which the current (or next) member starts.
    private var memberOffset = 0
    /// How many of the current member's magic bytes (`1f 8b`) have been checked.
    private var magicChecked = 0
    private var failure: GzipError?

    private static let magic: (UInt8, UInt8) = (0x1F, 0x8B)

    /// Creates a decoder.
    ///
    /// - Parameter maximumOutput: decompressing more than this many bytes in total throws
    ///   `GzipError.outputLimitExceeded` (a guard against decompression bombs).
    package init(maximumOutput: Int = .max) {
        precondition(maximumOutput >= 0, "maximumOutput must not be negative")
        self.maximumOutput = maximumOutput
        stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = CZlib_inflateInit2(stream, 31)  // 15 + 16: gzip only, largest window
        precondition(status == Z_OK, "zlib inflateInit2 failed with status \(status) (out of memory)")
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Decompresses `chunk`, calling `body` with each piece of output (valid only during the call).
    ///
    /// - Throws: `GzipError` — `.notGzip`, `.checksumMismatch`, `.corrupt` or
    ///   `.outputLimitExceeded`. Truncation is only detectable at `finish`.
    package mutating func decompress(
        _ chunk: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void
    ) throws(GzipError) {
        if let failure { throw failure }
        do throws(GzipError) {
            try run(chunk, body)
        } catch {
            failure = error
            throw error
        }
    }

    /// Decompresses `chunk`, appending the output to `output`.
    package mutating func decompress(_ chunk: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(GzipError) {
        try decompress(chunk) { output.append(contentsOf: $0) }
    }

    /// Decompresses `chunk`, appending the output to `output`.
    package mutating func decompress(_ chunk: [UInt8], into output: inout [UInt8]) throws(GzipError) {
        var failure: GzipError?
        chunk.withUnsafeBytes { buffer in
            do throws(GzipError) { try decompress(buffer, into: &output) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Declares the end of the input.
    ///
    /// - Throws: `GzipError.truncated` when the input was empty or ended inside a member, or the
    ///   error an earlier call threw.
    package func finish() throws(GzipError) {
        if let failure { throw failure }
        if inMember || memberCount == 0 {
            throw GzipError.truncated(inputBytes: consumedCount, memberOffset: memberOffset)
        }
    }

    private mutating func run(
        _ chunk: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void
    ) throws(GzipError) {
        var input = chunk
        var failure: GzipError?
        withUnsafeTemporaryAllocation(byteCount: 32 << 10, alignment: 1) { scratch in
            do throws(GzipError) {
                while true {
                    try checkMagic(input)
                    let offered = min(input.count, 1 << 30)
                    stream.pointee.next_in = UnsafeMutablePointer(
                        mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
                    stream.pointee.avail_in = uInt(offered)
                    stream.pointee.next_out = scratch.baseAddress?.assumingMemoryBound(to: Bytef.self)
                    stream.pointee.avail_out = uInt(scratch.count)
                    let status = inflate(stream, Z_NO_FLUSH)
                    let consumed = offered - Int(stream.pointee.avail_in)
                    let produced = scratch.count - Int(stream.pointee.avail_out)
                    stream.pointee.next_in = nil
                    stream.pointee.next_out = nil
                    if consumed > 0 { inMember = true }
                    let errorOffset = consumedCount + consumed
                    consumedCount += consumed
                    input = UnsafeRawBufferPointer(rebasing: input[consumed...])
                    if produced > 0 {
                        if produced > maximumOutput - producedCount {
                            throw GzipError.outputLimitExceeded(limit: maximumOutput)
                        }
                        producedCount += produced
                        body(UnsafeRawBufferPointer(rebasing: scratch[..<produced]))
                    }
                    switch status {
                    case Z_STREAM_END:
                        memberCount += 1
                        inMember = false
                        memberOffset = consumedCount
                        magicChecked = 0
                        _ = inflateReset(stream)
                        if input.isEmpty { return }
                    case Z_OK:
                        if input.isEmpty && produced < scratch.count { return }
                    case Z_BUF_ERROR:
                        return  // no progress possible: needs more input
                    case Z_DATA_ERROR:
                        throw mapDataError(offset: errorOffset)
                    default:
                        let message = stream.pointee.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                        throw GzipError.corrupt(offset: errorOffset, reason: message)
                    }
                }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    /// Checks the first two bytes of a member before zlib sees them, so that non-gzip input is
    /// reported as such even when it is a single byte.
    private mutating func checkMagic(_ input: UnsafeRawBufferPointer) throws(GzipError) {
        var index = 0
        while magicChecked < 2 && index < input.count {
            let expected = magicChecked == 0 ? GzipDecoder.magic.0 : GzipDecoder.magic.1
            if input[index] != expected { throw GzipError.notGzip(offset: memberOffset) }
            magicChecked += 1
            index += 1
        }
    }

    private func mapDataError(offset: Int) -> GzipError {
        let message = stream.pointee.msg.map { String(cString: $0) } ?? "invalid data"
        switch message {
        case "incorrect data check": return .checksumMismatch(member: memberCount + 1, crc32: true)
        case "incorrect length check": return .checksumMismatch(member: memberCount + 1, crc32: false)
        case "incorrect header check", "unknown compression method", "unknown header flags set":
            return .notGzip(offset: memberOffset)
        default: return .corrupt(offset: offset, reason: message)
        }
    }
}

// MARK: - Gzip

/// One-shot gzip helpers for data that fits in memory.
package enum Gzip {
    /// Compresses `data` into one gzip member.
    ///
    /// - Parameter level: 0 (stored) to 9 (best); outside that range traps.
    package static func compress(_ data: [UInt8], level: Int = 6) -> [UInt8] {
        var encoder = GzipEncoder(level: level)
        var output: [UInt8] = []
        output.reserveCapacity(data.count / 2 + 64)
        encoder.compress(data, into: &output)
        encoder.finish(into: &output)
        return output
    }

    /// Decompresses gzip data of one or more concatenated members (as `zcat` does).
    ///
    /// - Parameter maximumOutput: the most bytes the result may hold.
    /// - Throws: `GzipError`: `.notGzip` (not gzip, or non-gzip bytes after a member),
    ///   `.truncated`, `.checksumMismatch`, `.corrupt`, `.outputLimitExceeded`.
    package static func decompress(_ data: [UInt8], maximumOutput: Int) throws(GzipError) -> [UInt8] {
        var decoder = GzipDecoder(maximumOutput: maximumOutput)
        var output: [UInt8] = []
        try decoder.decompress(data, into: &output)
        try decoder.finish()
        return output
    }
}

// MARK: - GzipFileWriter

/// The staging writer of one pipeline partition: streams appended records, gzip-compressed (or
/// as they are), into a file through a fixed-size output buffer.
///
/// Memory is bounded whatever the volume: zlib's state (about 256 KiB) plus the output buffer
/// (64 KiB by default). Whenever the buffer fills it is written to the file (`pwrite` at the
/// next offset), so a 128 MB batch never sits in memory. `finish` writes the gzip trailer and
/// what is still buffered; `synchronize` makes the written bytes durable.
///
/// After a failed write the file's tail is unknown: every later call throws the same error, and
/// the caller discards the staging file and rebuilds it from the log.
///
/// Not thread-safe: one owner thread (the pipeline runner) at a time. Blocking: `append` and
/// `finish` may write to the file; `synchronize` waits for the device.
package final class GzipFileWriter {
    /// The file written to. Owned by the writer: closed by `close()` or when the writer goes away.
    package let handle: FileHandle
    /// The compression level, or nil when bytes are written as they are.
    package let level: Int?
    /// Bytes given to `append` so far.
    package private(set) var uncompressedBytes = 0
    /// Bytes written to the file so far (excluding what is still buffered).
    package private(set) var writtenBytes = 0

    private var encoder: GzipEncoder?
    private let buffer: UnsafeMutableRawBufferPointer
    private var filled = 0
    private var finished = false
    private var closed = false
    private var failure: SystemError?

    /// Creates a writer.
    ///
    /// - Parameters:
    ///   - handle: a file opened for writing, positioned at offset 0 (written with `pwrite` from
    ///     offset 0 on). The writer owns it from now on.
    ///   - level: gzip level 1...9, or nil for no compression. Outside 1...9 traps.
    ///   - bufferCapacity: the output buffer's size in bytes (at least 1).
    package init(handle: FileHandle, level: Int?, bufferCapacity: Int = 64 << 10) {
        precondition(bufferCapacity > 0, "GzipFileWriter needs a buffer of at least 1 byte")
        if let level {
            precondition((1...9).contains(level), "gzip compression level must be 1...9 (or nil), got \(level)")
        }
        self.handle = handle
        self.level = level
        self.encoder = level.map { GzipEncoder(level: $0) }
        self.buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferCapacity, alignment: 16)
    }

    deinit {
        buffer.deallocate()
        handle.close()
    }

    /// Bytes produced but not yet written to the file (at most the buffer capacity).
    package var bufferedBytes: Int { filled }

    /// The output buffer's capacity in bytes.
    package var bufferCapacity: Int { buffer.count }

    /// Appends `bytes`: compresses them (or copies them) into the buffer, writing the buffer to
    /// the file each time it fills.
    ///
    /// Must not be called after `finish` or `close` (programmer error, traps).
    /// - Throws: `SystemError` from `pwrite` (for example `ENOSPC`); the writer is unusable after.
    package func append(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        try checkUsable()
        precondition(!finished, "GzipFileWriter.append after finish")
        do throws(SystemError) {
            if encoder != nil {
                try compress(bytes, finish: false)
            } else {
                try copy(bytes)
            }
        } catch {
            failure = error
            throw error
        }
        uncompressedBytes += bytes.count
    }

    /// Appends `bytes`.
    package func append(_ bytes: [UInt8]) throws(SystemError) {
        var failure: SystemError?
        bytes.withUnsafeBytes { buffer in
            do throws(SystemError) { try append(buffer) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Ends the file: writes the gzip trailer (when compressing) and every buffered byte.
    /// Does not sync: call `synchronize()` for durability. Calling it again does nothing.
    ///
    /// - Throws: `SystemError` from `pwrite`; the writer is unusable after.
    package func finish() throws(SystemError) {
        try checkUsable()
        if finished { return }
        do throws(SystemError) {
            if encoder != nil {
                try compress(UnsafeRawBufferPointer(start: nil, count: 0), finish: true)
            }
            try writeBuffer()
        } catch {
            failure = error
            throw error
        }
        finished = true
        encoder = nil  // release zlib's state early: the member is complete
    }

    /// Writes what is buffered, then flushes the file's data to the device (`fdatasync`).
    ///
    /// Before `finish` this makes a prefix of the output durable, which is not yet a complete
    /// gzip file. Blocks until the device acknowledges.
    /// - Throws: `SystemError` from `pwrite` or `fdatasync`.
    package func synchronize() throws(SystemError) {
        try checkUsable()
        do throws(SystemError) {
            try writeBuffer()
            try handle.synchronizeData()
        } catch {
            failure = error
            throw error
        }
    }

    /// Closes the file and releases zlib's state. Buffered bytes that were not written by
    /// `finish` or `synchronize` are dropped. Idempotent.
    package func close() {
        if closed { return }
        closed = true
        encoder = nil
        handle.close()
    }

    // MARK: Internals

    private func checkUsable() throws(SystemError) {
        precondition(!closed, "GzipFileWriter used after close")
        if let failure { throw failure }
    }

    private func compress(_ bytes: UnsafeRawBufferPointer, finish: Bool) throws(SystemError) {
        var input = bytes
        while true {
            let space = UnsafeMutableRawBufferPointer(rebasing: buffer[filled...])
            let step = encoder!.compress(input, into: space, finish: finish)
            filled += step.produced
            input = UnsafeRawBufferPointer(rebasing: input[step.consumed...])
            if filled == buffer.count { try writeBuffer() }
            if finish {
                if step.ended { return }
            } else if input.isEmpty && step.produced < space.count {
                return  // all input taken and zlib had room to spare: nothing pending
            }
        }
    }

    private func copy(_ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        var input = bytes
        while !input.isEmpty {
            if filled == 0 && input.count >= buffer.count {
                // A large append with an empty buffer goes straight to the file.
                try handle.write(input, at: Int64(writtenBytes))
                writtenBytes += input.count
                return
            }
            let count = min(input.count, buffer.count - filled)
            UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<filled + count])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: input[..<count]))
            filled += count
            input = UnsafeRawBufferPointer(rebasing: input[count...])
            if filled == buffer.count { try writeBuffer() }
        }
    }

    private func writeBuffer() throws(SystemError) {
        guard filled > 0 else { return }
        try handle.write(UnsafeRawBufferPointer(rebasing: buffer[..<filled]), at: Int64(writtenBytes))
        writtenBytes += filled
        filled = 0
    }
}
