internal import Foundation
package import SluiceSupport

/// `jsonFilter`: keeps (or drops) the JSON records that match a predicate; the others are
/// `Dropped`, as a Firehose Lambda would drop them.
///
/// Parameters:
/// - `where` (required): the predicate, in the language below.
/// - `action`: `"keep"` (the default) keeps matching records and drops the rest; `"drop"`
///   drops matching records and keeps the rest.
///
/// Kept records pass through byte for byte. A record that is not JSON fails with
/// `processingFailed(code: "JsonFilter.InvalidJson", message:)` naming the byte where parsing
/// stopped; it is neither kept nor dropped, whatever the action.
///
/// ## The predicate language
///
/// ```
/// predicate  := or
/// or         := and ("or" and)*
/// and        := unary ("and" unary)*
/// unary      := "not" unary | primary
/// primary    := "(" predicate ")"
///             | "exists" "(" path ")"
///             | "matches" "(" path "," string ")"
///             | operand comparison operand
///             | operand "in" "[" [literal ("," literal)*] "]"
/// comparison := "==" | "!=" | "<" | "<=" | ">" | ">="
/// operand    := path | literal
/// path       := "." [name | bracket] ("." name | bracket)*
/// bracket    := "[" string "]" | "[" integer "]"
/// literal    := string | number | "true" | "false" | "null"
/// ```
///
/// - `not` binds tighter than `and`, which binds tighter than `or`. Keywords are lowercase.
///   White space between tokens is free; none is allowed inside a path.
/// - A path starts at the record's value: `.` is the whole record, `.user.id` a nested member,
///   `.tags[0]` an array element (`[-1]` is the last one), `.headers["content-type"]` or
///   `.["x y"]` a member whose name is not made of letters, digits, `_`, `-`, `$` and `@`.
///   With a repeated member name, the last one counts.
/// - Strings are JSON strings in double quotes, with JSON's escapes (`"a\"b"`, `"\u00e9"`);
///   numbers are JSON numbers (`-12`, `3.5`, `1e3`).
/// - `==` and `!=` compare values of the same type: numbers by exact decimal value (`1.50 ==
///   1.5`, `1e3 == 1000`, without `Double` rounding of 64-bit ids), strings by their decoded
///   characters, `null`, booleans, arrays and objects by content. Values of different types are
///   not equal (`"1" == 1` is false).
/// - `<`, `<=`, `>`, `>=` order two numbers numerically or two strings lexicographically (by
///   Unicode code point); for any other pair they are false.
/// - A missing path is absent: every comparison with it is false, except `!=`, which is always
///   the negation of `==` (so `.level != "debug"` keeps records without a level). Absent is
///   not `null`: `.x == null` matches only a present `null`. Test presence with `exists(.x)`.
/// - `x in [a, b]` is `x == a or x == b`; `in []` is false.
/// - `matches(.path, "regex")` is true when the value is a string and the regular expression
///   (`NSRegularExpression`, ICU syntax) matches part of it; anchor with `^` and `$` to match
///   all of it. The expression is compiled once, when the pipeline is loaded.
///
/// The predicate is parsed when the pipeline is loaded; a mistake is a
/// `ProcessorConfigurationError` naming the column and what was expected; for `.status ==`:
/// `where, column 11: expected a value (a path such as .status, or a literal: a string, a
/// number, true, false or null) after "==", found the end of the expression`.
///
/// Examples: `.level == "error"`, `.status >= 500 and .path != "/health"`,
/// `.region in ["eu-west-1", "eu-central-1"]`, `exists(.user.id) and not matches(.agent, "(?i)bot")`.
package struct JSONFilterProcessor: RecordProcessor {
    package static let failureCode = "JsonFilter.InvalidJson"

    /// What happens to records the predicate matches.
    package enum Action: String, Sendable {
        /// Keep matching records, drop the others.
        case keep
        /// Drop matching records, keep the others.
        case drop
    }

    package static let processorType = ProcessorType(
        name: "jsonFilter",
        summary: "Keeps the JSON records matching a predicate such as .status >= 500 and drops the others "
            + "(action=drop inverts it).",
        parameters: ["where", "action"],
        make: { (parameters) throws(ProcessorConfigurationError) -> any RecordProcessor in
            guard let expression = parameters["where"] else {
                throw ProcessorConfigurationError(
                    parameter: "where",
                    "where is required: a predicate such as .status == \"ok\" or .level in [\"warn\", \"error\"]")
            }
            var action = Action.keep
            if let value = parameters["action"] {
                guard let parsed = Action(rawValue: value) else {
                    throw ProcessorConfigurationError(
                        parameter: "action",
                        "action must be \"keep\" (keep matching records) or \"drop\" (drop matching records); "
                            + "got \"\(value)\"")
                }
                action = parsed
            }
            return try JSONFilterProcessor(where: expression, action: action)
        })

    private let predicate: Predicate
    /// The top-level members the predicate looks at (nil: it looks at the whole record).
    private let topLevelNames: [[UInt8]]?
    /// For a predicate that compares one top-level member with a string (`.a == "x"`,
    /// `.a != "x"`): the comparison made on the member's bytes, without parsing the member.
    private let stringComparison: StringComparison?
    package let action: Action
    /// The predicate as written.
    package let expression: String

    /// Parses `expression` once; records are then only evaluated.
    ///
    /// - Throws: `ProcessorConfigurationError` for parameter `where`, naming the column and what
    ///   was expected there.
    /// - Parameter topLevelFastPath: false parses every record whole (tests compare both paths).
    package init(where expression: String, action: Action = .keep, topLevelFastPath: Bool = true) throws(ProcessorConfigurationError) {
        var parser = Parser(Array(expression.utf8))
        self.predicate = try parser.parse()
        self.action = action
        self.expression = expression
        self.topLevelNames = topLevelFastPath ? predicate.topLevelNames() : nil
        self.stringComparison = topLevelFastPath ? StringComparison(predicate) : nil
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
            if topLevelNames != nil {
                return verdict(data, skim: try JSONParser.skim(data, maximumDepth: JSONDocument.maximumDepth))
            } else {
                value = try JSONDocument.parse(data)
            }
        } catch {
            return .processingFailed(
                code: Self.failureCode, message: "record is not valid JSON: \(JSONDocument.describe(error))")
        }
        return predicate.evaluate(value) == (action == .keep) ? .ok(data: data, partitionKeys: [:]) : .dropped
    }

    /// The record checked whole (as `JSONDocument.parse` does, same errors) but parsed only in
    /// the top-level members the predicate names; every other member is left out. Paths that
    /// start at such a member find the same values as in the whole record, and on a record that
    /// is not an object every such path is absent, as with `null`.
    static func pruned(_ data: [UInt8], keeping names: [[UInt8]]) throws(JSONParser.SyntaxError) -> JSONValue {
        try pruned(data, skim: JSONParser.skim(data, maximumDepth: JSONDocument.maximumDepth), keeping: names)
    }

    /// `pruned` for a record whose skim is known.
    static func pruned(_ data: [UInt8], skim: JSONSkim, keeping names: [[UInt8]]) throws(JSONParser.SyntaxError) -> JSONValue {
        guard case .object(let spans) = skim else { return .null }
        var members: [(name: JSONText, value: JSONValue)] = []
        try data.withUnsafeBufferPointer { (buffer) throws(JSONParser.SyntaxError) in
            for span in spans where names.contains(where: { JSONDocument.name(at: span, of: data, buffer, is: $0) }) {
                let value = try JSONParser.parse(data, range: span.valueStart..<span.valueEnd, maximumDepth: JSONDocument.maximumDepth)
                members.append((JSONText(storage: data, start: span.nameStart, end: span.nameEnd, escaped: span.nameEscaped), value))
            }
        }
        return .object(JSONObject(members: members))
    }

    /// Whether `verdict(_:skim:)` applies: the predicate names top-level members only.
    var readsTopLevelOnly: Bool { topLevelNames != nil }

    /// The verdict for a record that `JSONParser.skim` checked (`skim`), for a chain that skims
    /// each record once for this filter and the `jsonProject` after it. Only when
    /// `readsTopLevelOnly`. The same verdicts as `verdict(_:)`.
    func verdict(_ data: [UInt8], skim: JSONSkim) -> ProcessorVerdict {
        guard let names = topLevelNames else { preconditionFailure("jsonFilter: verdict(_:skim:) needs top-level names") }
        if let stringComparison, case .object(let spans) = skim, let matches = stringComparison.evaluate(data, spans) {
            return matches == (action == .keep) ? .ok(data: data, partitionKeys: [:]) : .dropped
        }
        let value: JSONValue
        do {
            value = try Self.pruned(data, skim: skim, keeping: names)
        } catch {
            return invalidJSON(error)
        }
        return predicate.evaluate(value) == (action == .keep) ? .ok(data: data, partitionKeys: [:]) : .dropped
    }

    /// The verdict for a record that is not JSON.
    func invalidJSON(_ error: JSONParser.SyntaxError) -> ProcessorVerdict {
        .processingFailed(code: Self.failureCode, message: "record is not valid JSON: \(JSONDocument.describe(error))")
    }

    /// True when the predicate matches the JSON value `value` (for tests and `sluice validate`).
    package func matches(_ value: JSONValue) -> Bool {
        predicate.evaluate(value)
    }
}

// MARK: - Evaluation

extension JSONFilterProcessor {
    /// `.name == "text"` or `.name != "text"` on a top-level member, evaluated on the record's
    /// bytes: the last member of that name (the one a lookup finds) is compared with the text
    /// when its value is a string without escapes. Anything else (an escaped member name, a
    /// value that is not such a string) answers nil, and the predicate is evaluated as usual.
    struct StringComparison: Sendable {
        let name: [UInt8]
        /// The literal's decoded bytes.
        let text: [UInt8]
        let equal: Bool

        init?(_ predicate: Predicate) {
            guard case .compare(.path(let path), let comparison, .literal(.string(let literal))) = predicate,
                comparison == .equal || comparison == .notEqual, path.components.count == 1,
                case .member(let name) = path.components[0]
            else { return nil }
            self.name = name
            self.text = JSONDocument.decoded(literal)
            self.equal = comparison == .equal
        }

        func evaluate(_ data: [UInt8], _ spans: [JSONMemberSpan]) -> Bool? {
            data.withUnsafeBufferPointer { buffer -> Bool? in
                var found: JSONMemberSpan?
                for span in spans {
                    if span.nameEscaped { return nil }
                    if span.nameEnd - span.nameStart == name.count,
                        name.isEmpty
                            || name.withUnsafeBufferPointer({ memcmp($0.baseAddress!, buffer.baseAddress! + span.nameStart, name.count) == 0 })
                    {
                        found = span
                    }
                }
                // An absent member: `==` is false and `!=` true, as in `Predicate.evaluate`.
                guard let span = found else { return !equal }
                guard buffer[span.valueStart] == UInt8(ascii: "\"") else { return nil }
                let start = span.valueStart + 1
                let end = span.valueEnd - 1
                if memchr(buffer.baseAddress! + start, 0x5C, end - start) != nil { return nil }
                let same = end - start == text.count
                    && (text.isEmpty || text.withUnsafeBufferPointer { memcmp($0.baseAddress!, buffer.baseAddress! + start, text.count) == 0 })
                return equal ? same : !same
            }
        }
    }
}

extension JSONFilterProcessor {
    enum Comparison: String, Sendable {
        case equal = "=="
        case notEqual = "!="
        case less = "<"
        case lessOrEqual = "<="
        case greater = ">"
        case greaterOrEqual = ">="
    }

    enum Operand: Sendable {
        case path(JSONDocument.Path)
        case literal(JSONValue)

        @inline(__always)
        func resolve(_ root: JSONValue) -> JSONValue? {
            switch self {
            case .path(let path): path.lookup(in: root)
            case .literal(let value): value
            }
        }
    }

    indirect enum Predicate: Sendable {
        case and(Predicate, Predicate)
        case or(Predicate, Predicate)
        case not(Predicate)
        case compare(Operand, Comparison, Operand)
        case oneOf(Operand, [JSONValue])
        case exists(JSONDocument.Path)
        case matches(JSONDocument.Path, NSRegularExpression)

        func evaluate(_ root: JSONValue) -> Bool {
            switch self {
            case .and(let left, let right): return left.evaluate(root) && right.evaluate(root)
            case .or(let left, let right): return left.evaluate(root) || right.evaluate(root)
            case .not(let inner): return !inner.evaluate(root)
            case .compare(let left, let comparison, let right):
                guard let lhs = left.resolve(root), let rhs = right.resolve(root) else {
                    return comparison == .notEqual
                }
                let order = JSONDocument.order(lhs, rhs)
                switch comparison {
                case .equal: return order == .equal
                case .notEqual: return order != .equal
                case .less: return order == .less
                case .greater: return order == .greater
                case .lessOrEqual: return order == .less || (order == .equal && Self.isOrdered(lhs))
                case .greaterOrEqual: return order == .greater || (order == .equal && Self.isOrdered(lhs))
                }
            case .oneOf(let operand, let candidates):
                guard let value = operand.resolve(root) else { return false }
                return candidates.contains { JSONDocument.order(value, $0) == .equal }
            case .exists(let path):
                return path.lookup(in: root) != nil
            case .matches(let path, let regex):
                guard case .string(let text)? = path.lookup(in: root) else { return false }
                let string = String(decoding: JSONDocument.decoded(text), as: UTF8.self)
                return regex.firstMatch(in: string, range: NSRange(location: 0, length: string.utf16.count)) != nil
            }
        }

        /// The first member names of every path in the predicate, or nil when a path is the
        /// record itself or starts with an index (then the whole record is parsed).
        func topLevelNames() -> [[UInt8]]? {
            var names: [[UInt8]] = []
            func add(_ path: JSONDocument.Path) -> Bool {
                guard case .member(let name)? = path.components.first else { return false }
                if !names.contains(name) { names.append(name) }
                return true
            }
            func add(_ operand: Operand) -> Bool {
                if case .path(let path) = operand { return add(path) }
                return true
            }
            func walk(_ predicate: Predicate) -> Bool {
                switch predicate {
                case .and(let left, let right), .or(let left, let right): return walk(left) && walk(right)
                case .not(let inner): return walk(inner)
                case .compare(let left, _, let right): return add(left) && add(right)
                case .oneOf(let operand, _): return add(operand)
                case .exists(let path), .matches(let path, _): return add(path)
                }
            }
            return walk(self) ? names : nil
        }

        /// Numbers and strings are ordered; other values only compare for equality.
        private static func isOrdered(_ value: JSONValue) -> Bool {
            switch value {
            case .number, .string: true
            default: false
            }
        }
    }
}

// MARK: - Parsing

extension JSONFilterProcessor {
    /// A recursive-descent parser over the predicate's UTF-8 bytes, one token of lookahead.
    struct Parser {
        enum Kind {
            case path(JSONDocument.Path)
            case literal(JSONValue)
            case keyword(String)
            case comparison(Comparison)
            case open, close, openBracket, closeBracket, comma, end
        }

        struct Token {
            var kind: Kind
            var offset: Int
            var end: Int
        }

        static let keywords: Set<String> = ["and", "or", "not", "in", "exists", "matches"]

        let bytes: [UInt8]
        var index = 0
        var lookahead: Token?
        /// Nesting (parentheses and `not`) and terms so far: both are bounded, so a hostile
        /// expression cannot exhaust the stack when it is parsed or evaluated.
        var depth = 0
        var terms = 0
        static let maximumDepth = 64
        static let maximumTerms = 256

        mutating func enter(_ token: Token) throws(ProcessorConfigurationError) {
            depth += 1
            if depth > Self.maximumDepth {
                throw ProcessorConfigurationError(
                    parameter: "where", "where, column \(column(token.offset)): nested more than \(Self.maximumDepth) levels deep; simplify the expression")
            }
        }

        mutating func countTerm(_ token: Token) throws(ProcessorConfigurationError) {
            terms += 1
            if terms > Self.maximumTerms {
                throw ProcessorConfigurationError(
                    parameter: "where", "where, column \(column(token.offset)): more than \(Self.maximumTerms) terms; split the filter into several jsonFilter processors")
            }
        }

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
        }

        mutating func parse() throws(ProcessorConfigurationError) -> Predicate {
            guard bytes.contains(where: { !JSONDocument.isWhitespace($0) }) else {
                throw ProcessorConfigurationError(
                    parameter: "where", "where is empty; write a predicate such as .status == \"ok\"")
            }
            let predicate = try or()
            let token = try next()
            guard case .end = token.kind else {
                throw expected("and, or, or the end of the expression", token)
            }
            return predicate
        }

        // MARK: Grammar

        private mutating func or() throws(ProcessorConfigurationError) -> Predicate {
            var left = try and()
            while try peekKeyword("or") {
                _ = try next()
                left = .or(left, try and())
            }
            return left
        }

        private mutating func and() throws(ProcessorConfigurationError) -> Predicate {
            var left = try unary()
            while try peekKeyword("and") {
                _ = try next()
                left = .and(left, try unary())
            }
            return left
        }

        private mutating func unary() throws(ProcessorConfigurationError) -> Predicate {
            if try peekKeyword("not") {
                let token = try next()
                try enter(token)
                defer { depth -= 1 }
                return .not(try unary())
            }
            return try primary()
        }

        private mutating func primary() throws(ProcessorConfigurationError) -> Predicate {
            let token = try next()
            try countTerm(token)
            switch token.kind {
            case .open:
                try enter(token)
                defer { depth -= 1 }
                let inner = try or()
                let close = try next()
                guard case .close = close.kind else {
                    throw expected(
                        "and, or, or \")\" to close the \"(\" at column \(column(token.offset))", close)
                }
                return inner
            case .keyword("exists"):
                try expect(.open, "\"(\" after exists")
                let path = try pathArgument(of: "exists")
                try expect(.close, "\")\" to close exists(")
                return .exists(path)
            case .keyword("matches"):
                try expect(.open, "\"(\" after matches")
                let path = try pathArgument(of: "matches")
                try expect(.comma, "\",\" and a regular expression string after the path in matches(")
                let patternToken = try next()
                guard case .literal(.string(let patternText)) = patternToken.kind else {
                    throw expected("a regular expression as a string, such as \"^error\"", patternToken)
                }
                let pattern = String(decoding: JSONDocument.decoded(patternText), as: UTF8.self)
                let regex: NSRegularExpression
                do {
                    regex = try NSRegularExpression(pattern: pattern)
                } catch {
                    throw failure(
                        patternToken.offset,
                        "invalid regular expression \(text(patternToken)) (matches takes NSRegularExpression's ICU syntax)"
                    )
                }
                try expect(.close, "\")\" to close matches(")
                return .matches(path, regex)
            case .path, .literal:
                let left = try operand(token)
                return try comparison(after: left, token)
            default:
                throw expected(
                    "a condition (a comparison such as .status == \"ok\", exists(.path), matches(.path, \"regex\"), "
                        + "not, or \"(\")", token)
            }
        }

        /// What follows an operand: a comparison and a second operand, or `in [...]`.
        private mutating func comparison(after left: Operand, _ leftToken: Token) throws(ProcessorConfigurationError)
            -> Predicate
        {
            let token = try next()
            switch token.kind {
            case .comparison(let comparison):
                let right = try next()
                switch right.kind {
                case .path, .literal: return .compare(left, comparison, try operand(right))
                default:
                    throw expected(
                        "a value (a path such as .status, or a literal: a string, a number, true, false or null) after "
                            + "\"\(comparison.rawValue)\"", right)
                }
            case .keyword("in"):
                try expect(.openBracket, "\"[\" and a list of literals after in, such as in [\"a\", \"b\"]")
                var candidates: [JSONValue] = []
                var item = try next()
                if case .closeBracket = item.kind { return .oneOf(left, candidates) }
                while true {
                    guard case .literal(let value) = item.kind else {
                        throw expected("a literal (a string, a number, true, false or null) in the list after in", item)
                    }
                    candidates.append(value)
                    let separator = try next()
                    if case .closeBracket = separator.kind { return .oneOf(left, candidates) }
                    guard case .comma = separator.kind else {
                        throw expected("\",\" or \"]\" in the list after in", separator)
                    }
                    item = try next()
                }
            default:
                var hint = ""
                if case .path(let path) = leftToken.kind {
                    hint = "; to test presence write exists(\(path.text)), to test a boolean \(path.text) == true"
                }
                throw expected(
                    "a comparison (==, !=, <, <=, >, >=) or in after \(describe(leftToken))", token, hint: hint)
            }
        }

        private mutating func operand(_ token: Token) throws(ProcessorConfigurationError) -> Operand {
            switch token.kind {
            case .path(let path): return .path(path)
            case .literal(let value): return .literal(value)
            default: throw expected("a path or a literal", token)
            }
        }

        private mutating func pathArgument(of function: String) throws(ProcessorConfigurationError) -> JSONDocument.Path
        {
            let token = try next()
            guard case .path(let path) = token.kind else {
                throw expected("a path such as .user.id in \(function)(", token)
            }
            return path
        }

        private mutating func expect(_ kind: Kind, _ description: String) throws(ProcessorConfigurationError) {
            let token = try next()
            switch (kind, token.kind) {
            case (.open, .open), (.close, .close), (.openBracket, .openBracket), (.comma, .comma): return
            default: throw expected(description, token)
            }
        }

        private mutating func peekKeyword(_ word: String) throws(ProcessorConfigurationError) -> Bool {
            let token = try peek()
            if case .keyword(let found) = token.kind { return found == word }
            return false
        }

        // MARK: Messages

        private func column(_ offset: Int) -> Int {
            JSONDocument.column(of: offset, in: bytes)
        }

        private func failure(_ offset: Int, _ message: String) -> ProcessorConfigurationError {
            ProcessorConfigurationError(parameter: "where", "where, column \(column(offset)): \(message)")
        }

        private func expected(_ what: String, _ token: Token, hint: String = "") -> ProcessorConfigurationError {
            failure(token.offset, "expected \(what), found \(describe(token))\(hint)")
        }

        /// The token as written.
        private func text(_ token: Token) -> String {
            String(decoding: bytes[token.offset..<token.end], as: UTF8.self)
        }

        private func describe(_ token: Token) -> String {
            switch token.kind {
            case .end: "the end of the expression"
            case .path: "the path " + text(token)
            case .literal(.string): "the string " + text(token)
            case .literal(.number): "the number " + text(token)
            default: "\"" + text(token) + "\""
            }
        }

        // MARK: Tokens

        private mutating func peek() throws(ProcessorConfigurationError) -> Token {
            if let lookahead { return lookahead }
            let token = try scan()
            lookahead = token
            return token
        }

        private mutating func next() throws(ProcessorConfigurationError) -> Token {
            let token = try peek()
            lookahead = nil
            return token
        }

        private mutating func scan() throws(ProcessorConfigurationError) -> Token {
            while index < bytes.count, JSONDocument.isWhitespace(bytes[index]) { index += 1 }
            let start = index
            guard index < bytes.count else { return Token(kind: .end, offset: start, end: start) }
            let byte = bytes[index]
            func single(_ kind: Kind) -> Token {
                index += 1
                return Token(kind: kind, offset: start, end: index)
            }
            switch byte {
            case UInt8(ascii: "("): return single(.open)
            case UInt8(ascii: ")"): return single(.close)
            case UInt8(ascii: "["): return single(.openBracket)
            case UInt8(ascii: "]"): return single(.closeBracket)
            case UInt8(ascii: ","): return single(.comma)
            case UInt8(ascii: "."):
                do {
                    let path = try JSONDocument.parsePath(bytes, at: &index, leadingDot: true)
                    return Token(kind: .path(path), offset: start, end: index)
                } catch {
                    throw failure(error.offset, error.message)
                }
            case UInt8(ascii: "\""), UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                do {
                    let value = try JSONDocument.literal(bytes, at: &index)
                    return Token(kind: .literal(value), offset: start, end: index)
                } catch {
                    throw failure(error.offset, error.message)
                }
            case UInt8(ascii: "="), UInt8(ascii: "!"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "~"),
                UInt8(ascii: "&"), UInt8(ascii: "|"):
                while index < bytes.count, "=!<>~&|".utf8.contains(bytes[index]) { index += 1 }
                let text = String(decoding: bytes[start..<index], as: UTF8.self)
                if let comparison = Comparison(rawValue: text) {
                    return Token(kind: .comparison(comparison), offset: start, end: index)
                }
                let advice =
                    switch text {
                    case "=": "use == to compare"
                    case "&&", "&": "write and"
                    case "||", "|": "write or"
                    case "!": "write not"
                    case "<>": "write !="
                    case "=~", "~", "!~": "write matches(.path, \"regex\")"
                    default: "comparisons are ==, !=, <, <=, >, >="
                    }
                throw failure(start, "unknown operator \"\(text)\"; \(advice)")
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"):
                while index < bytes.count, JSONDocument.isNameByte(bytes[index]) { index += 1 }
                let word = String(decoding: bytes[start..<index], as: UTF8.self)
                switch word {
                case "true": return Token(kind: .literal(.bool(true)), offset: start, end: index)
                case "false": return Token(kind: .literal(.bool(false)), offset: start, end: index)
                case "null": return Token(kind: .literal(.null), offset: start, end: index)
                case _ where Self.keywords.contains(word): return Token(kind: .keyword(word), offset: start, end: index)
                case _
                where Self.keywords.contains(word.lowercased())
                    || ["true", "false", "null"].contains(word.lowercased()):
                    throw failure(start, "unknown word \"\(word)\"; keywords are lowercase: \(word.lowercased())")
                default:
                    throw failure(
                        start,
                        "unknown word \"\(word)\"; paths start with a dot (.\(word)) and strings are quoted (\"\(word)\")"
                    )
                }
            case UInt8(ascii: "'"):
                throw failure(start, "unexpected character \"'\"; strings use double quotes: \"text\"")
            default:
                let character = String(decoding: bytes[start...], as: UTF8.self).first.map(String.init) ?? "?"
                throw failure(start, "unexpected character \"\(character)\"")
            }
        }
    }
}
