import SluicePipelines

/// The `pipeline-file` target: the input is a pipeline file, decoded and validated by
/// `PipelineLoader.decode` as `sluice validate` and `sluice serve` do.
///
/// Invariants:
/// - a failure lists at least one error, each naming the file, a JSON pointer (empty or starting
///   with `/`), a message, and a line and column inside the file when it has a position;
/// - the outcome does not depend on the file's path, except for the path itself;
/// - a definition that decodes, written back as a pipeline file (`PipelineFileWriter`, every
///   effective value spelled out), decodes to an equal definition with the same `configHash`,
///   and that hash is the one computed from the definition's parts.
enum PipelineFileFuzz {
    static let file = "Pipelines/fuzz.json"

    static func run(_ bytes: [UInt8]) throws(FuzzFailure) {
        let result = PipelineLoader.decode(bytes, file: file)
        let elsewhere = PipelineLoader.decode(bytes, file: "other/place.json")
        switch (result, elsewhere) {
        case (.failure(let failure), .failure(let other)):
            try checkErrors(failure, bytes)
            guard failure.errors.map(\.message) == other.errors.map(\.message) else {
                throw FuzzFailure(.pipelineFile, "the errors depend on the file's path:\n\(failure)\nversus\n\(other)")
            }
        case (.success(let definition), .success(let other)):
            guard definition.configHash == other.configHash, definition.file == file else {
                throw FuzzFailure(.pipelineFile, "the decoded definition depends on the file's path")
            }
            try checkRoundTrip(definition)
        default:
            throw FuzzFailure(.pipelineFile, "the file decodes under one path and not under another")
        }
    }

    private static func checkErrors(_ failure: PipelineFileErrors, _ bytes: [UInt8]) throws(FuzzFailure) {
        guard !failure.errors.isEmpty else { throw FuzzFailure(.pipelineFile, "a failure without errors") }
        let lines = bytes.reduce(1) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
        for error in failure.errors {
            guard error.file == file, !error.message.isEmpty, error.pointer.isEmpty || error.pointer.hasPrefix("/") else {
                throw FuzzFailure(.pipelineFile, "malformed error: file \"\(error.file)\", pointer \"\(error.pointer)\", message \"\(error.message)\"")
            }
            guard (error.line == nil) == (error.column == nil) else {
                throw FuzzFailure(.pipelineFile, "an error with a line but no column, or the reverse: \(error)")
            }
            if let line = error.line, let column = error.column {
                guard line >= 1, line <= lines, column >= 1 else {
                    throw FuzzFailure(.pipelineFile, "error position \(line):\(column) is outside the file (\(lines) lines): \(error)")
                }
            }
        }
    }

    private static func checkRoundTrip(_ definition: PipelineDefinition) throws(FuzzFailure) {
        let rebuilt = PipelineDefinition(
            name: definition.name, source: definition.source, buffering: definition.buffering,
            destination: definition.destination, retryDurationSeconds: definition.retryDurationSeconds,
            processors: definition.processors, maximumOpenPartitions: definition.maximumOpenPartitions, file: definition.file)
        guard rebuilt.configHash == definition.configHash, definition.configHash.utf8.count == 64 else {
            throw FuzzFailure(.pipelineFile, "configHash \(definition.configHash) is not the hash of the definition's parts")
        }
        let written = PipelineFileWriter.write(definition)
        switch PipelineLoader.decode(written, file: file) {
        case .success(let again):
            guard again == definition else {
                throw FuzzFailure(
                    .pipelineFile,
                    "written back and decoded again, the definition changed:\n\(String(decoding: written, as: UTF8.self))\n"
                        + "before: \(String(decoding: definition.canonicalJSON(), as: UTF8.self))\n"
                        + "after:  \(String(decoding: again.canonicalJSON(), as: UTF8.self))")
            }
        case .failure(let failure):
            throw FuzzFailure(
                .pipelineFile,
                "the decoded definition, written back, does not decode:\n\(String(decoding: written, as: UTF8.self))\n\(failure)")
        }
    }
}
