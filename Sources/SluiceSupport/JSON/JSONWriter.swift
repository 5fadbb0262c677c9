/// Builds a compact JSON document straight into bytes.
///
/// Responses are written by hand rather than with `JSONSerialization`: member order is fixed,
/// timestamps come out as plain decimals with millisecond precision (`1506440188.749`, never
/// exponent notation, which broke the Java SDK), and GetRecords payloads are base64-encoded
/// directly into the output buffer.
package struct JSONWriter {
    package private(set) var bytes: [UInt8] = []
    /// The next key or element is the first of its container (no comma before it).
    private var first = true

    package init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    @inline(__always)
    private mutating func separator() {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
    }

    // MARK: - Containers

    package mutating func beginObject() {
        separator()
        bytes.append(UInt8(ascii: "{"))
        first = true
    }

    package mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        first = false
    }

    package mutating func beginArray() {
        separator()
        bytes.append(UInt8(ascii: "["))
        first = true
    }

    package mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        first = false
    }

    /// Writes a member name; the next call writes its value.
    package mutating func key(_ name: StaticString) {
        separator()
        bytes.append(UInt8(ascii: "\""))
        appendStatic(name)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        first = true
    }

    // MARK: - Scalars

    package mutating func string(_ value: String) {
        separator()
        appendQuoted(value)
    }

    package mutating func string(_ value: StaticString) {
        separator()
        bytes.append(UInt8(ascii: "\""))
        appendStatic(value)
        bytes.append(UInt8(ascii: "\""))
    }

    package mutating func number(_ value: Int) {
        separator()
        appendDecimal(Int64(value))
    }

    package mutating func number(_ value: Int64) {
        separator()
        appendDecimal(value)
    }

    package mutating func bool(_ value: Bool) {
        separator()
        appendStatic(value ? "true" : "false")
    }

    /// An epoch-seconds timestamp with millisecond precision: `1506440188.749`.
    package mutating func timestamp(milliseconds: Int64) {
        separator()
        var magnitude = milliseconds
        if milliseconds < 0 {
            bytes.append(UInt8(ascii: "-"))
            magnitude = milliseconds == Int64.min ? Int64.max : -milliseconds
        }
        appendDecimal(magnitude / 1000)
        let fraction = Int(magnitude % 1000)
        bytes.append(UInt8(ascii: "."))
        bytes.append(UInt8(48 + fraction / 100))
        bytes.append(UInt8(48 + fraction / 10 % 10))
        bytes.append(UInt8(48 + fraction % 10))
    }

    /// A blob: the base64 of `data` as a JSON string.
    package mutating func base64(_ data: [UInt8]) {
        separator()
        bytes.append(UInt8(ascii: "\""))
        Base64.encode(data, into: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    package mutating func reserveCapacity(_ additional: Int) {
        bytes.reserveCapacity(bytes.count + additional)
    }

    // MARK: - Encoding helpers

    @inline(__always)
    private mutating func appendStatic(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    private mutating func appendDecimal(_ value: Int64) {
        if value < 0 {
            bytes.append(UInt8(ascii: "-"))
            if value == Int64.min {
                appendStatic("9223372036854775808")
                return
            }
            appendDecimal(-value)
            return
        }
        if value < 10 {
            bytes.append(UInt8(48 + value))
            return
        }
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            while rest > 0 {
                buffer[19 - count] = UInt8(48 + rest % 10)
                rest /= 10
                count += 1
            }
            bytes.append(contentsOf: buffer[(20 - count)...])
        }
    }

    /// Appends `value` quoted, escaping `"`, `\` and control characters.
    private mutating func appendQuoted(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var copy = value
        copy.withUTF8 { utf8 in
            var clean = true
            for byte in utf8 where byte < 0x20 || byte == 0x22 || byte == 0x5C {
                clean = false
                break
            }
            if clean {
                bytes.append(contentsOf: utf8)
                return
            }
            for byte in utf8 {
                switch byte {
                case 0x22: bytes.append(contentsOf: [0x5C, 0x22])
                case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                case 0..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [
                        0x5C, UInt8(ascii: "u"), 48, 48, hex[Int(byte >> 4)], hex[Int(byte & 0xF)],
                    ])
                default: bytes.append(byte)
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
