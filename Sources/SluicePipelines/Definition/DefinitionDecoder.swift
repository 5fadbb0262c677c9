import SluiceSupport

/// Decodes one pipeline file into a `PipelineDefinition`, collecting every problem with its
/// line and column instead of stopping at the first.
///
/// Positions: a string value points at its opening quote, a number at its first character, and
/// any other value (object, array, boolean, null) at its member name. A missing key points at
/// the object that should hold it (its member name, or the document's `{`).
struct DefinitionDecoder {
    let file: String
    let locator: SourceLocator
    /// Problems found so far, each with the byte offset it points at (for sorting).
    private(set) var problems: [(offset: Int, error: PipelineFileError)] = []

    init(bytes: [UInt8], file: String) {
        self.file = file
        locator = SourceLocator(bytes)
    }

    /// The problems in file order.
    var errors: [PipelineFileError] {
        problems.enumerated().sorted { ($0.element.offset, $0.offset) < ($1.element.offset, $1.offset) }.map(\.element.error)
    }

    // MARK: - Reporting

    mutating func report(_ offset: Int, _ pointer: String, _ message: String) {
        let position = locator.position(of: offset)
        problems.append(
            (offset, PipelineFileError(file: file, line: position.line, column: position.column, pointer: pointer, message: message)))
    }

    /// `parent/key` with `~` and `/` escaped (RFC 6901).
    static func pointer(_ parent: String, _ key: String) -> String {
        var escaped = ""
        for character in key {
            switch character {
            case "~": escaped += "~0"
            case "/": escaped += "~1"
            default: escaped.append(character)
            }
        }
        return parent + "/" + escaped
    }

    // MARK: - Members

    /// A member of an object, with where it is.
    struct Member {
        var pointer: String
        var name: String
        var value: JSONValue
        /// The offset of the member name's opening quote.
        var nameOffset: Int

        /// Where the value is: a string's opening quote, a number's first character, otherwise
        /// the member name.
        var valueOffset: Int {
            switch value {
            case .string(let text): text.start - 1
            case .number(let text): text.start
            default: nameOffset
            }
        }
    }

    /// The members of `object` by name. Reports unknown keys (with a suggestion) and keys that
    /// appear twice (the last one counts).
    mutating func members(of object: JSONObject, at pointer: String, allowed: [String]) -> [String: Member] {
        var found: [String: Member] = [:]
        for (nameText, value) in object.members {
            let name = nameText.string ?? String(decoding: nameText.unescaped(), as: UTF8.self)
            let member = Member(pointer: Self.pointer(pointer, name), name: name, value: value, nameOffset: nameText.start - 1)
            guard allowed.contains(name) else {
                let hint = Suggestions.didYouMean(name, among: allowed, aliases: PipelineKeys.aliases)
                let owner = pointer.isEmpty ? "the top level" : pointer
                report(
                    member.nameOffset, member.pointer,
                    "\(member.pointer) is not a known key\(hint); keys of \(owner): \(allowed.joined(separator: ", "))")
                continue
            }
            if found[name] != nil {
                report(member.nameOffset, member.pointer, "\(member.pointer) appears twice; keep one")
            }
            found[name] = member
        }
        return found
    }

    // MARK: - Typed values

    private mutating func wrongType(_ member: Member, _ expected: String) {
        let got: String
        switch member.value {
        case .number(let text) where expected == "an integer": got = text.string ?? "a number"
        default: got = member.value.kindDescription
        }
        report(member.valueOffset, member.pointer, "\(member.pointer) must be \(expected); got \(got)")
    }

    mutating func string(_ member: Member) -> String? {
        guard case .string(let text) = member.value else {
            wrongType(member, "a string")
            return nil
        }
        guard let value = text.string else {
            report(member.valueOffset, member.pointer, "\(member.pointer) is not valid UTF-8 text")
            return nil
        }
        return value
    }

    mutating func integer(_ member: Member, in range: ClosedRange<Int>) -> Int? {
        guard case .number(let text) = member.value, let literal = text.string else {
            wrongType(member, "an integer")
            return nil
        }
        let digits = literal.hasPrefix("-") ? literal.dropFirst() : Substring(literal)
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            wrongType(member, "an integer")
            return nil
        }
        guard let value = Int(literal), range.contains(value) else {
            report(
                member.valueOffset, member.pointer, "\(member.pointer) is \(literal); allowed \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return value
    }

    mutating func bool(_ member: Member) -> Bool? {
        guard case .bool(let value) = member.value else {
            wrongType(member, "true or false")
            return nil
        }
        return value
    }

    mutating func objectValue(_ member: Member) -> JSONObject? {
        guard case .object(let value) = member.value else {
            wrongType(member, "an object")
            return nil
        }
        return value
    }

    mutating func arrayValue(_ member: Member) -> [JSONValue]? {
        guard case .array(let value) = member.value else {
            wrongType(member, "an array")
            return nil
        }
        return value
    }

    /// One of `options` (exact spelling); reports the allowed values otherwise.
    mutating func choice<T>(_ member: Member, _ options: [(String, T)], aliases: [String: String] = [:]) -> T? {
        guard let value = string(member) else { return nil }
        if let match = options.first(where: { $0.0 == value }) { return match.1 }
        let names = options.map(\.0)
        let hint = Suggestions.didYouMean(value, among: names, aliases: aliases)
        report(
            member.valueOffset, member.pointer,
            "\(member.pointer) is \"\(value)\"; allowed \(Suggestions.list(names.map { "\"\($0)\"" }))\(hint)")
        return nil
    }

    /// Reports a required key that is missing from the object at `pointer`.
    mutating func missing(_ key: String, in pointer: String, at offset: Int, _ explanation: String) {
        let path = Self.pointer(pointer, key)
        report(offset, path, "\(path) is required: \(explanation)")
    }
}
