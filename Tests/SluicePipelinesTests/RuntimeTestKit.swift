import Foundation
import SluicePipelines
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// A store, a manual clock, a fault plan and an archive in a temporary directory, for driving
/// pipeline runners step by step.
final class PipelineHarness {
    let root: String
    let clock: ManualTimeSource
    let faults = FaultPlan()
    let store: StreamStore
    let logs = InMemoryLogSink()

    /// Compression workers, when the harness compresses on a pool like `sluice serve` does.
    let pool: CompressionPool?

    init(root: String, clock: ManualTimeSource = ManualTimeSource(), parallelCompression: Bool = false) throws {
        self.root = root
        self.clock = clock
        pool = parallelCompression ? CompressionPool(threads: 2) : nil
        var configuration = StreamStoreConfiguration(dataDirectory: root + "/data")
        configuration.clock = clock
        configuration.segmentSize = 1 << 20
        store = try StreamStore(configuration)
    }

    deinit {
        store.close()
        pool?.shutdown()
    }

    var archive: String { root + "/archive" }

    var context: PipelineContext {
        var context = PipelineContext(
            store: store, clock: clock, fileSystem: FileSystem(faults: faults), archiveRoot: archive,
            stateRoot: root + "/data/pipelines", logger: Logger(label: "test", level: .debug, sink: logs))
        context.readBatchRecords = 10_000
        context.compressionPool = pool
        return context
    }

    /// A pipeline decoded from JSON the way `sluice serve` reads files.
    static func definition(_ json: String, file: String = "Pipelines/test.json") throws -> PipelineDefinition {
        switch PipelineLoader.decode(Array(json.utf8), file: file) {
        case .success(let definition): return definition
        case .failure(let errors): throw errors
        }
    }

    static func simple(
        name: String = "clicks", stream: String = "clicks", sizeInMBs: Int = 5, interval: Int = 300, prefix: String? = nil,
        errorPrefix: String? = nil, compression: String = "gzip", extra: String = "", retry: Int = 300, maximumOpenPartitions: Int = 500
    ) throws -> PipelineDefinition {
        var destination = #""directory": "out/\#(name)", "compression": "\#(compression)""#
        if let prefix { destination += #", "prefix": "\#(prefix)""# }
        if let errorPrefix { destination += #", "errorOutputPrefix": "\#(errorPrefix)""# }
        return try definition(
            """
            {"name": "\(name)", "source": {"stream": "\(stream)"}, "buffering": {"sizeInMBs": \(sizeInMBs), "intervalInSeconds": \(interval)},
             "destination": {\(destination)}, "retry": {"durationInSeconds": \(retry)}, "maximumOpenPartitions": \(maximumOpenPartitions)\(extra)}
            """)
    }

    func runner(_ definition: PipelineDefinition, processors: [any RecordProcessor]? = nil) throws -> PipelineRunner {
        let runner = try PipelineRunner(definition: definition, context: context, processors: processors.map { ProcessorChain($0) })
        try runner.start()
        return runner
    }

    /// Puts `records` with distinct partition keys (spread over shards); returns their sequence numbers.
    @discardableResult
    func put(_ records: [String], stream: String = "clicks", key: ((Int) -> String)? = nil) throws -> [SequenceNumber] {
        let entries = records.enumerated().map { index, text in
            PutRecordsEntry(partitionKey: key?(index) ?? "k\(index)", data: Array(text.utf8))
        }
        var sequences: [SequenceNumber] = []
        for start in stride(from: 0, to: entries.count, by: 500) {
            let results = try store.putRecords(stream: stream, entries: Array(entries[start..<min(start + 500, entries.count)]))
            for result in results { sequences.append(try result.get().sequenceNumber) }
        }
        return sequences
    }

    /// Every file under the archive (relative path → decompressed bytes); hidden temporaries are listed too.
    func archiveFiles(gzip: Bool = true) throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        guard let enumerator = FileManager.default.enumerator(atPath: archive) else { return [:] }
        while let path = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: archive + "/" + path, isDirectory: &isDirectory)
            if isDirectory.boolValue { continue }
            let bytes = try FileSystem.live.readFile(archive + "/" + path)
            files[path] = gzip && path.hasSuffix(".gz") ? try Gzip.decompress(bytes, maximumOutput: 1 << 30) : bytes
        }
        return files
    }

    func dataFiles() throws -> [String: [UInt8]] {
        try archiveFiles().filter { !$0.key.contains("/errors/") && !$0.key.contains("failed") && !$0.key.contains("activePartitionExceeded") }
    }

    /// The error documents under the archive, parsed.
    func errorDocuments() throws -> [[String: Any]] {
        var documents: [[String: Any]] = []
        for (path, bytes) in try archiveFiles() where path.contains("failed") || path.contains("activePartitionExceeded") {
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
                documents.append(object as! [String: Any])
            }
        }
        return documents
    }
}
