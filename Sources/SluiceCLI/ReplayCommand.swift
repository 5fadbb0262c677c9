import Foundation
import SluicePipelines
import SluiceStreams
import SluiceSupport

/// `sluice replay PIPELINE`: replays a pipeline's error output through its current processors.
/// Offline it works on the data and archive directories itself; when a running `sluice serve`
/// holds the data directory, it asks that server through the admin endpoint.
enum ReplayCommand {
    static func run(_ arguments: [String], console: Console) throws {
        let command = "sluice replay"
        let scanned = try ArgumentScanner(
            arguments, valued: ["type", "since", "until", "pipelines", "archive-dir", "data-dir", "admin"], flags: ["dry-run"],
            command: command)
        if scanned.flags.contains("help") {
            console.print(HelpText.replay)
            return
        }
        guard scanned.positionals.count == 1 else {
            throw UsageError("'sluice replay' takes one pipeline name, for example 'sluice replay clickstream'. Run 'sluice replay --help'.")
        }
        let name = scanned.positionals[0]
        var options = ReplayOptions(dryRun: scanned.flags.contains("dry-run"))
        if let types = scanned.options["type"] {
            let list = Set(types.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
            for type in list where !Replayer.errorTypes.contains(type) {
                throw UsageError("option '--type' must be one of \(Replayer.errorTypes.joined(separator: ", ")) (comma-separated); got '\(type)'.")
            }
            options.types = list
        }
        for (flag, keyPath) in [("since", \ReplayOptions.since), ("until", \ReplayOptions.until)] {
            guard let text = scanned.options[flag] else { continue }
            let seconds = Double(text).flatMap { $0.isFinite && $0 >= 0 && $0 <= 253_402_300_799 ? $0 : nil }
            guard let time = UTCDate.parseISO8601(text) ?? seconds.map({ Timestamp(milliseconds: Int64($0 * 1000)) }) else {
                throw UsageError("option '--\(flag)' must be an ISO 8601 time (2026-11-22T10:00:00Z) or epoch seconds; got '\(text)'.")
            }
            options[keyPath: keyPath] = time
        }
        let dataDirectory = scanned.options["data-dir"] ?? "./data"
        let lock: DirectoryLock
        do {
            try FileSystem.live.createDirectory(dataDirectory)
            lock = try DirectoryLock.acquire(directory: dataDirectory, fileSystem: .live)
        } catch DirectoryLock.Failure.held {
            try replayThroughServer(name: name, options: options, admin: scanned.options["admin"] ?? "127.0.0.1:4568", console: console)
            return
        }
        defer { lock.release() }
        let directory = scanned.options["pipelines"] ?? "./Pipelines"
        let loaded = PipelineLoader.loadDirectory(directory, fileSystem: .live)
        if !loaded.errors.isEmpty {
            throw UsageError("invalid pipeline files (run 'sluice validate' for details):\n" + loaded.errors.map { "\($0)" }.joined(separator: "\n"))
        }
        guard let definition = loaded.definitions.first(where: { $0.name == name }) else {
            throw UsageError(
                "no pipeline named \(name) in \(directory); pipelines there: \(loaded.definitions.map(\.name).sorted().joined(separator: ", ")).")
        }
        let replayer: Replayer
        do {
            replayer = try Replayer(
                definition: definition, archiveRoot: scanned.options["archive-dir"] ?? "./archive", stateRoot: dataDirectory + "/pipelines",
                fileSystem: .live, clock: SystemTimeSource())
        } catch {
            throw UsageError(error.message)
        }
        let started = ContinuousClock.now
        let summary: ReplaySummary
        do {
            summary = try replayer.run(options) { progress in
                guard console.errorIsTerminal else { return }
                console.error(Array(("\r" + progressLine(progress, since: started)).utf8))
            }
        } catch {
            if console.errorIsTerminal { console.error(Array("\n".utf8)) }
            throw ReplayFailure(message: error.message)
        }
        if console.errorIsTerminal { console.error(Array("\n".utf8)) }
        console.print(ReplaySummaryText.line(summary, dryRun: options.dryRun))
    }

    struct ReplayFailure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// `[#####.....] 1200/5000 records, 3/10 files, 4000 records/s, 1 s left`.
    static func progressLine(_ progress: ReplayProgress, since started: ContinuousClock.Instant) -> String {
        let fraction = progress.recordsTotal == 0 ? 1 : Double(progress.recordsDone) / Double(progress.recordsTotal)
        let filled = Int(fraction * 30)
        let elapsed = started.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = seconds > 0 ? Double(progress.recordsDone) / seconds : 0
        let left = rate > 0 ? Double(progress.recordsTotal - progress.recordsDone) / rate : 0
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled) + "] "
            + "\(progress.recordsDone)/\(progress.recordsTotal) records, \(progress.filesDone)/\(progress.filesTotal) files, "
            + "\(Int(rate)) records/s, \(Int(left.rounded(.up))) s left"
    }


    /// Asks the running server to replay (`POST /pipelines/NAME/replay`) and prints its summary.
    private static func replayThroughServer(name: String, options: ReplayOptions, admin: String, console: Console) throws {
        var query: [String] = []
        if let types = options.types { query.append("type=" + types.sorted().joined(separator: ",")) }
        if let since = options.since { query.append("since=\(since.milliseconds)") }
        if let until = options.until { query.append("until=\(until.milliseconds)") }
        if options.dryRun { query.append("dryRun=true") }
        let path = "/pipelines/\(name)/replay" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        console.printError("The data directory is held by a running sluice serve; replaying through its admin endpoint \(admin).")
        let (status, body) = try AdminClient.request(admin: admin, method: "POST", path: path)
        guard status == 200 else { throw AdminClient.AdminError(message: AdminClient.describe(status, body)) }
        console.print(AdminClient.message(body) ?? String(decoding: body, as: UTF8.self))
    }
}
