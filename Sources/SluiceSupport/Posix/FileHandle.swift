#if canImport(Glibc)
internal import Glibc
#endif
internal import CSluiceLinux
internal import Synchronization

/// An open file descriptor with the path it was opened from.
///
/// Thread-safe: positioned reads and writes (`pread`/`pwrite`) may run concurrently. Every
/// operation consults the fault injector of the `FileSystem` that opened it. Closing is
/// idempotent; a handle that is not closed explicitly is closed when released.
package final class FileHandle: Sendable {
    /// The raw descriptor.
    package let descriptor: Int32
    /// The path the handle was opened from (for error messages).
    package let path: String
    private let faults: (any FaultInjecting)?
    private let isClosed = Atomic<Bool>(false)

    init(descriptor: Int32, path: String, faults: (any FaultInjecting)?) {
        self.descriptor = descriptor
        self.path = path
        self.faults = faults
    }

    deinit {
        if !isClosed.load(ordering: .acquiring) {
            _ = Glibc.close(descriptor)
        }
    }

    /// Closes the descriptor. Idempotent.
    ///
    /// `EINTR` from `close` is not retried: on Linux the descriptor is released either way, and
    /// retrying could close a descriptor another thread has just been given.
    package func close() {
        if isClosed.exchange(true, ordering: .acquiringAndReleasing) { return }
        _ = Glibc.close(descriptor)
    }

    // MARK: - Writing

    /// Writes all of `bytes` at `offset` (`pwrite`, looping over partial writes).
    ///
    /// Does not flush to the device: call `synchronizeData()` for durability.
    /// - Throws: `SystemError` naming `pwrite`; after a failure an unknown prefix of `bytes` may
    ///   have reached the file.
    package func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(SystemError) {
        var done = 0
        if let fault = faults?.fault(for: .write, path: path) {
            let torn = min(fault.bytesWritten, bytes.count)
            if torn > 0, let base = bytes.baseAddress {
                _ = pwrite(descriptor, base, torn, off_t(offset))
            }
            throw SystemError(call: "pwrite", errno: fault.errno, path: path)
        }
        while done < bytes.count {
            let base = bytes.baseAddress! + done
            let count = bytes.count - done
            let written = try retryingSyscall("pwrite", path: path) {
                pwrite(descriptor, base, count, off_t(offset) + off_t(done))
            }
            if written == 0 {
                throw SystemError(call: "pwrite", errno: EIO, path: path)
            }
            done += written
        }
    }

    /// Writes all of `bytes` at `offset`.
    package func write(_ bytes: [UInt8], at offset: Int64) throws(SystemError) {
        // withUnsafeBytes cannot forward a typed error, so carry it out by hand.
        var failure: SystemError?
        bytes.withUnsafeBytes { buffer in
            do throws(SystemError) { try write(buffer, at: offset) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    // MARK: - Reading

    /// Reads up to `buffer.count` bytes at `offset` (`pread`, looping until the buffer is full or
    /// the file ends).
    ///
    /// - Returns: the number of bytes read; fewer than `buffer.count` only at end of file.
    package func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(SystemError) -> Int {
        if let fault = faults?.fault(for: .read, path: path) {
            throw SystemError(call: "pread", errno: fault.errno, path: path)
        }
        var done = 0
        while done < buffer.count {
            let base = buffer.baseAddress! + done
            let count = buffer.count - done
            let got = try retryingSyscall("pread", path: path) {
                pread(descriptor, base, count, off_t(offset) + off_t(done))
            }
            if got == 0 { break }
            done += got
        }
        return done
    }

    /// Reads up to `count` bytes at `offset` into a new array (shorter only at end of file).
    package func read(count: Int, at offset: Int64) throws(SystemError) -> [UInt8] {
        var failure: SystemError?
        var got = 0
        var result = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            do throws(SystemError) {
                got = try read(into: UnsafeMutableRawBufferPointer(buffer), at: offset)
            } catch {
                failure = error
            }
            initialized = failure == nil ? got : 0
        }
        if let failure { throw failure }
        if result.count != got { result.removeLast(result.count - got) }
        return result
    }

    // MARK: - Durability and size

    /// Flushes the file's data (and the metadata needed to read it back) to the device.
    ///
    /// Blocks until the device acknowledges. The corresponding C function is `fdatasync`.
    package func synchronizeData() throws(SystemError) {
        if let fault = faults?.fault(for: .sync, path: path) {
            throw SystemError(call: "fdatasync", errno: fault.errno, path: path)
        }
        _ = try retryingSyscall("fdatasync", path: path) { fdatasync(descriptor) }
    }

    /// Flushes the file's data and all its metadata (`fsync`). Used for directories.
    package func synchronize() throws(SystemError) {
        if let fault = faults?.fault(for: .sync, path: path) {
            throw SystemError(call: "fsync", errno: fault.errno, path: path)
        }
        _ = try retryingSyscall("fsync", path: path) { fsync(descriptor) }
    }

    /// Cuts or extends the file to `length` bytes (`ftruncate`).
    package func truncate(to length: Int64) throws(SystemError) {
        if let fault = faults?.fault(for: .truncate, path: path) {
            throw SystemError(call: "ftruncate", errno: fault.errno, path: path)
        }
        _ = try retryingSyscall("ftruncate", path: path) { ftruncate(descriptor, off_t(length)) }
    }

    /// Allocates disk space for `[offset, offset + length)` and extends the file to cover it
    /// (`fallocate`, mode 0; the new bytes read as zeros).
    ///
    /// Appending into allocated space leaves the file's size unchanged, so `fdatasync` needs no
    /// inode write (on ext4 without a journal, one device write fewer per sync). Advisory: it
    /// never fails an operation and is not subject to fault injection.
    /// - Returns: false if the file system refused (no support, no space); nothing changed then.
    package func preallocate(offset: Int64, length: Int64) -> Bool {
        while true {
            if CSluiceLinux_allocate(descriptor, offset, length) == 0 { return true }
            if errno != EINTR { return false }
        }
    }

    /// Gives back space allocated by `preallocate` past `length`: cuts the file to `length`
    /// (`ftruncate`). Advisory like `preallocate`: not subject to fault injection.
    /// - Returns: false if the cut failed.
    package func releasePreallocation(after length: Int64) -> Bool {
        while true {
            if ftruncate(descriptor, off_t(length)) == 0 { return true }
            if errno != EINTR { return false }
        }
    }

    /// The file's size in bytes (`fstat`).
    package func size() throws(SystemError) -> Int64 {
        var info = stat()
        _ = try retryingSyscall("fstat", path: path) { fstat(descriptor, &info) }
        return Int64(info.st_size)
    }
}
