#if canImport(Glibc)
internal import Glibc
#endif

/// The process's standard input, output and error as byte streams.
package enum StandardStreams {
    /// Reads up to `count` bytes from standard input, blocking until some are available.
    /// - Returns: the bytes, or nil at end of input.
    package static func read(upTo count: Int) throws(SystemError) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        let got = try retryingSyscall("read", path: "<stdin>") {
            buffer.withUnsafeMutableBytes { Glibc.read(STDIN_FILENO, $0.baseAddress, count) }
        }
        if got == 0 { return nil }
        buffer.removeLast(count - got)
        return buffer
    }

    /// Writes all of `bytes` to standard output. Errors (a closed pipe) are dropped: the reader
    /// has gone and nobody is left to tell.
    package static func writeOutput(_ bytes: [UInt8]) {
        writeAll(STDOUT_FILENO, bytes)
    }

    /// Writes all of `bytes` to standard error.
    package static func writeError(_ bytes: [UInt8]) {
        writeAll(STDERR_FILENO, bytes)
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }
            offset += written
        }
    }

    /// Ignores SIGPIPE so that writing to a closed pipe fails with EPIPE instead of killing the
    /// process. Call once at startup.
    /// Whether standard error is a terminal (progress bars are drawn only there).
    package static var errorIsTerminal: Bool { isatty(2) == 1 }

    package static func ignoreBrokenPipe() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// Ends the process with `code`.
    package static func exit(_ code: Int32) -> Never {
        Glibc.exit(code)
    }
}
