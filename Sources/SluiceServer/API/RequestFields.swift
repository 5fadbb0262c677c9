import SluiceSupport

/// Reads the members of a Kinesis request structure with AWS's type rules.
///
/// Each accessor returns nil for an absent or `null` member and throws `SerializationException`
/// with AWS's Coral/Jackson message (reference §1.5) when the JSON type is wrong. Members the
/// model does not know are never looked at (AWS ignores them too).
struct RequestFields {
    let object: JSONObject

    init(_ object: JSONObject) {
        self.object = object
    }

    func string(_ name: StaticString) throws(APIError) -> String? {
        guard let value = object[name] else { return nil }
        return try Self.string(value)
    }

    func blob(_ name: StaticString) throws(APIError) -> [UInt8]? {
        guard let value = object[name] else { return nil }
        return try Self.blob(value)
    }

    /// An `Integer` member: fractions are floored and the value is clamped to the 32-bit range
    /// before any range check, as AWS does (reference §1.5).
    func integer(_ name: StaticString) throws(APIError) -> Int? {
        guard let value = object[name] else { return nil }
        return try Self.integer(value)
    }

    func boolean(_ name: StaticString) throws(APIError) -> Bool? {
        guard let value = object[name] else { return nil }
        return try Self.boolean(value)
    }

    /// A `Timestamp` member: a JSON number of epoch seconds (integer or fraction). Values above
    /// 1e11 are taken as milliseconds, which the Java SDK v1 sends with CBOR disabled (§1.6).
    func timestamp(_ name: StaticString) throws(APIError) -> Timestamp? {
        guard let value = object[name] else { return nil }
        return try Self.timestamp(value)
    }

    func list(_ name: StaticString) throws(APIError) -> [JSONValue]? {
        guard let value = object[name] else { return nil }
        return try Self.list(value)
    }

    /// A map member with string values, in body order.
    func stringMap(_ name: StaticString) throws(APIError) -> [(key: String, value: String)]? {
        guard let value = object[name] else { return nil }
        switch value {
        case .object(let map):
            var entries: [(key: String, value: String)] = []
            for member in map.members {
                if case .null = member.value { continue }
                guard let key = member.name.string else { throw Self.invalidUTF8 }
                guard let text = try Self.string(member.value) else { continue }
                entries.append((key, text))
            }
            return entries
        case .array: throw APIError.serialization("Start of list found where not expected")
        default: throw APIError.serialization("Expected map or null")
        }
    }

    func structure(_ name: StaticString) throws(APIError) -> RequestFields? {
        guard let value = object[name] else { return nil }
        return try Self.structure(value)
    }

    // MARK: - Conversions of single values

    static let invalidUTF8 = APIError.serialization("Invalid UTF-8 start byte; strings must be UTF-8.")

    static func unexpectedContainer(_ value: JSONValue) -> APIError? {
        switch value {
        case .array: APIError.serialization("Start of list found where not expected")
        case .object: APIError.serialization("Start of structure or map found where not expected.")
        default: nil
        }
    }

    static func string(_ value: JSONValue) throws(APIError) -> String? {
        switch value {
        case .null: return nil
        case .string(let text):
            guard let string = text.string else { throw invalidUTF8 }
            return string
        case .bool: throw APIError.serialization("class java.lang.Boolean can not be converted to an String")
        case .number:
            throw APIError.serialization(
                "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String")
        case .array, .object: throw unexpectedContainer(value)!
        }
    }

    /// Longest prefix of a bad base64 value echoed in an error; AWS echoes it all, which for a
    /// megabyte record is a megabyte of error message.
    static let echoLimit = 128

    static func blob(_ value: JSONValue) throws(APIError) -> [UInt8]? {
        switch value {
        case .null: return nil
        case .string(let text):
            let result = text.withBytes { Base64.decode($0) }
            switch result {
            case .success(let bytes): return bytes
            case .failure(let reason):
                let echoed = text.withBytes { bytes in
                    let shown = String(decoding: bytes.prefix(echoLimit), as: UTF8.self)
                    return bytes.count > echoLimit ? shown + "...(\(bytes.count) characters)" : shown
                }
                throw APIError.serialization("'\(echoed)' can not be converted to a Blob: \(reason.awsReason)")
            }
        case .bool: throw APIError.serialization("class java.lang.Boolean can not be converted to a Blob")
        case .number:
            throw APIError.serialization(
                "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to a Blob")
        case .array, .object: throw unexpectedContainer(value)!
        }
    }

    static func integer(_ value: JSONValue) throws(APIError) -> Int? {
        switch value {
        case .null: return nil
        case .number(let text): return text.clampedInteger(Int(Int32.min)...Int(Int32.max))
        case .bool: throw APIError.serialization("class java.lang.Boolean can not be converted to an Integer")
        case .string: throw APIError.serialization("class java.lang.String can not be converted to an Integer")
        case .array, .object: throw unexpectedContainer(value)!
        }
    }

    static func boolean(_ value: JSONValue) throws(APIError) -> Bool? {
        switch value {
        case .null: return nil
        case .bool(let flag): return flag
        case .number:
            throw APIError.serialization(
                "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an Boolean")
        case .string(let text):
            // Jackson coerces these spellings; anything else is refused in upper case.
            let spelled = (text.string ?? "").lowercased()
            if ["true", "1", "yes"].contains(spelled) { return true }
            if ["false", "0", "no"].contains(spelled) { return false }
            throw APIError.serialization("'\((text.string ?? "").uppercased())' can not be converted to an Boolean")
        case .array, .object: throw unexpectedContainer(value)!
        }
    }

    static func timestamp(_ value: JSONValue) throws(APIError) -> Timestamp? {
        switch value {
        case .null: return nil
        case .number(let text): return Timestamp(milliseconds: text.epochMilliseconds())
        case .bool:
            throw APIError.serialization("class java.lang.Boolean can not be converted to milliseconds since epoch")
        case .string:
            throw APIError.serialization("class java.lang.String can not be converted to milliseconds since epoch")
        case .array, .object: throw unexpectedContainer(value)!
        }
    }

    static func list(_ value: JSONValue) throws(APIError) -> [JSONValue]? {
        switch value {
        case .null: return nil
        case .array(let elements): return elements
        case .object: throw APIError.serialization("Start of structure or map found where not expected.")
        default: throw APIError.serialization("Expected list or null")
        }
    }

    static func structure(_ value: JSONValue) throws(APIError) -> RequestFields? {
        switch value {
        case .null: return nil
        case .object(let object): return RequestFields(object)
        case .array: throw APIError.serialization("Start of list found where not expected")
        default: throw APIError.serialization("Expected null")
        }
    }
}

extension JSONText {
    /// The number floored and clamped into `range` (AWS floors fractions of integer members and
    /// clamps out-of-range values before validating them).
    func clampedInteger(_ range: ClosedRange<Int>) -> Int {
        let text = String(decoding: storage[start..<end], as: UTF8.self)
        guard let double = Double(text) else { return range.lowerBound }
        let floored = double.rounded(.down)
        if floored <= Double(range.lowerBound) { return range.lowerBound }
        if floored >= Double(range.upperBound) { return range.upperBound }
        // Exact for integers written without fraction or exponent, beyond Double's 53 bits.
        return Int(text) ?? Int(floored)
    }

    /// Epoch milliseconds of a number of epoch seconds, computed exactly from the decimal text
    /// (`1459799926.480` is 1459799926480, not ...479 as binary floating point would give),
    /// truncated toward zero below the millisecond. A value above 1e11 is already milliseconds
    /// (reference §1.6). Saturates at the Int64 range.
    package func epochMilliseconds() -> Int64 {
        storage.withUnsafeBufferPointer { all -> Int64 in
            var index = start
            var negative = false
            if index < end, all[index] == UInt8(ascii: "-") {
                negative = true
                index += 1
            }
            var digits: [UInt8] = []
            var integerDigits = 0
            var seenPoint = false
            var exponent = 0
            while index < end {
                let byte = all[index]
                if byte >= 48 && byte <= 57 {
                    digits.append(byte - 48)
                    if !seenPoint { integerDigits += 1 }
                } else if byte == UInt8(ascii: ".") {
                    seenPoint = true
                } else if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                    index += 1
                    var exponentNegative = false
                    if index < end, all[index] == UInt8(ascii: "-") || all[index] == UInt8(ascii: "+") {
                        exponentNegative = all[index] == UInt8(ascii: "-")
                        index += 1
                    }
                    while index < end {
                        exponent = min(exponent * 10 + Int(all[index] - 48), 10_000)
                        index += 1
                    }
                    if exponentNegative { exponent = -exponent }
                    break
                }
                index += 1
            }
            let pointPosition = integerDigits + exponent
            /// The value's digits before position `point`, saturated.
            func truncated(_ point: Int) -> Int64 {
                guard point > 0 else { return 0 }
                var value: Int64 = 0
                for position in 0..<min(point, 40) {
                    let digit = position < digits.count ? Int64(digits[position]) : 0
                    let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                    let (sum, overflow2) = times.addingReportingOverflow(digit)
                    if overflow1 || overflow2 { return Int64.max }
                    value = sum
                }
                return point > 40 && value > 0 ? Int64.max : value
            }
            let seconds = truncated(pointPosition)
            let milliseconds = seconds > 100_000_000_000 ? seconds : truncated(pointPosition + 3)
            return negative ? -milliseconds : milliseconds
        }
    }
}
