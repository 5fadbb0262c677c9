#if canImport(Glibc)
internal import Glibc
#endif

/// An exclusive lock on a data directory, held for the life of the process that opened it.
///
/// `flock(LOCK_EX | LOCK_NB)` on `<directory>/LOCK`, with the holder's pid written into the
/// file so that a second opener can say who holds it. The kernel drops the lock when the holder
/// exits, even by `kill -9`, so a stale file never blocks a restart.
package final class DirectoryLock: Sendable {
    /// The lock file.
    package let path: String
    private let handle: FileHandle

    /// Why a lock could not be taken.
    package enum Failure: Error, Sendable {
        /// Another open file description holds the lock; `pid` is what the holder wrote.
        case held(path: String, pid: Int32?)
        /// The lock file could not be created or locked.
        case system(SystemError)
    }

    /// How many 10 ms waits a lock held by this process gets before it counts as held.
    static let ownHolderWaits = 200

    private init(path: String, handle: FileHandle) {
        self.path = path
        self.handle = handle
    }

    /// Takes the lock on `directory`, or fails at once if someone holds it.
    package static func acquire(directory: String, fileSystem: FileSystem) throws(Failure) -> DirectoryLock {
        let path = directory + "/LOCK"
        let handle: FileHandle
        do throws(SystemError) {
            if let fault = fileSystem.faults?.fault(for: .lock, path: path) {
                throw SystemError(call: "flock", errno: fault.errno, path: path)
            }
            handle = try fileSystem.open(path, .readWriteCreate)
        } catch {
            throw .system(error)
        }
        var ownWaits = 0
        while flock(handle.descriptor, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            if code == EWOULDBLOCK {
                // The holder may be mid-write; a nil pid still gives a clear answer.
                let text = (try? handle.read(count: 32, at: 0)).map { String(decoding: $0, as: UTF8.self) }
                let pid = text.flatMap { Int32($0.prefix { $0 != "\n" }) }
                // Held by this very process: usually a lock it has just released, still alive
                // for a moment in a child being spawned (the child's copy of the descriptor
                // keeps the lock until its exec closes it). Wait up to 2 s for that to pass.
                if pid == getpid() && ownWaits < DirectoryLock.ownHolderWaits {
                    ownWaits += 1
                    usleep(10_000)
                    continue
                }
                handle.close()
                throw .held(path: path, pid: pid)
            }
            handle.close()
            throw .system(SystemError(call: "flock", errno: code, path: path))
        }
        do throws(SystemError) {
            try handle.truncate(to: 0)
            try handle.write(Array("\(getpid())\n".utf8), at: 0)
        } catch {
            handle.close()
            throw .system(error)
        }
        return DirectoryLock(path: path, handle: handle)
    }

    /// Releases the lock. Idempotent.
    package func release() {
        handle.close()
    }
}
