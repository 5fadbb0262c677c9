import SluiceSupport

/// Kinesis hash keys: unsigned 128-bit integers in `[0, 2^128-1]`.
package enum HashKey {
    /// The largest hash key, `2^128 - 1`.
    package static let max = UInt128.max

    /// The hash key of a partition key: the MD5 of its UTF-8 bytes read as a big-endian
    /// unsigned 128-bit integer.
    package static func of(partitionKey: String) -> UInt128 {
        Digest.md5AsUInt128(partitionKey)
    }

    /// Parses an `ExplicitHashKey`: a decimal integer in `[0, 2^128-1]` (the model's pattern is
    /// `0|([1-9]\d{0,38})`).
    /// - Throws: `StreamError` `InvalidArgumentException` with AWS's message for a value out of
    ///   range, `ValidationException` for one that is not a decimal number.
    package static func parseExplicit(_ text: String, path: String = "explicitHashKey") throws(StreamError) -> UInt128 {
        let isDecimal = !text.isEmpty && text.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
        let canonical = isDecimal && (text == "0" || text.first != "0")
        guard canonical, text.utf8.count <= 39 else {
            if isDecimal && text.utf8.count > 39 {
                throw StreamError(
                    .invalidArgument,
                    "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was \(text)")
            }
            var errors = ValidationErrors()
            errors.add(value: text, at: path, "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})")
            throw errors.error!
        }
        guard let value = UInt128(text) else {
            throw StreamError(
                .invalidArgument,
                "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was \(text)")
        }
        return value
    }

    /// Splits `[0, 2^128-1]` evenly into `count` ranges: `step = floor(2^128 / count)`, range `i`
    /// is `[i*step, (i+1)*step-1]`, and the last range ends at `2^128-1`.
    package static func evenRanges(count: Int) -> [HashKeyRange] {
        precondition(count >= 1)
        // floor(2^128 / 1) does not fit in 128 bits; one shard owns everything.
        if count == 1 { return [HashKeyRange(start: 0, end: UInt128.max)] }
        // floor(2^128 / n) computed without overflowing: (2^128-1)/n, plus one when n divides 2^128.
        let n = UInt128(count)
        var step = UInt128.max / n
        if UInt128.max % n == n - 1 { step += 1 }
        return (0..<count).map { index in
            let start = UInt128(index) * step
            let end = index == count - 1 ? UInt128.max : UInt128(index + 1) * step - 1
            return HashKeyRange(start: start, end: end)
        }
    }
}

/// An inclusive range of hash keys owned by a shard.
package struct HashKeyRange: Hashable, Sendable, Codable {
    package var start: UInt128
    package var end: UInt128

    package init(start: UInt128, end: UInt128) {
        self.start = start
        self.end = end
    }

    package func contains(_ key: UInt128) -> Bool { key >= start && key <= end }

    private enum CodingKeys: String, CodingKey { case start, end }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let startText = try container.decode(String.self, forKey: .start)
        let endText = try container.decode(String.self, forKey: .end)
        guard let start = UInt128(startText), let end = UInt128(endText), start <= end else {
            throw DecodingError.dataCorruptedError(
                forKey: .start, in: container, debugDescription: "hash key range \(startText)...\(endText) is not valid")
        }
        self.start = start
        self.end = end
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(String(start), forKey: .start)
        try container.encode(String(end), forKey: .end)
    }
}
