import SluiceSupport

/// `jsonParse`: fails every record that is not one JSON value (by default, one JSON object).
///
/// Put it first in a chain to send malformed records to error output with the reason and the
/// byte where parsing stopped, so later processors and the archive only see JSON. A record may
/// have white space around the value (the usual trailing newline). The text must be UTF-8
/// (RFC 8259 §8.1). Records that pass are kept byte for byte.
///
/// Parameters:
/// - `requireObject`: `"true"` (the default) accepts only a JSON object; `"false"` accepts any
///   JSON value (array, string, number, `true`, `false`, `null`).
///
/// Failed records get `processingFailed(code: "JsonParse.InvalidJson", message:)`, for example
/// `record is not valid JSON: expected ',' or '}' at byte 17`.
package struct JSONParseProcessor: RecordProcessor {
    package static let failureCode = "JsonParse.InvalidJson"

    package static let processorType = ProcessorType(
        name: "jsonParse",
        summary: "Fails records that are not one JSON object (or, with requireObject=false, any JSON value); "
            + "passes the rest unchanged.",
        parameters: ["requireObject"],
        make: { (parameters) throws(ProcessorConfigurationError) -> any RecordProcessor in
            var requireObject = true
            if let value = parameters["requireObject"] {
                switch value {
                case "true": requireObject = true
                case "false": requireObject = false
                default:
                    throw ProcessorConfigurationError(
                        parameter: "requireObject",
                        "requireObject must be \"true\" or \"false\"; got \"\(value)\"")
                }
            }
            return JSONParseProcessor(requireObject: requireObject)
        })

    package let requireObject: Bool

    package init(requireObject: Bool = true) {
        self.requireObject = requireObject
    }

    /// One output per record: it never splits.
    package var maySplit: Bool { false }

    /// Each verdict depends on its record alone.
    package var isPure: Bool { true }

    package func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        batch.map { ProcessorResult(recordID: $0.recordID, verdict: verdict($0.data)) }
    }

    /// The verdict for one record's bytes.
    package func verdict(_ data: [UInt8]) -> ProcessorVerdict {
        let value: JSONValue
        do {
            value = try JSONDocument.parse(data)
        } catch {
            let reason =
                data.allSatisfy(JSONDocument.isWhitespace) ? "the record is empty" : JSONDocument.describe(error)
            return .processingFailed(code: Self.failureCode, message: "record is not valid JSON: \(reason)")
        }
        if let offset = Self.firstInvalidUTF8(data) {
            return .processingFailed(
                code: Self.failureCode, message: "record is not valid JSON: invalid UTF-8 at byte \(offset)")
        }
        if requireObject, !value.isObject {
            return .processingFailed(
                code: Self.failureCode,
                message: "record is not a JSON object: found \(value.kindDescription) at byte "
                    + "\(JSONDocument.firstNonWhitespace(in: data)) (requireObject is true; set it to \"false\" to accept "
                    + "any JSON value)")
        }
        return .ok(data: data, partitionKeys: [:])
    }

    /// The offset of the first byte that is not part of well-formed UTF-8, or nil.
    static func firstInvalidUTF8(_ data: [UInt8]) -> Int? {
        var index = 0
        let count = data.count
        while index < count {
            let byte = data[index]
            if byte < 0x80 {
                index += 1
                continue
            }
            let length: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch byte {
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                high = 0x9F
            case 0xF0:
                length = 4
                low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                high = 0x8F
            default: return index
            }
            guard index + length <= count else { return index }
            guard data[index + 1] >= low && data[index + 1] <= high else { return index }
            for offset in 2..<max(length, 2) where data[index + offset] & 0xC0 != 0x80 {
                return index
            }
            index += length
        }
        return nil
    }
}
