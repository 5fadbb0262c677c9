#if canImport(Glibc)
internal import Glibc
#endif
internal import Synchronization

/// Log levels, least to most severe.
package enum LogLevel: Int, Comparable, Sendable, CaseIterable {
    case trace, debug, info, notice, warning, error

    package static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The lowercase name used in log lines and flags.
    package var name: String {
        switch self {
        case .trace: "trace"
        case .debug: "debug"
        case .info: "info"
        case .notice: "notice"
        case .warning: "warning"
        case .error: "error"
        }
    }
}

/// One log event.
package struct LogEvent: Sendable {
    package var level: LogLevel
    package var label: String
    package var message: String
    package var metadata: [String: String]
    package var file: String
    package var line: UInt
}

/// Where log events go. One requirement; see `StderrLogSink`, `NullLogSink`.
package protocol LogSink: Sendable {
    /// Writes one event. Must be thread-safe.
    func write(_ event: LogEvent)
}

/// A value-type logger passed in through initialisers (never global). Library code logs at info
/// or below and never logs record payloads.
package struct Logger: Sendable {
    package var label: String
    package var level: LogLevel
    package var metadata: [String: String]
    let sink: any LogSink

    package init(label: String, level: LogLevel = .info, sink: any LogSink) {
        self.label = label
        self.level = level
        self.metadata = [:]
        self.sink = sink
    }

    /// A logger that drops everything.
    package static let disabled = Logger(label: "disabled", level: .error, sink: NullLogSink())

    /// Logs `message` if `level` is enabled. The message is not built otherwise.
    package func log(
        _ level: LogLevel, _ message: @autoclosure () -> String, _ extra: [String: String] = [:],
        file: String = #fileID, line: UInt = #line
    ) {
        guard level >= self.level else { return }
        var merged = metadata
        for (key, value) in extra { merged[key] = value }
        sink.write(LogEvent(level: level, label: label, message: message(), metadata: merged, file: file, line: line))
    }

    /// A copy with `key=value` added to every event.
    package func with(_ key: String, _ value: String) -> Logger {
        var copy = self
        copy.metadata[key] = value
        return copy
    }
}

/// Drops every event.
package struct NullLogSink: LogSink {
    package init() {}
    package func write(_ event: LogEvent) {}
}

/// Writes one logfmt line per event to standard error with a single `write(2)`, so lines from
/// different threads never interleave.
package final class StderrLogSink: LogSink {
    private let clock: any TimeSource
    private let lock = Mutex<Void>(())

    package init(clock: any TimeSource = SystemTimeSource()) {
        self.clock = clock
    }

    package func write(_ event: LogEvent) {
        var line = "ts=\(clock.now()) level=\(event.level.name) label=\(event.label) msg=\(Self.quote(event.message))"
        for key in event.metadata.keys.sorted() {
            line += " \(key)=\(Self.quote(event.metadata[key]!))"
        }
        line += "\n"
        lock.withLock { _ in
            var bytes = Array(line.utf8)
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeMutableBytes { Glibc.write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { break }  // stderr is gone; logging must never take the service down
                offset += written
            }
            bytes.removeAll()
        }
    }

    private static func quote(_ value: String) -> String {
        if !value.isEmpty, !value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\n" }) {
            return value
        }
        var out = "\""
        for character in value {
            switch character {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out + "\""
    }
}
