/// A usage mistake: printed as `error: <message>` with exit status 64 (EX_USAGE).
package struct UsageError: Error, Sendable, Equatable {
    package var message: String

    package init(_ message: String) {
        self.message = message
    }
}

/// Splits command-line arguments into positionals, options with values and flags.
///
/// `--name value` and `--name=value` are both accepted; `--` ends option parsing. A value that
/// starts with `--` must use the `--name=value` form.
struct ArgumentScanner {
    var positionals: [String] = []
    var options: [String: String] = [:]
    var flags: Set<String> = []

    /// - Parameters:
    ///   - valued: option names (without `--`) that take a value.
    ///   - flags: option names that take none. `help` is always a flag (also `-h`).
    ///   - command: the command's name, for messages (`sluice put`).
    init(_ arguments: [String], valued: Set<String>, flags allowedFlags: Set<String>, command: String) throws(UsageError) {
        var index = 0
        var onlyPositionals = false
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if onlyPositionals || !argument.hasPrefix("-") || argument == "-" {
                positionals.append(argument)
                continue
            }
            if argument == "--" {
                onlyPositionals = true
                continue
            }
            if argument == "-h" || argument == "--help" {
                flags.insert("help")
                continue
            }
            guard argument.hasPrefix("--") else {
                throw UsageError("unknown option '\(argument)' for '\(command)'. Run '\(command) --help' to see the options.")
            }
            var name = String(argument.dropFirst(2))
            var inlineValue: String?
            if let equals = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            if valued.contains(name) {
                if let inlineValue {
                    options[name] = inlineValue
                } else {
                    guard index < arguments.count, !arguments[index].hasPrefix("--") else {
                        throw UsageError("option '--\(name)' of '\(command)' needs a value, for example '--\(name) VALUE'.")
                    }
                    options[name] = arguments[index]
                    index += 1
                }
            } else if allowedFlags.contains(name) {
                guard inlineValue == nil else {
                    throw UsageError("option '--\(name)' of '\(command)' takes no value.")
                }
                flags.insert(name)
            } else {
                throw UsageError("unknown option '--\(name)' for '\(command)'. Run '\(command) --help' to see the options.")
            }
        }
    }

    /// An option's value parsed as an integer in `range`.
    func integer(_ name: String, in range: ClosedRange<Int>, command: String) throws(UsageError) -> Int? {
        guard let text = options[name] else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw UsageError("option '--\(name)' of '\(command)' must be a whole number from \(range.lowerBound) to \(range.upperBound); got '\(text)'.")
        }
        return value
    }
}
