import SluiceSupport

/// `metadataExtraction`: takes partition keys from JSON records by path, for
/// `!{partitionKeyFromQuery:NAME}` (Firehose's MetadataExtraction processor, with paths instead
/// of jq).
///
/// Parameters:
/// - `keys` (required): `NAME=PATH` pairs separated by commas, such as
///   `customer_id=.customer.id, country=.geo["country code"]`. Names are `[A-Za-z0-9_-]+`; paths
///   are `.a.b`, `.a["x y"]`, `.a[0]`.
///
/// A string value is the key's value; a number or boolean is its JSON text. A path that is
/// absent or null sets no key, so a prefix that uses it sends the record to error output as
/// `partitioning-failed`; so does an object or array value, and a record that is not JSON
/// (codes `DynamicPartitioning.…`). The record's data is unchanged.
package struct MetadataExtractionProcessor: RecordProcessor {
    package static let processorType = ProcessorType(
        name: "metadataExtraction",
        summary: "Takes partition keys from JSON records by path (keys=NAME=.path,...), for !{partitionKeyFromQuery:NAME}.",
        parameters: ["keys"],
        make: { (parameters) throws(ProcessorConfigurationError) -> any RecordProcessor in
            guard let text = parameters["keys"] else {
                throw ProcessorConfigurationError(
                    parameter: "keys", "keys is required: NAME=PATH pairs separated by commas, such as customer_id=.customer.id")
            }
            return MetadataExtractionProcessor(keys: try parse(text))
        })

    package let keys: [(name: String, path: JSONDocument.Path)]

    package init(keys: [(name: String, path: JSONDocument.Path)]) {
        self.keys = keys
    }

    static func parse(_ text: String) throws(ProcessorConfigurationError) -> [(name: String, path: JSONDocument.Path)] {
        let bytes = Array(text.utf8)
        var index = 0
        var keys: [(name: String, path: JSONDocument.Path)] = []
        func fail(_ offset: Int, _ problem: String) -> ProcessorConfigurationError {
            ProcessorConfigurationError(
                parameter: "keys", "keys, column \(JSONDocument.column(of: offset, in: bytes)): \(problem); write NAME=PATH pairs such as customer_id=.customer.id")
        }
        func skipSpaces() { while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 { index += 1 } }
        while true {
            skipSpaces()
            let nameStart = index
            while index < bytes.count, Self.isKeyNameByte(bytes[index]) { index += 1 }
            guard index > nameStart else { throw fail(index, "expected a key name (letters, digits, _ and -)") }
            let name = String(decoding: bytes[nameStart..<index], as: UTF8.self)
            skipSpaces()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "=") else { throw fail(index, "expected \"=\" after the key name \(name)") }
            index += 1
            skipSpaces()
            let path: JSONDocument.Path
            do {
                path = try JSONDocument.parsePath(bytes, at: &index, leadingDot: true)
            } catch {
                throw fail(error.offset, error.message)
            }
            if keys.contains(where: { $0.name == name }) { throw fail(nameStart, "key \(name) is given twice") }
            keys.append((name, path))
            skipSpaces()
            if index == bytes.count { break }
            guard bytes[index] == UInt8(ascii: ",") else { throw fail(index, "expected \",\" between pairs") }
            index += 1
        }
        return keys
    }

    static func isKeyNameByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F || byte == 0x2D
    }

    /// One output per record: it never splits.
    package var maySplit: Bool { false }

    /// Each verdict depends on its record alone.
    package var isPure: Bool { true }

    package func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        batch.map { record in
            let root: JSONValue
            do throws(JSONParser.SyntaxError) {
                root = try JSONDocument.parse(record.data)
            } catch {
                return ProcessorResult(
                    recordID: record.recordID,
                    verdict: .processingFailed(
                        code: "DynamicPartitioning.MetadataExtractionFailed",
                        message: "The record is not JSON (\(JSONDocument.describe(error))), so no partition keys can be taken from it."))
            }
            var found: [String: String] = [:]
            for key in keys {
                switch key.path.lookup(in: root) {
                case .string(let text)?: found[key.name] = String(decoding: JSONDocument.decoded(text), as: UTF8.self)
                case .number(let text)?: found[key.name] = text.string ?? ""
                case .bool(let flag)?: found[key.name] = flag ? "true" : "false"
                case .object?, .array?:
                    return ProcessorResult(
                        recordID: record.recordID,
                        verdict: .processingFailed(
                            code: "DynamicPartitioning.MetadataExtractionFailed",
                            message: "Partition key \(key.name) at \(key.path) is an object or array; it must be a string, number or boolean."))
                case .null?, nil: break
                }
            }
            return ProcessorResult(recordID: record.recordID, verdict: .ok(data: record.data, partitionKeys: found))
        }
    }
}
