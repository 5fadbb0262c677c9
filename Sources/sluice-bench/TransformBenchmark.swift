import Foundation
import SluicePipelines
import SluiceServer
import SluiceSupport

/// `pipeline-transform`: the `pipeline-e2e` load (clickstream lines as PutRecords over HTTP into a
/// stream that one pipeline delivers as gzip 6 into the archive), run in one invocation on the
/// same prepared requests through three pipelines, one after another, each with a fresh service
/// and fresh directories:
///
/// - `none`: no processors (the reference);
/// - `builtin-chain`: `jsonFilter` (`.event_type != "heartbeat"`), `jsonProject` (drop
///   `user_agent`, add `receivedAt=$arrivalTime`) and `appendDelimiter`. jsonProject's
///   `delimiter` is a space, which replaces the line's "\n", so appendDelimiter's "\n" is the
///   record's only newline (`{…} \n`: still one JSON document per line);
/// - `exec-persistent`: one `exec` processor in persistent mode running
///   `Pipelines/plugins/sluice_exec.py --persistent` with a pass-through handler written into
///   the run's scratch directory (every record `Ok` with its data unchanged), or with
///   `--exec-handler example` the shipped `Pipelines/plugins/firehose_handler.py`.
///
/// Each run is timed from the first request sent until the pipeline has read every record and,
/// after flushing the last partial buffers, holds nothing buffered or pending; the rate is MB/s
/// of the input payload. The archive is then decompressed and checked: lines == records
/// published, bytes == the bytes the pipeline reports published, no empty lines, and per mode
/// the content (the same lines as sent for `none` and the pass-through, compared by an
/// order-independent digest; the reshaped lines for the chain and the example handler).
///
/// Bars (issue): the built-in chain costs at most 15% of the no-processor throughput
/// (`builtin_ratio` ≥ 0.85); the long-lived exec plugin moves at least 50 MB/s.
struct TransformBenchmark {
    enum Mode: String, CaseIterable {
        case none
        case builtinChain = "builtin-chain"
        case execPersistent = "exec-persistent"
    }

    enum ExecHandler: String {
        /// A handler written by the benchmark: every record `Ok`, data unchanged.
        case passthrough
        /// `Pipelines/plugins/firehose_handler.py:lambda_handler`.
        case example
    }

    /// Data, load and pipeline settings (`partitions` is not used here).
    var base: PipelineBenchmark
    var modes: [Mode]
    var execHandler: ExecHandler
    /// The exec processor's `processes`: long-lived plugin processes working at once.
    var execProcesses = 1
    /// The directory holding `sluice_exec.py` (and `firehose_handler.py`).
    var pluginsDirectory: String

    static let builtinCostBar = 0.15
    static let execBarMegabytesPerSecond = 50.0

    static let builtinChain =
        #"[{"type":"jsonFilter","parameters":{"where":".event_type != \"heartbeat\""}},"#
        + #"{"type":"jsonProject","parameters":{"drop":"user_agent","add":"receivedAt=$arrivalTime","delimiter":" "}},"#
        + #"{"type":"appendDelimiter"}]"#

    static let passthroughHandler = """
        \"\"\"sluice-bench pipeline-transform: answers every record Ok with its data unchanged.\"\"\"


        def lambda_handler(event, context):
            return {"records": [{"recordId": r["recordId"], "result": "Ok", "data": r["data"]} for r in event["records"]]}

        """

    /// `Pipelines/plugins` of the checkout this file was built from, else of the working directory.
    static var defaultPluginsDirectory: String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let built = root.path + "/Pipelines/plugins"
        if FileManager.default.fileExists(atPath: built + "/sluice_exec.py") { return built }
        return FileManager.default.currentDirectoryPath + "/Pipelines/plugins"
    }

    /// What one run measured, for the summary.
    struct Outcome {
        var mode: Mode
        var megabytesPerSecond: Double
    }

    /// Runs the modes in order, handing each result line to `emit` as it is ready, then the summary line.
    func run(emit: (String) -> Void) throws {
        if modes.contains(.execPersistent) {
            let wrapper = pluginsDirectory + "/sluice_exec.py"
            guard FileManager.default.fileExists(atPath: wrapper) else {
                throw BenchmarkError("\(wrapper) does not exist; give the directory of sluice_exec.py with --plugins DIR")
            }
            if execHandler == .example, !FileManager.default.fileExists(atPath: pluginsDirectory + "/firehose_handler.py") {
                throw BenchmarkError("\(pluginsDirectory)/firehose_handler.py does not exist; use --exec-handler passthrough")
            }
        }
        let directory = base.baseDirectory + "/sluice-bench-transform-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileSystem.live.createDirectory(directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }  // scratch data of this run
        let requestsPath = directory + "/requests.bin"
        let prepared = try base.prepare(requestsPath: requestsPath, baseline: false, lineDigest: true)
        let requestFile = try FileSystem.live.open(requestsPath, .readOnly)
        defer { requestFile.close() }

        var outcomes: [Outcome] = []
        for mode in modes {
            let runDirectory = directory + "/\(mode.rawValue)"
            try FileSystem.live.createDirectory(runDirectory)
            defer { try? FileManager.default.removeItem(atPath: runDirectory) }
            let (result, outcome) = try deliver(mode: mode, prepared: prepared, requestFile: requestFile, directory: runDirectory)
            emit(result.json)
            outcomes.append(outcome)
        }
        emit(summary(outcomes))
    }

    // MARK: - One run

    private func processors(for mode: Mode, directory: String) throws -> String? {
        switch mode {
        case .none:
            return nil
        case .builtinChain:
            return Self.builtinChain
        case .execPersistent:
            return "[{\"type\":\"exec\",\"parameters\":{\"command\":\(jsonString(try execCommand(directory: directory))),"
                + "\"mode\":\"persistent\",\"timeoutInSeconds\":\"60\",\"processes\":\"\(execProcesses)\"}}]"
        }
    }

    /// The exec command line; writes the pass-through handler into `directory` when used.
    private func execCommand(directory: String) throws -> String {
        let handler: String
        switch execHandler {
        case .passthrough:
            handler = directory + "/sluice_bench_passthrough.py"
            try FileSystem.live.writeAtomically(Array(Self.passthroughHandler.utf8), to: handler)
        case .example:
            handler = pluginsDirectory + "/firehose_handler.py"
        }
        return "python3 \(shellWord(pluginsDirectory + "/sluice_exec.py")) \(shellWord(handler + ":lambda_handler")) --persistent"
    }

    private func deliver(
        mode: Mode, prepared: PipelineBenchmark.Prepared, requestFile: SluiceSupport.FileHandle, directory: String
    ) throws -> (BenchmarkResult, Outcome) {
        let processors = try processors(for: mode, directory: directory)
        let definition = try base.makeDefinition(processors: processors)
        let service = try base.startService(directory: directory, definition: definition, clock: nil)
        var serviceRunning = true
        defer { if serviceRunning { service.shutdown(graceMilliseconds: 5000) } }
        guard let manager = service.pipelines, let runner = manager.runner(named: PipelineBenchmark.pipelineName) else {
            throw BenchmarkError("the service did not start pipeline \(PipelineBenchmark.pipelineName)")
        }

        progress(
            "\(mode.rawValue): sending \(prepared.records) records (\(String(format: "%.1f", Double(prepared.payloadBytes) / 1e6)) MB) "
                + "as \(prepared.requests.count) PutRecords over \(base.connections) connections")
        let wall = ContinuousClock()
        let begin = wall.now
        let load = try base.sendAll(port: service.server.port, requests: prepared.requests, file: requestFile, clock: nil)
        let acknowledged = wall.now
        guard load.records == prepared.records else {
            throw BenchmarkError("\(load.records) records were acknowledged; \(prepared.records) were sent")
        }

        // Every record read and run through the processors (incomingRecords counts a record once
        // its processors have answered), then the last partial buffers flushed and published.
        let deadline = begin + .seconds(base.timeoutSeconds)
        var reported: String?
        func watch(_ status: PipelineStatus, _ what: String) throws {
            try base.checkHealth(status, deadline: deadline, wall: wall, waitingFor: what)
            if let problem = status.problem, problem != reported {
                progress("\(mode.rawValue): the pipeline reports a problem: \(problem)")
                reported = problem
            }
        }
        var status = runner.status
        while status.counters.incomingRecords < prepared.records {
            try watch(status, "the pipeline to read and process every record")
            Thread.sleep(forTimeInterval: 0.002)
            status = runner.status
        }
        let flushBegin = wall.now
        var flushes = 0
        while status.bufferedRecords > 0 || status.pendingBatches > 0 {
            try watch(status, "every buffered record to be published")
            if status.pendingBatches == 0 {
                let remaining = deadline - wall.now
                _ = manager.flush(name: PipelineBenchmark.pipelineName, timeoutMilliseconds: max(1, remaining.components.seconds * 1000))
                flushes += 1
            } else {
                Thread.sleep(forTimeInterval: 0.002)
            }
            status = runner.status
        }
        let end = wall.now
        let seconds = (end - begin).seconds
        let counters = status.counters
        guard counters.errorRecords.isEmpty, counters.errorFilesPublished == 0 else {
            throw BenchmarkError("\(mode.rawValue): the pipeline sent records to error output: \(counters.errorRecords); expected none")
        }
        guard counters.recordsPublished + counters.droppedRecords == prepared.records else {
            throw BenchmarkError(
                "\(mode.rawValue): \(prepared.records) records sent, but \(counters.recordsPublished) published and "
                    + "\(counters.droppedRecords) dropped")
        }
        service.shutdown(graceMilliseconds: 5000)
        serviceRunning = false

        progress("\(mode.rawValue): checking the archive")
        let archive = try checkArchive(directory + "/archive", mode: mode, counters: counters, prepared: prepared)

        let rate = Double(prepared.payloadBytes) / 1e6 / seconds
        var extra: [(String, String)] = [
            ("mode", "\"\(mode.rawValue)\""),
            ("e2e_mb_s", String(format: "%.1f", rate)),
            ("records_s", String(format: "%.0f", Double(prepared.records) / seconds)),
            ("records_sent", "\(prepared.records)"),
            ("records_published", "\(counters.recordsPublished)"),
            ("dropped", "\(counters.droppedRecords)"),
            ("error_records", "0"),
            ("files", "\(archive.files)"),
            ("output_bytes", "\(archive.uncompressedBytes)"),
            ("compressed_bytes", "\(archive.compressedBytes)"),
            ("ack_seconds", String(format: "%.2f", (acknowledged - begin).seconds)),
            ("flush_seconds", String(format: "%.2f", (end - flushBegin).seconds)),
            ("final_flushes", "\(flushes)"),
            ("count_check", jsonString(archive.summary)),
            ("processors", processors ?? "[]"),
        ]
        if mode == .execPersistent { extra += [("exec_handler", "\"\(execHandler.rawValue)\""), ("exec_processes", "\(execProcesses)")] }
        extra += [
            ("payload_mb", String(format: "%.1f", Double(prepared.payloadBytes) / 1e6)),
            ("connections", "\(base.connections)"), ("records_per_request", "\(base.batch)"), ("shards", "\(base.shards)"),
            ("size_in_mbs", "\(base.sizeInMBs)"), ("interval_s", "900"), ("gzip_level", "6"), ("durability", "\"always\""),
            ("data", jsonString(prepared.source)),
        ]
        let result = BenchmarkResult(
            scenario: "pipeline-transform", threads: base.connections, records: prepared.records, bytes: prepared.payloadBytes,
            seconds: seconds, latenciesMilliseconds: load.latencies, extra: extra)
        return (result, Outcome(mode: mode, megabytesPerSecond: rate))
    }

    // MARK: - Archive check

    struct ArchiveSummary {
        var files: Int
        var compressedBytes: Int
        var uncompressedBytes: Int
        var summary: String
    }

    /// Counts and content of the archive against what the pipeline reports and what was sent.
    private func checkArchive(
        _ root: String, mode: Mode, counters: PipelineCounters, prepared: PipelineBenchmark.Prepared
    ) throws -> ArchiveSummary {
        let unchanged = mode == .none || (mode == .execPersistent && execHandler == .passthrough)
        let check: (UnsafeRawBufferPointer) -> String?
        var content: String
        if unchanged {
            check = { line in line.last == 0x0A ? nil : "the record does not end with a newline" }
            content = "the lines sent, byte for byte (order-independent digest)"
        } else if mode == .builtinChain {
            let added = Array(#","receivedAt":""#.utf8)
            let removed = Array(#""user_agent":"#.utf8)
            check = { line in
                if !line.ends(with: Array("} \n".utf8)) { return "does not end with \"} \\n\" (jsonProject's space, then appendDelimiter's newline)" }
                if !line.contains(added) { return "has no receivedAt" }
                if line.contains(removed) { return "still has user_agent" }
                return nil
            }
            content = "every line ends with \"} \\n\", has receivedAt and no user_agent"
        } else {
            let enriched = Array(#""enriched":true,"processedAt":""#.utf8)
            check = { line in
                if !line.ends(with: Array("}\n".utf8)) { return "does not end with \"}\\n\"" }
                if !line.contains(enriched) { return "has no \"enriched\":true,\"processedAt\"" }
                return nil
            }
            content = "every line ends with \"}\\n\" and has enriched and processedAt"
        }
        let archive = try base.scanArchive(root, lines: check)
        guard archive.files == counters.filesPublished else {
            throw BenchmarkError("the archive holds \(archive.files) files; the pipeline reports \(counters.filesPublished) published")
        }
        guard archive.lines == counters.recordsPublished, archive.uncompressedBytes == counters.uncompressedBytesPublished else {
            throw BenchmarkError(
                "the archive holds \(archive.lines) lines and \(archive.uncompressedBytes) bytes after decompression; the pipeline "
                    + "reports \(counters.recordsPublished) records and \(counters.uncompressedBytesPublished) bytes published")
        }
        guard archive.emptyLines == 0 else {
            throw BenchmarkError("the archive holds \(archive.emptyLines) empty lines: some records end with two newlines")
        }
        if unchanged {
            guard archive.lines == prepared.records, archive.uncompressedBytes == prepared.payloadBytes,
                archive.lineDigest == prepared.lineDigest
            else {
                throw BenchmarkError(
                    "the archive holds \(archive.lines) lines and \(archive.uncompressedBytes) bytes (digest "
                        + "\(String(archive.lineDigest, radix: 16))); sent \(prepared.records) records and \(prepared.payloadBytes) bytes "
                        + "(digest \(String(prepared.lineDigest, radix: 16)))")
            }
        }
        content = "ok: \(archive.lines) lines == records published, \(archive.uncompressedBytes) bytes decompressed; " + content
        return ArchiveSummary(
            files: archive.files, compressedBytes: archive.compressedBytes, uncompressedBytes: archive.uncompressedBytes, summary: content)
    }

    // MARK: - Summary

    private func summary(_ outcomes: [Outcome]) -> String {
        func rate(_ mode: Mode) -> Double? { outcomes.first { $0.mode == mode }?.megabytesPerSecond }
        var fields: [(String, String)] = [("scenario", "\"pipeline-transform\""), ("mode", "\"summary\"")]
        let none = rate(.none)
        let chain = rate(.builtinChain)
        let exec = rate(.execPersistent)
        fields.append(("none_mb_s", none.map { String(format: "%.1f", $0) } ?? "null"))
        fields.append(("builtin_chain_mb_s", chain.map { String(format: "%.1f", $0) } ?? "null"))
        if let none, let chain {
            let ratio = chain / none
            fields += [
                ("builtin_ratio", String(format: "%.3f", ratio)),
                ("builtin_cost", String(format: "%.3f", 1 - ratio)),
                ("builtin_cost_le_15pct", 1 - ratio <= Self.builtinCostBar ? "\"met\"" : "\"not met\""),
            ]
        } else {
            fields += [("builtin_ratio", "null"), ("builtin_cost_le_15pct", "\"not run\"")]
        }
        if let exec {
            fields += [
                ("exec_mb_s", String(format: "%.1f", exec)),
                ("exec_handler", "\"\(execHandler.rawValue)\""),
                ("exec_ge_50_mb_s", exec >= Self.execBarMegabytesPerSecond ? "\"met\"" : "\"not met\""),
            ]
        } else {
            fields += [("exec_mb_s", "null"), ("exec_ge_50_mb_s", "\"not run\"")]
        }
        if let none, let exec { fields.append(("exec_ratio", String(format: "%.3f", exec / none))) }
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }
}

// MARK: - Helpers

/// A JSON string literal.
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// One word of exec's `command` (split like a shell word list): single-quoted when needed.
private func shellWord(_ word: String) -> String {
    let plain = word.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "/._-:+=@,".unicodeScalars.contains($0) }
    return plain && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: #"'"'"'"#) + "'"
}

extension UnsafeRawBufferPointer {
    func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && zip(self[(count - suffix.count)...], suffix).allSatisfy { $0 == $1 }
    }

    func contains(_ needle: [UInt8]) -> Bool {
        guard let first = needle.first, count >= needle.count else { return needle.isEmpty }
        var index = 0
        let last = count - needle.count
        while index <= last {
            if self[index] == first {
                var matched = 1
                while matched < needle.count && self[index + matched] == needle[matched] { matched += 1 }
                if matched == needle.count { return true }
            }
            index += 1
        }
        return false
    }
}
