import Foundation
import SluiceSupport
internal import Synchronization

/// The stream core: every stream of one data directory.
///
/// Thread-safe and synchronous; calls block on disk I/O (appends until their records are
/// durable under the default policy). Control-plane calls (create, delete, reshard, retention,
/// tags) are serialised by one admin lock; data-plane calls (put, read) run concurrently.
///
/// Layout of the data directory:
/// ```
/// LOCK                                   pid of the process holding the directory
/// iterator.key                           HMAC key for shard iterator tokens
/// streams/<name>/stream.json             stream metadata (atomic replace)
/// streams/<name>/shardId-000000000000/   one directory per shard
///     0000000001.seg                     segment: header + record frames
///     0000000001.idx                     summary + sparse index of a sealed, durable segment
/// ```
package final class StreamStore: Sendable {
    package let configuration: StreamStoreConfiguration
    /// Signalled whenever records become readable in any shard or a shard closes; in-process
    /// followers (pipelines) wait on it instead of polling.
    package let changes = ChangeSignal()
    let settings: ShardSettings
    let streamsDirectory: String
    let iteratorKey: [UInt8]
    private let directoryLock: DirectoryLock
    let streams: Mutex<[String: Stream]>
    let adminLock = Mutex<Void>(())
    private let flusher: Flusher?

    var account: String { configuration.accountID }
    var clock: any TimeSource { configuration.clock }
    var fileSystem: FileSystem { configuration.fileSystem }

    // MARK: - Opening

    /// Opens the data directory, taking its lock and recovering every stream.
    ///
    /// - Throws: `StreamError` (`InternalFailureException`) when the directory cannot be created
    ///   or written, or is locked by another process (the message names its pid).
    package init(_ configuration: StreamStoreConfiguration) throws(StreamError) {
        guard configuration.segmentSize >= 1 << 16, configuration.segmentSize <= 1 << 30 else {
            throw StreamError(.invalidArgument, "Segment size \(configuration.segmentSize) is outside 64 KiB...1 GiB; choose a size in that range.")
        }
        self.configuration = configuration
        let fs = configuration.fileSystem
        let root = configuration.dataDirectory
        settings = ShardSettings(
            segmentSize: UInt32(configuration.segmentSize), indexInterval: UInt32(max(4096, configuration.indexInterval)),
            maximumFrame: RecordFrame.overhead + configuration.maximumRecordSize + 1024,
            durability: configuration.durability, fileSystem: fs, clock: configuration.clock,
            logger: configuration.logger, changes: changes)
        let streamsDirectory = root + "/streams"
        self.streamsDirectory = streamsDirectory
        let settings = self.settings
        do throws(SystemError) {
            try fs.createDirectory(root)
        } catch {
            throw StreamError(
                .internalFailure,
                "Cannot create data directory '\(root)': \(error). \(error.remedy)", cause: error)
        }
        guard fs.isWritableDirectory(root) else {
            throw StreamError(
                .internalFailure,
                "Data directory '\(root)' is not writable by this user. Fix its permissions or pass another --data-dir.")
        }
        do throws(DirectoryLock.Failure) {
            directoryLock = try DirectoryLock.acquire(directory: root, fileSystem: fs)
        } catch {
            switch error {
            case .held(let path, let pid):
                let holder = pid.map { "process \($0)" } ?? "another process"
                throw StreamError(
                    .resourceInUse,
                    "Data directory '\(root)' is locked by \(holder) (lock file '\(path)'), usually a running 'sluice serve'. "
                        + "Use that service's API, stop it, or pass another --data-dir.")
            case .system(let cause):
                throw StreamError(.internalFailure, "Cannot lock data directory '\(root)': \(cause). \(cause.remedy)", cause: cause)
            }
        }
        do throws(StreamError) {
            iteratorKey = try StreamStore.loadIteratorKey(root + "/iterator.key", fs)
            if !fs.isDirectory(streamsDirectory) {
                try storage("Cannot create '\(streamsDirectory)'") {
                    try fs.createDirectory(streamsDirectory)
                    try fs.synchronizeDirectory(root)
                }
            }
            var loaded: [String: Stream] = [:]
            let names = try storage("Cannot list '\(streamsDirectory)'") { try fs.contentsOfDirectory(streamsDirectory) }
            for name in names.sorted() {
                let path = streamsDirectory + "/" + name
                if name.hasPrefix("#") {
                    // A create or delete that did not finish ('#' cannot start a stream name); its
                    // stream never existed or is gone.
                    try storage("Cannot remove unfinished '\(path)'") { try fs.removeTree(path) }
                    continue
                }
                guard fs.exists(path + "/stream.json") else { continue }
                loaded[name] = try StreamStore.openStream(name: name, directory: path, settings: settings)
            }
            streams = Mutex(loaded)
        } catch {
            directoryLock.release()
            throw error
        }
        if case .interval(let milliseconds) = configuration.durability {
            flusher = Flusher(intervalMilliseconds: milliseconds)
        } else {
            flusher = nil
        }
        flusher?.start(store: self)
    }

    private static func loadIteratorKey(_ path: String, _ fs: FileSystem) throws(StreamError) -> [UInt8] {
        if fs.exists(path) {
            let key = try storage("Cannot read '\(path)'") { try fs.readFile(path) }
            if key.count == 32 { return key }
        }
        let key = Digest.randomBytes(32)
        try storage("Cannot write '\(path)'") { try fs.writeAtomically(key, to: path) }
        return key
    }

    static func openStream(name: String, directory: String, settings: ShardSettings) throws(StreamError) -> Stream {
        let fs = settings.fileSystem
        let metadataPath = directory + "/stream.json"
        let bytes = try storage("Cannot read '\(metadataPath)'") { try fs.readFile(metadataPath) }
        let metadata: StreamMetadata
        do {
            metadata = try JSONDecoder().decode(StreamMetadata.self, from: Data(bytes))
        } catch {
            throw StreamError(
                .internalFailure,
                "Stream metadata '\(metadataPath)' is not valid (\(error)). Restore it from a backup or delete the stream's directory.")
        }
        var shards: [Int: Shard] = [:]
        for shard in metadata.shards {
            shards[shard.index] = try Shard.open(
                directory: directory + "/" + ShardID.format(shard.index), index: shard.index,
                incarnation: metadata.incarnation, closed: !shard.isOpen, settings: settings)
        }
        return Stream(name: name, directory: directory, metadata: metadata, shards: shards)
    }

    /// Syncs and closes every shard and releases the data directory. Later calls fail.
    package func close() {
        flusher?.stop()
        let all = streams.withLock { streams in
            let all = Array(streams.values)
            streams.removeAll()
            return all
        }
        for stream in all {
            let shards = stream.state.withLock { Array($0.shards.values) }
            for shard in shards { shard.shutDown() }
        }
        directoryLock.release()
    }

    /// Syncs every shard now (used by the interval flusher).
    func flushAll() {
        let shards = streams.withLock { streams in
            streams.values.flatMap { stream in stream.state.withLock { Array($0.shards.values) } }
        }
        for shard in shards {
            do throws(StreamError) { try shard.flush() } catch {
                configuration.logger.log(.error, "periodic sync failed", ["shard": shard.shardID, "error": "\(error)"])
            }
        }
    }

    // MARK: - Lookups

    func stream(_ name: String) throws(StreamError) -> Stream {
        guard let stream = streams.withLock({ $0[name] }) else {
            throw StreamError.streamNotFound(name, account: account)
        }
        return stream
    }

    /// CREATING until the creation delay has passed on the clock, then ACTIVE for good (a clock
    /// that steps back does not make a stream CREATING again; streams loaded from disk are ACTIVE).
    func status(_ stream: Stream) -> StreamStatus {
        let now = clock.now().milliseconds
        return stream.state.withLock { state in
            if !state.activated && now >= state.metadata.activeAt { state.activated = true }
            return state.activated ? .active : .creating
        }
    }

    /// The ARN of a stream.
    package func arn(of name: String) -> String {
        "arn:aws:kinesis:\(configuration.region):\(account):stream/\(name)"
    }

    /// The stream name inside a stream ARN (`arn:aws:kinesis:<region>:<account>:stream/<name>`), or nil.
    package static func streamName(fromARN arn: String) -> String? {
        let parts = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[1].hasPrefix("aws"), parts[2] == "kinesis",
            parts[5].hasPrefix("stream/")
        else { return nil }
        let name = String(parts[5].dropFirst("stream/".count))
        return name.isEmpty ? nil : name
    }

    func describe(_ shard: ShardMetadata, _ metadata: StreamMetadata) -> ShardDescription {
        ShardDescription(
            shardID: ShardID.format(shard.index), index: shard.index,
            parentShardID: shard.parentIndex.map(ShardID.format), adjacentParentShardID: shard.adjacentParentIndex.map(ShardID.format),
            hashKeyRange: shard.hashKeyRange,
            startingSequenceNumber: SequenceNumber(shardIndex: shard.index, incarnation: metadata.incarnation, position: .start),
            endingSequenceNumber: shard.isOpen ? nil : SequenceNumber(shardIndex: shard.index, incarnation: metadata.incarnation, position: .end),
            createdAt: shard.createdAt, closedAt: shard.closedAt)
    }

    // MARK: - Stream names

    /// Checks a stream name against the model (`[a-zA-Z0-9_.-]+`, 1-128 characters).
    package static func validate(streamName name: String, into errors: inout ValidationErrors, path: String = "streamName") {
        if name.isEmpty {
            errors.add(value: name, at: path, "Member must have length greater than or equal to 1")
        } else if name.count > 128 {
            errors.add(value: name, at: path, "Member must have length less than or equal to 128")
        }
        if !name.isEmpty && !name.utf8.allSatisfy(isStreamNameByte) {
            errors.add(value: name, at: path, "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
        }
    }

    static func isStreamNameByte(_ byte: UInt8) -> Bool {
        (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57) || byte == 95 || byte == 46 || byte == 45
    }

    // MARK: - Create, delete, describe, list

    /// Creates a stream of `shardCount` shards with the hash key space split evenly.
    ///
    /// Durable when it returns: metadata is written to a temporary directory, fsynced and renamed
    /// into place.
    /// - Throws: `StreamError`: `ValidationException` (name, shard count),
    ///   `ResourceInUseException` (name taken), `LimitExceededException` (shard limit).
    ///
    /// `activeAtOnce` skips the configured creation delay (streams a pipeline creates for itself
    /// are usable as soon as the service reports it is ready).
    package func createStream(name: String, shardCount: Int, tags: [String: String] = [:], activeAtOnce: Bool = false) throws(StreamError) {
        let delay = activeAtOnce ? 0 : configuration.creationDelayMilliseconds
        var errors = ValidationErrors()
        if shardCount < 1 {
            errors.add(value: String(shardCount), at: "shardCount", "Member must have value greater than or equal to 1")
        }
        StreamStore.validate(streamName: name, into: &errors)
        try errors.check()
        if name == "." || name == ".." {
            throw StreamError(
                .invalidArgument,
                "Stream name '\(name)' is valid for Kinesis but names a directory entry in Sluice's data directory; choose another name.")
        }
        if !tags.isEmpty { try StreamStore.validateTags(tags, stream: name, account: account) }
        try adminLock.withLock { _ throws(StreamError) in
            if streams.withLock({ $0[name] != nil }) {
                throw StreamError(.resourceInUse, "Stream \(name) under account \(account) already exists.")
            }
            try checkShardLimit(adding: shardCount)
            if shardCount > StreamLimits.maximumShardsPerStream {
                throw StreamError(
                    .limitExceeded,
                    "Stream \(name) under account \(account) cannot have more than \(StreamLimits.maximumShardsPerStream) shards; requested \(shardCount).")
            }
            let now = clock.now().milliseconds
            var incarnation: UInt32 = 0
            while incarnation == 0 { incarnation = UInt32.random(in: 1...UInt32.max) }
            let ranges = HashKey.evenRanges(count: shardCount)
            let metadata = StreamMetadata(
                name: name, incarnation: incarnation, createdAt: now, activeAt: now + delay,
                retentionHours: StreamLimits.defaultRetentionHours, tags: tags,
                shards: ranges.enumerated().map { ShardMetadata(index: $0.offset, hashKeyRange: $0.element, createdAt: now) },
                nextShardIndex: shardCount)
            let final = streamsDirectory + "/" + name
            let staging = streamsDirectory + "/#creating-" + name + "-" + String(UInt32.random(in: 0...UInt32.max))
            try storage("Cannot create stream directory for \(name)") { try fileSystem.createDirectory(staging) }
            try writeMetadata(metadata, directory: staging)
            try storage("Cannot create stream directory for \(name)") { try fileSystem.rename(staging, to: final) }
            try storage("Cannot create stream directory for \(name)") { try fileSystem.synchronizeDirectory(streamsDirectory) }
            let stream = try StreamStore.openStream(name: name, directory: final, settings: settings)
            stream.state.withLock { $0.activated = delay <= 0 }
            streams.withLock { $0[name] = stream }
            configuration.logger.log(.info, "stream created", ["stream": name, "shards": String(shardCount)])
        }
    }

    func checkShardLimit(adding: Int) throws(StreamError) {
        let open = openShardCount()
        if open + adding > configuration.shardLimit {
            throw StreamError(
                .limitExceeded,
                "This request would exceed the shard limit for the account \(account) in \(configuration.region). "
                    + "Current shard count for the account: \(open). Limit: \(configuration.shardLimit). "
                    + "Number of additional shards that would have resulted from this request: \(adding). "
                    + "Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) "
                    + "for current limits and how to request higher limits.")
        }
    }

    /// Open shards across all streams.
    package func openShardCount() -> Int {
        streams.withLock { streams in
            streams.values.reduce(0) { $0 + $1.state.withLock { $0.routes.count } }
        }
    }

    /// Writes `stream.json` atomically into `directory`.
    func writeMetadata(_ metadata: StreamMetadata, directory: String) throws(StreamError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do { data = try encoder.encode(metadata) } catch {
            throw StreamError(.internalFailure, "Cannot encode metadata of stream \(metadata.name): \(error)")
        }
        try storage("Cannot write metadata of stream \(metadata.name)") {
            try fileSystem.writeAtomically([UInt8](data), to: directory + "/stream.json")
        }
    }

    /// Deletes a stream and all its records.
    ///
    /// The directory is renamed aside (atomic), then removed; a crash in between leaves a
    /// `#deleted-*` directory that the next open removes.
    /// - Throws: `StreamError` `ResourceNotFoundException`.
    package func deleteStream(name: String) throws(StreamError) {
        var errors = ValidationErrors()
        StreamStore.validate(streamName: name, into: &errors)
        try errors.check()
        try adminLock.withLock { _ throws(StreamError) in
            let stream = try stream(name)
            let aside = streamsDirectory + "/#deleted-" + name + "-" + String(UInt32.random(in: 0...UInt32.max))
            try storage("Cannot delete stream \(name)") { try fileSystem.rename(stream.directory, to: aside) }
            try storage("Cannot delete stream \(name)") { try fileSystem.synchronizeDirectory(streamsDirectory) }
            streams.withLock { _ = $0.removeValue(forKey: name) }
            let shards = stream.state.withLock { state in
                state.deleted = true
                state.routes = []
                return Array(state.shards.values)
            }
            for shard in shards { shard.discard() }
            do throws(SystemError) {
                try fileSystem.removeTree(aside)
            } catch {
                configuration.logger.log(.warning, "could not remove deleted stream's files; they are removed at next start", ["path": aside, "error": "\(error)"])
            }
            configuration.logger.log(.info, "stream deleted", ["stream": name])
        }
    }

    /// Describes a stream and all its shards (closed ones too, until retention removes them).
    package func describeStream(name: String) throws(StreamError) -> StreamDescription {
        let stream = try stream(name)
        let metadata = stream.metadata
        let state = status(stream)
        let shards = metadata.shards.sorted { $0.index < $1.index }.map { describe($0, metadata) }
        return StreamDescription(
            name: name, arn: arn(of: name), status: state, retentionHours: metadata.retentionHours,
            createdAt: metadata.createdAt, shards: state == .creating ? [] : shards,
            openShardCount: state == .creating ? 0 : metadata.openShards.count)
    }

    /// The shards of a stream, by index.
    package func listShards(name: String) throws(StreamError) -> [ShardDescription] {
        try describeStream(name: name).shards
    }

    /// Stream names in lexical order.
    package func listStreams() -> [String] {
        streams.withLock { Array($0.keys) }.sorted()
    }
}

/// Runs a file-layer call and turns its `SystemError` into a `StreamError` naming `action`.
@inline(__always)
func storage<T>(_ action: @autoclosure () -> String, _ body: () throws -> T) throws(StreamError) -> T {
    do {
        return try body()
    } catch let error as SystemError {
        throw StreamError.storage(action(), error)
    } catch let error as StreamError {
        throw error
    } catch {
        throw StreamError(.internalFailure, "\(action()): \(error)")
    }
}
