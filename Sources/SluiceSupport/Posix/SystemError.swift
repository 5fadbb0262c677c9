#if canImport(Glibc)
internal import Glibc
#endif

/// A failed system call: which call, which errno, on which path.
///
/// Every syscall wrapper in `SluiceSupport` throws this and only this (typed throws), so the
/// layers above can map it once into a message a user can act on. `description` reads
/// `"fsync 'data/orders/shard-000000000000/00000001.seg': Input/output error (EIO, errno 5)"`.
package struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The C function that failed, for example `"pwrite"`.
    package var call: String
    /// The errno value the call left.
    package var errno: Int32
    /// The path the call worked on, when there is one.
    package var path: String?

    package init(call: String, errno: Int32, path: String? = nil) {
        self.call = call
        self.errno = errno
        self.path = path
    }

    /// The symbolic name of `errno` (`"ENOSPC"`), or `"errno N"` when it is not a common one.
    package var errnoName: String {
        SystemError.names[errno] ?? "errno \(errno)"
    }

    /// The C library's text for `errno`.
    package var reason: String {
        String(cString: strerror(errno))
    }

    /// `true` when the failure comes from the storage device or its space, not from the caller.
    package var isStorageFailure: Bool {
        errno == ENOSPC || errno == EIO || errno == EDQUOT || errno == EROFS || errno == EFBIG
    }

    /// What an operator can do about this errno, phrased as an instruction.
    package var remedy: String {
        switch errno {
        case ENOSPC, EDQUOT: return "Free disk space on the volume that holds the data directory, then retry."
        case EIO: return "The storage device reported an I/O error; check the disk (dmesg) before retrying."
        case EACCES, EPERM: return "Make the path readable and writable by the user running sluice, or pass another --data-dir."
        case EROFS: return "The file system is read-only; remount it read-write or pass another --data-dir."
        case ENOENT: return "Check that the path exists."
        case EMFILE, ENFILE: return "Too many open files; raise the open-file limit (ulimit -n)."
        default: return "Check the path and the file system it is on."
        }
    }

    package var description: String {
        if let path {
            return "\(call) '\(path)': \(reason) (\(errnoName), errno \(errno))"
        }
        return "\(call): \(reason) (\(errnoName), errno \(errno))"
    }

    // EWOULDBLOCK is EAGAIN on Linux (a duplicate key would trap), so it is named EAGAIN.
    private static let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", EINTR: "EINTR", EIO: "EIO", EBADF: "EBADF",
        EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EEXIST: "EEXIST", ENOTDIR: "ENOTDIR",
        EISDIR: "EISDIR", EINVAL: "EINVAL", ENFILE: "ENFILE", EMFILE: "EMFILE", EFBIG: "EFBIG",
        ENOSPC: "ENOSPC", EROFS: "EROFS", EPIPE: "EPIPE", ENAMETOOLONG: "ENAMETOOLONG",
        ENOTEMPTY: "ENOTEMPTY", EDQUOT: "EDQUOT", ECONNRESET: "ECONNRESET",
        EADDRINUSE: "EADDRINUSE", ECONNREFUSED: "ECONNREFUSED", ETIMEDOUT: "ETIMEDOUT", EXDEV: "EXDEV",
    ]
}

/// Errno constants re-exported as Swift values, so modules above `SluiceSupport` (which do not
/// import Glibc) can name them, for example in fault-injection tests.
package enum Errno {
    package static let noSpace: Int32 = ENOSPC
    package static let io: Int32 = EIO
    package static let accessDenied: Int32 = EACCES
    package static let readOnlyFileSystem: Int32 = EROFS
    package static let noEntry: Int32 = ENOENT
    package static let exists: Int32 = EEXIST
    package static let badDescriptor: Int32 = EBADF
    package static let notDirectory: Int32 = ENOTDIR
}
