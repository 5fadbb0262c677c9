import SluiceStreams

/// The botocore model's constraints (`required`, `min`/`max`, `pattern`, `enum`) that boto3 does
/// not check client-side, rendered as AWS's Coral validation items (reference §4).
///
/// Paths are lowerCamel member names (`streamName`, `shardFilter.type`); lengths count UTF-16
/// code units, as Java strings do.
package enum ModelRules {
    static let streamNamePattern = "[a-zA-Z0-9_.-]+"
    static let streamARNPattern = "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+"
    static let sequenceNumberPattern = "0|([1-9]\\d{0,128})"
    static let hashKeyPattern = "0|([1-9]\\d{0,38})"

    static func required(_ value: Any?, at path: String, into errors: inout ValidationErrors) {
        if value == nil { errors.add(value: nil, at: path, "Member must not be null") }
    }

    static func length(
        _ value: String?, at path: String, min: Int, max: Int? = nil, into errors: inout ValidationErrors
    ) {
        guard let value else { return }
        let length = value.utf16.count
        if length < min {
            errors.add(value: value, at: path, "Member must have length greater than or equal to \(min)")
        } else if let max, length > max {
            errors.add(value: value, at: path, "Member must have length less than or equal to \(max)")
        }
    }

    static func range(
        _ value: Int?, at path: String, min: Int? = nil, max: Int? = nil, into errors: inout ValidationErrors
    ) {
        guard let value else { return }
        if let min, value < min {
            errors.add(value: String(value), at: path, "Member must have value greater than or equal to \(min)")
        } else if let max, value > max {
            errors.add(value: String(value), at: path, "Member must have value less than or equal to \(max)")
        }
    }

    static func oneOf(_ value: String?, _ allowed: [String], at path: String, into errors: inout ValidationErrors) {
        guard let value, !allowed.contains(value) else { return }
        errors.add(value: value, at: path, "Member must satisfy enum value set: [\(allowed.joined(separator: ", "))]")
    }

    /// `StreamName` and `ShardId` share the shape: 1-128 characters of `[a-zA-Z0-9_.-]`.
    static func name(_ value: String?, at path: String, into errors: inout ValidationErrors) {
        guard let value else { return }
        length(value, at: path, min: 1, max: 128, into: &errors)
        if !value.isEmpty && !value.utf8.allSatisfy(isNameByte) {
            errors.add(value: value, at: path, "Member must satisfy regular expression pattern: \(streamNamePattern)")
        }
    }

    static func streamARN(_ value: String?, at path: String = "streamARN", into errors: inout ValidationErrors) {
        guard let value else { return }
        length(value, at: path, min: 1, max: 2048, into: &errors)
        // The matcher is quadratic in the worst case; an over-long value already failed above.
        if !value.isEmpty && value.utf8.count <= 4096 && !matchesStreamARN(value) {
            errors.add(value: value, at: path, "Member must satisfy regular expression pattern: \(streamARNPattern)")
        }
    }

    static func sequenceNumber(_ value: String?, at path: String, into errors: inout ValidationErrors) {
        guard let value, !isDecimal(value, maximumDigits: 129) else { return }
        errors.add(value: value, at: path, "Member must satisfy regular expression pattern: \(sequenceNumberPattern)")
    }

    static func hashKey(_ value: String?, at path: String, into errors: inout ValidationErrors) {
        guard let value, !isDecimal(value, maximumDigits: 39) else { return }
        errors.add(value: value, at: path, "Member must satisfy regular expression pattern: \(hashKeyPattern)")
    }

    // MARK: - Matchers

    static func isNameByte(_ byte: UInt8) -> Bool {
        (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57) || byte == 95
            || byte == 46
            || byte == 45
    }

    /// `0|([1-9]\d{0,n-1})`.
    static func isDecimal(_ text: String, maximumDigits: Int) -> Bool {
        let utf8 = text.utf8
        guard !utf8.isEmpty, utf8.count <= maximumDigits, utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            return false
        }
        return utf8.count == 1 || utf8.first != 48
    }

    /// Full match of `arn:aws.*:kinesis:.*:\d{12}:stream/\S+` (Java regex: `.` excludes line
    /// terminators, `\S` excludes ASCII white space).
    package static func matchesStreamARN(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        let prefix = Array("arn:aws".utf8)
        let kinesis = Array(":kinesis:".utf8)
        let stream = Array(":stream/".utf8)
        guard bytes.starts(with: prefix) else { return false }
        func isLineBreak(_ byte: UInt8) -> Bool { byte == 0x0A || byte == 0x0D }
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (byte >= 0x09 && byte <= 0x0D) }
        func matches(_ pattern: [UInt8], at index: Int) -> Bool {
            guard index + pattern.count <= bytes.count else { return false }
            for offset in pattern.indices where bytes[index + offset] != pattern[offset] { return false }
            return true
        }
        // Every `.*` spans no line break, so a line break anywhere before the resource fails.
        var kinesisAt = prefix.count
        while kinesisAt + kinesis.count <= bytes.count {
            if isLineBreak(bytes[kinesisAt]) { return false }
            if matches(kinesis, at: kinesisAt) {
                var colon = kinesisAt + kinesis.count
                while colon < bytes.count {
                    if isLineBreak(bytes[colon]) { break }
                    if bytes[colon] == UInt8(ascii: ":"), colon + 13 <= bytes.count,
                        bytes[(colon + 1)..<(colon + 13)].allSatisfy({ $0 >= 48 && $0 <= 57 }),
                        matches(stream, at: colon + 13)
                    {
                        let resource = bytes[(colon + 13 + stream.count)...]
                        if !resource.isEmpty && !resource.contains(where: isSpace) { return true }
                    }
                    colon += 1
                }
            }
            kinesisAt += 1
        }
        return false
    }
}
