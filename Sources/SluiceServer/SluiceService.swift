import Foundation
package import SluicePipelines
package import SluiceStreams
package import SluiceSupport

/// The delivery side of the service: which pipelines to run, where they publish, and where the
/// loopback-only admin endpoint listens.
package struct PipelineServiceConfiguration: Sendable {
    package var definitions: [PipelineDefinition]
    package var archiveRoot: String
    /// The admin endpoint (`sluice pipelines status|flush`); must be a loopback address. Port 0
    /// picks a free port.
    package var adminHost = "127.0.0.1"
    package var adminPort: UInt16 = 4568
    /// File access for staging, journals and the archive (tests inject faults here).
    package var fileSystem: FileSystem = .live

    package init(definitions: [PipelineDefinition], archiveRoot: String) {
        self.definitions = definitions
        self.archiveRoot = archiveRoot
    }
}

/// The running service: the stream store, the delivery pipelines, the Kinesis and Firehose API,
/// the HTTP server, the admin endpoint, and a maintenance thread that enforces retention.
///
/// `start()` returns once the server is listening; `shutdown()` stops accepting, drains in-flight
/// requests, then syncs and closes the store. Thread-safe; `shutdown()` is idempotent.
package final class SluiceService: Sendable {
    package let store: StreamStore
    package let router: ServiceRouter
    package let server: HTTPServer
    package let pipelines: PipelineManager?
    /// The loopback admin endpoint, when pipelines run.
    package let admin: HTTPServer?
    private let compressionPool: CompressionPool?
    private let logger: Logger
    private let maintenance = ConditionLock<(stop: Bool, running: Bool)>((false, false))
    private let retentionIntervalMilliseconds: Int

    /// Opens the store and binds the listener.
    /// - Throws: `StreamError` (data directory) or `SystemError` (address in use).
    package init(
        store storeConfiguration: StreamStoreConfiguration, server serverConfiguration: HTTPServerConfiguration,
        pipelines pipelineConfiguration: PipelineServiceConfiguration? = nil, logger: Logger,
        retentionIntervalMilliseconds: Int = 60_000
    ) throws {
        store = try StreamStore(storeConfiguration)
        var pipelines: PipelineManager?
        var admin: HTTPServer?
        var compressionPool: CompressionPool?
        do {
            if let pipelineConfiguration {
                var context = PipelineContext(
                    store: store, clock: storeConfiguration.clock, fileSystem: pipelineConfiguration.fileSystem,
                    archiveRoot: pipelineConfiguration.archiveRoot, stateRoot: storeConfiguration.dataDirectory + "/pipelines",
                    logger: logger.with("component", "pipelines"))
                let pool = CompressionPool(threads: ProcessInfo.processInfo.activeProcessorCount)
                compressionPool = pool
                context.compressionPool = pool
                let manager = try PipelineManager(definitions: pipelineConfiguration.definitions, context: context)
                pipelines = manager
                var adminConfiguration = HTTPServerConfiguration()
                adminConfiguration.host = pipelineConfiguration.adminHost
                adminConfiguration.port = pipelineConfiguration.adminPort
                adminConfiguration.workers = 2
                adminConfiguration.maximumConnections = 64
                admin = try HTTPServer(
                    configuration: adminConfiguration, handler: AdminHandler(pipelines: manager, store: store),
                    logger: logger.with("component", "admin"))
            }
            router = ServiceRouter(store: store, pipelines: pipelines, logger: logger.with("component", "api"))
            server = try HTTPServer(configuration: serverConfiguration, handler: router, logger: logger.with("component", "http"))
        } catch {
            admin?.shutdown(graceMilliseconds: 0)
            pipelines?.shutdown()
            compressionPool?.shutdown()
            store.close()
            throw error
        }
        self.pipelines = pipelines
        self.admin = admin
        self.compressionPool = compressionPool
        self.logger = logger
        self.retentionIntervalMilliseconds = retentionIntervalMilliseconds
    }

    /// Starts serving; returns at once.
    package func start() {
        pipelines?.start()
        admin?.start()
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
        admin?.shutdown(graceMilliseconds: graceMilliseconds)
        // Open buffers are sealed and published (reason shutdown) while the store is still open.
        pipelines?.shutdown()
        compressionPool?.shutdown()
        maintenance.withLock { locked in
            locked.state.stop = true
            locked.broadcast()
            while locked.state.running { locked.wait() }
        }
        store.close()
    }
}
