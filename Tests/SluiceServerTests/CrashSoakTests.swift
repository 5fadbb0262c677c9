import Foundation
import SluiceTestSupport
import Testing

/// The crash soak: runs `Tests/Interop/crash_soak.py`, which SIGKILLs `sluice serve` every 1-5 s
/// while Kinesis and Firehose producers write, with disk faults (a tmpfs archive filled to ENOSPC
/// or remounted read-only when the machine allows mounting one; the `SLUICE_FAULTS` seam
/// otherwise and in addition), an unwritable archive and an external processor that crashes at
/// random; it restarts the server on the same directories each time, then drains, flushes, runs
/// `sluice verify` and audits the archive: every acknowledged record exactly once, an
/// unacknowledged one at most once, no temporary file left.
///
/// The short form takes about 3 minutes; `SLUICE_SOAK_MINUTES=N` runs the long form,
/// `SLUICE_SOAK_SEED` repeats a run's random choices (the seed is printed).
@Suite(.timeLimit(.minutes(600)))
struct CrashSoakTests {
    @Test func everyAcknowledgedRecordIsDeliveredExactlyOnceThroughKillsAndFaults() throws {
        let binary = productsDirectory + "/sluice"
        try #require(
            FileManager.default.isExecutableFile(atPath: binary),
            "The sluice executable is missing at '\(binary)'. Build it first: swift build --build-tests (the product 'sluice').")
        let script = packageRoot + "/Tests/Interop/crash_soak.py"
        try #require(FileManager.default.fileExists(atPath: script), "The soak driver is missing at '\(script)'.")

        let environment = ProcessInfo.processInfo.environment
        let minutes = environment["SLUICE_SOAK_MINUTES"].flatMap(Double.init) ?? 3
        var extra = ["SLUICE_BINARY": binary]
        for name in ["SLUICE_SOAK_MINUTES", "SLUICE_SOAK_SEED", "SLUICE_SOAK_MIN_CYCLES"] {
            if let value = environment[name] { extra[name] = value }
        }

        try withTemporaryDirectory { directory in
            let result = try PipelineScriptRun.run(
                script, arguments: [], environment: extra, workDirectory: directory, timeoutSeconds: Int(minutes * 60) + 300)
            let counts = result.output.split(separator: "\n").filter { $0.hasPrefix("cycles ") || $0.hasPrefix("SUMMARY ") }
            print("crash_soak.py: \(counts.isEmpty ? "(no summary)" : counts.joined(separator: "\n"))")
            if result.status != 0 {
                // Keep the data directory, journals and archive for diagnosis.
                let kept = NSTemporaryDirectory() + "sluice-crash-soak-" + UUID().uuidString
                let keptNote =
                    (try? FileManager.default.moveItem(atPath: directory + "/work", toPath: kept)) != nil
                    ? "kept in \(kept)" : "could not be kept"
                Issue.record("crash_soak.py exited with \(result.status); its work directory is \(keptNote).\n--- output\n\(result.output)")
            }
        }
    }
}
