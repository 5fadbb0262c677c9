// MARK: - Parsing

extension PrefixTemplate {
    static let namespaces = ["timestamp", "firehose", "partitionKeyFromQuery", "partitionKeyFromLambda"]
    static let firehoseValues = ["random-string", "error-output-type"]

    static func parse(_ text: String) throws(PrefixError) -> [Segment] {
        let bytes = Array(text.utf8)
        var segments: [Segment] = []
        var literalStart = 0
        var randomCount = 0
        var index = 0
        func string(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        func shown(_ start: Int, _ end: Int) -> String {
            let expression = string(start..<end)
            return expression.count > 60 ? String(expression.prefix(60)) + "…" : expression
        }
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "!"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "{") else {
                index += 1
                continue
            }
            if literalStart < index { segments.append(.literal(Array(bytes[literalStart..<index]))) }
            let start = index
            var cursor = index + 2
            while cursor < bytes.count, bytes[cursor] != UInt8(ascii: ":"), bytes[cursor] != UInt8(ascii: "}") { cursor += 1 }
            guard cursor < bytes.count else {
                throw .syntax(
                    "expression \"\(shown(start, bytes.count))\" is not closed; write !{namespace:value}, and note that \"!{\" "
                        + "may appear only as the start of an expression", offset: start)
            }
            guard bytes[cursor] == UInt8(ascii: ":") else {
                throw .syntax(
                    "\"\(shown(start, cursor + 1))\" is not an expression; write !{namespace:value} (\"!{\" may appear only "
                        + "as the start of an expression)", offset: start)
            }
            let namespace = string(start + 2..<cursor)
            let valueStart = cursor + 1
            // The value ends at the first '}'; in timestamp patterns a quoted '}' is literal.
            var end = valueStart
            var quoted = false
            let isTimestamp = namespace == "timestamp"
            while end < bytes.count {
                let byte = bytes[end]
                if isTimestamp, byte == UInt8(ascii: "'") {
                    quoted.toggle()
                } else if byte == UInt8(ascii: "}"), !quoted {
                    break
                }
                end += 1
            }
            guard end < bytes.count else {
                let reason = quoted ? "has quoted text that is not closed; end it with '" : "is not closed; end it with }"
                throw .syntax("expression \"\(shown(start, bytes.count))\" \(reason)", offset: start)
            }
            let value = string(valueStart..<end)
            let expression = shown(start, end + 1)
            switch namespace {
            case "timestamp":
                guard !value.isEmpty else {
                    throw .syntax("\"\(expression)\" needs a pattern, such as !{timestamp:yyyy/MM/dd}", offset: start)
                }
                do throws(TimestampPattern.PatternError) {
                    segments.append(.timestamp(try TimestampPattern(parsing: value)))
                } catch {
                    throw .syntax("\"\(expression)\": \(error.message)", offset: start)
                }
            case "firehose":
                switch value {
                case "random-string":
                    segments.append(.randomString(occurrence: randomCount))
                    randomCount += 1
                case "error-output-type":
                    segments.append(.errorOutputType)
                default:
                    let hint = Suggestions.didYouMean(value, among: firehoseValues, format: { "!{firehose:\($0)}" })
                    throw .syntax(
                        "unknown expression \"\(expression)\"\(hint); the firehose namespace has random-string and "
                            + "error-output-type", offset: start)
                }
            case "partitionKeyFromQuery", "partitionKeyFromLambda":
                guard !value.isEmpty, value.utf8.allSatisfy(isKeyNameByte) else {
                    throw .syntax(
                        "\"\(expression)\" needs a key name of letters, digits, '_' and '-', such as "
                            + "!{\(namespace):customer_id}", offset: start)
                }
                segments.append(.partitionKey(name: value, fromLambda: namespace == "partitionKeyFromLambda"))
            default:
                let hint = Suggestions.didYouMean(namespace, among: namespaces)
                throw .syntax(
                    "unknown namespace \"\(namespace)\" in \"\(expression)\"\(hint); namespaces: "
                        + namespaces.joined(separator: ", "), offset: start)
            }
            index = end + 1
            literalStart = index
        }
        if literalStart < bytes.count { segments.append(.literal(Array(bytes[literalStart..<bytes.count]))) }
        return segments
    }

    private static func isKeyNameByte(_ byte: UInt8) -> Bool {
        (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57) || byte == 95 || byte == 45
    }
}
