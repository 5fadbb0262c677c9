// MARK: - Checks across files and against the stream store

extension PipelineLoader {
    /// Problems between pipelines that are each valid alone: the same name twice, destinations
    /// that could write into the same place (the same directory, or one inside the other), the
    /// same direct PUT backing stream, and one stream created with two different shard counts.
    ///
    /// Each problem is reported on the later file and names the earlier one.
    package static func checkConflicts(_ definitions: [PipelineDefinition]) -> [PipelineFileError] {
        var errors: [PipelineFileError] = []
        var firstByName: [String: PipelineDefinition] = [:]
        for definition in definitions {
            if let first = firstByName[definition.name] {
                errors.append(
                    PipelineFileError(
                        file: definition.file, pointer: "/name",
                        message: "/name: pipeline name \"\(definition.name)\" is also used by \(first.file); every "
                            + "pipeline needs its own name"))
            } else {
                firstByName[definition.name] = definition
            }
        }
        for (index, later) in definitions.enumerated() {
            let laterSegments = later.destination.directory.split(separator: "/")
            for earlier in definitions[..<index] {
                let earlierSegments = earlier.destination.directory.split(separator: "/")
                let message: String
                if laterSegments == earlierSegments {
                    message = "/destination/directory: \"\(later.destination.directory)\" is also the destination of "
                        + "\(earlier.file); give each pipeline its own directory"
                } else if laterSegments.starts(with: earlierSegments) {
                    message = "/destination/directory: \"\(later.destination.directory)\" is inside \""
                        + "\(earlier.destination.directory)\", the destination of \(earlier.file); give each pipeline its own "
                        + "directory, not one inside another's"
                } else if earlierSegments.starts(with: laterSegments) {
                    message = "/destination/directory: \"\(later.destination.directory)\" contains \""
                        + "\(earlier.destination.directory)\", the destination of \(earlier.file); give each pipeline its own "
                        + "directory, not one inside another's"
                } else {
                    continue
                }
                errors.append(PipelineFileError(file: later.file, pointer: "/destination/directory", message: message))
            }
        }
        // Streams a pipeline creates: a direct PUT backing stream, or a source with createIfMissing.
        var creators: [String: (definition: PipelineDefinition, shardCount: Int, directPut: Bool)] = [:]
        for definition in definitions {
            let shardCount: Int
            let directPut: Bool
            switch definition.source {
            case .directPut(let count):
                shardCount = count
                directPut = true
            case .stream(_, let createIfMissing, let count, _):
                guard createIfMissing else { continue }
                shardCount = count
                directPut = false
            }
            let stream = definition.streamName
            guard let first = creators[stream] else {
                creators[stream] = (definition, shardCount, directPut)
                continue
            }
            if directPut && first.directPut {
                // The backing stream is named after the pipeline: a duplicate name, already reported.
                if first.definition.name == definition.name { continue }
                errors.append(
                    PipelineFileError(
                        file: definition.file, pointer: "/source/directPut",
                        message: "/source/directPut: the backing stream \"\(stream)\" is also the direct PUT stream of "
                            + "\(first.definition.file); rename one pipeline"))
            } else if directPut || first.directPut {
                errors.append(
                    PipelineFileError(
                        file: definition.file, pointer: directPut ? "/source/directPut" : "/source/stream",
                        message: "\(directPut ? "/source/directPut" : "/source/stream"): stream \"\(stream)\" is the direct "
                            + "PUT backing stream of \(directPut ? definition.file : first.definition.file) and is also "
                            + "created by \(directPut ? first.definition.file : definition.file); read it with "
                            + "\"createIfMissing\": false or choose another stream name"))
            } else if first.shardCount != shardCount {
                errors.append(
                    PipelineFileError(
                        file: definition.file, pointer: "/source/shardCount",
                        message: "/source/shardCount: stream \"\(stream)\" is created with \(shardCount) shards here and "
                            + "with \(first.shardCount) by \(first.definition.file); use the same shardCount in both"))
            }
        }
        return errors
    }

    /// Problems that need the stream store: a source stream that does not exist and that the
    /// pipeline will not create. Direct PUT backing streams are always created by the pipeline.
    ///
    /// - Parameter streamExists: whether the store has a stream of that name.
    package static func checkSourceStreams(
        _ definitions: [PipelineDefinition], streamExists: (String) -> Bool
    ) -> [PipelineFileError] {
        var errors: [PipelineFileError] = []
        for definition in definitions {
            guard case .stream(let name, let createIfMissing, _, _) = definition.source, !createIfMissing,
                !streamExists(name)
            else { continue }
            errors.append(
                PipelineFileError(
                    file: definition.file, pointer: "/source/stream",
                    message: "/source/stream: stream \"\(name)\" does not exist; create it with \"sluice streams create "
                        + "\(name)\" or set \"createIfMissing\": true"))
        }
        return errors
    }
}
