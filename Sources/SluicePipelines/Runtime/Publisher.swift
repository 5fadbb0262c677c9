package import SluiceSupport

/// Publishes finished staging files into the archive: copy to a hidden temporary file beside
/// the target, fsync, rename over the target name, fsync the directory. Directories it creates
/// are made durable in their parents too.
///
/// Staging lives in the data directory and the archive may be on another file system, so the
/// bytes are copied rather than renamed across. A target that already exists is not written
/// again: a name is published at most once.
package struct Publisher: Sendable {
    package var archiveRoot: String
    package var fileSystem: FileSystem

    package init(archiveRoot: String, fileSystem: FileSystem) {
        self.archiveRoot = archiveRoot
        self.fileSystem = fileSystem
    }

    /// The absolute path of an object (relative to the archive root).
    package func path(of object: String) -> String { archiveRoot + "/" + object }

    /// - Returns: false when the object was already published (nothing written).
    @discardableResult
    package func publish(stagingPath: String, object: String) throws(SystemError) -> Bool {
        let target = path(of: object)
        if fileSystem.exists(target) {
            // Renamed into place by an earlier attempt whose directory sync failed (or did not
            // happen before a crash): make the entry durable, and write nothing again.
            try fileSystem.synchronizeDirectory(containing: target)
            return false
        }
        let directory = FileSystem.parent(of: target)
        try makeDirectories(directory)
        let name = String(target[target.index(after: target.lastIndex(of: "/")!)...])
        let temporary = directory + "/." + name + ".sluice-tmp"
        do throws(SystemError) {
            let source = try fileSystem.open(stagingPath, .readOnly)
            defer { source.close() }
            let output = try fileSystem.open(temporary, .truncateCreate)
            defer { output.close() }
            let size = try source.size()
            var offset: Int64 = 0
            while offset < size {
                let chunk = try source.read(count: Int(min(Int64(1 << 20), size - offset)), at: offset)
                if chunk.isEmpty { break }
                try output.write(chunk, at: offset)
                offset += Int64(chunk.count)
            }
            try output.synchronize()
        } catch {
            try? fileSystem.removeFile(temporary)  // our own temporary; the next attempt rewrites it anyway
            throw error
        }
        do throws(SystemError) {
            try fileSystem.rename(temporary, to: target)
        } catch {
            try? fileSystem.removeFile(temporary)  // our own temporary; the next attempt rewrites it anyway
            throw error
        }
        try fileSystem.synchronizeDirectory(directory)
        return true
    }

    /// `mkdir -p` that fsyncs the parent of every directory it creates.
    private func makeDirectories(_ directory: String) throws(SystemError) {
        if fileSystem.isDirectory(directory) { return }
        if !fileSystem.isDirectory(archiveRoot) {
            try fileSystem.createDirectory(archiveRoot, intermediates: true)
            try fileSystem.synchronizeDirectory(containing: archiveRoot)
        }
        var missing: [String] = []
        var current = directory
        while current != archiveRoot && !fileSystem.isDirectory(current) && current.count > 1 {
            missing.append(current)
            current = FileSystem.parent(of: current)
        }
        for path in missing.reversed() {
            try fileSystem.createDirectory(path, intermediates: false)
            try fileSystem.synchronizeDirectory(containing: path)
        }
    }
}
