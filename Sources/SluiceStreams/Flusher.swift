import Foundation
import SluiceSupport

/// The background thread of `DurabilityPolicy.interval`: syncs every shard every interval.
final class Flusher: Sendable {
    private let intervalMilliseconds: Int
    private let stopping = ConditionLock<(stop: Bool, running: Bool)>((false, false))

    init(intervalMilliseconds: Int) {
        self.intervalMilliseconds = intervalMilliseconds
    }

    func start(store: StreamStore) {
        stopping.withLock { $0.state.running = true }
        let thread = Thread { [weak store, self] in
            while true {
                let stop = self.stopping.withLock { locked in
                    if !locked.state.stop { locked.wait(nanoseconds: Int64(self.intervalMilliseconds) * 1_000_000) }
                    return locked.state.stop
                }
                if stop { break }
                store?.flushAll()
            }
            self.stopping.withLock { locked in
                locked.state.running = false
                locked.broadcast()
            }
        }
        thread.name = "sluice-flusher"
        thread.start()
    }

    /// Stops the thread and waits for it to finish its current pass.
    func stop() {
        stopping.withLock { locked in
            locked.state.stop = true
            locked.broadcast()
            while locked.state.running { locked.wait() }
        }
    }
}
