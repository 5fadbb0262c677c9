import SluiceSupport

// MARK: - Canonical form and configuration hash

extension PipelineDefinition {
    /// The decoded definition as compact JSON with a fixed key order and every default spelled
    /// out (effective prefixes, extension, level). `file` and `configHash` are not part of it.
    ///
    /// `format` versions this encoding: bump it if the encoding itself changes.
    package func canonicalJSON() -> [UInt8] {
        var writer = JSONWriter(capacity: 512)
        writer.beginObject()
        writer.key("format")
        writer.number(1)
        writer.key("name")
        writer.string(name)
        writer.key("source")
        writer.beginObject()
        switch source {
        case .stream(let stream, let createIfMissing, let shardCount, let startingPosition):
            writer.key("stream")
            writer.string(stream)
            writer.key("createIfMissing")
            writer.bool(createIfMissing)
            writer.key("shardCount")
            writer.number(shardCount)
            writer.key("startingPosition")
            writer.string(startingPosition.rawValue)
        case .directPut(let shardCount):
            writer.key("directPut")
            writer.beginObject()
            writer.key("shardCount")
            writer.number(shardCount)
            writer.endObject()
        }
        writer.endObject()
        writer.key("buffering")
        writer.beginObject()
        writer.key("sizeInMBs")
        writer.number(buffering.sizeInMBs)
        writer.key("intervalInSeconds")
        writer.number(buffering.intervalInSeconds)
        writer.endObject()
        writer.key("destination")
        writer.beginObject()
        writer.key("directory")
        writer.string(destination.directory)
        writer.key("prefix")
        writer.string(destination.prefix.text)
        writer.key("errorOutputPrefix")
        writer.string(destination.errorOutputPrefix.text)
        writer.key("compression")
        switch destination.compression {
        case .none:
            writer.string("none")
        case .gzip(let level):
            writer.string("gzip")
            writer.key("compressionLevel")
            writer.number(level)
        }
        writer.key("fileExtension")
        writer.string(destination.fileExtension)
        writer.key("timeZone")
        writer.string(destination.timeZone)
        writer.endObject()
        writer.key("retry")
        writer.beginObject()
        writer.key("durationInSeconds")
        writer.number(retryDurationSeconds)
        writer.endObject()
        writer.key("processors")
        writer.beginArray()
        for processor in processors {
            writer.beginObject()
            writer.key("type")
            writer.string(processor.type)
            // Parameters as sorted [name, value] pairs (the writer takes static keys only).
            writer.key("parameters")
            writer.beginArray()
            for (parameter, value) in processor.parameters.sorted(by: { $0.key < $1.key }) {
                writer.beginArray()
                writer.string(parameter)
                writer.string(value)
                writer.endArray()
            }
            writer.endArray()
            writer.endObject()
        }
        writer.endArray()
        writer.key("maximumOpenPartitions")
        writer.number(maximumOpenPartitions)
        writer.endObject()
        return writer.bytes
    }

    func computeConfigHash() -> String {
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in Digest.sha256(canonicalJSON()) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}
