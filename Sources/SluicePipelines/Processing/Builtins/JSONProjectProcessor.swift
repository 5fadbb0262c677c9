import SluiceSupport

/// `jsonProject`: reshapes JSON object records: keeps, drops and renames members and adds
/// constants or record metadata.
///
/// Parameters (all optional, at least one required; lists are comma-separated, and a comma
/// inside a quoted string or brackets does not split):
/// - `keep`: paths to keep, such as `id,user.name`; every other member is removed. A nested
///   path keeps its parents with only the listed members; a path missing from a record is
///   skipped, and a parent none of whose kept paths exist is left out.
/// - `drop`: paths to remove, such as `password,user.ssn`. Missing paths are skipped.
/// - `rename`: `old:new` pairs, such as `user_id:userId,geo.lat:latitude`. A member renamed
///   within its object keeps its position; one moved to another object goes to the end of it
///   (replacing a member of that name, in place, if there is one). A missing `old` is skipped.
/// - `add`: `name=value` pairs. The value is a JSON literal (`1.50`, `true`, `null`,
///   `"text"`, `["a","b"]`, `{"k":1}`), a bare string (`env=prod`), or record metadata:
///   `$arrivalTimestamp` (epoch milliseconds, a number), `$arrivalTime` (ISO 8601 UTC string,
///   `2026-11-21T22:53:36.123Z`), `$stream`, `$shardId`, `$sequenceNumber`, `$partitionKey`
///   (strings). A bare value starting with `"`, `[` or `{` must be valid JSON; quote a string
///   that starts with `$`. An existing member of that name is replaced in place; otherwise the
///   member is added at the end.
/// - `delimiter`: bytes appended after the output, with `appendDelimiter`'s escapes (`\n`).
///
/// Paths are member names joined by dots, the leading dot optional: `user.name`, `.user.name`,
/// `user["first name"]` (bare names take letters, digits, `_`, `-`, `$` and `@`). Array
/// indices are not allowed.
///
/// The operations run in the order keep, drop, rename, add, each list in the order written.
/// The output is compact JSON with the members in input order and added members at the end.
/// Members not touched keep their text (numbers such as `1.50` and `1e3`, strings with their
/// escapes). Without `delimiter`, the output ends with the newline the input ended with (`\n`
/// or `\r\n`), if any, so newline-delimited records stay newline-delimited; with `delimiter`,
/// the delimiter replaces it, so a record never ends with two newlines.
///
/// Failures: `JsonProject.InvalidJson` for a record that is not JSON,
/// `JsonProject.NotAnObject` for JSON that is not an object, and `JsonProject.PathConflict`
/// when `rename` or `add` must go through a member that is not an object (`add=meta.ts=…` on
/// a record whose `meta` is a string).
package struct JSONProjectProcessor: RecordProcessor {
    package static let invalidJSONCode = "JsonProject.InvalidJson"
    package static let notAnObjectCode = "JsonProject.NotAnObject"
    package static let pathConflictCode = "JsonProject.PathConflict"

    package static let parameterNames = ["keep", "drop", "rename", "add", "delimiter"]

    package static let processorType = ProcessorType(
        name: "jsonProject",
        summary: "Reshapes JSON object records: keeps, drops and renames members and adds constants or record "
            + "metadata such as $arrivalTime.",
        parameters: parameterNames,
        make: { (parameters) throws(ProcessorConfigurationError) -> any RecordProcessor in
            try JSONProjectProcessor(parameters: parameters)
        })

    /// Record metadata `add` can write.
    package enum Metadata: String, Sendable, CaseIterable {
        case arrivalTimestamp = "$arrivalTimestamp"
        case arrivalTime = "$arrivalTime"
        case stream = "$stream"
        case shardId = "$shardId"
        case sequenceNumber = "$sequenceNumber"
        case partitionKey = "$partitionKey"
    }

    enum Value: Sendable {
        case json(JSONValue)
        case metadata(Metadata)
    }

    private let keep: KeepTree?
    private let drops: [JSONDocument.Path]
    private let renames: [(from: JSONDocument.Path, to: JSONDocument.Path)]
    private let additions: [(path: JSONDocument.Path, value: Value)]
    private let delimiter: [UInt8]?
    /// The edits, when they all name top-level members: then records are edited as spans of
    /// their own bytes (`JSONParser.skim`) instead of as parsed trees, with the same output.
    private let topLevel: TopLevelEdits?

    struct TopLevelEdits: Sendable {
        var drops: [[UInt8]]
        var renames: [(from: [UInt8], to: [UInt8])]
        var additions: [(name: [UInt8], value: Value)]
    }

    /// Parses the parameters once; records are then only edited.
    ///
    /// - Throws: `ProcessorConfigurationError` naming the parameter and the column of the mistake.
    /// - Parameter topLevelFastPath: false edits every record as a parsed tree (tests compare both
    ///   paths).
    package init(parameters: [String: String], topLevelFastPath: Bool = true) throws(ProcessorConfigurationError) {
        guard Self.parameterNames.contains(where: { parameters[$0] != nil }) else {
            throw ProcessorConfigurationError(
                parameter: nil,
                "jsonProject needs at least one of keep, drop, rename, add or delimiter, such as "
                    + "\"keep\": \"id,user.name\"")
        }
        var keep: KeepTree?
        if let text = parameters["keep"] {
            var tree = KeepTree()
            for item in try ListItem.split(text, parameter: "keep") {
                let (path, _) = try item.path(then: nil)
                tree.insert(path.memberNames ?? [])
            }
            keep = tree
        }
        var drops: [JSONDocument.Path] = []
        if let text = parameters["drop"] {
            for item in try ListItem.split(text, parameter: "drop") {
                drops.append(try item.path(then: nil).path)
            }
        }
        var renames: [(from: JSONDocument.Path, to: JSONDocument.Path)] = []
        if let text = parameters["rename"] {
            for item in try ListItem.split(text, parameter: "rename") {
                let (from, rest) = try item.path(then: UInt8(ascii: ":"))
                let to = try item.path(from: rest, then: nil).path
                renames.append((from, to))
            }
        }
        var additions: [(path: JSONDocument.Path, value: Value)] = []
        if let text = parameters["add"] {
            for item in try ListItem.split(text, parameter: "add") {
                let (path, rest) = try item.path(then: UInt8(ascii: "="))
                additions.append((path, try item.value(from: rest)))
            }
        }
        self.keep = keep
        self.drops = drops
        self.renames = renames
        self.additions = additions
        // Edits of top-level members only (the usual case) run on the record's bytes.
        func single(_ path: JSONDocument.Path) -> [UInt8]? {
            guard let names = path.memberNames, names.count == 1 else { return nil }
            return names[0]
        }
        let topDrops = drops.compactMap(single)
        let topRenames = renames.compactMap { rename in single(rename.from).flatMap { from in single(rename.to).map { (from, $0) } } }
        let topAdditions = additions.compactMap { addition in single(addition.path).map { ($0, addition.value) } }
        if topLevelFastPath, keep == nil, topDrops.count == drops.count, topRenames.count == renames.count, topAdditions.count == additions.count {
            topLevel = TopLevelEdits(drops: topDrops, renames: topRenames, additions: topAdditions)
        } else {
            topLevel = nil
        }
        self.delimiter = try parameters["delimiter"].map { (text) throws(ProcessorConfigurationError) in
            try AppendDelimiterProcessor.delimiter(parameter: "delimiter", text)
        }
    }

    /// One output per record: it never splits.
    package var maySplit: Bool { false }

    /// Each verdict depends on its record alone.
    package var isPure: Bool { true }

    package func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        batch.map { ProcessorResult(recordID: $0.recordID, verdict: verdict($0)) }
    }

    /// The verdict for one record.
    package func verdict(_ record: ProcessorRecord) -> ProcessorVerdict {
        if let topLevel { return verdict(record, topLevel) }
        let parsed: JSONValue
        do {
            parsed = try JSONDocument.parse(record.data)
        } catch {
            return .processingFailed(
                code: Self.invalidJSONCode, message: "record is not valid JSON: \(JSONDocument.describe(error))")
        }
        guard case .object(let object) = parsed else {
            return .processingFailed(
                code: Self.notAnObjectCode,
                message: "record is \(parsed.kindDescription), not a JSON object; jsonProject edits objects "
                    + "(put jsonFilter or jsonParse before it to route other records)")
        }
        var root: Node = keep.map { .object(Node.kept(object, $0)) } ?? .value(parsed)
        for path in drops {
            _ = root.remove(path.memberNames ?? [])
        }
        for (from, to) in renames {
            let old = from.memberNames ?? []
            let new = to.memberNames ?? []
            if old.dropLast() == new.dropLast() {
                root.rename(parent: old.dropLast(), from: old[old.count - 1], to: new[new.count - 1])
            } else if let moved = root.remove(old) {
                do {
                    try root.set(new[...], moved, depth: 0)
                } catch {
                    return conflict("cannot rename \(from) to \(to)", to, error)
                }
            }
        }
        for (path, value) in additions {
            let node: Node
            switch value {
            case .json(let json): node = .value(json)
            case .metadata(let name): node = .text(Self.metadata(name, of: record))
            }
            do {
                try root.set((path.memberNames ?? [])[...], node, depth: 0)
            } catch {
                return conflict("cannot add \(path)", path, error)
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(record.data.count + 64)
        root.write(into: &out)
        appendEnding(of: record.data, suffix: [], into: &out)
        return .ok(data: out, partitionKeys: [:])
    }

    /// `verdict` for top-level edits: the same steps as the tree edit (drops, renames,
    /// additions, in that order, with the same rules for repeated names) on a list of members
    /// that point into the record, then the same compact output.
    private func verdict(_ record: ProcessorRecord, _ edits: TopLevelEdits) -> ProcessorVerdict {
        let skim: JSONSkim
        do {
            skim = try JSONParser.skim(record.data, maximumDepth: JSONDocument.maximumDepth)
        } catch {
            return .processingFailed(
                code: Self.invalidJSONCode, message: "record is not valid JSON: \(JSONDocument.describe(error))")
        }
        return verdict(record, edits, skim: skim, suffix: [])
    }

    /// Whether `verdict(_:skim:suffix:)` applies: every edit names a top-level member.
    var editsTopLevelOnly: Bool { topLevel != nil }

    /// The verdict for a record whose skim is already known (a chain that skimmed it for
    /// `jsonFilter`), with `suffix` appended to the output (a following `appendDelimiter`), so
    /// the output is built once. Only when `editsTopLevelOnly`.
    func verdict(_ record: ProcessorRecord, skim: JSONSkim, suffix: [UInt8]) -> ProcessorVerdict {
        guard let topLevel else { preconditionFailure("jsonProject: verdict(_:skim:suffix:) needs top-level edits") }
        return verdict(record, topLevel, skim: skim, suffix: suffix)
    }

    private func verdict(_ record: ProcessorRecord, _ edits: TopLevelEdits, skim: JSONSkim, suffix: [UInt8]) -> ProcessorVerdict {
        let data = record.data
        guard case .object(let spans) = skim else {
            guard case .other(let kind) = skim else { return .dropped }  // unreachable
            return .processingFailed(
                code: Self.notAnObjectCode,
                message: "record is \(kind), not a JSON object; jsonProject edits objects "
                    + "(put jsonFilter or jsonParse before it to route other records)")
        }
        if edits.renames.allSatisfy({ $0.from == $0.to }) {
            return .ok(data: withoutRenames(record, edits, spans: spans, suffix: suffix), partitionKeys: [:])
        }
        enum Name { case source(Int), new([UInt8]) }
        enum Content { case source(Int), value(Value) }
        struct Member {
            var name: Name
            var content: Content
        }
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 64 + suffix.count)
        data.withUnsafeBufferPointer { buffer in
            var members = spans.indices.map { Member(name: .source($0), content: .source($0)) }
            func matches(_ member: Member, _ name: [UInt8]) -> Bool {
                switch member.name {
                case .source(let index): JSONDocument.name(at: spans[index], of: data, buffer, is: name)
                case .new(let bytes): bytes == name
                }
            }
            for name in edits.drops {
                members.removeAll { matches($0, name) }
            }
            for (old, new) in edits.renames where old != new {
                guard members.contains(where: { matches($0, old) }) else { continue }
                members.removeAll { matches($0, new) }
                for index in members.indices where matches(members[index], old) { members[index].name = .new(new) }
            }
            for (name, value) in edits.additions {
                let matching = members.indices.filter { matches(members[$0], name) }
                if let last = matching.last {
                    members[last].content = .value(value)
                    for index in matching.dropLast().reversed() { members.remove(at: index) }
                } else {
                    members.append(Member(name: .new(name), content: .value(value)))
                }
            }
            out.append(UInt8(ascii: "{"))
            for (position, member) in members.enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                switch member.name {
                case .source(let index):
                    out.append(UInt8(ascii: "\""))
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[spans[index].nameStart..<spans[index].nameEnd]))
                    out.append(UInt8(ascii: "\""))
                case .new(let name): JSONDocument.writeString(name, into: &out)
                }
                out.append(UInt8(ascii: ":"))
                switch member.content {
                case .source(let index): Self.appendValue(of: spans[index], buffer, into: &out)
                case .value(let value): append(value, of: record, into: &out)
                }
            }
            out.append(UInt8(ascii: "}"))
        }
        appendEnding(of: data, suffix: suffix, into: &out)
        return .ok(data: out, partitionKeys: [:])
    }

    /// The output for top-level drops and additions without renames (the common case): the same
    /// steps and result as the member list above, kept as a mark per member of the record (kept,
    /// dropped, or given the value of addition `k`) and a list of added members, in temporary
    /// storage, so a record costs no allocation but its output.
    private func withoutRenames(_ record: ProcessorRecord, _ edits: TopLevelEdits, spans: [JSONMemberSpan], suffix: [UInt8]) -> [UInt8] {
        let data = record.data
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 64 + suffix.count)
        let kept = -1
        let dropped = -2
        data.withUnsafeBufferPointer { buffer in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: max(1, spans.count)) { marks in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: max(1, edits.additions.count)) { added in
                    // marks[i]: kept, dropped, or the index of the addition whose value it takes.
                    // added[0..<addedCount]: additions appended as new members, in order.
                    for index in spans.indices { marks[index] = kept }
                    var addedCount = 0
                    func matches(_ index: Int, _ name: [UInt8]) -> Bool {
                        marks[index] != dropped && JSONDocument.name(at: spans[index], of: data, buffer, is: name)
                    }
                    for name in edits.drops {
                        for index in spans.indices where matches(index, name) { marks[index] = dropped }
                    }
                    for (addition, (name, _)) in edits.additions.enumerated() {
                        // Members in order are the record's (not dropped), then the added ones:
                        // the last of that name takes the value, the others go.
                        var lastAdded = -1
                        for position in 0..<addedCount where edits.additions[added[position]].name == name { lastAdded = position }
                        if lastAdded >= 0 {
                            added[lastAdded] = addition
                            var write = 0
                            for position in 0..<addedCount where position == lastAdded || edits.additions[added[position]].name != name {
                                added[write] = added[position]
                                write += 1
                            }
                            addedCount = write
                            for index in spans.indices where matches(index, name) { marks[index] = dropped }
                            continue
                        }
                        var lastSpan = -1
                        for index in spans.indices where matches(index, name) { lastSpan = index }
                        if lastSpan >= 0 {
                            for index in spans.indices where index != lastSpan && matches(index, name) { marks[index] = dropped }
                            marks[lastSpan] = addition
                        } else {
                            added[addedCount] = addition
                            addedCount += 1
                        }
                    }
                    out.append(UInt8(ascii: "{"))
                    var first = true
                    for index in spans.indices where marks[index] != dropped {
                        if !first { out.append(UInt8(ascii: ",")) }
                        first = false
                        let span = spans[index]
                        out.append(UInt8(ascii: "\""))
                        out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[span.nameStart..<span.nameEnd]))
                        out.append(UInt8(ascii: "\""))
                        out.append(UInt8(ascii: ":"))
                        if marks[index] >= 0 {
                            append(edits.additions[marks[index]].value, of: record, into: &out)
                        } else {
                            Self.appendValue(of: span, buffer, into: &out)
                        }
                    }
                    for position in 0..<addedCount {
                        if !first { out.append(UInt8(ascii: ",")) }
                        first = false
                        let addition = edits.additions[added[position]]
                        JSONDocument.writeString(addition.name, into: &out)
                        out.append(UInt8(ascii: ":"))
                        append(addition.value, of: record, into: &out)
                    }
                    out.append(UInt8(ascii: "}"))
                }
            }
        }
        appendEnding(of: data, suffix: suffix, into: &out)
        return out
    }

    /// A member's value from the record, compact: copied whole when the skim found no white
    /// space in it.
    private static func appendValue(of span: JSONMemberSpan, _ buffer: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        if span.valueIsCompact {
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[span.valueStart..<span.valueEnd]))
        } else {
            JSONDocument.writeCompact(buffer, span.valueStart..<span.valueEnd, into: &out)
        }
    }

    /// What follows the object: `delimiter`, or else the newline the record ended with; then
    /// `suffix` (a fused `appendDelimiter`'s).
    private func appendEnding(of data: [UInt8], suffix: [UInt8], into out: inout [UInt8]) {
        if let delimiter {
            out.append(contentsOf: delimiter)
        } else {
            out.append(contentsOf: JSONDocument.trailingNewline(of: data))
        }
        out.append(contentsOf: suffix)
    }

    private func append(_ value: Value, of record: ProcessorRecord, into out: inout [UInt8]) {
        switch value {
        case .json(let json): JSONDocument.write(json, into: &out)
        case .metadata(let name): Self.appendMetadata(name, of: record, into: &out)
        }
    }

    private func conflict(_ what: String, _ path: JSONDocument.Path, _ error: Node.Conflict) -> ProcessorVerdict {
        let names = path.memberNames ?? []
        let parent = Self.display(names[..<error.depth])
        return .processingFailed(
            code: Self.pathConflictCode, message: "\(what): \(parent) is \(error.kind), not an object")
    }

    /// The JSON text of a metadata value for `record`.
    private static func metadata(_ name: Metadata, of record: ProcessorRecord) -> [UInt8] {
        var out: [UInt8] = []
        appendMetadata(name, of: record, into: &out)
        return out
    }

    /// Appends the JSON text of a metadata value for `record`.
    private static func appendMetadata(_ name: Metadata, of record: ProcessorRecord, into out: inout [UInt8]) {
        switch name {
        case .arrivalTimestamp: out.append(contentsOf: String(record.approximateArrival.milliseconds).utf8)
        case .arrivalTime:
            out.append(UInt8(ascii: "\""))  // digits, '-', ':', 'T', '.', 'Z': nothing to escape
            UTCDate.appendISO8601(record.approximateArrival, into: &out)
            out.append(UInt8(ascii: "\""))
        case .stream: JSONDocument.writeString(record.sourceStream.utf8, into: &out)
        case .shardId: JSONDocument.writeString(record.shardID.utf8, into: &out)
        case .sequenceNumber: JSONDocument.writeString(record.sequenceNumber.utf8, into: &out)
        case .partitionKey: JSONDocument.writeString(record.partitionKey.utf8, into: &out)
        }
    }

    /// A member path for messages: `.user.name`, `.["first name"]`.
    private static func display(_ names: ArraySlice<[UInt8]>) -> String {
        var text = ""
        for name in names {
            if !name.isEmpty, name.allSatisfy(JSONDocument.isNameByte) {
                text += "." + String(decoding: name, as: UTF8.self)
            } else {
                var quoted: [UInt8] = []
                JSONDocument.writeString(name, into: &quoted)
                text += (text.isEmpty ? "." : "") + "[" + String(decoding: quoted, as: UTF8.self) + "]"
            }
        }
        return text
    }
}

// MARK: - Parameters

extension JSONProjectProcessor {
    /// One item of a comma-separated list parameter.
    struct ListItem {
        var parameter: String
        /// The whole parameter value.
        var bytes: [UInt8]
        /// The item, white space trimmed.
        var range: Range<Int>

        /// Splits at commas outside quoted strings and brackets.
        static func split(_ text: String, parameter: String) throws(ProcessorConfigurationError) -> [ListItem] {
            let bytes = Array(text.utf8)
            guard bytes.contains(where: { !JSONDocument.isWhitespace($0) }) else {
                throw ProcessorConfigurationError(
                    parameter: parameter, "\(parameter) is empty; \(example(parameter)), or leave \(parameter) out")
            }
            var items: [ListItem] = []
            var start = 0
            var depth = 0
            var index = 0
            func add(_ end: Int) throws(ProcessorConfigurationError) {
                var low = start
                var high = end
                while low < high, JSONDocument.isWhitespace(bytes[low]) { low += 1 }
                while high > low, JSONDocument.isWhitespace(bytes[high - 1]) { high -= 1 }
                guard low < high else {
                    throw ProcessorConfigurationError(
                        parameter: parameter,
                        "\(parameter), column \(JSONDocument.column(of: low, in: bytes)): empty item; remove the extra "
                            + "comma (\(example(parameter)))")
                }
                items.append(ListItem(parameter: parameter, bytes: bytes, range: low..<high))
            }
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    index += 1
                    while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                        index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
                    }
                case UInt8(ascii: "["), UInt8(ascii: "{"): depth += 1
                case UInt8(ascii: "]"), UInt8(ascii: "}"): depth = max(0, depth - 1)
                case UInt8(ascii: ",") where depth == 0:
                    try add(index)
                    start = index + 1
                default: break
                }
                index += 1
            }
            try add(bytes.count)
            return items
        }

        static func example(_ parameter: String) -> String {
            switch parameter {
            case "rename": "write old:new pairs such as user_id:userId,geo.lat:latitude"
            case "add": "write name=value pairs such as env=prod,receivedAt=$arrivalTime"
            default: "write paths such as id,user.name"
            }
        }

        func failure(_ offset: Int, _ message: String) -> ProcessorConfigurationError {
            ProcessorConfigurationError(
                parameter: parameter, "\(parameter), column \(JSONDocument.column(of: offset, in: bytes)): \(message)")
        }

        /// Parses a member path at `from` (the item's start by default). When `separator` is
        /// nil the path must end the item; otherwise the separator must follow it, and the
        /// offset after the separator is returned.
        func path(from: Int? = nil, then separator: UInt8?) throws(ProcessorConfigurationError)
            -> (path: JSONDocument.Path, rest: Int)
        {
            var index = from ?? range.lowerBound
            while index < range.upperBound, JSONDocument.isWhitespace(bytes[index]) { index += 1 }
            let path: JSONDocument.Path
            do {
                path = try JSONDocument.parsePath(Array(bytes[..<range.upperBound]), at: &index, leadingDot: false)
            } catch {
                throw failure(error.offset, error.message + " (\(Self.example(parameter)))")
            }
            guard let names = path.memberNames else {
                throw failure(
                    range.lowerBound, "\(path) has an array index; jsonProject paths name object members only")
            }
            guard !names.isEmpty else {
                throw failure(range.lowerBound, "\".\" is the whole record; name a member, such as .id")
            }
            while index < range.upperBound, JSONDocument.isWhitespace(bytes[index]) { index += 1 }
            if let separator {
                guard index < range.upperBound, bytes[index] == separator else {
                    let what = separator == UInt8(ascii: ":") ? "the new name" : "the value"
                    throw failure(
                        index,
                        "expected \"\(String(UnicodeScalar(separator)))\" and \(what) after \(path) "
                            + "(\(Self.example(parameter)))")
                }
                return (path, index + 1)
            }
            guard index == range.upperBound else {
                throw failure(index, "unexpected text after \(path) (\(Self.example(parameter)))")
            }
            return (path, index)
        }

        /// The value of an `add` item, from `from` to the item's end.
        func value(from: Int) throws(ProcessorConfigurationError) -> Value {
            var start = from
            while start < range.upperBound, JSONDocument.isWhitespace(bytes[start]) { start += 1 }
            let text = Array(bytes[start..<range.upperBound])
            if text.first == UInt8(ascii: "$") {
                let name = String(decoding: text, as: UTF8.self)
                guard let metadata = Metadata(rawValue: name) else {
                    let names = Metadata.allCases.map(\.rawValue)
                    throw failure(
                        start,
                        "unknown metadata name \"\(name)\"\(Suggestions.didYouMean(name, among: names)); the names are "
                            + "\(names.joined(separator: ", ")) (quote a string that starts with $: \"\(name)\")")
                }
                return .metadata(metadata)
            }
            do {
                return .json(try JSONParser.parse(text))
            } catch {
                if let first = text.first, [UInt8(ascii: "\""), UInt8(ascii: "["), UInt8(ascii: "{")].contains(first) {
                    throw failure(
                        start + error.offset,
                        "the value is not valid JSON: \(error.reason) (a value starting with \", [ or { must be JSON)")
                }
                var quoted: [UInt8] = []
                JSONDocument.writeString(text, into: &quoted)
                do {
                    return .json(try JSONParser.parse(quoted))
                } catch {
                    preconditionFailure("a quoted string is JSON: \(error)")
                }
            }
        }
    }

    /// The members `keep` names, as a tree: `whole` keeps a member with everything in it.
    struct KeepTree: Sendable {
        var whole = false
        var children: [(name: [UInt8], tree: KeepTree)] = []

        mutating func insert(_ names: [[UInt8]]) {
            insert(names[...])
        }

        private mutating func insert(_ names: ArraySlice<[UInt8]>) {
            guard let first = names.first else {
                whole = true
                return
            }
            if let index = children.firstIndex(where: { $0.name == first }) {
                children[index].tree.insert(names.dropFirst())
            } else {
                var child = KeepTree()
                child.insert(names.dropFirst())
                children.append((first, child))
            }
        }
    }
}

// MARK: - Editing

extension JSONProjectProcessor {
    /// An object being edited. Parsed values stay parsed until an edit reaches into them, so
    /// whatever is not edited is written from the record's own text.
    enum Node {
        /// A parsed value, not edited.
        case value(JSONValue)
        /// JSON text made by the processor (a metadata value).
        case text([UInt8])
        /// An object whose member list was edited.
        case object([Member])

        struct Member {
            var name: Name
            var value: Node
        }

        enum Name {
            /// A name from the record, written as it was.
            case source(JSONText)
            /// A name from the parameters (decoded UTF-8).
            case new([UInt8])

            func matches(_ bytes: [UInt8]) -> Bool {
                switch self {
                case .source(let text): text.hasBytes(bytes)
                case .new(let name): name == bytes
                }
            }
        }

        /// `set` met a member that is not an object `depth` names into the path.
        struct Conflict: Error {
            var depth: Int
            var kind: String
        }

        var kindDescription: String {
            switch self {
            case .value(let value): value.kindDescription
            case .text(let text): text.first == UInt8(ascii: "\"") ? "a string" : "a number"
            case .object: "an object"
            }
        }

        /// The members of `object` that `tree` keeps.
        static func kept(_ object: JSONObject, _ tree: KeepTree) -> [Member] {
            var result: [Member] = []
            for member in object.members {
                guard let child = tree.children.first(where: { member.name.hasBytes($0.name) })?.tree else { continue }
                if child.whole {
                    result.append(Member(name: .source(member.name), value: .value(member.value)))
                } else if case .object(let inner) = member.value {
                    let members = kept(inner, child)
                    if !members.isEmpty { result.append(Member(name: .source(member.name), value: .object(members))) }
                }
            }
            return result
        }

        /// Calls `body` with this object's members (made editable); nil when this is not an object.
        private mutating func editMembers<R, E: Error>(_ body: (inout [Member]) throws(E) -> R) throws(E) -> R? {
            var members: [Member]
            switch self {
            case .object(let list): members = list
            case .value(.object(let object)):
                members = object.members.map { Member(name: .source($0.name), value: .value($0.value)) }
            default: return nil
            }
            self = .text([])  // so `members` is not shared while it is edited
            do {
                let result = try body(&members)
                self = .object(members)
                return result
            } catch {
                self = .object(members)
                throw error
            }
        }

        /// Calls `body` with the members of the object at `names` (following the last member of
        /// each name); nothing when there is no object there.
        private mutating func withObject(at names: ArraySlice<[UInt8]>, _ body: (inout [Member]) -> Void) {
            _ = editMembers { (members: inout [Member]) in
                guard let first = names.first else { return body(&members) }
                guard let index = members.lastIndex(where: { $0.name.matches(first) }) else { return }
                members[index].value.withObject(at: names.dropFirst(), body)
            }
        }

        /// Removes every member at `names`; returns the value of the last one removed.
        mutating func remove(_ names: [[UInt8]]) -> Node? {
            guard let last = names.last else { return nil }
            var removed: Node?
            withObject(at: names.dropLast()) { members in
                members.removeAll { member in
                    guard member.name.matches(last) else { return false }
                    removed = member.value
                    return true
                }
            }
            return removed
        }

        /// Renames the members `old` of the object at `parent` to `new` in place, replacing
        /// other members named `new`. Nothing happens when there is no `old`.
        mutating func rename(parent: ArraySlice<[UInt8]>, from old: [UInt8], to new: [UInt8]) {
            guard old != new else { return }
            withObject(at: parent) { members in
                guard members.contains(where: { $0.name.matches(old) }) else { return }
                members.removeAll { $0.name.matches(new) }
                for index in members.indices where members[index].name.matches(old) {
                    members[index].name = .new(new)
                }
            }
        }

        /// Sets the member at `names` to `value`: in place of the last member of that name
        /// (earlier ones are removed), or at the end of its object, creating objects on the way.
        ///
        /// - Throws: `Conflict` when a member on the way is not an object.
        mutating func set(_ names: ArraySlice<[UInt8]>, _ value: Node, depth: Int) throws(Conflict) {
            let kind = kindDescription
            let done: Void? = try editMembers { (members: inout [Member]) throws(Conflict) in
                let name = names[names.startIndex]
                let matching = members.indices.filter { members[$0].name.matches(name) }
                if names.count == 1 {
                    if let last = matching.last {
                        members[last].value = value
                        for index in matching.dropLast().reversed() { members.remove(at: index) }
                    } else {
                        members.append(Member(name: .new(name), value: value))
                    }
                } else if let last = matching.last {
                    try members[last].value.set(names.dropFirst(), value, depth: depth + 1)
                } else {
                    var child = Node.object([])
                    try child.set(names.dropFirst(), value, depth: depth + 1)
                    members.append(Member(name: .new(name), value: child))
                }
            }
            if done == nil { throw Conflict(depth: depth, kind: kind) }
        }

        /// Appends the node as compact JSON.
        func write(into out: inout [UInt8]) {
            switch self {
            case .value(let value): JSONDocument.write(value, into: &out)
            case .text(let text): out.append(contentsOf: text)
            case .object(let members):
                out.append(UInt8(ascii: "{"))
                for (index, member) in members.enumerated() {
                    if index > 0 { out.append(UInt8(ascii: ",")) }
                    switch member.name {
                    case .source(let text): JSONDocument.writeSource(text, into: &out)
                    case .new(let name): JSONDocument.writeString(name, into: &out)
                    }
                    out.append(UInt8(ascii: ":"))
                    member.value.write(into: &out)
                }
                out.append(UInt8(ascii: "}"))
            }
        }
    }
}
