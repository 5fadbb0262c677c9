import SluiceStreams
import SluiceSupport

// MARK: - The document

extension DefinitionDecoder {
    /// Decodes the whole file; nil when any problem was reported.
    mutating func decode() -> PipelineDefinition? {
        let root: JSONValue
        var bytes = locator.bytes
        // A UTF-8 byte order mark (some Windows editors write one) is read as white space;
        // blanking it keeps every offset, so positions stay right.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.replaceSubrange(0..<3, with: [0x20, 0x20, 0x20]) }
        do throws(JSONParser.SyntaxError) {
            root = try JSONParser.parse(bytes)
        } catch {
            report(error.offset, "", "not valid JSON: \(error.reason)")
            return nil
        }
        let start = locator.firstTokenOffset
        guard case .object(let object) = root else {
            report(start, "", "a pipeline file holds one JSON object; got \(root.kindDescription)")
            return nil
        }
        let fields = members(of: object, at: "", allowed: PipelineKeys.root)
        if let schema = fields["$schema"] { _ = string(schema) }

        var name: String?
        if let member = fields["name"] {
            name = pipelineName(member)
        } else {
            missing("name", in: "", at: start, "the pipeline's name, 1-64 characters of [a-zA-Z0-9_.-], such as \"clicks\"")
        }
        var source: PipelineSource?
        if let member = fields["source"] {
            source = self.source(member)
        } else {
            missing("source", in: "", at: start, "where records come from: {\"stream\": \"NAME\"} or {\"directPut\": {}}")
        }
        let buffering = fields["buffering"].flatMap { self.buffering($0) } ?? .default
        var destination: DestinationConfiguration?
        if let member = fields["destination"] {
            destination = self.destination(member)
        } else {
            missing("destination", in: "", at: start, "where files go: {\"directory\": \"DIR\"} under the archive directory")
        }
        var retry = PipelineDefinition.defaultRetryDurationSeconds
        if let member = fields["retry"], let object = objectValue(member) {
            let retryFields = members(of: object, at: "/retry", allowed: PipelineKeys.retry)
            if let duration = retryFields["durationInSeconds"] {
                retry = integer(duration, in: PipelineDefinition.retryDurationRange) ?? retry
            }
        }
        let processors = fields["processors"].map { self.processors($0) } ?? []
        var maximumOpenPartitions = PipelineDefinition.defaultMaximumOpenPartitions
        if let member = fields["maximumOpenPartitions"] {
            maximumOpenPartitions = integer(member, in: PipelineDefinition.maximumOpenPartitionsRange) ?? maximumOpenPartitions
        }
        guard problems.isEmpty, let name, let source, let destination else { return nil }
        return PipelineDefinition(
            name: name, source: source, buffering: buffering, destination: destination, retryDurationSeconds: retry,
            processors: processors, maximumOpenPartitions: maximumOpenPartitions, file: file)
    }

    // MARK: - Names

    private static let nameRule = "[a-zA-Z0-9_.-]"

    static func isNameByte(_ byte: UInt8) -> Bool {
        (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57) || byte == 95 || byte == 46
            || byte == 45
    }

    /// Checks a name against `[a-zA-Z0-9_.-]` and a length range (pipeline and stream names).
    private mutating func checkedName(_ member: Member, lengths: ClosedRange<Int>, what: String) -> String? {
        guard let value = string(member) else { return nil }
        let rule = "allowed \(lengths.lowerBound)-\(lengths.upperBound) characters of \(Self.nameRule)"
        if value.isEmpty {
            report(member.valueOffset, member.pointer, "\(member.pointer) is empty; \(rule)")
            return nil
        }
        if let bad = value.first(where: { !($0.isASCII && $0.utf8.allSatisfy(Self.isNameByte)) }) {
            report(
                member.valueOffset, member.pointer,
                "\(member.pointer) is \"\(value)\", which has '\(bad)'; \(rule)")
            return nil
        }
        if value.count > lengths.upperBound {
            report(member.valueOffset, member.pointer, "\(member.pointer) is \(value.count) characters long; \(rule)")
            return nil
        }
        if value == "." || value == ".." {
            report(
                member.valueOffset, member.pointer,
                "\(member.pointer) is \"\(value)\", which names a directory entry; choose another \(what) name")
            return nil
        }
        return value
    }

    private mutating func pipelineName(_ member: Member) -> String? {
        checkedName(member, lengths: PipelineDefinition.nameLengthRange, what: "pipeline")
    }

    // MARK: - Source

    private mutating func source(_ member: Member) -> PipelineSource? {
        guard let object = objectValue(member) else { return nil }
        let fields = members(of: object, at: "/source", allowed: PipelineKeys.source)
        let shardRange = 1...StreamLimits.maximumShardsPerStream
        if let directPut = fields["directPut"] {
            for key in ["stream", "createIfMissing", "shardCount", "startingPosition"] {
                guard let other = fields[key] else { continue }
                report(
                    other.nameOffset, other.pointer,
                    "\(other.pointer) cannot be used with /source/directPut; a source either reads a stream (\"stream\") "
                        + "or takes direct PUT calls (\"directPut\"), not both"
                        + (key == "shardCount" ? "; put shardCount inside directPut" : ""))
            }
            guard let settings = objectValue(directPut) else { return nil }
            let directFields = members(of: settings, at: "/source/directPut", allowed: PipelineKeys.directPut)
            let shards = directFields["shardCount"].map { integer($0, in: shardRange) } ?? 1
            return shards.map { .directPut(shardCount: $0) }
        }
        guard let streamMember = fields["stream"] else {
            report(
                member.nameOffset, "/source",
                "/source needs \"stream\" (read a stream of the stream core) or \"directPut\" (take Firehose PutRecord and "
                    + "PutRecordBatch calls), for example {\"stream\": \"clicks\"}")
            return nil
        }
        let stream = checkedName(streamMember, lengths: 1...128, what: "stream")
        let createIfMissing = fields["createIfMissing"].map { bool($0) } ?? false
        var shardCount: Int? = 1
        if let member = fields["shardCount"] {
            shardCount = integer(member, in: shardRange)
            if createIfMissing == false {
                report(
                    member.nameOffset, member.pointer,
                    "\(member.pointer) only applies when the pipeline creates the stream; set \"createIfMissing\": true "
                        + "or remove shardCount")
            }
        }
        var startingPosition: StartingPosition? = .trimHorizon
        if let member = fields["startingPosition"] {
            startingPosition = choice(member, StartingPosition.allCases.map { ($0.rawValue, $0) })
        }
        guard let stream, let createIfMissing, let shardCount, let startingPosition else { return nil }
        return .stream(name: stream, createIfMissing: createIfMissing, shardCount: shardCount, startingPosition: startingPosition)
    }

    // MARK: - Buffering

    private mutating func buffering(_ member: Member) -> BufferingHints? {
        guard let object = objectValue(member) else { return nil }
        let fields = members(of: object, at: "/buffering", allowed: PipelineKeys.buffering)
        var hints = BufferingHints.default
        if let size = fields["sizeInMBs"] {
            hints.sizeInMBs = integer(size, in: BufferingHints.sizeRange) ?? hints.sizeInMBs
        }
        if let interval = fields["intervalInSeconds"] {
            hints.intervalInSeconds = integer(interval, in: BufferingHints.intervalRange) ?? hints.intervalInSeconds
        }
        return hints
    }

    // MARK: - Processors

    private mutating func processors(_ member: Member) -> [ProcessorDefinition] {
        guard let elements = arrayValue(member) else { return [] }
        var processors: [ProcessorDefinition] = []
        for (index, element) in elements.enumerated() {
            let pointer = "/processors/\(index)"
            guard case .object(let object) = element else {
                report(
                    member.nameOffset, pointer,
                    "\(pointer) must be an object with \"type\" and \"parameters\"; got \(element.kindDescription)")
                continue
            }
            let elementOffset = object.members.first.map { $0.name.start - 1 } ?? member.nameOffset
            let fields = members(of: object, at: pointer, allowed: PipelineKeys.processor)
            var type: String?
            var typeOffset = elementOffset
            if let typeMember = fields["type"] {
                type = string(typeMember)
                typeOffset = typeMember.valueOffset
                if type?.isEmpty == true {
                    report(typeMember.valueOffset, typeMember.pointer, "\(typeMember.pointer) is empty; name a processor type")
                    type = nil
                } else if let name = type, ProcessorRegistry.type(named: name) == nil {
                    report(
                        typeMember.valueOffset, typeMember.pointer,
                        "\(typeMember.pointer) is \"\(name)\"; allowed \(ProcessorRegistry.names.joined(separator: ", "))"
                            + Suggestions.didYouMean(name, among: ProcessorRegistry.names))
                    type = nil
                }
            } else {
                missing("type", in: pointer, at: elementOffset, "the processor's type")
            }
            var parameters: [String: String] = [:]
            var parameterOffsets: [String: Int] = [:]
            var parametersOffset = typeOffset
            let processorType = type.flatMap(ProcessorRegistry.type(named:))
            if let parametersMember = fields["parameters"], let object = objectValue(parametersMember) {
                parametersOffset = parametersMember.nameOffset
                for (nameText, value) in object.members {
                    let name = nameText.string ?? String(decoding: nameText.unescaped(), as: UTF8.self)
                    let parameter = Member(
                        pointer: Self.pointer(parametersMember.pointer, name), name: name, value: value,
                        nameOffset: nameText.start - 1)
                    if let processorType, !processorType.parameters.contains(name) {
                        let allowed = processorType.parameters.isEmpty ? "it takes no parameters" : "allowed " + processorType.parameters.joined(separator: ", ")
                        report(
                            parameter.nameOffset, parameter.pointer,
                            "\(parameter.pointer) is not a parameter of \(processorType.name); \(allowed)"
                                + Suggestions.didYouMean(name, among: processorType.parameters))
                        continue
                    }
                    if let text = string(parameter) {
                        parameters[name] = text
                        parameterOffsets[name] = parameter.valueOffset
                    }
                }
            }
            if let type, let processorType {
                do {
                    _ = try processorType.make(parameters)
                    processors.append(ProcessorDefinition(type: type, parameters: parameters))
                } catch {
                    let at = error.parameter.flatMap { parameterOffsets[$0] } ?? parametersOffset
                    let where_ = error.parameter.map { "\(pointer)/parameters/\($0)" } ?? "\(pointer)/parameters"
                    report(at, where_, "\(where_): \(error.message)")
                }
            }
        }
        return processors
    }
}
