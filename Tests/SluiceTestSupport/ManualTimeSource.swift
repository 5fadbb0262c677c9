package import SluiceSupport
import Synchronization

/// A clock that only moves when a test moves it.
package final class ManualTimeSource: TimeSource {
    private let current: Mutex<Int64>

    /// Starts at `milliseconds` since the epoch (default 2026-01-01T00:00:00Z).
    package init(milliseconds: Int64 = 1_767_225_600_000) {
        current = Mutex(milliseconds)
    }

    package func now() -> Timestamp {
        Timestamp(milliseconds: current.withLock { $0 })
    }

    /// Moves the clock forward.
    package func advance(milliseconds: Int64) {
        current.withLock { $0 += milliseconds }
    }

    package func advance(seconds: Int64) { advance(milliseconds: seconds * 1000) }
    package func advance(hours: Int64) { advance(milliseconds: hours * 3_600_000) }

    /// Sets the clock (it may go backwards, to test that the core copes).
    package func set(milliseconds: Int64) {
        current.withLock { $0 = milliseconds }
    }
}
