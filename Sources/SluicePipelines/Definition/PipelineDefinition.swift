/// One pipeline, decoded from its JSON file and validated: a source stream, buffering, a
/// destination directory with Firehose-style prefixes, retries and (later) processors.
///
/// Built by `PipelineLoader.decode(_:file:)`; every value in it has passed the rules of the
/// file format, so a runner can use it without checking again.
package struct PipelineDefinition: Sendable, Equatable {
    /// 1-64 characters of `[a-zA-Z0-9_.-]` (Firehose's DeliveryStreamName rule), not `.` or `..`.
    package var name: String
    package var source: PipelineSource
    package var buffering: BufferingHints
    package var destination: DestinationConfiguration
    /// How long delivery of a batch is retried (`retry.durationInSeconds`, 0...7200, default 300).
    package var retryDurationSeconds: Int
    /// Always empty for now; see `ProcessorDefinition`.
    package var processors: [ProcessorDefinition]
    /// Partition buffers open at once (1...5000, default 500).
    package var maximumOpenPartitions: Int
    /// The path the definition was read from.
    package var file: String
    /// Hex SHA-256 of `canonicalJSON()`: changes exactly when the decoded configuration does,
    /// not with white space, key order or the file's path.
    package var configHash: String

    package static let nameLengthRange = 1...64
    package static let retryDurationRange = 0...7200
    package static let defaultRetryDurationSeconds = 300
    package static let maximumOpenPartitionsRange = 1...5000
    package static let defaultMaximumOpenPartitions = 500

    /// A definition from its parts; `configHash` is computed. Values are not validated: use
    /// `PipelineLoader.decode` for input.
    package init(
        name: String, source: PipelineSource, buffering: BufferingHints = .default, destination: DestinationConfiguration,
        retryDurationSeconds: Int = PipelineDefinition.defaultRetryDurationSeconds, processors: [ProcessorDefinition] = [],
        maximumOpenPartitions: Int = PipelineDefinition.defaultMaximumOpenPartitions, file: String
    ) {
        self.name = name
        self.source = source
        self.buffering = buffering
        self.destination = destination
        self.retryDurationSeconds = retryDurationSeconds
        self.processors = processors
        self.maximumOpenPartitions = maximumOpenPartitions
        self.file = file
        configHash = ""
        configHash = computeConfigHash()
    }

    /// The stream the pipeline reads: the named stream, or `firehose-<name>` for direct PUT.
    package var streamName: String {
        switch source {
        case .stream(let name, _, _, _): name
        case .directPut: PipelineSource.directPutStreamPrefix + name
        }
    }
}
