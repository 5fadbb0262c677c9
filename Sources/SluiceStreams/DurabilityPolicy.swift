/// When an append is acknowledged relative to the device.
package enum DurabilityPolicy: Sendable, Equatable, CustomStringConvertible {
    /// Default. An append returns only after its bytes are on the device (`fdatasync`), and
    /// readers see only such bytes. Concurrent appenders share each `fdatasync` (group commit).
    case always
    /// An append returns once its bytes are written to the page cache; a background flusher
    /// syncs every `milliseconds`. A power loss or kernel crash can lose the last interval of
    /// acknowledged records (a `kill -9` of the process cannot: the page cache survives it).
    case interval(milliseconds: Int)
    /// Never sync while running (only at clean shutdown); the kernel writes back when it likes.
    /// A power loss can lose any amount of acknowledged data. For benchmarks and scratch use.
    case never

    /// Parses `always`, `interval:<ms>` or `never`.
    package init?(_ text: String) {
        switch text {
        case "always": self = .always
        case "never": self = .never
        default:
            guard text.hasPrefix("interval:"), let ms = Int(text.dropFirst("interval:".count)), ms >= 1, ms <= 60_000
            else { return nil }
            self = .interval(milliseconds: ms)
        }
    }

    package var description: String {
        switch self {
        case .always: "always"
        case .interval(let ms): "interval:\(ms)"
        case .never: "never"
        }
    }
}
