import Foundation
import SluiceSupport
import Testing

@Suite struct ConditionLockTests {
    /// The longest any test waits for another thread; reaching it means the test failed.
    static let generousTimeout: Int64 = 60_000_000_000

    @Test func withLockMutatesTheStateAndReturnsTheBodysResult() {
        let lock = ConditionLock([Int]())
        let count = lock.withLock { locked in
            locked.state.append(1)
            locked.state.append(2)
            return locked.state.count
        }
        #expect(count == 2)
        #expect(lock.withLock { $0.state } == [1, 2])
    }

    @Test func withLockRethrowsTheBodysTypedError() {
        struct Refused: Error, Equatable {}
        let lock = ConditionLock(0)
        let error = #expect(throws: Refused.self) {
            try lock.withLock { locked throws(Refused) in
                locked.state = 7
                throw Refused()
            }
        }
        #expect(error == Refused())
        #expect(lock.withLock { $0.state } == 7)
    }

    @Test func waitWithZeroOrNegativeNanosecondsReturnsFalseImmediately() {
        let lock = ConditionLock(0)
        lock.withLock { locked in
            #expect(locked.wait(nanoseconds: 0) == false)
            #expect(locked.wait(nanoseconds: -5) == false)
        }
    }

    @Test func timedWaitWithoutABroadcastTimesOutNoEarlierThanItsDeadline() {
        let lock = ConditionLock(0)
        let timeout: Int64 = 20_000_000
        let start = monotonicNanoseconds()
        let timedOut = lock.withLock { locked in
            // Wake-ups may be spurious: keep waiting for what is left until the wait reports a timeout.
            while true {
                let remaining = timeout - (monotonicNanoseconds() - start)
                if !locked.wait(nanoseconds: max(remaining, 1)) { return true }
                if monotonicNanoseconds() - start > Self.generousTimeout { return false }
            }
        }
        #expect(timedOut)
        #expect(monotonicNanoseconds() - start >= timeout)
    }

    @Test func broadcastFromAnotherThreadWakesAWaiter() {
        struct State {
            var waiting = false
            var released = false
            var woke = false
        }
        let lock = ConditionLock(State())
        let thread = Thread {
            lock.withLock { locked in
                locked.state.waiting = true
                locked.broadcast()
                let deadline = monotonicNanoseconds() + Self.generousTimeout
                while !locked.state.released {
                    let remaining = deadline - monotonicNanoseconds()
                    if remaining <= 0 { return }
                    locked.wait(nanoseconds: remaining)
                }
                locked.state.woke = true
                locked.broadcast()
            }
        }
        thread.start()

        // Once this thread holds the lock and sees `waiting`, the waiter is blocked inside wait:
        // it set the flag and released the mutex only by waiting.
        let sawWaiter = waitUntil(lock) { $0.waiting }
        #expect(sawWaiter)
        lock.withLock { $0.state.released = true }
        lock.broadcast()
        let sawWake = waitUntil(lock) { $0.woke }
        #expect(sawWake)
    }

    @Test func broadcastWakesEveryWaiter() {
        struct State {
            var waiting = 0
            var released = false
            var woke = 0
        }
        let lock = ConditionLock(State())
        let waiters = 4
        for _ in 0..<waiters {
            Thread {
                lock.withLock { locked in
                    locked.state.waiting += 1
                    locked.broadcast()
                    let deadline = monotonicNanoseconds() + Self.generousTimeout
                    while !locked.state.released {
                        let remaining = deadline - monotonicNanoseconds()
                        if remaining <= 0 { return }
                        locked.wait(nanoseconds: remaining)
                    }
                    locked.state.woke += 1
                    locked.broadcast()
                }
            }.start()
        }
        #expect(waitUntil(lock) { $0.waiting == waiters })
        lock.withLock { locked in
            locked.state.released = true
            locked.broadcast()
        }
        #expect(waitUntil(lock) { $0.woke == waiters })
    }

    @Test func monotonicNanosecondsNeverGoesBackwards() {
        var previous = monotonicNanoseconds()
        for _ in 0..<10_000 {
            let now = monotonicNanoseconds()
            #expect(now >= previous)
            previous = now
        }
    }

    /// Waits (bounded by `generousTimeout`) until `predicate` holds; `false` if the time ran out.
    private func waitUntil<State>(_ lock: ConditionLock<State>, _ predicate: (State) -> Bool) -> Bool {
        let deadline = monotonicNanoseconds() + Self.generousTimeout
        return lock.withLock { locked in
            while !predicate(locked.state) {
                let remaining = deadline - monotonicNanoseconds()
                if remaining <= 0 { return false }
                locked.wait(nanoseconds: remaining)
            }
            return true
        }
    }
}
