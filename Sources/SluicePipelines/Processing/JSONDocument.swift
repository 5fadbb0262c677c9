package import SluiceSupport

/// JSON for the built-in processors: parsing a record, paths into it, comparing values, editing
/// an object and writing compact output.
///
/// Records are parsed with `JSONParser`, so strings and numbers stay slices of the record's own
/// bytes. Output written from a parsed value reuses those slices: a number written `1.50` or
/// `1e3` comes out as `1.50` or `1e3`, and a string keeps the escapes it was written with. The
/// output is compact (no white space between tokens) and keeps members in input order, so the
/// same record always gives the same bytes. Nothing here uses `JSONSerialization`, which is
/// slow, loses number text and does not keep member order.
package enum JSONDocument {
    /// Records nested deeper than this are not JSON for the processors (they fail) instead of
    /// making the parser and the writer recurse without bound.
    package static let maximumDepth = 128

    /// Parses a record holding one JSON value; white space around it (such as the usual
    /// trailing newline) is allowed.
    ///
    /// - Throws: `JSONParser.SyntaxError` with the reason and the byte offset.
    package static func parse(_ record: [UInt8]) throws(JSONParser.SyntaxError) -> JSONValue {
        try JSONParser.parse(record, maximumDepth: maximumDepth)
    }

    /// A parse error in the words of a record: `unexpected end of the record at byte 12`.
    package static func describe(_ error: JSONParser.SyntaxError) -> String {
        "\(error.reason.replacing("the body", with: "the record")) at byte \(error.offset)"
    }

    /// The offset of the first byte that is not JSON white space (the value's start).
    package static func firstNonWhitespace(in bytes: [UInt8]) -> Int {
        bytes.firstIndex { !isWhitespace($0) } ?? bytes.count
    }

    /// The newline the record ends with (`"\r\n"` or `"\n"`), or nothing.
    package static func trailingNewline(of record: [UInt8]) -> ArraySlice<UInt8> {
        guard record.last == 0x0A else { return [] }
        if record.count >= 2, record[record.count - 2] == 0x0D { return record[(record.count - 2)...] }
        return record[(record.count - 1)...]
    }

    @inline(__always)
    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    /// The 1-based column of byte `offset` of `text`, counted in characters (for messages about
    /// parameter values).
    package static func column(of offset: Int, in text: [UInt8]) -> Int {
        String(decoding: text[..<min(offset, text.count)], as: UTF8.self).count + 1
    }

    // MARK: - Writing

    /// Appends `value` as compact JSON; strings and numbers are copied from their source text.
    package static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        case .bool(let flag):
            out.append(contentsOf: flag ? [0x74, 0x72, 0x75, 0x65] : [0x66, 0x61, 0x6C, 0x73, 0x65])
        case .number(let text): out.append(contentsOf: text.storage[text.start..<text.end])
        case .string(let text): writeSource(text, into: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                write(element, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            for (index, member) in object.members.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                writeSource(member.name, into: &out)
                out.append(UInt8(ascii: ":"))
                write(member.value, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A parsed string (or name) quoted, with its escapes as written.
    @inline(__always)
    static func writeSource(_ text: JSONText, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        out.append(contentsOf: text.storage[text.start..<text.end])
        out.append(UInt8(ascii: "\""))
    }

    /// UTF-8 bytes quoted as a JSON string, escaping `"`, `\` and control characters.
    package static func writeString(_ bytes: some Collection<UInt8>, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in bytes {
            switch byte {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    // MARK: - Comparing

    /// How two values compare: `different` when they are neither equal nor ordered (mixed
    /// types, unequal booleans, arrays or objects).
    package enum Order: Sendable, Equatable {
        case less, equal, greater, different
    }

    /// Compares two values: numbers by exact decimal value (`1.50` equals `1.5`, `1e3` equals
    /// `1000`, and 64-bit ids do not lose digits to `Double`), strings by their decoded UTF-8
    /// bytes (code point order), `null`, booleans, arrays (element by element) and objects (same
    /// names with equal values, in any order) for equality only.
    package static func order(_ lhs: JSONValue, _ rhs: JSONValue) -> Order {
        switch (lhs, rhs) {
        case (.number(let a), .number(let b)): return compareNumbers(a, b)
        case (.string(let a), .string(let b)): return compareStrings(a, b)
        case (.null, .null): return .equal
        case (.bool(let a), .bool(let b)): return a == b ? .equal : .different
        case (.array(let a), .array(let b)):
            guard a.count == b.count else { return .different }
            for (x, y) in zip(a, b) where order(x, y) != .equal { return .different }
            return .equal
        case (.object(let a), .object(let b)):
            let left = lastMembers(a)
            let right = lastMembers(b)
            guard left.count == right.count else { return .different }
            for (name, value) in left {
                guard let other = right.first(where: { $0.name == name }), order(value, other.value) == .equal else {
                    return .different
                }
            }
            return .equal
        default: return .different
        }
    }

    /// An object's members as decoded names, the last of each name (the one lookups see).
    private static func lastMembers(_ object: JSONObject) -> [(name: [UInt8], value: JSONValue)] {
        var result: [(name: [UInt8], value: JSONValue)] = []
        for member in object.members {
            let name = decoded(member.name)
            if let index = result.firstIndex(where: { $0.name == name }) {
                result[index].value = member.value
            } else {
                result.append((name, member.value))
            }
        }
        return result
    }

    /// The decoded UTF-8 bytes of a string.
    package static func decoded(_ text: JSONText) -> [UInt8] {
        text.escaped ? text.unescaped() : Array(text.storage[text.start..<text.end])
    }

    private static func compareStrings(_ a: JSONText, _ b: JSONText) -> Order {
        a.withBytes { (left: UnsafeBufferPointer<UInt8>) -> Order in
            b.withBytes { (right: UnsafeBufferPointer<UInt8>) -> Order in
                let shared = min(left.count, right.count)
                var index = 0
                while index < shared {
                    if left[index] != right[index] { return left[index] < right[index] ? .less : .greater }
                    index += 1
                }
                return left.count == right.count ? .equal : (left.count < right.count ? .less : .greater)
            }
        }
    }

    /// Exact comparison of two JSON number texts.
    private static func compareNumbers(_ a: JSONText, _ b: JSONText) -> Order {
        if a.count == b.count, a.storage[a.start..<a.end].elementsEqual(b.storage[b.start..<b.end]) { return .equal }
        let left = Decimal(a)
        let right = Decimal(b)
        if left.digits.isEmpty && right.digits.isEmpty { return .equal }  // 0 == -0.0
        let leftSign = left.digits.isEmpty ? 0 : (left.negative ? -1 : 1)
        let rightSign = right.digits.isEmpty ? 0 : (right.negative ? -1 : 1)
        if leftSign != rightSign { return leftSign < rightSign ? .less : .greater }
        var magnitude: Order
        if left.exponent != right.exponent {
            magnitude = left.exponent < right.exponent ? .less : .greater
        } else {
            magnitude = .equal
            let shared = min(left.digits.count, right.digits.count)
            for index in 0..<shared where left.digits[index] != right.digits[index] {
                magnitude = left.digits[index] < right.digits[index] ? .less : .greater
                break
            }
            if magnitude == .equal, left.digits.count != right.digits.count {
                magnitude = left.digits.count < right.digits.count ? .less : .greater
            }
        }
        if leftSign > 0 || magnitude == .equal { return magnitude }
        return magnitude == .less ? .greater : .less
    }

    /// A JSON number as sign, significant digits (no leading or trailing zeros; empty for zero)
    /// and exponent: the value is `0.d1d2d3… × 10^exponent`.
    private struct Decimal {
        var negative = false
        var digits: [UInt8] = []
        var exponent = 0

        init(_ text: JSONText) {
            let bytes = text.storage[text.start..<text.end]
            var index = bytes.startIndex
            if bytes[index] == UInt8(ascii: "-") {
                negative = true
                index += 1
            }
            var point = 0
            var seenPoint = false
            var leading = true
            while index < bytes.endIndex {
                let byte = bytes[index]
                if byte == UInt8(ascii: ".") {
                    seenPoint = true
                } else if byte >= 0x30 && byte <= 0x39 {
                    if leading && byte == 0x30 {
                        if seenPoint { point -= 1 }
                    } else {
                        leading = false
                        digits.append(byte)
                        if !seenPoint { point += 1 }
                    }
                } else {
                    break  // e or E
                }
                index += 1
            }
            var power = 0
            if index < bytes.endIndex {
                index += 1
                var negativePower = false
                if bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
                    negativePower = bytes[index] == UInt8(ascii: "-")
                    index += 1
                }
                while index < bytes.endIndex {
                    // Clamped: exponents this large already decide every comparison.
                    power = min(power * 10 + Int(bytes[index] - 0x30), 1_000_000_000)
                    index += 1
                }
                if negativePower { power = -power }
            }
            while digits.last == 0x30 { digits.removeLast() }
            exponent = point + power
        }
    }
}

// MARK: - Paths

extension JSONDocument {
    /// A path into a JSON value: `.a.b`, `.a["x y"]`, `.a[0]` (`[-1]` is the last element).
    package struct Path: Sendable, Equatable, CustomStringConvertible {
        package enum Component: Sendable, Equatable {
            /// An object member, by its decoded UTF-8 name.
            case member([UInt8])
            /// An array element; negative counts from the end.
            case index(Int)
        }

        package var components: [Component]
        /// The path as written.
        package var text: String

        package var description: String { text }

        /// The value at this path, or nil when it is absent. In an object with a repeated name
        /// the last member counts, as in JavaScript and jq.
        package func lookup(in root: JSONValue) -> JSONValue? {
            var current = root
            for component in components {
                switch (component, current) {
                case (.member(let name), .object(let object)):
                    guard let found = object.members.last(where: { $0.name.hasBytes(name) }) else { return nil }
                    current = found.value
                case (.index(let index), .array(let elements)):
                    let position = index < 0 ? elements.count + index : index
                    guard position >= 0, position < elements.count else { return nil }
                    current = elements[position]
                default:
                    return nil
                }
            }
            return current
        }

        /// The names of a path made only of members, or nil when it has an index.
        package var memberNames: [[UInt8]]? {
            var names: [[UInt8]] = []
            for component in components {
                guard case .member(let name) = component else { return nil }
                names.append(name)
            }
            return names
        }
    }

    /// A mistake in a path, a string or a number written in a parameter.
    package struct SyntaxError: Error, Sendable, Equatable {
        /// Byte offset in the parameter value.
        package var offset: Int
        /// What is wrong, such as `expected a member name after "."`.
        package var message: String
    }

    /// Bytes that may appear in a bare member name: ASCII letters, digits, `_`, `-`, `$`, `@` and
    /// any non-ASCII UTF-8 byte. Other names are written in brackets: `["x y"]`.
    @inline(__always)
    package static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "$"),
            UInt8(ascii: "@"), 0x80...0xFF:
            true
        default: false
        }
    }

    /// Parses a path starting at `index` and leaves `index` after it.
    ///
    /// Grammar: `path := "." [name | bracket] ("." name | bracket)*`, where `bracket := "["
    /// (string | integer) "]"` and `string` is a JSON string. When `leadingDot` is false the
    /// first `.` may be left out (`user.id` for jsonProject's lists); a lone `.` is the whole
    /// value.
    package static func parsePath(
        _ bytes: [UInt8], at index: inout Int, leadingDot: Bool
    ) throws(SyntaxError) -> Path {
        let start = index
        var components: [Path.Component] = []
        func name() -> [UInt8] {
            let nameStart = index
            while index < bytes.count, isNameByte(bytes[index]) { index += 1 }
            return Array(bytes[nameStart..<index])
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            if index < bytes.count, isNameByte(bytes[index]) { components.append(.member(name())) }
        } else if leadingDot {
            throw SyntaxError(offset: index, message: "expected a path starting with \".\"")
        } else if index < bytes.count, isNameByte(bytes[index]) {
            components.append(.member(name()))
        } else if !(index < bytes.count && bytes[index] == UInt8(ascii: "[")) {
            throw SyntaxError(offset: index, message: "expected a member name")
        }
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard index < bytes.count, isNameByte(bytes[index]) else {
                    throw SyntaxError(
                        offset: index, message: "expected a member name after \".\" (write other names as [\"name\"])")
                }
                components.append(.member(name()))
            } else if bytes[index] == UInt8(ascii: "[") {
                components.append(try bracket(bytes, at: &index))
            } else {
                break
            }
        }
        return Path(components: components, text: String(decoding: bytes[start..<index], as: UTF8.self))
    }

    /// `["name"]` or `[index]` starting at the `[`.
    private static func bracket(_ bytes: [UInt8], at index: inout Int) throws(SyntaxError) -> Path.Component {
        let open = index
        index += 1
        skipSpaces(bytes, at: &index)
        let component: Path.Component
        if index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
            guard case .string(let text) = try literal(bytes, at: &index) else {
                preconditionFailure("a literal starting with a quote is a string")
            }
            component = .member(decoded(text))
        } else if index < bytes.count,
            bytes[index] == UInt8(ascii: "-") || (bytes[index] >= 0x30 && bytes[index] <= 0x39)
        {
            let digitsStart = index
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            while index < bytes.count, bytes[index] >= 0x30 && bytes[index] <= 0x39 { index += 1 }
            guard let value = Int(String(decoding: bytes[digitsStart..<index], as: UTF8.self)) else {
                throw SyntaxError(
                    offset: digitsStart, message: "expected an array index (an integer) or a string in [ ]")
            }
            component = .index(value)
        } else {
            throw SyntaxError(
                offset: index, message: "expected a string such as [\"x y\"] or an index such as [0] after \"[\"")
        }
        skipSpaces(bytes, at: &index)
        guard index < bytes.count, bytes[index] == UInt8(ascii: "]") else {
            throw SyntaxError(
                offset: index, message: "expected \"]\" to close the \"[\" at column \(column(of: open, in: bytes))")
        }
        index += 1
        return component
    }

    private static func skipSpaces(_ bytes: [UInt8], at index: inout Int) {
        while index < bytes.count, isWhitespace(bytes[index]) { index += 1 }
    }

    /// A JSON string or number literal starting at `index`, parsed by `JSONParser` (so strings
    /// take JSON's escapes); leaves `index` after it. The value's text points into its own copy.
    package static func literal(_ bytes: [UInt8], at index: inout Int) throws(SyntaxError) -> JSONValue {
        let start = index
        if bytes[index] == UInt8(ascii: "\"") {
            var position = index + 1
            while position < bytes.count, bytes[position] != UInt8(ascii: "\"") {
                position += bytes[position] == UInt8(ascii: "\\") ? 2 : 1
            }
            guard position < bytes.count else {
                throw SyntaxError(offset: start, message: "unterminated string (close it with \")")
            }
            index = position + 1
        } else {
            while index < bytes.count,
                (bytes[index] >= 0x30 && bytes[index] <= 0x39) || bytes[index] == UInt8(ascii: "-")
                    || bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: ".")
                    || bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")
            {
                index += 1
            }
        }
        let text = Array(bytes[start..<index])
        do {
            return try JSONParser.parse(text)
        } catch {
            if text.first == UInt8(ascii: "\"") {
                throw SyntaxError(offset: start + error.offset, message: error.reason)
            }
            throw SyntaxError(
                offset: start,
                message: "invalid number \"\(String(decoding: text, as: UTF8.self))\" (JSON numbers: -12, 3.5, 1e3)")
        }
    }
}

extension JSONText {
    /// True when the decoded value equals `bytes`.
    @inline(__always)
    func hasBytes(_ bytes: [UInt8]) -> Bool {
        if escaped { return unescaped() == bytes }
        return count == bytes.count && storage[start..<end].elementsEqual(bytes)
    }
}

// MARK: - Skimmed records

extension JSONDocument {
    /// Whether the member name at `span` of `record` (whose bytes `buffer` holds) decodes to
    /// `name`. Escaped names are decoded; plain ones are compared in place.
    @inline(__always)
    static func name(at span: JSONMemberSpan, of record: [UInt8], _ buffer: UnsafeBufferPointer<UInt8>, is name: [UInt8]) -> Bool {
        if span.nameEscaped {
            return JSONText(storage: record, start: span.nameStart, end: span.nameEnd, escaped: true).unescaped() == name
        }
        guard span.nameEnd - span.nameStart == name.count else { return false }
        var index = 0
        for byte in name {
            if buffer[span.nameStart + index] != byte { return false }
            index += 1
        }
        return true
    }

    /// Appends the JSON text in `range` of `buffer` (checked by `JSONParser.skim`) without the
    /// white space between its tokens: the bytes `write` gives for the parsed value.
    static func writeCompact(_ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into out: inout [UInt8]) {
        var index = range.lowerBound
        var inString = false
        var runStart = index
        while index < range.upperBound {
            let byte = buffer[index]
            if inString {
                if byte == 0x5C {
                    index += 2
                    continue
                }
                if byte == 0x22 { inString = false }
            } else if byte == 0x22 {
                inString = true
            } else if isWhitespace(byte) {
                if runStart < index { out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[runStart..<index])) }
                runStart = index + 1
            }
            index += 1
        }
        if runStart < range.upperBound {
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[runStart..<range.upperBound]))
        }
    }
}

extension JSONValue {
    /// True for an object.
    var isObject: Bool {
        if case .object = self { return true }
        return false
    }
}
