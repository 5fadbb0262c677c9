#if canImport(Glibc)
internal import Glibc
#endif
internal import CSluiceLinux

/// A child process with pipes to its standard input, output and error, started with
/// `posix_spawnp`.
///
/// Why not `Foundation.Process`: `sluice serve` blocks SIGTERM and SIGINT in every thread
/// (`Signals.blockTermination`) and ignores SIGPIPE, and a child inherits both. A child spawned
/// here starts with an **empty signal mask and every signal at its default disposition**
/// (`POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF`), so `kill -TERM` and a closed pipe work on
/// it as usual. Every wait has an explicit deadline on the monotonic clock (a subprocess runs in
/// real time, so `TimeSource` does not apply).
///
/// - The child runs in a **new process group** by default, so `kill()` also ends what it started
///   (a shell's children), and a Ctrl-C in the terminal reaches `sluice`, not the plugin.
/// - The parent's ends of the pipes are close-on-exec and non-blocking. Every call that waits
///   uses `poll` over standard input, output and error together, so a child that fills one pipe
///   while the parent is busy with another never deadlocks: standard output read while writing is
///   buffered (at most `Configuration.maximumOutputBytes`), and standard error is drained all the
///   time into a bounded tail (the last `Configuration.standardErrorLimit` bytes).
/// - SIGPIPE is ignored process-wide before the first spawn (the swift-nio approach), so a child
///   that closes its input makes `write(all:deadline:)` fail with `.inputClosed` instead of
///   killing the parent.
///
/// Not thread-safe: one thread at a time uses a `Subprocess` (keep it behind a lock to share
/// it). `deinit` kills a child that has not been reaped, reaps it (bounded) and closes the pipes,
/// so no zombie is left behind.
package final class Subprocess {
    // MARK: - Types

    /// What to start and how.
    package struct Configuration: Sendable {
        /// The program and its arguments; `arguments[0]` is looked up in `PATH` unless it
        /// contains a `/` (`posix_spawnp`).
        package var arguments: [String]
        /// The child's working directory; nil keeps the parent's
        /// (`posix_spawn_file_actions_addchdir_np`, glibc 2.29 or later).
        package var workingDirectory: String?
        /// The most standard output held at once: output read until end of file, or one line
        /// without its delimiter, may be this long; more fails with `.outputTooLarge`.
        package var maximumOutputBytes: Int
        /// How much of standard error is kept: the last this many bytes.
        package var standardErrorLimit: Int
        /// Start the child as the leader of a new process group (`kill()` then signals the group).
        package var newProcessGroup: Bool

        package init(
            arguments: [String], workingDirectory: String? = nil, maximumOutputBytes: Int = 64 << 20,
            standardErrorLimit: Int = 64 << 10, newProcessGroup: Bool = true
        ) {
            self.arguments = arguments
            self.workingDirectory = workingDirectory
            self.maximumOutputBytes = maximumOutputBytes
            self.standardErrorLimit = standardErrorLimit
            self.newProcessGroup = newProcessGroup
        }
    }

    /// A point in monotonic time (`CLOCK_MONOTONIC`) by which a wait must end.
    package struct Deadline: Sendable, Hashable, Comparable {
        /// Nanoseconds on the monotonic clock (`monotonicNanoseconds()`).
        package var nanoseconds: Int64

        package init(nanoseconds: Int64) {
            self.nanoseconds = nanoseconds
        }

        /// `seconds` from now (fractions allowed).
        package static func after(seconds: Double) -> Deadline {
            let delta = seconds <= 0 ? 0 : min(seconds * 1e9, Double(Int64.max / 2))
            return Deadline(nanoseconds: monotonicNanoseconds() &+ Int64(delta))
        }

        /// Now: a wait with this deadline only takes what is already there.
        package static var now: Deadline { Deadline(nanoseconds: monotonicNanoseconds()) }

        /// Nanoseconds left, 0 once passed.
        package var remainingNanoseconds: Int64 { max(0, nanoseconds - monotonicNanoseconds()) }

        package var hasPassed: Bool { remainingNanoseconds == 0 }

        /// The `poll` timeout: milliseconds left, rounded up so a wait never ends early.
        var pollTimeout: Int32 {
            let remaining = remainingNanoseconds
            return Int32(min(Int64(Int32.max), (remaining + 999_999) / 1_000_000))
        }

        package static func < (lhs: Deadline, rhs: Deadline) -> Bool { lhs.nanoseconds < rhs.nanoseconds }
    }

    /// Where `readOutput(until:deadline:)` stops.
    package enum OutputEnd: Sendable, Equatable {
        /// When the child closes its standard output (usually by exiting).
        case endOfFile
        /// At the first occurrence of this byte (not included in the result, but consumed).
        case delimiter(UInt8)
    }

    /// How a child ended.
    package enum Termination: Sendable, Equatable, CustomStringConvertible {
        /// It called `exit` with this status.
        case exited(Int32)
        /// A signal killed it.
        case signaled(Int32)

        /// `exited(0)`.
        package var isSuccess: Bool { self == .exited(0) }

        /// "exited with status 3", "was killed by signal 9 (SIGKILL)".
        package var description: String {
            switch self {
            case .exited(let status): "exited with status \(status)"
            case .signaled(let signal): "was killed by signal \(signal) (\(Subprocess.signalName(signal)))"
            }
        }
    }

    /// What a `Subprocess` call could not do.
    package enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// `posix_spawnp` failed: `ENOENT` (not found in `PATH`), `EACCES` (not executable),
        /// `ENOEXEC`, `ENOMEM`, … The `SystemError`'s path is the program.
        case spawnFailed(SystemError)
        /// Another call failed (`pipe2`, `poll`, `read`, `write`, `waitpid`).
        case system(SystemError)
        /// The deadline passed while waiting for what the text names ("standard output").
        case timedOut(waitingFor: String)
        /// Standard output exceeded `Configuration.maximumOutputBytes`.
        case outputTooLarge(limit: Int)
        /// Standard output ended before the delimiter; `received` bytes came without one.
        case outputEnded(received: Int)
        /// The child closed its standard input (`EPIPE`) after `written` bytes.
        case inputClosed(written: Int)

        package var description: String {
            switch self {
            case .spawnFailed(let error): "cannot start '\(error.path ?? "")': \(error.reason) (\(error.errnoName))"
            case .system(let error): error.description
            case .timedOut(let what): "timed out waiting for \(what)"
            case .outputTooLarge(let limit): "standard output exceeded \(limit) bytes"
            case .outputEnded(let received): "standard output ended after \(received) bytes without a complete line"
            case .inputClosed(let written): "the process closed its standard input after \(written) bytes"
            }
        }
    }

    /// The tail of standard error taken by `takeStandardError()`.
    package struct StandardError: Sendable, Equatable {
        /// The last bytes written (at most `Configuration.standardErrorLimit`).
        package var bytes: [UInt8]
        /// How many earlier bytes were dropped to keep the bound.
        package var droppedBytes: Int

        package init(bytes: [UInt8], droppedBytes: Int) {
            self.bytes = bytes
            self.droppedBytes = droppedBytes
        }
    }

    // MARK: - State

    /// The child's process id (and process group id with `newProcessGroup`).
    package let processID: Int32
    package let configuration: Configuration

    /// The parent's ends of the pipes; -1 once closed.
    private var inputDescriptor: Int32
    private var outputDescriptor: Int32
    private var errorDescriptor: Int32
    /// Standard output read but not yet returned.
    private var output: [UInt8] = []
    /// The first `outputScanned` bytes of `output` hold no delimiter (so a search resumes there).
    private var outputScanned = 0
    /// Standard error since the last `takeStandardError()`; trimmed to the limit lazily.
    private var errorTail: [UInt8] = []
    private var errorDropped = 0
    /// Set once the child is reaped.
    private var reaped: Termination?
    /// Scratch space for `read`.
    private var scratch = [UInt8](repeating: 0, count: 64 << 10)

    private init(processID: Int32, configuration: Configuration, input: Int32, output: Int32, error: Int32) {
        self.processID = processID
        self.configuration = configuration
        self.inputDescriptor = input
        self.outputDescriptor = output
        self.errorDescriptor = error
    }

    deinit {
        if reaped == nil {
            kill()
            // Best effort: SIGKILL ends a process promptly unless it is stuck in the kernel; then the
            // zombie is left to init rather than blocking the caller without bound.
            _ = try? wait(deadline: .after(seconds: 5))
        }
        closeDescriptors()
    }

    // MARK: - Spawning

    /// SIGPIPE ignored once per process, before the first child exists.
    private static let brokenPipeIgnored: Bool = {
        signal(SIGPIPE, SIG_IGN)
        return true
    }()

    /// Starts a child with pipes on its standard input, output and error.
    ///
    /// The child gets an empty signal mask, default dispositions for every signal, and (with
    /// `newProcessGroup`) its own process group. Only its standard streams are inherited from
    /// the pipes: every descriptor Sluice opens is close-on-exec.
    ///
    /// - Throws: `.spawnFailed` when the program cannot be started (the program not found in
    ///   `PATH` is `ENOENT`), `.system` when a pipe cannot be created.
    package static func spawn(_ configuration: Configuration) throws(Failure) -> Subprocess {
        precondition(!configuration.arguments.isEmpty, "Subprocess.spawn needs at least the program name")
        _ = brokenPipeIgnored

        var open: [Int32] = []
        func closeAll() {
            for descriptor in open { _ = Glibc.close(descriptor) }
        }
        func makePipe() throws(Failure) -> (read: Int32, write: Int32) {
            var ends: (Int32, Int32) = (-1, -1)
            let result = withUnsafeMutableBytes(of: &ends) { raw in
                pipe2(raw.baseAddress!.assumingMemoryBound(to: Int32.self), O_CLOEXEC)
            }
            guard result == 0 else { throw .system(SystemError(call: "pipe2", errno: errno)) }
            open.append(ends.0)
            open.append(ends.1)
            return (ends.0, ends.1)
        }
        let input: (read: Int32, write: Int32)
        let output: (read: Int32, write: Int32)
        let error: (read: Int32, write: Int32)
        do {
            input = try makePipe()
            output = try makePipe()
            error = try makePipe()
        } catch {
            closeAll()
            throw error
        }
        // The parent's ends never block (the two ends of a pipe are separate open file
        // descriptions, so the child's ends stay blocking).
        for descriptor in [input.write, output.read, error.read] {
            let flags = fcntl(descriptor, F_GETFL)
            _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
        }
        // Events and responses of a few hundred KiB pass in one write instead of a ping-pong of
        // 64 KiB pipe fills (each a pair of context switches). Best effort: 1 MiB is Linux's
        // default limit for unprivileged processes (/proc/sys/fs/pipe-max-size).
        for descriptor in [input.write, output.read] {
            _ = fcntl(descriptor, Self.setPipeSize, Int32(1 << 20))
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 clears close-on-exec on 0, 1 and 2; the originals close at exec.
        posix_spawn_file_actions_adddup2(&actions, input.read, STDIN_FILENO)
        posix_spawn_file_actions_adddup2(&actions, output.write, STDOUT_FILENO)
        posix_spawn_file_actions_adddup2(&actions, error.write, STDERR_FILENO)
        if let directory = configuration.workingDirectory {
            let result = addChangeDirectory(&actions, directory)
            guard result == 0 else {
                closeAll()
                throw .spawnFailed(
                    SystemError(call: "posix_spawn_file_actions_addchdir_np", errno: result, path: directory))
            }
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        // Every bit set, not `sigfillset`: that leaves out glibc's internal signals (32 and 33),
        // which glibc's spawn helper then sets to SIG_IGN in the child, and an ignored signal stays
        // ignored across exec. With them in the set the child starts like one started by a shell.
        var allSignals = sigset_t()
        withUnsafeMutableBytes(of: &allSignals) { _ = $0.initializeMemory(as: UInt8.self, repeating: 0xFF) }
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        var flags = Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF)
        if configuration.newProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        var argv: [UnsafeMutablePointer<CChar>?] = configuration.arguments.map { strdup($0) }
        argv.append(nil)
        defer { for argument in argv { free(argument) } }
        var processID: pid_t = 0
        let result = posix_spawnp(&processID, argv[0]!, &actions, &attributes, argv, currentEnvironment())
        guard result == 0 else {
            closeAll()
            throw .spawnFailed(SystemError(call: "posix_spawnp", errno: result, path: configuration.arguments[0]))
        }
        _ = Glibc.close(input.read)
        _ = Glibc.close(output.write)
        _ = Glibc.close(error.write)
        return Subprocess(
            processID: processID, configuration: configuration, input: input.write, output: output.read,
            error: error.read)
    }

    /// The environment the child inherits: the parent's.
    private static func currentEnvironment() -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
        environ
    }

    private typealias CreatePipe = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32

    /// `pipe2`, looked up at run time like `addChangeDirectory` (declared only under
    /// `_GNU_SOURCE`). Creating both ends close-on-exec at once matters: with `pipe` plus
    /// `fcntl`, a child spawned by another thread in between would inherit them.
    private static let createPipe: CreatePipe? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pipe2") else { return nil }
        return unsafeBitCast(symbol, to: CreatePipe.self)
    }()

    /// `F_SETPIPE_SZ` (Linux; not exported by Glibc's module map).
    private static let setPipeSize: Int32 = 1031

    private static func pipe2(_ ends: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32 {
        guard let createPipe else {
            errno = ENOSYS
            return -1
        }
        return createPipe(ends, flags)
    }

    private typealias AddChangeDirectory =
        @convention(c) (
            UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?
        ) -> Int32

    /// `posix_spawn_file_actions_addchdir_np`, looked up at run time: glibc declares it only under
    /// `_GNU_SOURCE`, which the Glibc module is not built with. `ENOSYS` before glibc 2.29.
    private static func addChangeDirectory(_ actions: inout posix_spawn_file_actions_t, _ path: String) -> Int32 {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np") else {
            return ENOSYS
        }
        let function = unsafeBitCast(symbol, to: AddChangeDirectory.self)
        return path.withCString { function(&actions, $0) }
    }

    // MARK: - Standard input

    /// Writes all of `bytes` to the child's standard input.
    ///
    /// Blocks until every byte is written or the deadline passes. While the pipe is full it
    /// keeps reading standard output (buffered for `readOutput`) and standard error, so a child
    /// that answers while it reads (`cat`) never deadlocks.
    ///
    /// - Throws: `.inputClosed` when the child closed its input (it exited or stopped reading),
    ///   `.timedOut`, `.outputTooLarge` when the output buffered meanwhile exceeds the limit,
    ///   `.system` for any other `write` or `poll` failure.
    package func write(all bytes: [UInt8], deadline: Deadline) throws(Failure) {
        precondition(inputDescriptor >= 0, "Subprocess.write after closeInput()")
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                Glibc.write(inputDescriptor, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written > 0 {
                offset += written
                continue
            }
            let code = errno
            if written < 0 && code == EINTR { continue }
            if written < 0 && code == EPIPE { throw .inputClosed(written: offset) }
            if written < 0 && code != EAGAIN {
                throw .system(SystemError(call: "write", errno: code, path: "<child stdin>"))
            }
            // A response of exactly the limit may be here with its newline (persistent mode writes
            // the next event while the previous response arrives).
            if output.count > configuration.maximumOutputBytes + 1 {
                throw .outputTooLarge(limit: configuration.maximumOutputBytes)
            }
            try pump(
                input: true, output: true, deadline: deadline, waitingFor: "the process to read its standard input")
        }
    }

    /// Closes the child's standard input, so it reads end of file. Idempotent.
    package func closeInput() {
        if inputDescriptor >= 0 {
            _ = Glibc.close(inputDescriptor)
            inputDescriptor = -1
        }
    }

    // MARK: - Standard output

    /// Reads standard output until end of file or a delimiter, draining standard error
    /// meanwhile.
    ///
    /// Blocks until the end is found or the deadline passes. Output after a delimiter stays
    /// buffered for the next call.
    ///
    /// - Returns: the bytes before the end (the delimiter is consumed, not returned).
    /// - Throws: `.outputTooLarge` past `Configuration.maximumOutputBytes`, `.outputEnded` when
    ///   the output closes before the delimiter, `.timedOut`, `.system`.
    package func readOutput(until end: OutputEnd, deadline: Deadline) throws(Failure) -> [UInt8] {
        let limit = configuration.maximumOutputBytes
        while true {
            if case .delimiter(let delimiter) = end {
                if let index = output[outputScanned...].firstIndex(of: delimiter) {
                    guard index <= limit else { throw .outputTooLarge(limit: limit) }
                    let line = Array(output[..<index])
                    output.removeSubrange(...index)
                    outputScanned = 0
                    return line
                }
                outputScanned = output.count
            }
            if output.count > limit { throw .outputTooLarge(limit: limit) }
            if outputDescriptor < 0 {
                guard end == .endOfFile else { throw .outputEnded(received: output.count) }
                defer {
                    output = []
                    outputScanned = 0
                }
                return output
            }
            try pump(input: false, output: true, deadline: deadline, waitingFor: "the process's standard output")
        }
    }

    /// True when standard output holds bytes not yet returned by `readOutput`.
    package var hasBufferedOutput: Bool { !output.isEmpty }

    // MARK: - Standard error

    /// Reads standard error until the child closes it (usually by exiting) or the deadline
    /// passes; keeps only the tail.
    ///
    /// - Throws: `.timedOut` (what was read so far is kept), `.system`.
    package func drainStandardError(deadline: Deadline) throws(Failure) {
        while errorDescriptor >= 0 {
            try pump(
                input: false, output: false, deadline: deadline, waitingFor: "the process's standard error to close")
        }
    }

    /// Reads whatever standard error holds right now, without waiting.
    package func collectStandardError() throws(Failure) {
        // At most 1 MiB per call, so a child writing without pause cannot hold the caller here.
        var budget = 16
        while errorDescriptor >= 0, budget > 0, try readAvailable(error: true) {
            budget -= 1
        }
    }

    /// The standard error collected since the last call (its last
    /// `Configuration.standardErrorLimit` bytes), and starts a new collection.
    package func takeStandardError() -> StandardError {
        trimErrorTail()
        defer {
            errorTail = []
            errorDropped = 0
        }
        return StandardError(bytes: errorTail, droppedBytes: errorDropped)
    }

    private func trimErrorTail() {
        let excess = errorTail.count - configuration.standardErrorLimit
        if excess > 0 {
            errorTail.removeFirst(excess)
            errorDropped += excess
        }
    }

    // MARK: - Exit

    /// How the child ended, if it has (reaps it with `waitpid(WNOHANG)`); never blocks.
    ///
    /// - Throws: `.system` when `waitpid` fails (`ECHILD`: something else reaped it).
    package func terminationIfExited() throws(Failure) -> Termination? {
        if let reaped { return reaped }
        var status: Int32 = 0
        while true {
            let result = waitpid(processID, &status, WNOHANG)
            if result == processID {
                let termination = Self.termination(status)
                reaped = termination
                return termination
            }
            if result == 0 { return nil }
            let code = errno
            if code == EINTR { continue }
            throw .system(SystemError(call: "waitpid", errno: code, path: "process \(processID)"))
        }
    }

    /// Waits for the child to exit and reaps it, polling `waitpid(WNOHANG)` with short sleeps
    /// (1 ms growing to 20 ms) until the deadline.
    ///
    /// - Throws: `.timedOut` (the child keeps running; `kill()` it), `.system`.
    package func wait(deadline: Deadline) throws(Failure) -> Termination {
        var pause: Int64 = 1_000_000
        while true {
            if let termination = try terminationIfExited() { return termination }
            let remaining = deadline.remainingNanoseconds
            guard remaining > 0 else { throw .timedOut(waitingFor: "process \(processID) to exit") }
            var interval = timespec(tv_sec: 0, tv_nsec: Int(min(pause, remaining)))
            _ = nanosleep(&interval, nil)  // EINTR only shortens the pause
            pause = min(pause * 2, 20_000_000)
        }
    }

    /// Sends SIGKILL to the child, and to its process group with `newProcessGroup`. Does nothing
    /// once the child is reaped (its id may belong to another process by then). Does not wait:
    /// call `wait(deadline:)` to reap it.
    package func kill() {
        guard reaped == nil else { return }
        if configuration.newProcessGroup { _ = Glibc.kill(-processID, SIGKILL) }
        _ = Glibc.kill(processID, SIGKILL)
    }

    /// Sends SIGKILL to what is left of the child's process group (with `newProcessGroup`), also
    /// after the child itself was reaped: a plugin's background children must not outlive the
    /// invocation. A group id is not reused while any member is alive.
    package func killProcessGroup() {
        if configuration.newProcessGroup { _ = Glibc.kill(-processID, SIGKILL) }
    }

    /// Ends the child: closes its input, gives it `grace` seconds to exit, then kills it and
    /// reaps it (waiting at most 5 more seconds); closes every pipe.
    ///
    /// - Returns: how it ended, or nil if it could not be reaped in time.
    @discardableResult
    package func terminate(grace: Double) -> Termination? {
        closeInput()
        var termination = try? wait(deadline: .after(seconds: grace))  // nil: it is still running
        if termination == nil {
            kill()
            termination = try? wait(deadline: .after(seconds: 5))  // nil: stuck in the kernel; left to init
        }
        closeDescriptors()
        return termination
    }

    // MARK: - Polling

    /// Waits with `poll` until standard input is writable (if `input`), standard output (if
    /// `output`) or standard error is readable, then reads what is available.
    private func pump(input: Bool, output wantOutput: Bool, deadline: Deadline, waitingFor what: String) throws(Failure)
    {
        var descriptors: [pollfd] = []
        if input && inputDescriptor >= 0 {
            descriptors.append(pollfd(fd: inputDescriptor, events: Int16(POLLOUT), revents: 0))
        }
        if wantOutput && outputDescriptor >= 0 {
            descriptors.append(pollfd(fd: outputDescriptor, events: Int16(POLLIN), revents: 0))
        }
        if errorDescriptor >= 0 {
            descriptors.append(pollfd(fd: errorDescriptor, events: Int16(POLLIN), revents: 0))
        }
        guard !descriptors.isEmpty else { return }
        if deadline.hasPassed { throw .timedOut(waitingFor: what) }
        let ready = descriptors.withUnsafeMutableBufferPointer {
            poll($0.baseAddress, nfds_t($0.count), deadline.pollTimeout)
        }
        if ready < 0 {
            let code = errno
            if code == EINTR { return }
            throw .system(SystemError(call: "poll", errno: code))
        }
        if ready == 0 {
            if deadline.hasPassed { throw .timedOut(waitingFor: what) }
            return
        }
        let readable = Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)
        for descriptor in descriptors where descriptor.revents & readable != 0 {
            if descriptor.fd == outputDescriptor {
                _ = try readAvailable(error: false)
            } else if descriptor.fd == errorDescriptor {
                _ = try readAvailable(error: true)
            }
        }
    }

    /// Reads once from standard output or error into its buffer.
    /// - Returns: true when bytes were read (more may follow), false at "nothing now" or end of file.
    private func readAvailable(error: Bool) throws(Failure) -> Bool {
        let descriptor = error ? errorDescriptor : outputDescriptor
        while true {
            let got = scratch.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if got > 0 {
                if error {
                    errorTail.append(contentsOf: scratch[0..<got])
                    if errorTail.count > 2 * configuration.standardErrorLimit + scratch.count { trimErrorTail() }
                } else {
                    output.append(contentsOf: scratch[0..<got])
                }
                return true
            }
            if got == 0 {
                _ = Glibc.close(descriptor)
                if error { errorDescriptor = -1 } else { outputDescriptor = -1 }
                return false
            }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN { return false }
            throw .system(SystemError(call: "read", errno: code, path: error ? "<child stderr>" : "<child stdout>"))
        }
    }

    private func closeDescriptors() {
        closeInput()
        if outputDescriptor >= 0 {
            _ = Glibc.close(outputDescriptor)
            outputDescriptor = -1
        }
        if errorDescriptor >= 0 {
            _ = Glibc.close(errorDescriptor)
            errorDescriptor = -1
        }
    }

    // MARK: - Status and signals

    /// Decodes a `waitpid` status (the `WIFEXITED`/`WTERMSIG` macros, which Swift cannot import).
    private static func termination(_ status: Int32) -> Termination {
        let signal = status & 0x7F
        return signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal)
    }

    /// SIGKILL, for comparing with `Termination.signaled` above this module.
    package static let killSignal: Int32 = SIGKILL
    /// SIGTERM.
    package static let terminateSignal: Int32 = SIGTERM

    /// The symbolic name of a signal ("SIGKILL"), or "signal N".
    package static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGHUP: "SIGHUP"
        case SIGINT: "SIGINT"
        case SIGQUIT: "SIGQUIT"
        case SIGILL: "SIGILL"
        case SIGTRAP: "SIGTRAP"
        case SIGABRT: "SIGABRT"
        case SIGBUS: "SIGBUS"
        case SIGFPE: "SIGFPE"
        case SIGKILL: "SIGKILL"
        case SIGUSR1: "SIGUSR1"
        case SIGSEGV: "SIGSEGV"
        case SIGUSR2: "SIGUSR2"
        case SIGPIPE: "SIGPIPE"
        case SIGALRM: "SIGALRM"
        case SIGTERM: "SIGTERM"
        case SIGXCPU: "SIGXCPU"
        case SIGXFSZ: "SIGXFSZ"
        case SIGSYS: "SIGSYS"
        default: "signal \(signal)"
        }
    }
}
