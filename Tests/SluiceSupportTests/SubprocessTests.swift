import Foundation
import SluiceSupport
import Testing

@Suite(.timeLimit(.minutes(1))) struct SubprocessTests {
    private func spawn(
        _ arguments: [String], maximumOutputBytes: Int = 64 << 20, standardErrorLimit: Int = 64 << 10,
        workingDirectory: String? = nil
    ) throws -> Subprocess {
        try Subprocess.spawn(
            Subprocess.Configuration(
                arguments: arguments, workingDirectory: workingDirectory, maximumOutputBytes: maximumOutputBytes,
                standardErrorLimit: standardErrorLimit))
    }

    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    // MARK: - Output and exit

    @Test func echoWritesToStandardOutputAndExitsZero() throws {
        let process = try spawn(["/bin/sh", "-c", "echo hello"])
        #expect(text(try process.readOutput(until: .endOfFile, deadline: .after(seconds: 10))) == "hello\n")
        #expect(try process.wait(deadline: .after(seconds: 10)) == .exited(0))
        #expect(try process.terminationIfExited() == .exited(0))
    }

    @Test func theProgramIsLookedUpInPath() throws {
        let process = try spawn(["sh", "-c", "printf found"])
        #expect(text(try process.readOutput(until: .endOfFile, deadline: .after(seconds: 10))) == "found")
        #expect(try process.wait(deadline: .after(seconds: 10)).isSuccess)
    }

    @Test func aMissingProgramFailsToSpawnWithENOENT() {
        let error = #expect(throws: Subprocess.Failure.self) {
            _ = try spawn(["sluice-no-such-command-\(UUID().uuidString)"])
        }
        guard case .spawnFailed(let system) = error else {
            Issue.record("expected spawnFailed, got \(String(describing: error))")
            return
        }
        #expect(system.errnoName == "ENOENT")
        #expect(system.call == "posix_spawnp")
        #expect(error?.description.contains("No such file or directory") == true)
    }

    @Test(arguments: [0, 1, 3, 255]) func exitStatusesAreReported(status: Int) throws {
        let process = try spawn(["/bin/sh", "-c", "exit \(status)"])
        let termination = try process.wait(deadline: .after(seconds: 10))
        #expect(termination == .exited(Int32(status)))
        #expect(termination.description == "exited with status \(status)")
    }

    @Test func deathBySignalIsReported() throws {
        let process = try spawn(["/bin/sh", "-c", "kill -TERM $$; sleep 5"])
        let termination = try process.wait(deadline: .after(seconds: 10))
        #expect(termination == .signaled(Subprocess.terminateSignal))
        #expect(termination.description == "was killed by signal 15 (SIGTERM)")
    }

    @Test func theWorkingDirectoryIsSet() throws {
        let process = try spawn(["pwd"], workingDirectory: "/")
        #expect(text(try process.readOutput(until: .endOfFile, deadline: .after(seconds: 10))) == "/\n")
        #expect(try process.wait(deadline: .after(seconds: 10)).isSuccess)
    }

    @Test func aMissingWorkingDirectoryFailsToSpawn() {
        let error = #expect(throws: Subprocess.Failure.self) {
            _ = try spawn(["pwd"], workingDirectory: "/sluice-no-such-directory-\(UUID().uuidString)")
        }
        guard case .spawnFailed(let system) = error else {
            Issue.record("expected spawnFailed, got \(String(describing: error))")
            return
        }
        #expect(system.errnoName == "ENOENT")
    }

    // MARK: - Large data both ways

    @Test func eightMegabytesGoThroughCatWithoutDeadlock() throws {
        var input = [UInt8](repeating: 0, count: 8 << 20)
        for index in input.indices { input[index] = UInt8(truncatingIfNeeded: index &* 31 &+ index >> 13) }
        let process = try spawn(["/bin/cat"])
        let deadline = Subprocess.Deadline.after(seconds: 30)
        try process.write(all: input, deadline: deadline)
        process.closeInput()
        let output = try process.readOutput(until: .endOfFile, deadline: deadline)
        #expect(output.count == input.count)
        #expect(output == input)
        #expect(try process.wait(deadline: deadline).isSuccess)
    }

    @Test func largeOutputAndLargeStandardErrorAtOnceDoNotDeadlock() throws {
        // 4 MB on stdout and 4 MB on stderr, interleaved: neither pipe may fill up.
        let script =
            "i=0; while [ $i -lt 64 ]; do head -c 65536 /dev/zero; head -c 65536 /dev/zero >&2; i=$((i+1)); done"
        let process = try spawn(["/bin/sh", "-c", script], standardErrorLimit: 1000)
        let output = try process.readOutput(until: .endOfFile, deadline: .after(seconds: 30))
        #expect(output.count == 64 * 65536)
        #expect(try process.wait(deadline: .after(seconds: 10)).isSuccess)
        try process.drainStandardError(deadline: .after(seconds: 10))
        let captured = process.takeStandardError()
        #expect(captured.bytes.count == 1000)
        #expect(captured.droppedBytes == 64 * 65536 - 1000)
    }

    @Test func linesAreReadOneAtATime() throws {
        let process = try spawn(["/bin/cat"])
        let deadline = Subprocess.Deadline.after(seconds: 10)
        try process.write(all: Array("first\nsecond\nthird".utf8), deadline: deadline)
        #expect(text(try process.readOutput(until: .delimiter(0x0A), deadline: deadline)) == "first")
        #expect(text(try process.readOutput(until: .delimiter(0x0A), deadline: deadline)) == "second")
        process.closeInput()
        let error = #expect(throws: Subprocess.Failure.self) {
            _ = try process.readOutput(until: .delimiter(0x0A), deadline: deadline)
        }
        #expect(error == .outputEnded(received: 5))
        #expect(try process.wait(deadline: deadline).isSuccess)
    }

    @Test func outputBeyondTheLimitFails() throws {
        let process = try spawn(["/bin/sh", "-c", "head -c 5000 /dev/zero"], maximumOutputBytes: 1000)
        let error = #expect(throws: Subprocess.Failure.self) {
            _ = try process.readOutput(until: .endOfFile, deadline: .after(seconds: 10))
        }
        #expect(error == .outputTooLarge(limit: 1000))
        process.kill()
        _ = try process.wait(deadline: .after(seconds: 10))
    }

    @Test func aLineBeyondTheLimitFails() throws {
        let process = try spawn(["/bin/sh", "-c", "head -c 5000 /dev/zero; echo"], maximumOutputBytes: 1000)
        let error = #expect(throws: Subprocess.Failure.self) {
            _ = try process.readOutput(until: .delimiter(0x0A), deadline: .after(seconds: 10))
        }
        #expect(error == .outputTooLarge(limit: 1000))
    }

    @Test func writingToAProcessThatExitedFailsWithInputClosed() throws {
        let process = try spawn(["/bin/sh", "-c", "exit 0"])
        let error = #expect(throws: Subprocess.Failure.self) {
            // More than the pipe holds (its buffer is raised to 1 MiB).
            try process.write(all: [UInt8](repeating: 0x61, count: 4 << 20), deadline: .after(seconds: 10))
        }
        guard case .inputClosed(let written) = error else {
            Issue.record("expected inputClosed, got \(String(describing: error))")
            return
        }
        #expect(written < 4 << 20)
        #expect(try process.wait(deadline: .after(seconds: 10)).isSuccess)
    }

    // MARK: - Deadlines

    @Test func aTimeoutKillsSleep() throws {
        let start = ContinuousClock.now
        let process = try spawn(["sleep", "30"])
        let error = #expect(throws: Subprocess.Failure.self) {
            _ = try process.readOutput(until: .endOfFile, deadline: .after(seconds: 0.3))
        }
        #expect(error == .timedOut(waitingFor: "the process's standard output"))
        #expect(try process.terminationIfExited() == nil)
        process.kill()
        #expect(try process.wait(deadline: .after(seconds: 10)) == .signaled(Subprocess.killSignal))
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test func waitHonoursItsDeadline() throws {
        let process = try spawn(["sleep", "30"])
        let start = ContinuousClock.now
        let error = #expect(throws: Subprocess.Failure.self) {
            _ = try process.wait(deadline: .after(seconds: 0.2))
        }
        #expect(error == .timedOut(waitingFor: "process \(process.processID) to exit"))
        #expect(ContinuousClock.now - start >= .milliseconds(190))
        #expect(process.terminate(grace: 0) == .signaled(Subprocess.killSignal))
    }

    @Test func killEndsTheWholeProcessGroup() throws {
        // The shell forks `sleep` and waits; killing only the shell would leave sleep holding stdout open.
        let process = try spawn(["/bin/sh", "-c", "sleep 30; echo done"])
        #expect(throws: Subprocess.Failure.self) {
            _ = try process.readOutput(until: .endOfFile, deadline: .after(seconds: 0.2))
        }
        process.kill()
        #expect(try process.wait(deadline: .after(seconds: 10)) == .signaled(Subprocess.killSignal))
        // With sleep killed too, stdout reaches end of file at once.
        #expect(try process.readOutput(until: .endOfFile, deadline: .after(seconds: 5)).isEmpty)
    }

    @Test func terminateLetsAProcessExitOnEndOfInput() throws {
        let process = try spawn(["/bin/cat"])
        #expect(process.terminate(grace: 10) == .exited(0))
    }

    @Test func deinitReapsTheChild() throws {
        var processID: Int32 = 0
        do {
            let process = try spawn(["sleep", "30"])
            processID = process.processID
        }
        // Reaped, not a zombie: the /proc entry is gone.
        #expect(!FileManager.default.fileExists(atPath: "/proc/\(processID)"))
    }

    // MARK: - Standard error

    @Test func standardErrorIsCapturedAndBounded() throws {
        let script = "head -c 200000 /dev/zero | tr '\\000' x >&2; printf 'last line\\n' >&2; echo done"
        let process = try spawn(["/bin/sh", "-c", script], standardErrorLimit: 1000)
        #expect(text(try process.readOutput(until: .endOfFile, deadline: .after(seconds: 10))) == "done\n")
        #expect(try process.wait(deadline: .after(seconds: 10)).isSuccess)
        try process.drainStandardError(deadline: .after(seconds: 10))
        let captured = process.takeStandardError()
        #expect(captured.bytes.count == 1000)
        #expect(captured.droppedBytes == 200_010 - 1000)
        #expect(text(captured.bytes).hasSuffix("xxxlast line\n"))
        #expect(process.takeStandardError() == Subprocess.StandardError(bytes: [], droppedBytes: 0))
    }

    @Test func collectStandardErrorTakesWhatIsThereWithoutWaiting() throws {
        let process = try spawn(["/bin/sh", "-c", "echo warning >&2; echo ready; exec cat"])
        #expect(text(try process.readOutput(until: .delimiter(0x0A), deadline: .after(seconds: 10))) == "ready")
        try process.collectStandardError()
        #expect(text(process.takeStandardError().bytes) == "warning\n")
        #expect(process.terminate(grace: 10) == .exited(0))
    }

    // MARK: - Signals

    /// Runs `body` on a new thread with SIGTERM and SIGINT blocked, as in `sluice serve`.
    private func onThreadBlockingTermination<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        let result = ConditionLock<Result<T, any Error>?>(nil)
        Threads.spawn(name: "subprocess-test") {
            Signals.blockTermination()
            let outcome = Result { try body() }
            result.withLock { locked in
                locked.state = outcome
                locked.broadcast()
            }
        }
        return try result.withLock { locked in
            while locked.state == nil { locked.wait() }
            return locked.state!
        }.get()
    }

    @Test func theChildStartsWithAnEmptySignalMaskAndDefaultDispositions() throws {
        let (parentMask, child) = try onThreadBlockingTermination { () throws -> (String, String) in
            let parent = try String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8)
            let mask = parent.split(separator: "\n").first { $0.hasPrefix("SigBlk:") }.map(String.init) ?? ""
            let process = try Subprocess.spawn(
                Subprocess.Configuration(arguments: ["grep", "-E", "^(SigBlk|SigIgn):", "/proc/self/status"]))
            let output = try process.readOutput(until: .endOfFile, deadline: .after(seconds: 10))
            _ = try process.wait(deadline: .after(seconds: 10))
            return (mask, String(decoding: output, as: UTF8.self))
        }
        // The parent thread really had SIGINT (2) and SIGTERM (15) blocked: bits 1 and 14.
        #expect(parentMask.hasPrefix("SigBlk:"))
        #expect(parentMask != "SigBlk:\t0000000000000000")
        #expect(UInt64(parentMask.dropFirst("SigBlk:\t".count), radix: 16).map { $0 & 0x4002 == 0x4002 } == true)
        // SIGPIPE is ignored in the parent (before the first spawn); the child has defaults.
        #expect(child == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n")
    }
}
