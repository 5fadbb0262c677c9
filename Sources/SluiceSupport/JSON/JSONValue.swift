/// A JSON value parsed from a request body by `JSONParser`.
///
/// Strings and numbers are not copied out of the body while parsing: they are `JSONText`
/// slices, turned into Swift values only when a handler asks, so a 5 MiB PutRecords body is
/// scanned once and its base64 `Data` members are decoded straight from the body bytes.
package enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(JSONText)
    case string(JSONText)
    case array([JSONValue])
    case object(JSONObject)

    /// How the value is described in messages (`"a string"`, `"an array"`).
    package var kindDescription: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// A slice of a request body holding a JSON string (without its quotes) or number.
package struct JSONText: Sendable {
    /// The whole body the slice points into.
    package let storage: [UInt8]
    package let start: Int
    package let end: Int
    /// The string contains backslash escapes (already checked to be well formed).
    package let escaped: Bool

    package var count: Int { end - start }

    package init(storage: [UInt8], start: Int, end: Int, escaped: Bool) {
        self.storage = storage
        self.start = start
        self.end = end
        self.escaped = escaped
    }

    /// Calls `body` with the bytes of the value: the raw slice, or the unescaped UTF-8 bytes
    /// when the string has escapes.
    package func withBytes<R, E: Error>(_ body: (UnsafeBufferPointer<UInt8>) throws(E) -> R) throws(E) -> R {
        if escaped {
            let bytes = unescaped()
            return try bytes.withUnsafeBufferPointer { (buffer) throws(E) -> R in try body(buffer) }
        }
        return try storage.withUnsafeBufferPointer { (all) throws(E) -> R in
            try body(UnsafeBufferPointer(rebasing: all[start..<end]))
        }
    }

    /// The value as a Swift string, or nil when its bytes are not valid UTF-8.
    package var string: String? {
        if escaped { return String(validating: unescaped(), as: UTF8.self) }
        return String(validating: storage[start..<end], as: UTF8.self)
    }

    /// True when the value's bytes equal `literal` (used for member-name lookups).
    package func equals(_ literal: StaticString) -> Bool {
        if escaped {
            let bytes = unescaped()
            return bytes.count == literal.utf8CodeUnitCount
                && bytes.withUnsafeBufferPointer { buffer in
                    (0..<buffer.count).allSatisfy { buffer[$0] == literal.utf8Start[$0] }
                }
        }
        guard count == literal.utf8CodeUnitCount else { return false }
        let literalBytes = literal.utf8Start
        return storage.withUnsafeBufferPointer { all in
            var index = 0
            while index < count {
                if all[start + index] != literalBytes[index] { return false }
                index += 1
            }
            return true
        }
    }

    /// The UTF-8 bytes with escapes resolved. Lone surrogates become U+FFFD.
    package func unescaped() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        storage.withUnsafeBufferPointer { all in
            var index = start
            func hex(_ at: Int) -> UInt32 {
                var value: UInt32 = 0
                for offset in 0..<4 {
                    let byte = all[at + offset]
                    let digit: UInt32 =
                        switch byte {
                        case 48...57: UInt32(byte - 48)
                        case 65...70: UInt32(byte - 55)
                        case 97...102: UInt32(byte - 87)
                        default: 0  // unreachable: the parser checked the four hex digits
                        }
                    value = value << 4 | digit
                }
                return value
            }
            while index < end {
                let byte = all[index]
                guard byte == 0x5C else {
                    out.append(byte)
                    index += 1
                    continue
                }
                let escape = all[index + 1]
                index += 2
                switch escape {
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = hex(index)
                    index += 4
                    if scalar >= 0xD800 && scalar < 0xDC00, index + 6 <= end, all[index] == 0x5C,
                        all[index + 1] == UInt8(ascii: "u")
                    {
                        let low = hex(index + 2)
                        if low >= 0xDC00 && low < 0xE000 {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                            index += 6
                        }
                    }
                    let unicode = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                    if let encoded = UTF8.encode(unicode) { out.append(contentsOf: encoded) }
                default: out.append(escape)  // \" \\ \/
                }
            }
        }
        return out
    }
}

/// A JSON object: its members in body order. Lookups return the last member of a name, and a
/// `null` member counts as absent (as kinesalite drops nulls before validation).
package struct JSONObject: Sendable {
    package var members: [(name: JSONText, value: JSONValue)]

    package init(members: [(name: JSONText, value: JSONValue)]) {
        self.members = members
    }

    /// The value of member `name`, or nil when absent or null.
    package subscript(_ name: StaticString) -> JSONValue? {
        var found: JSONValue?
        for member in members where member.name.equals(name) {
            found = member.value
        }
        if case .null = found { return nil }
        return found
    }
}
