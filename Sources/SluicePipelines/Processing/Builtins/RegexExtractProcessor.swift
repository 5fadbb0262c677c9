import Foundation

/// `regexExtract`: turns a text line into a compact JSON object of a pattern's named groups, the
/// way Vector's `parse_regex` or Logstash's grok turns an access-log line into fields.
///
/// Parameters:
/// - `pattern` (required): a regular expression in ICU syntax (`NSRegularExpression`) with at
///   least one named group `(?<name>…)`. Group names are ASCII letters and digits starting with a
///   letter, each used once. The pattern must match the whole line: it is anchored with
///   `\A(?:…)\z`, so `^` and `$` are optional.
/// - `delimiter` (optional, default `\n`): appended after each JSON object. The escapes `\n`,
///   `\t`, `\r` and `\\` stand for newline, tab, carriage return and backslash; every other
///   character is taken as it is. An empty delimiter appends nothing.
///
/// For each record: one trailing `\n` or `\r\n` is removed, then the line is matched. A match
/// becomes `{"first":"…","second":null,…}` with one member per named group in the order the
/// groups appear in the pattern; a group that did not take part in the match is `null`, every
/// other value a JSON string (quotes, backslashes and control characters escaped). The verdict
/// is `.ok` with that JSON (plus the delimiter) and no partition keys.
///
/// Failures (`.processingFailed`):
/// - `RegexExtract.NoMatch`: the line does not match; the message quotes its first 80 characters.
/// - `RegexExtract.InvalidUTF8`: the record is not UTF-8 text; the message gives the first
///   invalid byte and its offset.
///
/// Pure and thread-safe (`NSRegularExpression` is immutable and may be shared). A pathological
/// pattern can backtrack for a long time on some lines; keep patterns specific (`\S+`, `[^"]*`)
/// rather than nesting `.*`.
package struct RegexExtractProcessor: RecordProcessor {
    /// The registry entry.
    package static let processorType = ProcessorType(
        name: "regexExtract",
        summary: "Turns each text line into a JSON object of the named groups of `pattern` (ICU regex, whole line); "
            + "`delimiter` (default \\n) follows each object.",
        parameters: ["pattern", "delimiter"]
    ) { parameters throws(ProcessorConfigurationError) in try RegexExtractProcessor(parameters: parameters) }

    /// The failure code of a line that does not match.
    package static let noMatchCode = "RegexExtract.NoMatch"
    /// The failure code of a record that is not UTF-8 text.
    package static let invalidUTF8Code = "RegexExtract.InvalidUTF8"
    /// How many characters of a non-matching line the failure message quotes.
    package static let excerptLength = 80

    /// The pattern as configured.
    package let pattern: String
    /// The named groups in the order they appear in the pattern: the JSON members, in order.
    package let groupNames: [String]
    /// The bytes written after each JSON object.
    package let delimiter: [UInt8]
    /// `pattern` anchored to the whole input.
    private let regex: NSRegularExpression

    /// Builds the processor from a pipeline file's parameters.
    ///
    /// - Throws: `ProcessorConfigurationError` naming `pattern` (missing, invalid, no named group)
    ///   or `delimiter` (an unknown escape).
    package init(parameters: [String: String]) throws(ProcessorConfigurationError) {
        guard let pattern = parameters["pattern"], !pattern.isEmpty else {
            throw ProcessorConfigurationError(
                parameter: "pattern",
                "regexExtract needs the parameter pattern: a regular expression (ICU syntax) with named groups, "
                    + #"for example (?<ip>\S+) - (?<user>\S+) (?<rest>.*) (in a JSON pipeline file every "#
                    + #"backslash is written twice: "(?<ip>\\S+) …"); add it to the processor's parameters"#)
        }
        let delimiter = try Self.unescapeDelimiter(parameters["delimiter"] ?? #"\n"#)
        try self.init(pattern: pattern, delimiter: delimiter)
    }

    /// Builds the processor.
    ///
    /// - Parameters:
    ///   - pattern: an ICU regular expression with at least one named group.
    ///   - delimiter: the bytes appended after each JSON object (already unescaped).
    /// - Throws: `ProcessorConfigurationError` naming `pattern` when it is invalid or has no named group.
    package init(pattern: String, delimiter: [UInt8] = [0x0A]) throws(ProcessorConfigurationError) {
        let scan = PatternScan(pattern)
        let compiled: NSRegularExpression
        do {
            compiled = try NSRegularExpression(pattern: pattern)
        } catch {
            // Foundation on Linux reports only "the value is invalid"; the scan finds the common causes.
            let reason = scan.problem ?? "ICU rejected it (check quantifiers such as {2,1}, escapes and group syntax)"
            throw ProcessorConfigurationError(
                parameter: "pattern",
                "the parameter pattern is not a valid regular expression (ICU syntax, as NSRegularExpression reads "
                    + "it): \(reason). Fix the pattern; in a JSON pipeline file every backslash is written twice "
                    + #"("\\S+" for \S+)"#)
        }
        guard !scan.names.isEmpty else {
            throw ProcessorConfigurationError(
                parameter: "pattern",
                "the parameter pattern has no named group: regexExtract outputs one JSON member per named group, "
                    + "written (?<name>…), for example (?<status>[0-9]{3}); plain (…) groups are not output")
        }
        guard scan.captureCount == compiled.numberOfCaptureGroups else {
            throw ProcessorConfigurationError(
                parameter: "pattern",
                "could not identify the named groups of the parameter pattern: it has "
                    + "\(compiled.numberOfCaptureGroups) capturing groups but \(scan.captureCount) were found in "
                    + "its text (x-mode comments or unusual quoting can hide groups); simplify the pattern")
        }
        let anchored: NSRegularExpression
        do {
            anchored = try NSRegularExpression(pattern: #"\A(?:"# + pattern + #")\z"#)
        } catch {
            throw ProcessorConfigurationError(
                parameter: "pattern",
                "the parameter pattern is valid alone but cannot be anchored to the whole line as \\A(?:pattern)\\z; "
                    + "this happens when it ends inside an x-mode # comment: end the comment with a newline or "
                    + "remove it")
        }
        self.pattern = pattern
        self.groupNames = scan.names
        self.delimiter = delimiter
        self.regex = anchored
    }

    /// One output per record: it never splits.
    package var maySplit: Bool { false }

    /// Each verdict depends on its record alone.
    package var isPure: Bool { true }

    package func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        batch.map { ProcessorResult(recordID: $0.recordID, verdict: verdict(for: $0.data)) }
    }

    /// The verdict for one record's bytes.
    package func verdict(for data: [UInt8]) -> ProcessorVerdict {
        if let (offset, byte) = Self.firstInvalidUTF8(data) {
            return .processingFailed(
                code: Self.invalidUTF8Code,
                message: "the record is not UTF-8 text: the byte 0x\(Self.hex(byte)) at offset \(offset) does not "
                    + "belong to a valid UTF-8 sequence; regexExtract matches text lines, so decode or decompress "
                    + "the record first (for example with the decompress processor)")
        }
        var end = data.count
        if end > 0 && data[end - 1] == 0x0A {
            end -= 1
            if end > 0 && data[end - 1] == 0x0D { end -= 1 }
        }
        let line = String(decoding: data[..<end], as: UTF8.self)
        let whole = NSRange(location: 0, length: line.utf16.count)
        guard let match = regex.firstMatch(in: line, options: [], range: whole) else {
            var excerpt = String(line.prefix(Self.excerptLength))
            if excerpt.count < line.count { excerpt += "…" }
            var quoted: [UInt8] = []
            Self.appendJSONString(excerpt, to: &quoted)
            return .processingFailed(
                code: Self.noMatchCode,
                message: "the record does not match pattern \(pattern) (the whole line must match): "
                    + String(decoding: quoted, as: UTF8.self))
        }
        var output: [UInt8] = []
        output.reserveCapacity(data.count + groupNames.count * 8 + delimiter.count + 2)
        output.append(UInt8(ascii: "{"))
        for (index, name) in groupNames.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            Self.appendJSONString(name, to: &output)
            output.append(UInt8(ascii: ":"))
            let range = match.range(withName: name)
            if range.location != NSNotFound, let bounds = Range(range, in: line) {
                Self.appendJSONString(line[bounds], to: &output)
            } else {
                output.append(contentsOf: "null".utf8)
            }
        }
        output.append(UInt8(ascii: "}"))
        output.append(contentsOf: delimiter)
        return .ok(data: output, partitionKeys: [:])
    }

    // MARK: - Helpers

    /// Decodes the `delimiter` parameter's escapes: `\n`, `\t`, `\r`, `\\`.
    package static func unescapeDelimiter(_ text: String) throws(ProcessorConfigurationError) -> [UInt8] {
        var output = ""
        var escaping = false
        for (index, scalar) in text.unicodeScalars.enumerated() {
            if escaping {
                switch scalar {
                case "n": output += "\n"
                case "t": output += "\t"
                case "r": output += "\r"
                case "\\": output += "\\"
                default:
                    throw ProcessorConfigurationError(
                        parameter: "delimiter",
                        "the parameter delimiter has the unknown escape \\\(scalar) at character \(index); the escapes "
                            + #"are \n (newline), \t (tab), \r (carriage return) and \\ (backslash), "#
                            + "and any other character stands for itself")
                }
                escaping = false
            } else if scalar == "\\" {
                escaping = true
            } else {
                output.unicodeScalars.append(scalar)
            }
        }
        if escaping {
            throw ProcessorConfigurationError(
                parameter: "delimiter",
                #"the parameter delimiter ends with a lone backslash; write \\ for a backslash, or \n, \t, \r"#)
        }
        return Array(output.utf8)
    }

    /// Appends `text` as a JSON string: `"`, `\` and control characters escaped, the rest as UTF-8.
    static func appendJSONString(_ text: some StringProtocol, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case 0x22: output.append(contentsOf: [0x5C, 0x22])
            case 0x5C: output.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: output.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: output.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: output.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x08: output.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: output.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0..<0x20:
                output.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30])
                output.append(contentsOf: hex(byte).utf8)
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }

    /// The offset and value of the first byte that is not part of a valid UTF-8 sequence.
    static func firstInvalidUTF8(_ data: [UInt8]) -> (offset: Int, byte: UInt8)? {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = data.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .emptyInput: return nil
            case .error: return (offset, data[offset])
            }
        }
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef".unicodeScalars)
        return String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xF)])
    }

    // MARK: - Pattern scan

    /// The named and unnamed capturing groups of an ICU pattern, found by reading its text, and
    /// the likely reason when the pattern does not compile (Foundation on Linux gives none).
    ///
    /// Skips escapes (`\(`), quoted text (`\Q…\E`), character classes (`[…]`, nested), comments
    /// (`(?#…)`, and `#…` to the end of the line after an `x` flag), lookbehinds and other `(?…)`
    /// groups. Its capture count is checked against the compiled pattern's.
    private struct PatternScan {
        var names: [String] = []
        var captureCount = 0
        var problem: String?

        init(_ pattern: String) {
            let scalars = Array(pattern.unicodeScalars)
            var index = 0
            var depth = 0
            var extended = false
            func at(_ position: Int) -> Unicode.Scalar? { position < scalars.count ? scalars[position] : nil }
            func note(_ text: String) { if problem == nil { problem = text } }
            while index < scalars.count {
                let scalar = scalars[index]
                switch scalar {
                case "\\":
                    guard let next = at(index + 1) else {
                        note("it ends with a lone backslash; write \\\\ for a literal backslash")
                        index += 1
                        continue
                    }
                    if next == "Q" {
                        index += 2
                        while index < scalars.count && !(scalars[index] == "\\" && at(index + 1) == "E") { index += 1 }
                        index += 2
                    } else {
                        index += 2
                    }
                case "[":
                    if let after = Self.endOfSet(scalars, from: index) {
                        index = after
                    } else {
                        note("the character class [ at character \(index) is never closed with ]")
                        index = scalars.count
                    }
                case "#" where extended:
                    while index < scalars.count && scalars[index] != "\n" { index += 1 }
                case "(":
                    guard at(index + 1) == "?" else {
                        captureCount += 1
                        depth += 1
                        index += 1
                        continue
                    }
                    let kind = at(index + 2)
                    if kind == "#" {
                        index += 3
                        while index < scalars.count && scalars[index] != ")" { index += 1 }
                        if index == scalars.count { note("the comment (?# at character \(index) is never closed") }
                        index += 1
                    } else if kind == "<", let third = at(index + 3), third != "=", third != "!" {
                        var end = index + 3
                        while end < scalars.count && scalars[end] != ">" && scalars[end] != ")" { end += 1 }
                        let name = String(String.UnicodeScalarView(scalars[(index + 3)..<min(end, scalars.count)]))
                        if at(end) != ">" {
                            note("the named group at character \(index) has no closing > after its name")
                        } else if !Self.isValidName(name) {
                            note(
                                "the group name \"\(name)\" at character \(index) is invalid: names are ASCII letters "
                                    + "and digits and start with a letter")
                        } else if names.contains(name) {
                            note("the group name \"\(name)\" is used twice; each name may appear once")
                        }
                        names.append(name)
                        captureCount += 1
                        depth += 1
                        index = end + 1
                    } else {
                        // Flags such as (?x) or (?i-x:…), or a non-capturing / lookaround group.
                        var end = index + 2
                        var enabling = true
                        while let flag = at(end), "imsxw-".unicodeScalars.contains(flag) {
                            if flag == "-" { enabling = false }
                            if flag == "x" { extended = enabling }
                            end += 1
                        }
                        if at(end) == ")" && end > index + 2 {
                            index = end + 1  // flags only: no group opens
                        } else {
                            depth += 1
                            index += 2
                        }
                    }
                case ")":
                    depth -= 1
                    if depth < 0 {
                        note("the ) at character \(index) closes no group")
                        depth = 0
                    }
                    index += 1
                default:
                    index += 1
                }
            }
            if depth > 0 {
                note("\(depth) group\(depth == 1 ? " is" : "s are") opened with ( and never closed")
            }
        }

        /// The index after the `]` that closes the character class opening at `start`, or nil.
        private static func endOfSet(_ scalars: [Unicode.Scalar], from start: Int) -> Int? {
            var index = start + 1
            if index < scalars.count && scalars[index] == "^" { index += 1 }
            if index < scalars.count && scalars[index] == "]" { index += 1 }  // a leading ] is literal
            var depth = 1
            while index < scalars.count {
                switch scalars[index] {
                case "\\": index += 2
                case "[":
                    depth += 1
                    index += 1
                case "]":
                    depth -= 1
                    index += 1
                    if depth == 0 { return index }
                default: index += 1
                }
            }
            return nil
        }

        private static func isValidName(_ name: String) -> Bool {
            guard let first = name.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic else {
                return false
            }
            return name.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))
            }
        }
    }
}
