package import SluiceSupport
import Synchronization

/// Keeps log events in memory so tests can assert on them.
package final class InMemoryLogSink: LogSink {
    private let storage = Mutex<[LogEvent]>([])

    package init() {}

    package func write(_ event: LogEvent) {
        storage.withLock { $0.append(event) }
    }

    /// Everything logged so far.
    package var events: [LogEvent] { storage.withLock { $0 } }
}
