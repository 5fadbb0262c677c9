/// Where a pipeline's records come from.
package enum PipelineSource: Sendable, Equatable {
    /// An existing stream of the stream core (Firehose's `KinesisStreamAsSource`):
    /// `{"stream": "clicks", "createIfMissing": false, "shardCount": 1, "startingPosition": "TRIM_HORIZON"}`.
    /// `shardCount` is only used when the pipeline creates the stream.
    case stream(name: String, createIfMissing: Bool, shardCount: Int, startingPosition: StartingPosition)
    /// Producers call Firehose's `PutRecord`/`PutRecordBatch` on the pipeline's name
    /// (`{"directPut": {"shardCount": 1}}`); the records go through a backing stream
    /// `firehose-<pipeline name>` that the pipeline creates with `shardCount` shards.
    case directPut(shardCount: Int)

    /// The prefix of a direct PUT pipeline's backing stream name.
    package static let directPutStreamPrefix = "firehose-"
}
