import SluicePipelines
import Synchronization
import SluiceStreams
import SluiceSupport

/// The admin endpoint behind `sluice pipelines status` and `sluice pipelines flush`. It listens
/// on a loopback address only (the CLI refuses anything else), next to the public API.
///
/// - `GET /pipelines`: every pipeline's status as JSON.
/// - `POST /pipelines/<name>/flush`: seal and publish the pipeline's open buffers now; answers
///   once they are published (200), or 404 for an unknown pipeline, or 503 when publication
///   fails or takes longer than 30 s (the records stay buffered in the stream).
struct AdminHandler: HTTPHandler {
    /// Pipelines with a replay running in this server.
    private static let replaying = Mutex<Set<String>>([])

    let pipelines: PipelineManager
    let store: StreamStore

    func handle(_ request: HTTPRequest, requestID: String) -> HTTPResponse {
        let path = request.path
        if request.method == "GET" && (path == "/pipelines" || path == "/pipelines/") {
            return json(200, statusDocument(pipelines.statuses))
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        if parts.count == 3, parts[0] == "pipelines", parts[2] == "replay" {
            guard request.method == "POST" else { return message(405, "Use POST to replay a pipeline's error output.") }
            return replay(String(parts[1]), query: request.target)
        }
        if parts.count == 3, parts[0] == "pipelines", parts[2] == "flush" {
            guard request.method == "POST" else { return message(405, "Use POST to flush a pipeline.") }
            let name = String(parts[1])
            guard pipelines.runner(named: name) != nil else {
                return message(404, "No pipeline named \(name); `sluice pipelines status` lists them.")
            }
            if pipelines.flush(name: name) {
                return message(200, "Flushed pipeline \(name).")
            }
            let problem = pipelines.runner(named: name)?.status.problem ?? "the flush did not finish within 30 s"
            return message(503, "Pipeline \(name) could not publish everything: \(problem). The records stay in the stream and are retried.")
        }
        return message(404, "Unknown admin route \(request.method) \(path); use GET /pipelines or POST /pipelines/NAME/flush.")
    }

    /// `POST /pipelines/NAME/replay?type=a,b&since=MS&until=MS&dryRun=true`: runs the replay in
    /// the server (which holds the data directory and its ledger) and answers its summary.
    private func replay(_ name: String, query target: String) -> HTTPResponse {
        guard let runner = pipelines.runner(named: name) else {
            return message(404, "No pipeline named \(name); `sluice pipelines status` lists them.")
        }
        var options = ReplayOptions()
        if let question = target.firstIndex(of: "?") {
            for pair in target[target.index(after: question)...].split(separator: "&") {
                let field = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard field.count == 2 else { continue }
                switch field[0] {
                case "type": options.types = Set(field[1].split(separator: ",").map(String.init))
                case "since", "until":
                    guard let milliseconds = Int64(field[1]) else {
                        return message(400, "\(field[0]) must be epoch milliseconds; got \(field[1]).")
                    }
                    if field[0] == "since" { options.since = Timestamp(milliseconds: milliseconds) } else { options.until = Timestamp(milliseconds: milliseconds) }
                case "dryRun": options.dryRun = field[1] == "true"
                default: break
                }
            }
        }
        let context = runner.context
        // One replay of a pipeline at a time (a second would race for the same names).
        guard Self.replaying.withLock({ $0.insert(name).inserted }) else {
            return message(409, "A replay of \(name) is already running; wait for it to finish.")
        }
        defer { _ = Self.replaying.withLock { $0.remove(name) } }
        do {
            let replayer = try Replayer(
                definition: runner.definition, archiveRoot: context.archiveRoot, stateRoot: context.stateRoot,
                fileSystem: context.fileSystem, clock: context.clock)
            let summary = try replayer.run(options)
            return message(200, ReplaySummaryText.line(summary, dryRun: options.dryRun))
        } catch {
            return message(503, "Replay of \(name) stopped: \(error.message)")
        }
    }

    private func message(_ status: Int, _ text: String) -> HTTPResponse {
        var w = JSONWriter(capacity: 64 + text.utf8.count)
        w.beginObject()
        w.key("message")
        w.string(text)
        w.endObject()
        return json(status, w.bytes)
    }

    private func json(_ status: Int, _ body: [UInt8]) -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.add("Content-Type", "application/json")
        return HTTPResponse(status: status, headers: headers, body: body)
    }

    private func statusDocument(_ statuses: [PipelineStatus]) -> [UInt8] {
        let now = store.configuration.clock.now()
        var w = JSONWriter(capacity: 256 * max(1, statuses.count))
        w.beginObject()
        w.key("pipelines")
        w.beginArray()
        for status in statuses {
            w.beginObject()
            w.key("name"); w.string(status.name)
            w.key("version"); w.number(status.version)
            w.key("healthy"); w.bool(status.healthy)
            if let problem = status.problem {
                w.key("problem"); w.string(problem)
            }
            w.key("openPartitions"); w.number(status.openPartitions)
            w.key("pendingBatches"); w.number(status.pendingBatches)
            w.key("bufferedRecords"); w.number(status.bufferedRecords)
            w.key("bufferedBytes"); w.number(status.bufferedBytes)
            w.key("oldestRecordAgeSeconds")
            if let oldest = status.oldestUndeliveredArrival {
                w.number(max(0, (now.milliseconds - oldest.milliseconds) / 1000))
            } else {
                w.number(0)
            }
            w.key("caughtUp"); w.bool(status.caughtUp)
            w.key("filesPublished"); w.number(status.counters.filesPublished)
            w.key("recordsPublished"); w.number(status.counters.recordsPublished)
            w.key("errorRecords"); w.number(status.counters.errorRecords.values.reduce(0, +))
            w.key("retries"); w.number(status.counters.retries)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.bytes
    }
}
