/// Standard, padded base64 (RFC 4648 §4), the form of blobs in AWS JSON.
///
/// Decoding is strict the way AWS is (reference §1.5): the length must be a multiple of 4, only
/// the alphabet and trailing padding are allowed, and the unused bits of the last character
/// must be zero. Both directions work on raw buffers so PutRecords and GetRecords payloads are
/// converted in one pass without intermediate strings.
package enum Base64 {
    /// Why a value is not canonical base64.
    package enum DecodingError: Error, Sendable, Equatable {
        /// The length is not a multiple of 4.
        case length(Int)
        /// A byte outside the alphabet, or `=` before the end.
        case invalidCharacter(UInt8)
        /// Padding or trailing bits that a canonical encoder never produces.
        case nonCanonical

        /// AWS's wording after `"'<value>' can not be converted to a Blob: "`.
        package var awsReason: String {
            switch self {
            case .length(let count): "Base64 encoded length is expected a multiple of 4 bytes but found: \(count)"
            case .invalidCharacter(let byte):
                "Invalid Base64 character: '\(byte < 0x80 ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16))'"
            // "dectected" is AWS's spelling.
            case .nonCanonical: "Invalid last non-pad Base64 character dectected"
            }
        }
    }

    private static let alphabet: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Byte to 6-bit value; 0xFF for anything outside the alphabet.
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(value) }
        return table
    }()

    /// Decodes `input` or says why it is not canonical base64.
    package static func decode(_ input: UnsafeBufferPointer<UInt8>) -> Result<[UInt8], DecodingError> {
        let count = input.count
        guard count % 4 == 0 else { return .failure(.length(count)) }
        guard count > 0, let source = input.baseAddress else { return .success([]) }
        var padding = 0
        if source[count - 1] == UInt8(ascii: "=") {
            padding = source[count - 2] == UInt8(ascii: "=") ? 2 : 1
        }
        let dataCharacters = count - padding
        return decodeTable.withUnsafeBufferPointer { tableBuffer -> Result<[UInt8], DecodingError> in
            let table = tableBuffer.baseAddress!
            // Whole groups of 4 characters that carry no padding.
            let fullGroups = padding == 0 ? count / 4 : count / 4 - 1
            let outputCount = count / 4 * 3 - padding
            var failure: DecodingError?
            let output = [UInt8](unsafeUninitializedCapacity: outputCount) { buffer, initialized in
                guard let out = buffer.baseAddress else { return }
                var inIndex = 0
                var outIndex = 0
                var group = 0
                while group < fullGroups {
                    let a = table[Int(source[inIndex])]
                    let b = table[Int(source[inIndex + 1])]
                    let c = table[Int(source[inIndex + 2])]
                    let d = table[Int(source[inIndex + 3])]
                    if (a | b | c | d) & 0xC0 != 0 { break }
                    out[outIndex] = a << 2 | b >> 4
                    out[outIndex + 1] = b << 4 | c >> 2
                    out[outIndex + 2] = c << 6 | d
                    inIndex += 4
                    outIndex += 3
                    group += 1
                }
                if group < fullGroups {
                    failure = invalid(source, from: inIndex, dataCharacters: dataCharacters, count: count)
                    initialized = 0
                    return
                }
                if padding > 0 {
                    let a = table[Int(source[inIndex])]
                    let b = table[Int(source[inIndex + 1])]
                    let c = padding == 1 ? table[Int(source[inIndex + 2])] : 0
                    if (a | b | c) & 0xC0 != 0 {
                        failure = invalid(source, from: inIndex, dataCharacters: dataCharacters, count: count)
                        initialized = 0
                        return
                    }
                    // The bits a canonical encoder leaves zero.
                    if (padding == 2 && b & 0x0F != 0) || (padding == 1 && c & 0x03 != 0) {
                        failure = .nonCanonical
                        initialized = 0
                        return
                    }
                    out[outIndex] = a << 2 | b >> 4
                    if padding == 1 { out[outIndex + 1] = b << 4 | c >> 2 }
                }
                initialized = outputCount
            }
            if let failure { return .failure(failure) }
            return .success(output)
        }
    }

    /// The error for the first bad character at or after `from`.
    private static func invalid(
        _ source: UnsafePointer<UInt8>, from start: Int, dataCharacters: Int, count: Int
    ) -> DecodingError {
        var index = start
        while index < dataCharacters {
            let byte = source[index]
            if decodeTable[Int(byte)] == 0xFF {
                // '=' followed only by '=' to the end is over-long padding, not a stray '='.
                if byte == UInt8(ascii: "=") && (index..<count).allSatisfy({ source[$0] == UInt8(ascii: "=") }) {
                    return .nonCanonical
                }
                return .invalidCharacter(byte)
            }
            index += 1
        }
        return .nonCanonical
    }

    /// The encoded length of `count` bytes.
    @inline(__always)
    package static func encodedCount(_ count: Int) -> Int { (count + 2) / 3 * 4 }

    /// Appends the base64 form of `data` to `output`.
    package static func encode(_ data: [UInt8], into output: inout [UInt8]) {
        let count = data.count
        guard count > 0 else { return }
        let encoded = encodedCount(count)
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: encoded))
        data.withUnsafeBufferPointer { inputBuffer in
            alphabet.withUnsafeBufferPointer { alphabetBuffer in
                output.withUnsafeMutableBufferPointer { outputBuffer in
                    let input = inputBuffer.baseAddress!
                    let table = alphabetBuffer.baseAddress!
                    let out = outputBuffer.baseAddress! + start
                    var inIndex = 0
                    var outIndex = 0
                    while inIndex + 3 <= count {
                        let value =
                            UInt32(input[inIndex]) << 16 | UInt32(input[inIndex + 1]) << 8 | UInt32(input[inIndex + 2])
                        out[outIndex] = table[Int(value >> 18)]
                        out[outIndex + 1] = table[Int(value >> 12 & 0x3F)]
                        out[outIndex + 2] = table[Int(value >> 6 & 0x3F)]
                        out[outIndex + 3] = table[Int(value & 0x3F)]
                        inIndex += 3
                        outIndex += 4
                    }
                    let rest = count - inIndex
                    if rest > 0 {
                        let first = UInt32(input[inIndex])
                        let second = rest == 2 ? UInt32(input[inIndex + 1]) : 0
                        let value = first << 16 | second << 8
                        out[outIndex] = table[Int(value >> 18)]
                        out[outIndex + 1] = table[Int(value >> 12 & 0x3F)]
                        out[outIndex + 2] = rest == 2 ? table[Int(value >> 6 & 0x3F)] : UInt8(ascii: "=")
                        out[outIndex + 3] = UInt8(ascii: "=")
                    }
                }
            }
        }
    }
}
