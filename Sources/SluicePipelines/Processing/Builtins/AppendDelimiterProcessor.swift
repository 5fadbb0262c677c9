/// `appendDelimiter`: appends a delimiter to every record (Firehose's `AppendDelimiterToRecord`).
///
/// Firehose concatenates records without anything between them; this makes an archive file one
/// record per line (or per any other delimiter). The delimiter is always appended, even when a
/// record already ends with it.
///
/// Parameters:
/// - `delimiter`: the bytes to append, default `\n`. The value may spell bytes with the escapes
///   `\n`, `\t`, `\r`, `\\`, `\0` and `\xHH` (two hex digits), so Firehose's configured `"\\n"`
///   (a backslash and an n) means a newline, as it does there; a real newline character in the
///   value works too.
package struct AppendDelimiterProcessor: RecordProcessor {
    package static let processorType = ProcessorType(
        name: "appendDelimiter",
        summary: "Appends a delimiter (default a newline) to every record, like Firehose's AppendDelimiterToRecord.",
        parameters: ["delimiter"],
        make: { (parameters) throws(ProcessorConfigurationError) -> any RecordProcessor in
            let delimiter = try parameters["delimiter"].map { (text) throws(ProcessorConfigurationError) in
                try Self.delimiter(parameter: "delimiter", text)
            }
            return AppendDelimiterProcessor(delimiter: delimiter ?? [0x0A])
        })

    package let delimiter: [UInt8]

    package init(delimiter: [UInt8] = [0x0A]) {
        self.delimiter = delimiter
    }

    /// One output per record: it never splits.
    package var maySplit: Bool { false }

    /// Each verdict depends on its record alone.
    package var isPure: Bool { true }

    package func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        batch.map { record in
            var data = record.data
            data.append(contentsOf: delimiter)
            return ProcessorResult(recordID: record.recordID, verdict: .ok(data: data, partitionKeys: [:]))
        }
    }

    /// The bytes a delimiter parameter spells, resolving `\n`, `\t`, `\r`, `\\`, `\0` and `\xHH`.
    ///
    /// - Throws: `ProcessorConfigurationError` for an empty value, an unknown escape or a `\x`
    ///   without two hex digits, naming the column.
    package static func delimiter(parameter: String, _ text: String) throws(ProcessorConfigurationError) -> [UInt8] {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else {
            throw ProcessorConfigurationError(
                parameter: parameter, "\(parameter) is empty; give the bytes to append, such as \\n (the default)")
        }
        func error(_ offset: Int, _ problem: String) -> ProcessorConfigurationError {
            ProcessorConfigurationError(
                parameter: parameter,
                "\(parameter), column \(JSONDocument.column(of: offset, in: bytes)): \(problem); the escapes are \\n, \\t, "
                    + "\\r, \\\\, \\0 and \\xHH (two hex digits), so write a backslash as \\\\")
        }
        var result: [UInt8] = []
        var index = 0
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "\\") else {
                result.append(bytes[index])
                index += 1
                continue
            }
            guard index + 1 < bytes.count else { throw error(index, "a lone \\ ends the value") }
            switch bytes[index + 1] {
            case UInt8(ascii: "n"): result.append(0x0A)
            case UInt8(ascii: "t"): result.append(0x09)
            case UInt8(ascii: "r"): result.append(0x0D)
            case UInt8(ascii: "\\"): result.append(0x5C)
            case UInt8(ascii: "0"): result.append(0x00)
            case UInt8(ascii: "x"):
                guard index + 3 < bytes.count, let high = hexValue(bytes[index + 2]),
                    let low = hexValue(bytes[index + 3])
                else {
                    throw error(index, "\\x needs two hex digits, such as \\x1e")
                }
                result.append(high << 4 | low)
                index += 2
            default:
                let escape = String(decoding: bytes[(index + 1)...], as: UTF8.self).first.map(String.init) ?? ""
                throw error(index, "unknown escape \"\\\(escape)\"")
            }
            index += 2
        }
        return result
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - 48
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - 87
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - 55
        default: nil
        }
    }
}
