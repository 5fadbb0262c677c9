import SluicePipelines
import SluiceSupport

/// Writes a decoded `PipelineDefinition` back as a pipeline file with every effective value
/// spelled out (the effective prefixes, the extension, the time zone), for the round-trip check
/// of the `pipeline-file` target. `canonicalJSON()` is not a pipeline file (it has `format` and
/// processor parameters as pairs), so this is a separate, small writer.
enum PipelineFileWriter {
    static func write(_ definition: PipelineDefinition) -> [UInt8] {
        var members: [(String, String)] = [("name", quoted(definition.name))]
        switch definition.source {
        case .stream(let name, let createIfMissing, let shardCount, let startingPosition):
            var source = [("stream", quoted(name)), ("createIfMissing", String(createIfMissing))]
            if createIfMissing { source.append(("shardCount", String(shardCount))) }
            source.append(("startingPosition", quoted(startingPosition.rawValue)))
            members.append(("source", object(source)))
        case .directPut(let shardCount):
            members.append(("source", object([("directPut", object([("shardCount", String(shardCount))]))])))
        }
        members.append(
            (
                "buffering",
                object([
                    ("sizeInMBs", String(definition.buffering.sizeInMBs)),
                    ("intervalInSeconds", String(definition.buffering.intervalInSeconds)),
                ])
            ))
        let destination = definition.destination
        var written = [
            ("directory", quoted(destination.directory)), ("prefix", quoted(destination.prefix.text)),
            ("errorOutputPrefix", quoted(destination.errorOutputPrefix.text)),
        ]
        switch destination.compression {
        case .none:
            written.append(("compression", quoted("none")))
        case .gzip(let level):
            written.append(("compression", quoted("gzip")))
            written.append(("compressionLevel", String(level)))
        }
        written.append(("fileExtension", quoted(destination.fileExtension)))
        written.append(("timeZone", quoted(destination.timeZone)))
        members.append(("destination", object(written)))
        members.append(("retry", object([("durationInSeconds", String(definition.retryDurationSeconds))])))
        let processors = definition.processors.map { processor in
            object([
                ("type", quoted(processor.type)),
                ("parameters", object(processor.parameters.sorted { $0.key < $1.key }.map { ($0.key, quoted($0.value)) })),
            ])
        }
        members.append(("processors", "[" + processors.joined(separator: ",") + "]"))
        members.append(("maximumOpenPartitions", String(definition.maximumOpenPartitions)))
        return Array(object(members).utf8)
    }

    private static func object(_ members: [(String, String)]) -> String {
        "{" + members.map { quoted($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }

    /// A JSON string literal (the project's `JSONWriter` escaping).
    static func quoted(_ text: String) -> String {
        var writer = JSONWriter(capacity: text.utf8.count + 8)
        writer.string(text)
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}
