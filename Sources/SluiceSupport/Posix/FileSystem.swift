#if canImport(Glibc)
internal import Glibc
#endif

/// The file layer: every file and directory syscall of Sluice goes through a `FileSystem`.
///
/// A value type holding an optional fault injector (the seam tests use to make `write`,
/// `fdatasync`, `open` and friends fail with `ENOSPC` or `EIO` deterministically). All methods
/// block and are thread-safe.
package struct FileSystem: Sendable {
    /// The injector consulted before each operation, or `nil` in production.
    package var faults: (any FaultInjecting)?

    /// The real file system with no faults.
    package static let live = FileSystem(faults: nil)

    package init(faults: (any FaultInjecting)?) {
        self.faults = faults
    }

    /// How to open a file.
    package enum OpenMode: Sendable {
        /// `O_RDONLY`.
        case readOnly
        /// `O_RDWR`, the file must exist.
        case readWrite
        /// `O_RDWR | O_CREAT`, mode 0644.
        case readWriteCreate
        /// `O_RDWR | O_CREAT | O_EXCL`, mode 0644: fails with `EEXIST` if the file exists.
        case createNew
        /// `O_WRONLY | O_CREAT | O_TRUNC`, mode 0644.
        case truncateCreate
    }

    private func check(_ operation: FileOperation, _ call: String, _ path: String) throws(SystemError) {
        if let fault = faults?.fault(for: operation, path: path) {
            throw SystemError(call: call, errno: fault.errno, path: path)
        }
    }

    // MARK: - Files

    /// Opens `path` (`open`, with `O_CLOEXEC`).
    package func open(_ path: String, _ mode: OpenMode) throws(SystemError) -> FileHandle {
        try check(.open, "open", path)
        let flags: Int32
        switch mode {
        case .readOnly: flags = O_RDONLY
        case .readWrite: flags = O_RDWR
        case .readWriteCreate: flags = O_RDWR | O_CREAT
        case .createNew: flags = O_RDWR | O_CREAT | O_EXCL
        case .truncateCreate: flags = O_WRONLY | O_CREAT | O_TRUNC
        }
        let descriptor = try retryingSyscall("open", path: path) { Glibc.open(path, flags | O_CLOEXEC, 0o644) }
        return FileHandle(descriptor: descriptor, path: path, faults: faults)
    }

    /// Reads a whole file.
    package func readFile(_ path: String) throws(SystemError) -> [UInt8] {
        let handle = try open(path, .readOnly)
        defer { handle.close() }
        let size = try handle.size()
        return try handle.read(count: Int(size), at: 0)
    }

    /// Replaces `path` with `bytes` atomically and durably: write a temporary file beside it,
    /// fsync it, rename it over `path`, fsync the directory.
    ///
    /// After a crash, `path` holds either the old or the new content, never a mix.
    package func writeAtomically(_ bytes: [UInt8], to path: String) throws(SystemError) {
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do throws(SystemError) {
            let handle = try open(temporary, .truncateCreate)
            defer { handle.close() }
            try handle.write(bytes, at: 0)
            try handle.synchronize()
        } catch {
            try? removeFile(temporary)  // best-effort cleanup of our own temporary file
            throw error
        }
        do throws(SystemError) {
            try rename(temporary, to: path)
        } catch {
            try? removeFile(temporary)  // best-effort cleanup of our own temporary file
            throw error
        }
        try synchronizeDirectory(containing: path)
    }

    /// Renames `from` to `to` (`rename`, atomic within one file system).
    package func rename(_ from: String, to: String) throws(SystemError) {
        try check(.rename, "rename", from)
        _ = try retryingSyscall("rename", path: from) { Glibc.rename(from, to) }
    }

    /// Removes a file (`unlink`).
    package func removeFile(_ path: String) throws(SystemError) {
        try check(.remove, "unlink", path)
        _ = try retryingSyscall("unlink", path: path) { unlink(path) }
    }

    // MARK: - Directories

    /// Creates a directory, and with `intermediates` its missing parents (`mkdir`, mode 0755).
    /// An existing directory is not an error.
    package func createDirectory(_ path: String, intermediates: Bool = true) throws(SystemError) {
        try check(.createDirectory, "mkdir", path)
        if intermediates {
            let parent = FileSystem.parent(of: path)
            if parent != path, !parent.isEmpty, !isDirectory(parent) {
                try createDirectory(parent, intermediates: true)
            }
        }
        if mkdir(path, 0o755) == 0 { return }
        let code = errno
        if code == EEXIST {
            if isDirectory(path) { return }
            // Something that is not a directory is in the way: say so rather than "File exists".
            throw SystemError(call: "mkdir", errno: ENOTDIR, path: path)
        }
        throw SystemError(call: "mkdir", errno: code, path: path)
    }

    /// The names in a directory, without `.` and `..`, unsorted (`opendir`/`readdir`).
    package func contentsOfDirectory(_ path: String) throws(SystemError) -> [String] {
        try check(.read, "opendir", path)
        guard let directory = opendir(path) else {
            throw SystemError(call: "opendir", errno: errno, path: path)
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Removes a file or a directory tree. A missing path is not an error.
    package func removeTree(_ path: String) throws(SystemError) {
        try check(.remove, "unlink", path)
        var info = stat()
        if lstat(path, &info) != 0 {
            if errno == ENOENT { return }
            throw SystemError(call: "lstat", errno: errno, path: path)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in try contentsOfDirectory(path) {
                try removeTree(path + "/" + name)
            }
            _ = try retryingSyscall("rmdir", path: path) { rmdir(path) }
        } else {
            _ = try retryingSyscall("unlink", path: path) { unlink(path) }
        }
    }

    /// Flushes a directory's entries to the device (`fsync` on the directory), so that files
    /// created, renamed or removed in it survive a crash.
    package func synchronizeDirectory(_ path: String) throws(SystemError) {
        let handle = try open(path, .readOnly)
        defer { handle.close() }
        try handle.synchronize()
    }

    /// Flushes the directory that contains `path`.
    package func synchronizeDirectory(containing path: String) throws(SystemError) {
        try synchronizeDirectory(FileSystem.parent(of: path))
    }

    // MARK: - Queries

    /// Whether `path` exists (any type).
    package func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Whether `path` may exist: false only when `lstat` says it does not (ENOENT, ENOTDIR);
    /// any other failure (EACCES, EIO, …) leaves it unknown, so true. For decisions where
    /// wrongly assuming "absent" would deliver twice.
    package func mayExist(_ path: String) -> Bool {
        var info = stat()
        if lstat(path, &info) == 0 { return true }
        return errno != ENOENT && errno != ENOTDIR
    }

    /// Whether `path` is a directory.
    package func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Whether the calling process may write into the directory `path` (`access(W_OK|X_OK)`).
    package func isWritableDirectory(_ path: String) -> Bool {
        access(path, W_OK | X_OK) == 0
    }

    /// The size of the file at `path`.
    package func fileSize(_ path: String) throws(SystemError) -> Int64 {
        var info = stat()
        _ = try retryingSyscall("stat", path: path) { stat(path, &info) }
        return Int64(info.st_size)
    }

    /// The directory part of `path` (`"a/b/c"` → `"a/b"`, `"c"` → `"."`).
    package static func parent(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }
}
