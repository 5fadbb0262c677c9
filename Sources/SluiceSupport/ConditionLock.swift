#if canImport(Glibc)
internal import Glibc
#endif

/// A value guarded by a mutex, with a condition variable to wait for changes to it.
///
/// `Synchronization.Mutex` has no condition variable, so this wraps `pthread_mutex_t` and
/// `pthread_cond_t` (monotonic clock). The state lives behind a pointer so that a thread may wait
/// in the middle of `withLock` (the mutex is released while it waits) without overlapping Swift
/// exclusive accesses.
///
/// `@unchecked Sendable`: `state` is only touched while `mutex` is held.
package final class ConditionLock<State>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private let state: UnsafeMutablePointer<State>

    package init(_ initial: State) {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        state = .allocate(capacity: 1)
        state.initialize(to: initial)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        state.deinitialize(count: 1)
        state.deallocate()
        condition.deallocate()
        mutex.deallocate()
    }

    /// Access to the state while the lock is held; valid only inside `withLock`.
    package struct Locked {
        fileprivate let owner: ConditionLock<State>

        fileprivate init(owner: ConditionLock<State>) { self.owner = owner }

        /// The guarded state. Read through `_read`, so reading one member borrows the state in
        /// place instead of copying all of it (and retaining and releasing everything it holds).
        package var state: State {
            _read { yield owner.state.pointee }
            nonmutating _modify { yield &owner.state.pointee }
            nonmutating set { owner.state.pointee = newValue }
        }

        /// Releases the lock, waits for a `broadcast`, and takes the lock again. Callers loop on
        /// their predicate (wake-ups may be spurious).
        package func wait() {
            pthread_cond_wait(owner.condition, owner.mutex)
        }

        /// Like `wait()`, but returns after at most `nanoseconds`.
        /// - Returns: `false` if the time ran out.
        @discardableResult
        package func wait(nanoseconds: Int64) -> Bool {
            guard nanoseconds > 0 else { return false }
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let total = Int64(now.tv_nsec) + nanoseconds % 1_000_000_000
            var deadline = timespec()
            deadline.tv_sec = now.tv_sec + Int(nanoseconds / 1_000_000_000) + Int(total / 1_000_000_000)
            deadline.tv_nsec = Int(total % 1_000_000_000)
            return pthread_cond_timedwait(owner.condition, owner.mutex, &deadline) != ETIMEDOUT
        }

        /// Wakes every waiter (they run once this thread releases the lock).
        package func broadcast() {
            pthread_cond_broadcast(owner.condition)
        }

        /// Wakes one waiter (for work queues, where waking all would be a thundering herd).
        package func signal() {
            pthread_cond_signal(owner.condition)
        }
    }

    /// Runs `body` with the lock held.
    package func withLock<Result, Failure: Error>(
        _ body: (Locked) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(Locked(owner: self))
    }

    /// Wakes every waiter.
    package func broadcast() {
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }
}

/// A monotonic reading in nanoseconds, for bounding waits (not for timestamps; see `TimeSource`).
package func monotonicNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}
