/// The keys a pipeline file may use, per object (`Pipelines/pipeline.schema.json` lists the
/// same; a test keeps the two in step).
package enum PipelineKeys {
    package static let root = [
        "$schema", "name", "source", "buffering", "destination", "retry", "processors", "maximumOpenPartitions",
    ]
    package static let source = ["stream", "createIfMissing", "shardCount", "startingPosition", "directPut"]
    package static let directPut = ["shardCount"]
    package static let buffering = ["sizeInMBs", "intervalInSeconds"]
    package static let destination = [
        "directory", "prefix", "errorOutputPrefix", "compression", "compressionLevel", "fileExtension", "timeZone",
    ]
    package static let retry = ["durationInSeconds"]
    package static let processor = ["type", "parameters"]

    /// Every object's keys by JSON pointer; `*` stands for any array index. The members of
    /// `/processors/*/parameters` are free-form.
    package static let byPointer: [String: [String]] = [
        "": root, "/source": source, "/source/directPut": directPut, "/buffering": buffering,
        "/destination": destination, "/retry": retry, "/processors/*": processor,
    ]

    /// Firehose API spellings (lowercased) that map to Sluice keys, for "did you mean" hints.
    static let aliases: [String: String] = [
        "deliverystreamname": "name", "bufferinghints": "buffering", "retryoptions": "retry",
        "processingconfiguration": "processors", "extendeds3destinationconfiguration": "destination",
        "s3destinationconfiguration": "destination", "kinesisstreamsourceconfiguration": "source",
        "deliverystreamtype": "source", "kinesisstreamarn": "stream", "streamname": "stream", "shards": "shardCount",
        "compressionformat": "compression", "customtimezone": "timeZone", "bucketarn": "directory",
        "bucket": "directory", "path": "directory", "level": "compressionLevel", "extension": "fileExtension",
        "timezone": "timeZone", "errorprefix": "errorOutputPrefix",
    ]
}
