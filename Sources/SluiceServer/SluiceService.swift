import Foundation
package import SluiceStreams
package import SluiceSupport

/// The running service: the stream store, the Kinesis API, the HTTP server, and a maintenance
/// thread that enforces retention.
///
/// `start()` returns once the server is listening; `shutdown()` stops accepting, drains in-flight
/// requests, then syncs and closes the store. Thread-safe; `shutdown()` is idempotent.
package final class SluiceService: Sendable {
    package let store: StreamStore
    package let router: ServiceRouter
    package let server: HTTPServer
    private let logger: Logger
    private let maintenance = ConditionLock<(stop: Bool, running: Bool)>((false, false))
    private let retentionIntervalMilliseconds: Int

    /// Opens the store and binds the listener.
    /// - Throws: `StreamError` (data directory) or `SystemError` (address in use).
    package init(
        store storeConfiguration: StreamStoreConfiguration, server serverConfiguration: HTTPServerConfiguration,
        logger: Logger, retentionIntervalMilliseconds: Int = 60_000
    ) throws {
        store = try StreamStore(storeConfiguration)
        router = ServiceRouter(store: store, logger: logger.with("component", "api"))
        do {
            server = try HTTPServer(configuration: serverConfiguration, handler: router, logger: logger.with("component", "http"))
        } catch {
            store.close()
            throw error
        }
        self.logger = logger
        self.retentionIntervalMilliseconds = retentionIntervalMilliseconds
    }

    /// Starts serving; returns at once.
    package func start() {
        server.start()
        maintenance.withLock { $0.state.running = true }
        let thread = Thread { [self] in
            while true {
                let stop = maintenance.withLock { locked -> Bool in
                    if !locked.state.stop { locked.wait(nanoseconds: Int64(retentionIntervalMilliseconds) * 1_000_000) }
                    return locked.state.stop
                }
                if stop { break }
                do {
                    try store.enforceRetention()
                } catch {
                    logger.log(.error, "retention enforcement failed", ["error": "\(error)"])
                }
            }
            maintenance.withLock { locked in
                locked.state.running = false
                locked.broadcast()
            }
        }
        thread.name = "sluice-maintenance"
        thread.start()
    }

    /// Graceful stop: no new connections, in-flight requests finish within `graceMilliseconds`,
    /// then everything is synced and closed.
    package func shutdown(graceMilliseconds: Int = 10_000) {
        server.shutdown(graceMilliseconds: graceMilliseconds)
        maintenance.withLock { locked in
            locked.state.stop = true
            locked.broadcast()
            while locked.state.running { locked.wait() }
        }
        store.close()
    }
}
