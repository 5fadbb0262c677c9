import SluiceStreams
import SluiceSupport
import Synchronization

/// The data directory the `segment-recovery` target recovers: a store with one one-shard stream,
/// written once by a real store (so the stream's metadata and the segment header are genuine),
/// whose shard directory each input replaces with a single segment file.
///
/// Thread-safe: callers go through `with`, which serialises every use.
final class SegmentFuzzEnvironment: Sendable {
    let directory: String
    let configuration: StreamStoreConfiguration
    let oracle: SegmentOracle

    private static let shared = Mutex<SegmentFuzzEnvironment?>(nil)

    var shardDirectory: String { configuration.dataDirectory + "/streams/\(SegmentRecoveryFuzz.stream)/\(SegmentRecoveryFuzz.shardID)" }

    init() throws(FuzzFailure) {
        func failure(_ what: String, _ error: any Error) -> FuzzFailure {
            FuzzFailure(.segmentRecovery, "cannot set up the scratch store (\(what)): \(error)")
        }
        do throws(SystemError) {
            directory = try FuzzScratch.makeDirectory("segment")
        } catch {
            throw failure("scratch directory", error)
        }
        var configuration = StreamStoreConfiguration(dataDirectory: directory + "/data")
        configuration.maximumRecordSize = SegmentRecoveryFuzz.maximumRecordSize
        self.configuration = configuration
        do throws(StreamError) {
            let store = try StreamStore(configuration)
            defer { store.close() }
            try store.createStream(name: SegmentRecoveryFuzz.stream, shardCount: 1, activeAtOnce: true)
            _ = try store.putRecord(stream: SegmentRecoveryFuzz.stream, partitionKey: "k", data: Array("first".utf8))
        } catch {
            FuzzScratch.remove(directory)
            throw failure("store", error)
        }
        let shard = configuration.dataDirectory + "/streams/\(SegmentRecoveryFuzz.stream)/\(SegmentRecoveryFuzz.shardID)"
        // The segment holding the record: the first one with more than a header.
        var found: (number: UInt32, header: [UInt8])?
        do throws(SystemError) {
            for name in try FileSystem.live.contentsOfDirectory(shard).sorted() where name.hasSuffix(".seg") {
                let bytes = try FileSystem.live.readFile(shard + "/" + name)
                if bytes.count > 32, let number = UInt32(name.dropLast(4)) {
                    found = (number, Array(bytes[0..<32]))
                    break
                }
            }
        } catch {
            FuzzScratch.remove(directory)
            throw failure("reading the segment", error)
        }
        guard let found else {
            FuzzScratch.remove(directory)
            throw FuzzFailure(.segmentRecovery, "the scratch store wrote no segment with a record in \(shard)")
        }
        let incarnation = found.header[20..<24].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        oracle = SegmentOracle(
            header: found.header, segment: found.number, incarnation: incarnation,
            maximumFrame: RecordFrame.overhead + SegmentRecoveryFuzz.maximumRecordSize + 1024, firstArrival: 1_700_000_000_000)
        clearShard()
    }

    /// Replaces the shard directory's files with `segment` as the oracle's segment file.
    func prepare(segment bytes: [UInt8]) throws(FuzzFailure) {
        let name = String(oracle.segment)
        let path = shardDirectory + "/" + String(repeating: "0", count: 10 - name.count) + name + ".seg"
        do throws(SystemError) {
            let handle = try FileSystem.live.open(path, .truncateCreate)
            defer { handle.close() }
            try handle.write(bytes, at: 0)
        } catch {
            throw FuzzFailure(.segmentRecovery, "cannot write the segment file \(path): \(error)")
        }
    }

    /// Removes every file of the shard directory (segments and summaries).
    func clearShard() {
        do throws(SystemError) {
            for name in try FileSystem.live.contentsOfDirectory(shardDirectory) {
                try FileSystem.live.removeFile(shardDirectory + "/" + name)
            }
        } catch {
            // The next `prepare` truncates the segment it writes; a stale newer segment would make
            // recovery read more than the oracle expects, which the comparison reports.
        }
    }

    /// Runs `body` with the shared environment, building it on first use.
    static func with<R: Sendable>(_ body: (SegmentFuzzEnvironment) throws(FuzzFailure) -> R) throws(FuzzFailure) -> R {
        try shared.withLock { shared throws(FuzzFailure) -> R in
            let environment: SegmentFuzzEnvironment
            if let existing = shared {
                environment = existing
            } else {
                environment = try SegmentFuzzEnvironment()
                shared = environment
            }
            return try body(environment)
        }
    }

    /// Removes the shared environment's directory (the next use builds a new one).
    static func tearDown() {
        shared.withLock { shared in
            if let environment = shared { FuzzScratch.remove(environment.directory) }
            shared = nil
        }
    }
}
