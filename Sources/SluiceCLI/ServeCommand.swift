import Foundation
import SluicePipelines
import SluiceServer
import SluiceStreams
import SluiceSupport

/// `sluice serve`: the Kinesis-compatible HTTP service.
enum ServeCommand {
    static func run(_ arguments: [String], console: Console) throws {
        // Before any thread exists: termination signals wait, pending, for the signal thread.
        Signals.blockTermination()
        let command = "sluice serve"
        let scanned = try ArgumentScanner(
            arguments,
            valued: [
                "listen", "data-dir", "log-level", "durability", "creation-delay-ms", "header-timeout-ms", "idle-timeout-ms",
                "max-connections", "max-body-bytes", "workers", "shard-limit", "pipelines", "archive-dir", "admin-listen",
            ],
            flags: [], command: command)
        if scanned.flags.contains("help") {
            console.print(HelpText.serve)
            return
        }
        guard scanned.positionals.isEmpty else {
            throw UsageError("'sluice serve' takes no arguments; got '\(scanned.positionals[0])'. Run 'sluice serve --help'.")
        }
        let listen = scanned.options["listen"] ?? "127.0.0.1:4567"
        guard let colon = listen.lastIndex(of: ":"), let port = UInt16(listen[listen.index(after: colon)...]),
            !listen[..<colon].isEmpty
        else {
            throw UsageError("option '--listen' must be HOST:PORT with an IPv4 address, for example 127.0.0.1:4567; got '\(listen)'.")
        }
        let levelName = scanned.options["log-level"] ?? "info"
        guard let level = LogLevel.allCases.first(where: { $0.name == levelName }) else {
            throw UsageError("option '--log-level' must be one of \(LogLevel.allCases.map(\.name).joined(separator: ", ")); got '\(levelName)'.")
        }
        var durability = DurabilityPolicy.always
        if let text = scanned.options["durability"] {
            guard let policy = DurabilityPolicy(text) else {
                throw UsageError("option '--durability' must be always, interval:MS (1 to 60000) or never; got '\(text)'.")
            }
            durability = policy
        }
        let logger = Logger(label: "sluice", level: level, sink: StderrLogSink())
        var storeConfiguration = StreamStoreConfiguration(dataDirectory: scanned.options["data-dir"] ?? "./data")
        storeConfiguration.durability = durability
        storeConfiguration.logger = logger.with("component", "streams")
        storeConfiguration.creationDelayMilliseconds = Int64(
            try scanned.integer("creation-delay-ms", in: 0...600_000, command: command) ?? 500)
        storeConfiguration.shardLimit = try scanned.integer("shard-limit", in: 1...100_000, command: command) ?? 500
        let fileSystem = try faultInjectedFileSystem(logger: logger)
        storeConfiguration.fileSystem = fileSystem
        var serverConfiguration = HTTPServerConfiguration()
        serverConfiguration.host = String(listen[..<colon])
        serverConfiguration.port = port
        serverConfiguration.headerTimeoutMilliseconds =
            try scanned.integer("header-timeout-ms", in: 100...600_000, command: command) ?? 10_000
        serverConfiguration.idleTimeoutMilliseconds =
            try scanned.integer("idle-timeout-ms", in: 100...3_600_000, command: command) ?? 60_000
        serverConfiguration.maximumConnections = try scanned.integer("max-connections", in: 1...1_000_000, command: command) ?? 4096
        serverConfiguration.limits.maximumBodyBytes =
            try scanned.integer("max-body-bytes", in: 1024...(256 << 20), command: command) ?? (8 << 20)
        serverConfiguration.workers = try scanned.integer("workers", in: 1...1024, command: command) ?? 64

        var pipelines = try loadPipelines(scanned, logger: logger)
        pipelines?.fileSystem = fileSystem

        let service: SluiceService
        do {
            service = try SluiceService(
                store: storeConfiguration, server: serverConfiguration, pipelines: pipelines, logger: logger)
        } catch let error as SystemError {
            throw StreamError(
                .internalFailure,
                "Cannot listen on \(listen) (API) or \(scanned.options["admin-listen"] ?? "127.0.0.1:4568") (admin): \(error). "
                    + "Choose other --listen / --admin-listen addresses or stop what uses them.")
        } catch let error as PipelineRuntimeError {
            throw UsageError(error.message)
        }
        service.start()
        if let admin = service.admin, let pipelines {
            console.print("sluice admin listening on \(pipelines.adminHost):\(admin.port)")
        }
        console.print("sluice listening on \(serverConfiguration.host):\(service.server.port)")
        logger.log(.info, "ready", ["listen": "\(serverConfiguration.host):\(service.server.port)", "durability": "\(durability)"])
        waitForSignals(service: service, logger: logger)
    }

    /// The pipelines of `--pipelines` (default `./Pipelines`, skipped when that default does not
    /// exist), validated; any invalid file stops the start with every error listed.
    private static func loadPipelines(_ scanned: ArgumentScanner, logger: Logger) throws -> PipelineServiceConfiguration? {
        let explicit = scanned.options["pipelines"]
        let directory = explicit ?? "./Pipelines"
        let fs = FileSystem.live
        guard fs.isDirectory(directory) else {
            if explicit != nil {
                throw UsageError("option '--pipelines': '\(directory)' is not a directory. Point it at the folder of pipeline JSON files.")
            }
            logger.log(.info, "no pipelines directory; running streams only", ["pipelines": directory])
            return nil
        }
        let loaded = PipelineLoader.loadDirectory(directory, fileSystem: fs)
        if !loaded.errors.isEmpty {
            let lines = loaded.errors.map { "\($0)" }.joined(separator: "\n")
            throw UsageError("invalid pipeline files (run 'sluice validate' for details):\n" + lines)
        }
        var configuration = PipelineServiceConfiguration(definitions: loaded.definitions, archiveRoot: absolute(scanned.options["archive-dir"] ?? "archive"))
        let admin = scanned.options["admin-listen"] ?? "127.0.0.1:4568"
        guard let colon = admin.lastIndex(of: ":"), let port = UInt16(admin[admin.index(after: colon)...]) else {
            throw UsageError("option '--admin-listen' must be HOST:PORT on a loopback address, for example 127.0.0.1:4568; got '\(admin)'.")
        }
        let host = String(admin[..<colon])
        guard host.hasPrefix("127.") || host == "localhost" else {
            throw UsageError("option '--admin-listen' must be a loopback address (127.x.x.x): the admin endpoint has no authentication; got '\(admin)'.")
        }
        configuration.adminHost = host == "localhost" ? "127.0.0.1" : host
        configuration.adminPort = port
        return configuration
    }

    /// The file system of the store and the pipelines: the real one, or with the random faults of
    /// `SLUICE_FAULTS` (a test seam for the crash soak; `RandomFaults.parse` gives the syntax,
    /// `SLUICE_FAULTS_SEED` the seed). Never set in production; a warning says when it is.
    private static func faultInjectedFileSystem(logger: Logger) throws -> FileSystem {
        let environment = ProcessInfo.processInfo.environment
        guard let text = environment["SLUICE_FAULTS"], !text.isEmpty else { return .live }
        let seed = environment["SLUICE_FAULTS_SEED"].flatMap { UInt64($0) } ?? UInt64(truncatingIfNeeded: getpid())
        let faults: RandomFaults
        do {
            faults = try RandomFaults.parse(text, seed: seed)
        } catch {
            throw UsageError("\(error). Unset SLUICE_FAULTS unless you are testing fault handling.")
        }
        logger.log(.warning, "SLUICE_FAULTS is set: file operations fail at random (a test seam)", ["rules": text, "seed": "\(seed)"])
        return FileSystem(faults: faults)
    }

    /// `path` made absolute against the working directory, without a trailing slash.
    private static func absolute(_ path: String) -> String {
        var result = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        while result.count > 1 && result.hasSuffix("/") { result.removeLast() }
        if result.hasSuffix("/.") { result.removeLast(2) }
        return result
    }

    /// Blocks until SIGTERM or SIGINT, then shuts down gracefully; a second signal exits at once.
    ///
    /// The signals were blocked before any thread started, so one that arrives early stays
    /// pending until the signal thread takes it with `sigwait`: none is lost or fatal.
    private static func waitForSignals(service: SluiceService, logger: Logger) {
        let stopped = ConditionLock<Int>(0)
        Threads.spawn(name: "sluice-signals") {
            while true {
                _ = Signals.waitForTermination()
                let count = stopped.withLock { locked -> Int in
                    locked.state += 1
                    locked.broadcast()
                    return locked.state
                }
                if count > 1 {
                    logger.log(.warning, "second signal: exiting without draining")
                    StandardStreams.exit(1)
                }
            }
        }
        stopped.withLock { locked in
            while locked.state == 0 { locked.wait() }
        }
        logger.log(.info, "shutting down: draining in-flight requests")
        service.shutdown(graceMilliseconds: 10_000)
        logger.log(.info, "stopped")
    }
}
