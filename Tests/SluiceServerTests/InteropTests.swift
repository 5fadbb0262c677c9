import Dispatch
import Foundation
import SluiceTestSupport
import Synchronization
import Testing

/// Drives a real `sluice serve` process with unmodified AWS clients: runs
/// `Tests/Interop/kinesis_interop.py` (boto3, the aws CLI and raw sockets) against it, then stops
/// the server with SIGTERM and expects a clean exit.
@Suite(.timeLimit(.minutes(5)))
struct InteropTests {
    @Test func botoCLIAndRawSocketClientsWorkAgainstTheServeProcess() throws {
        let binary = productsDirectory + "/sluice"
        try #require(
            FileManager.default.isExecutableFile(atPath: binary),
            "The sluice executable is missing at '\(binary)'. Build it first: swift build --build-tests (the product 'sluice').")
        let script = packageRoot + "/Tests/Interop/kinesis_interop.py"
        try #require(FileManager.default.fileExists(atPath: script), "The interop script is missing at '\(script)'.")

        try withTemporaryDirectory { directory in
            let server = try ServeProcess(binary: binary, directory: directory)
            defer { server.killIfRunning() }

            let port = try server.waitForListeningPort(timeout: 30)
            let python = try runInteropScript(script, port: port, home: directory)
            if python.status != 0 {
                Issue.record(
                    "kinesis_interop.py exited with \(python.status).\n--- python output\n\(python.output)\n--- server stderr (tail)\n\(server.stderrTail())")
            }

            let exit = server.terminateAndWait(timeout: 10)
            #expect(exit == .exited(0), "sluice serve did not exit 0 within 10 s of SIGTERM: \(exit).\n\(server.stderrTail())")
        }
    }

    /// Runs the Python module to completion (bounded, see `PipelineScriptRun`) and returns its
    /// exit status and output.
    private func runInteropScript(_ script: String, port: Int, home: String) throws -> (status: Int32, output: String) {
        try PipelineScriptRun.run(
            script, arguments: ["-v"], environment: ["SLUICE_ENDPOINT": "http://127.0.0.1:\(port)", "SLUICE_HEADER_TIMEOUT_MS": "1500"],
            workDirectory: home, timeoutSeconds: 240)
    }
}

/// How a child process ended.
private enum ProcessExit: Equatable, CustomStringConvertible {
    case exited(Int32)
    case signalled(Int32)
    case stillRunning

    var description: String {
        switch self {
        case .exited(let status): "exited with status \(status)"
        case .signalled(let signal): "killed by signal \(signal)"
        case .stillRunning: "still running"
        }
    }
}

/// A `sluice serve` child process: stdout is read on a dedicated thread (to find the
/// `sluice listening on` line), stderr goes straight to a file so its pipe can never fill.
private final class ServeProcess: Sendable {
    private let process: Process
    /// Everything read from stdout so far, and whether it reached EOF.
    private let stdout = Mutex<(text: String, closed: Bool)>(("", false))
    private let stdoutChanged = DispatchSemaphore(value: 0)
    private let exited = DispatchSemaphore(value: 0)
    private let stderrPath: String

    init(binary: String, directory: String) throws {
        stderrPath = directory + "/server-stderr.log"
        guard FileManager.default.createFile(atPath: stderrPath, contents: nil) else {
            throw InteropFailure("Cannot create '\(stderrPath)' for the server's stderr.")
        }
        let stderrFile = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        let stdoutPipe = Pipe()

        process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "serve", "--listen", "127.0.0.1:0", "--data-dir", directory + "/data",
            "--header-timeout-ms", "1500", "--creation-delay-ms", "500",
        ]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdoutPipe
        process.standardError = stderrFile
        let exited = self.exited
        let stdoutChanged = self.stdoutChanged
        process.terminationHandler = { _ in
            exited.signal()
            stdoutChanged.signal()
        }
        try process.run()
        try? stderrFile.close()  // best-effort: the child holds its own descriptor

        let reader = stdoutPipe.fileHandleForReading
        let thread = Thread { [self] in self.drain(reader) }
        thread.name = "interop-serve-stdout"
        thread.start()
    }

    /// Reads the server's stdout until EOF (runs on its own thread).
    private func drain(_ reader: FileHandle) {
        while true {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            stdout.withLock { $0.text += String(decoding: chunk, as: UTF8.self) }
            stdoutChanged.signal()
        }
        stdout.withLock { $0.closed = true }
        stdoutChanged.signal()
    }

    /// Waits for `sluice listening on 127.0.0.1:<port>` and returns the port.
    func waitForListeningPort(timeout seconds: Int) throws -> Int {
        let deadline = DispatchTime.now() + .seconds(seconds)
        let prefix = "sluice listening on "
        while true {
            let (text, closed) = stdout.withLock { ($0.text, $0.closed) }
            for line in text.split(separator: "\n") where line.hasPrefix(prefix) {
                let address = line.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
                if address.hasPrefix("127.0.0.1:"), let port = Int(address.dropFirst("127.0.0.1:".count)), port > 0 {
                    return port
                }
                throw InteropFailure("sluice serve printed an unexpected listening line: '\(line)'")
            }
            if closed || !process.isRunning {
                let exit = terminateAndWait(timeout: 5)
                throw InteropFailure(
                    "sluice serve closed its stdout (\(exit)) without a 'sluice listening on' line.\nstdout: \(text)\nstderr: \(stderrTail())")
            }
            if stdoutChanged.wait(timeout: deadline) == .timedOut {
                throw InteropFailure(
                    "sluice serve printed no 'sluice listening on' line within \(seconds) s.\nstdout: \(text)\nstderr: \(stderrTail())")
            }
        }
    }

    /// Sends SIGTERM and waits up to `seconds` for the process to end.
    func terminateAndWait(timeout seconds: Int) -> ProcessExit {
        if process.isRunning { process.terminate() }
        guard exited.wait(timeout: .now() + .seconds(seconds)) == .success else { return .stillRunning }
        exited.signal()  // keep the semaphore signalled for later waits
        switch process.terminationReason {
        case .exit: return .exited(process.terminationStatus)
        case .uncaughtSignal: return .signalled(process.terminationStatus)
        @unknown default: return .exited(process.terminationStatus)
        }
    }

    /// Last resort after a failure: SIGKILL this process by its pid (never by name).
    func killIfRunning() {
        guard process.isRunning else { return }
        let kill = Process()
        kill.executableURL = URL(fileURLWithPath: "/bin/kill")
        kill.arguments = ["-KILL", String(process.processIdentifier)]
        do {
            try kill.run()
            kill.waitUntilExit()
        } catch {
            Issue.record("Could not kill sluice serve (pid \(process.processIdentifier)): \(error)")
        }
        _ = exited.wait(timeout: .now() + .seconds(5))
    }

    /// The last 8 KiB of the server's stderr.
    func stderrTail() -> String {
        guard let data = FileManager.default.contents(atPath: stderrPath) else { return "(no stderr file)" }
        return String(decoding: data.suffix(8192), as: UTF8.self)
    }
}

/// A setup failure of the interop run, with the details needed to diagnose it.
private struct InteropFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
