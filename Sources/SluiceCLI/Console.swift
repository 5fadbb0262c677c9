import SluiceSupport
import Synchronization

/// Where a command reads input and writes output: the process's standard streams, or memory in tests.
package struct Console: Sendable {
    /// Writes bytes to standard output.
    package var output: @Sendable ([UInt8]) -> Void
    /// Writes bytes to standard error.
    package var error: @Sendable ([UInt8]) -> Void
    /// Reads up to n bytes of standard input (blocking); nil at end of input.
    package var input: @Sendable (Int) throws -> [UInt8]?
    /// Standard error is a terminal (progress is drawn there); false in tests.
    package var errorIsTerminal = false

    package init(
        output: @escaping @Sendable ([UInt8]) -> Void, error: @escaping @Sendable ([UInt8]) -> Void,
        input: @escaping @Sendable (Int) throws -> [UInt8]?
    ) {
        self.output = output
        self.error = error
        self.input = input
    }

    /// The process's standard streams.
    package static let standard: Console = {
        var console = Console(
            output: { StandardStreams.writeOutput($0) }, error: { StandardStreams.writeError($0) },
            input: { (count: Int) throws -> [UInt8]? in try StandardStreams.read(upTo: count) })
        console.errorIsTerminal = StandardStreams.errorIsTerminal
        return console
    }()

    func print(_ text: String) { output(Array((text + "\n").utf8)) }
    func printError(_ text: String) { error(Array((text + "\n").utf8)) }
}

/// A console whose output is collected in memory and whose input is a fixed byte string (tests).
package final class CapturedConsole: Sendable {
    private let state: Mutex<(out: [UInt8], err: [UInt8], input: [UInt8])>

    package init(input: [UInt8] = []) {
        state = Mutex(([], [], input))
    }

    package var console: Console {
        Console(
            output: { bytes in self.state.withLock { $0.out += bytes } },
            error: { bytes in self.state.withLock { $0.err += bytes } },
            input: { (count: Int) throws -> [UInt8]? in
                self.state.withLock { state in
                    if state.input.isEmpty { return nil }
                    let chunk = Array(state.input.prefix(count))
                    state.input.removeFirst(chunk.count)
                    return chunk
                }
            })
    }

    package var standardOutput: String { state.withLock { String(decoding: $0.out, as: UTF8.self) } }
    package var standardError: String { state.withLock { String(decoding: $0.err, as: UTF8.self) } }
}
