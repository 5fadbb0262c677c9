import Dispatch
import Foundation
import SluiceTestSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How a child process ended.
enum ServeExit: Equatable, CustomStringConvertible {
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

/// A failure to start or watch a `sluice serve` child, with what is needed to diagnose it.
struct ServeChildFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A real `sluice serve` child process on a free loopback port. stdout is read on a dedicated
/// thread (for the `sluice listening on` line); stderr goes to a file so its pipe can never fill.
/// Signals go to this process only, by its pid.
final class ServeChild: Sendable {
    private let process: Process
    private let stdout = Mutex<(text: String, closed: Bool)>(("", false))
    private let stdoutChanged = DispatchSemaphore(value: 0)
    private let exited = DispatchSemaphore(value: 0)
    private let stderrPath: String

    /// Starts `sluice serve --listen 127.0.0.1:0 --data-dir <directory>/data` plus `arguments`.
    init(directory: String, arguments: [String]) throws {
        let binary = productsDirectory + "/sluice"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ServeChildFailure("The sluice executable is missing at '\(binary)'. Build it first: swift build --build-tests.")
        }
        stderrPath = directory + "/server-stderr.log"
        guard FileManager.default.createFile(atPath: stderrPath, contents: nil) else {
            throw ServeChildFailure("Cannot create '\(stderrPath)' for the server's stderr.")
        }
        let stderrFile = try Foundation.FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        let stdoutPipe = Pipe()

        process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--listen", "127.0.0.1:0", "--data-dir", directory + "/data"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardInput = Foundation.FileHandle.nullDevice
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
        thread.name = "test-serve-stdout"
        thread.start()
    }

    private func drain(_ reader: Foundation.FileHandle) {
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
                throw ServeChildFailure("sluice serve printed an unexpected listening line: '\(line)'")
            }
            if closed || !process.isRunning {
                throw ServeChildFailure(
                    "sluice serve ended without a 'sluice listening on' line.\nstdout: \(text)\nstderr: \(stderrTail())")
            }
            if stdoutChanged.wait(timeout: deadline) == .timedOut {
                throw ServeChildFailure(
                    "sluice serve printed no 'sluice listening on' line within \(seconds) s.\nstdout: \(text)\nstderr: \(stderrTail())")
            }
        }
    }

    /// Sends `signal` to this process, by its pid.
    func send(_ signal: Int32) {
        if process.isRunning { _ = kill(process.processIdentifier, signal) }
    }

    /// Waits up to `timeoutMilliseconds` for the process to end.
    func waitForExit(timeoutMilliseconds: Int) -> ServeExit {
        guard exited.wait(timeout: .now() + .milliseconds(timeoutMilliseconds)) == .success else {
            return .stillRunning
        }
        exited.signal()  // keep the semaphore signalled for later waits
        switch process.terminationReason {
        case .exit: return .exited(process.terminationStatus)
        case .uncaughtSignal: return .signalled(process.terminationStatus)
        @unknown default: return .exited(process.terminationStatus)
        }
    }

    /// Sends SIGTERM and waits up to `seconds` for the process to end.
    func terminateAndWait(timeout seconds: Int) -> ServeExit {
        send(SIGTERM)
        return waitForExit(timeoutMilliseconds: seconds * 1000)
    }

    /// Waits (polling the stderr file, at most `timeoutMilliseconds`) until stderr contains `text`.
    func waitForStderr(containing text: String, timeoutMilliseconds: Int) -> Bool {
        let deadline = DispatchTime.now() + .milliseconds(timeoutMilliseconds)
        while true {
            if stderrTail().contains(text) { return true }
            if DispatchTime.now() >= deadline { return false }
            usleep(20_000)
        }
    }

    /// Waits (polling `/proc/<pid>/status`, at most `timeoutMilliseconds`) until the process
    /// blocks or catches both SIGTERM and SIGINT (`serve` blocks them before it starts any
    /// thread and takes them with `sigwait`), so a signal sent now stays pending, not lost.
    func waitUntilTerminationSignalsAreHandled(timeoutMilliseconds: Int) -> Bool {
        let wanted: UInt64 = (1 << UInt64(SIGTERM - 1)) | (1 << UInt64(SIGINT - 1))
        let deadline = DispatchTime.now() + .milliseconds(timeoutMilliseconds)
        while true {
            // nil when the process has gone; then the signal cannot be handled either.
            guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
            else { return false }
            var handled: UInt64 = 0
            for line in status.split(separator: "\n") where line.hasPrefix("SigCgt:") || line.hasPrefix("SigBlk:") {
                let hex = line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)
                handled |= UInt64(hex, radix: 16) ?? 0
            }
            if handled & wanted == wanted { return true }
            if DispatchTime.now() >= deadline { return false }
            usleep(2_000)
        }
    }

    /// Last resort after a failure: SIGKILL this process by its pid, and reap it.
    func killIfRunning() {
        guard process.isRunning else { return }
        _ = kill(process.processIdentifier, SIGKILL)
        _ = exited.wait(timeout: .now() + .seconds(5))
    }

    /// The last 8 KiB of the server's stderr.
    func stderrTail() -> String {
        guard let data = FileManager.default.contents(atPath: stderrPath) else { return "(no stderr file)" }
        return String(decoding: data.suffix(8192), as: UTF8.self)
    }
}
