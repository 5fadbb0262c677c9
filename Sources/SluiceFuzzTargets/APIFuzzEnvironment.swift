import SluicePipelines
import SluiceServer
import SluiceStreams
import SluiceSupport
import Synchronization

/// The service the `api-requests` target talks to: a `ServiceRouter` over a store in a scratch
/// directory, with a two-shard stream `fuzz` holding a few records, and a direct-put pipeline
/// `orders` (backing stream `firehose-orders`) that is never started, so Firehose puts reach the
/// store and nothing is published.
///
/// Built on first use and rebuilt every `lifetime` inputs so the scratch store stays small.
/// Thread-safe: callers take `shared`, which serialises every use.
final class APIFuzzEnvironment: Sendable {
    let directory: String
    let store: StreamStore
    let pipelines: PipelineManager
    let router: ServiceRouter

    static let streamName = "fuzz"
    static let lifetime = 2_000

    private static let shared = Mutex<(environment: APIFuzzEnvironment?, uses: Int)>((nil, 0))

    init() throws(FuzzFailure) {
        func failure(_ what: String, _ error: any Error) -> FuzzFailure {
            FuzzFailure(.apiRequests, "cannot set up the scratch service (\(what)): \(error)")
        }
        do throws(SystemError) {
            directory = try FuzzScratch.makeDirectory("api")
        } catch {
            throw failure("scratch directory", error)
        }
        let store: StreamStore
        do throws(StreamError) {
            store = try StreamStore(StreamStoreConfiguration(dataDirectory: directory + "/data"))
            try store.createStream(name: Self.streamName, shardCount: 2, activeAtOnce: true)
            let entries = (0..<6).map { PutRecordsEntry(partitionKey: "key-\($0)", data: Array("record \($0)\n".utf8)) }
            _ = try store.putRecords(stream: Self.streamName, entries: entries)
        } catch {
            FuzzScratch.remove(directory)
            throw failure("store", error)
        }
        self.store = store
        let json = #"{"name": "orders", "source": {"directPut": {"shardCount": 2}}, "destination": {"directory": "orders"}}"#
        do {
            let definition = try PipelineLoader.decode(Array(json.utf8), file: "orders.json").get()
            let context = PipelineContext(
                store: store, clock: SystemTimeSource(), fileSystem: .live, archiveRoot: directory + "/archive",
                stateRoot: directory + "/data/pipelines", logger: .disabled)
            pipelines = try PipelineManager(definitions: [definition], context: context)
        } catch {
            store.close()
            FuzzScratch.remove(directory)
            throw failure("pipeline", error)
        }
        router = ServiceRouter(store: store, pipelines: pipelines, logger: .disabled)
    }

    func close() {
        pipelines.shutdown()
        store.close()
        FuzzScratch.remove(directory)
    }

    /// Runs `body` with the shared environment, building or rebuilding it as needed.
    static func with<R: Sendable>(_ body: (APIFuzzEnvironment) throws(FuzzFailure) -> R) throws(FuzzFailure) -> R {
        try shared.withLock { shared throws(FuzzFailure) -> R in
            if shared.uses >= lifetime, let old = shared.environment {
                old.close()
                shared = (nil, 0)
            }
            let environment: APIFuzzEnvironment
            if let existing = shared.environment {
                environment = existing
            } else {
                environment = try APIFuzzEnvironment()
                shared.environment = environment
            }
            shared.uses += 1
            return try body(environment)
        }
    }

    /// Closes the shared environment and removes its directory (the next use builds a new one).
    static func tearDown() {
        shared.withLock { shared in
            shared.environment?.close()
            shared = (nil, 0)
        }
    }
}
