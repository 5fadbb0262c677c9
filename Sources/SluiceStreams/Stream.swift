internal import Synchronization

/// A live stream: its metadata, its open shards and the routing table for puts.
///
/// Thread-safe. `state` is held only briefly (lookups and swaps); control-plane changes are
/// serialised by the store's admin lock and do their file I/O outside `state`.
final class Stream: Sendable {
    let name: String
    let directory: String
    let state: Mutex<State>

    struct Route: Sendable {
        let range: HashKeyRange
        let shard: Shard
    }

    struct State: Sendable {
        var metadata: StreamMetadata
        var shards: [Int: Shard]
        /// Open shards sorted by starting hash key.
        var routes: [Route]
        var deleted = false
        /// Seen ACTIVE once; stays ACTIVE. Streams loaded from disk start ACTIVE.
        var activated = true
    }

    init(name: String, directory: String, metadata: StreamMetadata, shards: [Int: Shard]) {
        self.name = name
        self.directory = directory
        self.state = Mutex(State(metadata: metadata, shards: shards, routes: Stream.routes(metadata, shards)))
    }

    static func routes(_ metadata: StreamMetadata, _ shards: [Int: Shard]) -> [Route] {
        metadata.openShards
            .sorted { $0.hashKeyRange.start < $1.hashKeyRange.start }
            .compactMap { shard in shards[shard.index].map { Route(range: shard.hashKeyRange, shard: $0) } }
    }

    /// The open shard owning `hashKey` (binary search over the routing table).
    static func route(_ hashKey: UInt128, in routes: [Route]) -> Shard? {
        var low = 0
        var high = routes.count - 1
        while low <= high {
            let mid = (low + high) / 2
            let range = routes[mid].range
            if hashKey < range.start {
                high = mid - 1
            } else if hashKey > range.end {
                low = mid + 1
            } else {
                return routes[mid].shard
            }
        }
        return nil
    }

    var metadata: StreamMetadata { state.withLock { $0.metadata } }
}
