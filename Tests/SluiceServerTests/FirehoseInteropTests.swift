import Dispatch
import Foundation
import SluiceTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Drives real `sluice serve` processes with pipelines through unmodified Firehose clients: runs
/// `Tests/Interop/firehose_interop.py` (boto3 `firehose` and `kinesis`, the aws CLI, the admin
/// endpoint, SIGTERM), which starts its own servers on free loopback ports with temporary
/// pipeline, data and archive directories.
@Suite(.timeLimit(.minutes(5 * testTimeScale)))
struct FirehoseInteropTests {
    @Test func botoAndCLIFirehoseClientsDeliverIntoTheArchive() throws {
        let binary = productsDirectory + "/sluice"
        try #require(
            FileManager.default.isExecutableFile(atPath: binary),
            "The sluice executable is missing at '\(binary)'. Build it first: swift build --build-tests (the product 'sluice').")
        let script = packageRoot + "/Tests/Interop/firehose_interop.py"
        try #require(FileManager.default.fileExists(atPath: script), "The interop script is missing at '\(script)'.")

        try withTemporaryDirectory { directory in
            let result = try PipelineScriptRun.run(
                script, arguments: ["-v"], environment: ["SLUICE_BINARY": binary], workDirectory: directory, timeoutSeconds: 240)
            if result.status != 0 {
                Issue.record("firehose_interop.py exited with \(result.status).\n--- python output\n\(result.output)")
            }
        }
    }
}

/// Runs one of the Python drivers in `Tests/Interop` that start their own `sluice serve`
/// processes (shared by the Firehose interop and pipeline crash tests).
enum PipelineScriptRun {
    /// Runs `python3 script arguments…` to completion (bounded by `timeoutSeconds`) with a clean
    /// AWS environment, `SLUICE_WORK_DIR=<workDirectory>/work` and `environment` on top.
    ///
    /// On timeout the script gets SIGTERM (it kills the servers it started, by PID) and, if it
    /// is still there 10 s later, SIGKILL. Returns the exit status (-1 on timeout) and the output.
    static func run(
        _ script: String, arguments: [String], environment extra: [String: String], workDirectory: String, timeoutSeconds: Int
    ) throws -> (status: Int32, output: String) {
        let work = workDirectory + "/work"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let logPath = workDirectory + "/python-output.log"
        guard FileManager.default.createFile(atPath: logPath, contents: nil) else {
            throw PipelineScriptFailure("Cannot create '\(logPath)' for the Python output.")
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        defer { try? log.close() }  // best-effort: the process has exited or been killed

        var environment = ProcessInfo.processInfo.environment
        for name in ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"] {
            environment[name] = nil
        }
        environment["AWS_ACCESS_KEY_ID"] = "test"
        environment["AWS_SECRET_ACCESS_KEY"] = "test"
        environment["AWS_DEFAULT_REGION"] = "us-east-1"
        environment["AWS_EC2_METADATA_DISABLED"] = "true"
        environment["AWS_PAGER"] = ""
        environment["HOME"] = workDirectory
        environment["PYTHONUNBUFFERED"] = "1"
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        environment["SLUICE_WORK_DIR"] = work
        for (name, value) in extra { environment[name] = value }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script] + arguments
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: workDirectory)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()

        if exited.wait(timeout: .now() + .seconds(timeoutSeconds)) == .timedOut {
            process.terminate()  // SIGTERM to our own child, by PID: it kills its servers and exits
            if exited.wait(timeout: .now() + .seconds(10)) == .timedOut {
                _ = kill(process.processIdentifier, SIGKILL)
                _ = exited.wait(timeout: .now() + .seconds(10))
            }
            let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""  // best-effort diagnostics
            return (-1, "timed out after \(timeoutSeconds) s\n" + output)
        }
        let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "(no output file)"  // best-effort diagnostics
        return (process.terminationStatus, output)
    }
}

/// A setup failure of a Python driver run, with the details needed to diagnose it.
struct PipelineScriptFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
