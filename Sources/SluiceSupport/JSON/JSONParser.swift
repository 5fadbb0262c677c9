/// A strict RFC 8259 JSON parser over a request body.
///
/// Hand-written rather than `JSONSerialization` for two reasons: it keeps the JSON types
/// apart (Foundation on Linux returns `NSNumber` for both `true` and `1`, and AWS answers them
/// with different `SerializationException` messages), and it does not copy strings, so base64
/// payloads are decoded straight from the body. Nesting deeper than `maximumDepth` is refused
/// instead of recursing without bound.
package enum JSONParser {
    /// Why a body is not JSON, with the byte offset.
    package struct SyntaxError: Error, Sendable, CustomStringConvertible {
        package var reason: String
        package var offset: Int

        package var description: String { "\(reason) at byte \(offset)" }
    }

    /// Parses one JSON value that must fill the whole body (surrounding white space allowed).
    package static func parse(_ body: [UInt8], maximumDepth: Int = 64) throws(SyntaxError) -> JSONValue {
        try body.withUnsafeBufferPointer { (buffer) throws(SyntaxError) -> JSONValue in
            var scanner = Scanner(body: body, bytes: buffer, maximumDepth: maximumDepth)
            scanner.skipWhitespace()
            let value = try scanner.value(depth: 0)
            scanner.skipWhitespace()
            guard scanner.index == buffer.count else {
                throw SyntaxError(reason: "unexpected text after the JSON value", offset: scanner.index)
            }
            return value
        }
    }
}

/// One member of an object found by `JSONParser.skim`: where its name (inside the quotes) and
/// its value lie in the body.
package struct JSONMemberSpan: Sendable, Equatable {
    package var nameStart: Int
    package var nameEnd: Int
    /// The name contains backslash escapes.
    package var nameEscaped: Bool
    package var valueStart: Int
    package var valueEnd: Int
    /// The value has no white space between its tokens (its bytes are already compact JSON).
    package var valueIsCompact: Bool
}

/// What `JSONParser.skim` found at the top of a body.
package enum JSONSkim: Sendable, Equatable {
    /// An object and its members, in body order.
    case object([JSONMemberSpan])
    /// Another value (`JSONValue.kindDescription` of it).
    case other(kindDescription: String)
}

extension JSONParser {
    /// Checks a body exactly as `parse` does (same errors, same offsets) without building values,
    /// and returns where the top-level object's members lie. For processors that look at a few
    /// members and copy the rest: no value is materialised and nothing is retained per member.
    package static func skim(_ body: [UInt8], maximumDepth: Int = 64) throws(SyntaxError) -> JSONSkim {
        try body.withUnsafeBufferPointer { (buffer) throws(SyntaxError) -> JSONSkim in
            var scanner = Scanner(body: body, bytes: buffer, maximumDepth: maximumDepth)
            scanner.skipWhitespace()
            let result: JSONSkim
            if scanner.index < buffer.count, buffer[scanner.index] == UInt8(ascii: "{") {
                result = .object(try scanner.skimObject())
            } else {
                let first = scanner.index < buffer.count ? buffer[scanner.index] : 0
                try scanner.skipValue(depth: 0)
                result = .other(kindDescription: Scanner.kindDescription(first))
            }
            scanner.skipWhitespace()
            guard scanner.index == buffer.count else {
                throw SyntaxError(reason: "unexpected text after the JSON value", offset: scanner.index)
            }
            return result
        }
    }

    /// Parses the value that fills `range` of `body` exactly (a member's value from `skim`).
    package static func parse(_ body: [UInt8], range: Range<Int>, maximumDepth: Int = 64) throws(SyntaxError) -> JSONValue {
        try body.withUnsafeBufferPointer { (buffer) throws(SyntaxError) -> JSONValue in
            var scanner = Scanner(
                body: body, bytes: UnsafeBufferPointer(rebasing: buffer[..<range.upperBound]), maximumDepth: maximumDepth)
            scanner.index = range.lowerBound
            let value = try scanner.value(depth: 0)
            guard scanner.index == range.upperBound else {
                throw SyntaxError(reason: "unexpected text after the JSON value", offset: scanner.index)
            }
            return value
        }
    }
}

private struct Scanner {
    let body: [UInt8]
    let bytes: UnsafeBufferPointer<UInt8>
    let maximumDepth: Int
    var index = 0
    /// Bytes of white space skipped between tokens so far (for `JSONMemberSpan.valueIsCompact`).
    var skippedWhitespace = 0

    init(body: [UInt8], bytes: UnsafeBufferPointer<UInt8>, maximumDepth: Int) {
        self.body = body
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    func fail(_ reason: String) -> JSONParser.SyntaxError {
        JSONParser.SyntaxError(reason: reason, offset: index)
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09:
                index += 1
                skippedWhitespace &+= 1
            default: return
            }
        }
    }

    mutating func value(depth: Int) throws(JSONParser.SyntaxError) -> JSONValue {
        guard index < bytes.count else { throw fail("unexpected end of the body") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return .object(try object(depth: depth + 1))
        case UInt8(ascii: "["): return .array(try array(depth: depth + 1))
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try number())
        default:
            throw fail("unexpected character '\(Self.printable(bytes[index]))'")
        }
    }

    static func printable(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
    }

    mutating func literal(_ word: StaticString) throws(JSONParser.SyntaxError) {
        let length = word.utf8CodeUnitCount
        guard index + length <= bytes.count else { throw fail("unexpected end of the body") }
        for offset in 0..<length where bytes[index + offset] != word.utf8Start[offset] {
            throw fail("invalid literal")
        }
        index += length
    }

    mutating func object(depth: Int) throws(JSONParser.SyntaxError) -> JSONObject {
        guard depth <= maximumDepth else { throw fail("JSON nested deeper than \(maximumDepth) levels") }
        index += 1  // {
        var members: [(name: JSONText, value: JSONValue)] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return JSONObject(members: members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
            let name = try string()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            skipWhitespace()
            let value = try value(depth: depth)
            members.append((name, value))
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of the body") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "}") else { throw fail("expected ',' or '}'") }
            index += 1
            return JSONObject(members: members)
        }
    }

    mutating func array(depth: Int) throws(JSONParser.SyntaxError) -> [JSONValue] {
        guard depth <= maximumDepth else { throw fail("JSON nested deeper than \(maximumDepth) levels") }
        index += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return elements
        }
        while true {
            skipWhitespace()
            elements.append(try value(depth: depth))
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of the body") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "]") else { throw fail("expected ',' or ']'") }
            index += 1
            return elements
        }
    }

    /// A string starting at the opening quote. The hot loop only looks for the quote, a
    /// backslash or a control character; escapes are checked here and resolved on demand.
    mutating func string() throws(JSONParser.SyntaxError) -> JSONText {
        let (start, end, escaped) = try scanString()
        return JSONText(storage: body, start: start, end: end, escaped: escaped)
    }

    /// Moves past the string starting at the opening quote; returns where its contents lie.
    mutating func scanString() throws(JSONParser.SyntaxError) -> (start: Int, end: Int, escaped: Bool) {
        index += 1  // "
        let start = index
        var escaped = false
        let count = bytes.count
        guard let base = bytes.baseAddress else { throw fail("unterminated string") }
        var position = index
        while position < count {
            // Eight bytes at a time while none of them is a quote, a backslash or a control
            // character (SWAR: a byte is zero in `x` exactly when its high bit ends up set).
            while position + 8 <= count {
                let word = UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self)
                let quote = word ^ 0x2222_2222_2222_2222
                let backslash = word ^ 0x5C5C_5C5C_5C5C_5C5C
                let special =
                    ((quote &- 0x0101_0101_0101_0101) & ~quote) | ((backslash &- 0x0101_0101_0101_0101) & ~backslash)
                    | ((word &- 0x2020_2020_2020_2020) & ~word)
                if special & 0x8080_8080_8080_8080 != 0 { break }
                position += 8
            }
            guard position < count else { break }
            let byte = base[position]
            if byte == 0x22 {
                index = position + 1
                return (start, position, escaped)
            }
            if byte == 0x5C {
                escaped = true
                index = position
                try checkEscape()
                position = index
                continue
            }
            if byte < 0x20 {
                index = position
                throw fail(
                    "control character in a string (escape it as \\u00\(byte < 16 ? "0" : "")\(String(byte, radix: 16)))"
                )
            }
            position += 1
        }
        index = position
        throw fail("unterminated string")
    }

    /// Checks the escape at `index` (a backslash) and moves past it.
    mutating func checkEscape() throws(JSONParser.SyntaxError) {
        guard index + 1 < bytes.count else { throw fail("unterminated string") }
        switch bytes[index + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            index += 2
        case UInt8(ascii: "u"):
            guard index + 6 <= bytes.count else { throw fail("unterminated string") }
            for offset in 2..<6 {
                let byte = bytes[index + offset]
                let isHex = (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 70) || (byte >= 97 && byte <= 102)
                guard isHex else { throw fail("invalid \\u escape") }
            }
            index += 6
        default:
            throw fail("invalid escape '\\\(Self.printable(bytes[index + 1]))'")
        }
    }

    /// A number per the JSON grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    mutating func number() throws(JSONParser.SyntaxError) -> JSONText {
        let start = index
        try scanNumber()
        return JSONText(storage: body, start: start, end: index, escaped: false)
    }

    /// Moves past a number per the JSON grammar.
    mutating func scanNumber() throws(JSONParser.SyntaxError) {
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw fail("invalid number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw fail("invalid number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard index < bytes.count, isDigit(bytes[index]) else { throw fail("invalid number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
    }

    // MARK: Skimming (the same checks and errors as the builders above, nothing built)

    static func kindDescription(_ first: UInt8) -> String {
        switch first {
        case UInt8(ascii: "["): "an array"
        case UInt8(ascii: "\""): "a string"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): "a boolean"
        case UInt8(ascii: "n"): "null"
        case UInt8(ascii: "{"): "an object"
        default: "a number"
        }
    }

    mutating func skipValue(depth: Int) throws(JSONParser.SyntaxError) {
        guard index < bytes.count else { throw fail("unexpected end of the body") }
        switch bytes[index] {
        case UInt8(ascii: "{"): try skipObject(depth: depth + 1)
        case UInt8(ascii: "["): try skipArray(depth: depth + 1)
        case UInt8(ascii: "\""): _ = try scanString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try scanNumber()
        default: throw fail("unexpected character '\(Self.printable(bytes[index]))'")
        }
    }

    /// The top-level object at `index` (depth 1), with the spans of its members.
    mutating func skimObject() throws(JSONParser.SyntaxError) -> [JSONMemberSpan] {
        var spans: [JSONMemberSpan] = []
        spans.reserveCapacity(32)
        try objectMembers(depth: 1) { span in spans.append(span) }
        return spans
    }

    mutating func skipObject(depth: Int) throws(JSONParser.SyntaxError) {
        try objectMembers(depth: depth) { _ in }
    }

    /// Walks the object at `index` like `object(depth:)`, handing each member's span to `body`.
    @inline(__always)
    mutating func objectMembers(depth: Int, _ body: (JSONMemberSpan) -> Void) throws(JSONParser.SyntaxError) {
        guard depth <= maximumDepth else { throw fail("JSON nested deeper than \(maximumDepth) levels") }
        index += 1  // {
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
            let name = try scanString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            skipWhitespace()
            let valueStart = index
            let whitespaceBefore = skippedWhitespace
            try skipValue(depth: depth)
            body(JSONMemberSpan(
                nameStart: name.start, nameEnd: name.end, nameEscaped: name.escaped, valueStart: valueStart, valueEnd: index,
                valueIsCompact: skippedWhitespace == whitespaceBefore))
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of the body") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "}") else { throw fail("expected ',' or '}'") }
            index += 1
            return
        }
    }

    mutating func skipArray(depth: Int) throws(JSONParser.SyntaxError) {
        guard depth <= maximumDepth else { throw fail("JSON nested deeper than \(maximumDepth) levels") }
        index += 1  // [
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            try skipValue(depth: depth)
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of the body") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "]") else { throw fail("expected ',' or ']'") }
            index += 1
            return
        }
    }

    @inline(__always)
    func isDigit(_ byte: UInt8) -> Bool { byte >= 48 && byte <= 57 }
}
