import Foundation
import SluiceTestSupport
import Testing

/// Exactly-once delivery across `kill -9`: runs `Tests/Interop/pipeline_crash.py`, which SIGKILLs
/// `sluice serve` at random instants (some while files are sealed and published) while Kinesis
/// and Firehose producers write, restarts it on the same directories, then flushes, stops it with
/// SIGTERM and audits the archive: every acknowledged record in exactly one file, none doubled,
/// no temporary file left.
///
/// About 30-40 s by default. `SLUICE_CRASH_SECONDS` lengthens the run, `SLUICE_CRASH_SEED`
/// repeats a run's random choices (the seed is printed).
@Suite(.timeLimit(.minutes(60)))
struct PipelineCrashTests {
    @Test func everyAcknowledgedRecordIsPublishedExactlyOnceAcrossKills() throws {
        let binary = productsDirectory + "/sluice"
        try #require(
            FileManager.default.isExecutableFile(atPath: binary),
            "The sluice executable is missing at '\(binary)'. Build it first: swift build --build-tests (the product 'sluice').")
        let script = packageRoot + "/Tests/Interop/pipeline_crash.py"
        try #require(FileManager.default.fileExists(atPath: script), "The crash driver is missing at '\(script)'.")

        let environment = ProcessInfo.processInfo.environment
        let seconds = environment["SLUICE_CRASH_SECONDS"].flatMap(Double.init) ?? 25
        var extra = ["SLUICE_BINARY": binary]
        for name in ["SLUICE_CRASH_SECONDS", "SLUICE_CRASH_SEED", "SLUICE_CRASH_MIN_CYCLES"] {
            if let value = environment[name] { extra[name] = value }
        }

        try withTemporaryDirectory { directory in
            let result = try PipelineScriptRun.run(
                script, arguments: [], environment: extra, workDirectory: directory, timeoutSeconds: Int(seconds) + 240)
            let summary = result.output.split(separator: "\n").filter { $0.hasPrefix("SUMMARY ") }.joined(separator: "\n")
            print("pipeline_crash.py: \(summary.isEmpty ? "(no summary)" : String(summary))")
            if result.status != 0 {
                // Keep the data directory, journals and archive for diagnosis.
                let kept = NSTemporaryDirectory() + "sluice-pipeline-crash-" + UUID().uuidString
                let keptNote =
                    (try? FileManager.default.moveItem(atPath: directory + "/work", toPath: kept)) != nil
                    ? "kept in \(kept)" : "could not be kept"
                Issue.record("pipeline_crash.py exited with \(result.status); its work directory is \(keptNote).\n--- output\n\(result.output)")
            }
        }
    }
}
