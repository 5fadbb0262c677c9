import Foundation
import SluiceSupport
import SluiceTestSupport
import Testing

@Suite struct DirectoryLockTests {
    let fileSystem = FileSystem.live

    @Test func acquireCreatesTheLockFileHoldingThePid() throws {
        try withTemporaryDirectory { directory in
            let lock = try DirectoryLock.acquire(directory: directory, fileSystem: fileSystem)
            defer { lock.release() }
            #expect(lock.path == directory + "/LOCK")
            #expect(try fileSystem.readFile(lock.path) == Array("\(getpid())\n".utf8))
        }
    }

    @Test func acquireReplacesALongerStalePid() throws {
        try withTemporaryDirectory { directory in
            try fileSystem.writeAtomically(Array("123456789012\n".utf8), to: directory + "/LOCK")
            let lock = try DirectoryLock.acquire(directory: directory, fileSystem: fileSystem)
            defer { lock.release() }
            #expect(try fileSystem.readFile(lock.path) == Array("\(getpid())\n".utf8))
        }
    }

    // flock locks belong to the open file description, so a second open in this process conflicts.
    @Test func secondAcquireFailsAsHeldWithTheHolderPid() throws {
        try withTemporaryDirectory { directory in
            let lock = try DirectoryLock.acquire(directory: directory, fileSystem: fileSystem)
            defer { lock.release() }
            let failure = try #require(throws: DirectoryLock.Failure.self) {
                try DirectoryLock.acquire(directory: directory, fileSystem: fileSystem)
            }
            guard case .held(let path, let pid) = failure else {
                Issue.record("expected .held, got \(failure)")
                return
            }
            #expect(path == directory + "/LOCK")
            #expect(pid == getpid())
        }
    }

    /// A lock this process is letting go of (as when a child being spawned still holds a copy
    /// of the descriptor until its exec closes it) is waited for, not reported as held.
    @Test func aLockThisProcessIsReleasingIsWaitedFor() throws {
        try withTemporaryDirectory { directory in
            let first = try DirectoryLock.acquire(directory: directory, fileSystem: fileSystem)
            let released = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                usleep(100_000)
                first.release()
                released.signal()
            }
            let second = try DirectoryLock.acquire(directory: directory, fileSystem: fileSystem)
            second.release()
            released.wait()
        }
    }

    @Test func heldLockWithAnUnreadablePidReportsNilPid() throws {
        try withTemporaryDirectory { directory in
            let lock = try DirectoryLock.acquire(directory: directory, fileSystem: fileSystem)
            defer { lock.release() }
            let handle = try fileSystem.open(lock.path, .readWrite)
            defer { handle.close() }
            try handle.truncate(to: 0)
            try handle.write(Array("not a pid\n".utf8), at: 0)
            let failure = try #require(throws: DirectoryLock.Failure.self) {
                try DirectoryLock.acquire(directory: directory, fileSystem: fileSystem)
            }
            guard case .held(_, let pid) = failure else {
                Issue.record("expected .held, got \(failure)")
                return
            }
            #expect(pid == nil)
        }
    }

    @Test func acquireSucceedsAgainAfterRelease() throws {
        try withTemporaryDirectory { directory in
            let first = try DirectoryLock.acquire(directory: directory, fileSystem: fileSystem)
            first.release()
            first.release()
            let second = try DirectoryLock.acquire(directory: directory, fileSystem: fileSystem)
            defer { second.release() }
            #expect(try fileSystem.readFile(second.path) == Array("\(getpid())\n".utf8))
            #expect(throws: DirectoryLock.Failure.self) {
                try DirectoryLock.acquire(directory: directory, fileSystem: fileSystem)
            }
        }
    }

    @Test func locksOnDifferentDirectoriesAreIndependent() throws {
        try withTemporaryDirectory { directory in
            try fileSystem.createDirectory(directory + "/a")
            try fileSystem.createDirectory(directory + "/b")
            let a = try DirectoryLock.acquire(directory: directory + "/a", fileSystem: fileSystem)
            defer { a.release() }
            let b = try DirectoryLock.acquire(directory: directory + "/b", fileSystem: fileSystem)
            defer { b.release() }
            #expect(a.path != b.path)
        }
    }

    @Test func lockFaultFailsAsSystemNamingFlock() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            plan.inject(.lock, fault: Fault(errno: Errno.io))
            let failure = try #require(throws: DirectoryLock.Failure.self) {
                try DirectoryLock.acquire(directory: directory, fileSystem: FileSystem(faults: plan))
            }
            guard case .system(let error) = failure else {
                Issue.record("expected .system, got \(failure)")
                return
            }
            #expect(error == SystemError(call: "flock", errno: Errno.io, path: directory + "/LOCK"))
            let lock = try DirectoryLock.acquire(directory: directory, fileSystem: FileSystem(faults: plan))
            lock.release()
        }
    }

    @Test func acquireOnAMissingDirectoryFailsAsSystemNoEntry() throws {
        try withTemporaryDirectory { directory in
            let failure = try #require(throws: DirectoryLock.Failure.self) {
                try DirectoryLock.acquire(directory: directory + "/missing", fileSystem: fileSystem)
            }
            guard case .system(let error) = failure else {
                Issue.record("expected .system, got \(failure)")
                return
            }
            #expect(error.call == "open")
            #expect(error.errno == Errno.noEntry)
            #expect(error.path == directory + "/missing/LOCK")
        }
    }
}
