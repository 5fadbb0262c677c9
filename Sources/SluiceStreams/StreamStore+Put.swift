import SluiceSupport
internal import Synchronization

/// One record of a PutRecords call.
package struct PutRecordsEntry: Sendable {
    package var partitionKey: String
    package var data: [UInt8]
    package var explicitHashKey: String?

    package init(partitionKey: String, data: [UInt8], explicitHashKey: String? = nil) {
        self.partitionKey = partitionKey
        self.data = data
        self.explicitHashKey = explicitHashKey
    }
}

/// Where an acknowledged record went.
package struct PutResult: Sendable, Equatable {
    package var shardID: String
    package var sequenceNumber: SequenceNumber
}

extension StreamStore {
    /// Appends one record and returns once it is durable (under the default policy).
    ///
    /// - Throws: `StreamError`: `ValidationException` / `InvalidArgumentException` for a bad key,
    ///   size or hash key; `ResourceNotFoundException` for an unknown or not yet active stream;
    ///   `InternalFailureException` when the write or fsync failed (nothing was acknowledged).
    package func putRecord(
        stream name: String, partitionKey: String, data: [UInt8], explicitHashKey: String? = nil
    ) throws(StreamError) -> PutResult {
        try waitFor { (done: @escaping @Sendable (Result<PutResult, StreamError>) -> Void) throws(StreamError) in
            try putRecord(stream: name, partitionKey: partitionKey, data: data, explicitHashKey: explicitHashKey, completion: done)
        }.get()
    }

    /// Appends up to 500 records; each succeeds or fails on its own (partial failure), and the
    /// results are in request order. Returns once every successful record is durable.
    ///
    /// - Throws: `StreamError` for problems with the request as a whole (validation of any
    ///   entry, more than 500 entries or 5 MiB, unknown stream). Storage failures are reported
    ///   per entry.
    package func putRecords(stream name: String, entries: [PutRecordsEntry]) throws(StreamError) -> [Result<PutResult, StreamError>] {
        try waitFor { (done: @escaping @Sendable ([Result<PutResult, StreamError>]) -> Void) throws(StreamError) in
            try putRecords(stream: name, entries: entries, completion: done)
        }
    }

    /// Runs a completion-style call and blocks until its completion runs.
    private func waitFor<Value: Sendable>(
        _ start: (@escaping @Sendable (Value) -> Void) throws(StreamError) -> Void
    ) throws(StreamError) -> Value {
        let done = ConditionLock<Value?>(nil)
        try start { value in
            done.withLock { locked in
                locked.state = value
                locked.broadcast()
            }
        }
        WakeupBatch.drain()  // inside a burst, release the appends this thread waits for
        return done.withLock { locked in
            while locked.state == nil { locked.wait() }
            return locked.state!
        }
    }

    private func validate(_ entries: [PutRecordsEntry], pathPrefix: String, stream: String) throws(StreamError) -> [UInt128] {
        var errors = ValidationErrors()
        var hashKeys: [UInt128] = []
        hashKeys.reserveCapacity(entries.count)
        var total = 0
        var tooLarge: String?
        var badHashKey: StreamError?
        for (position, entry) in entries.enumerated() {
            let path = pathPrefix.isEmpty ? "" : "\(pathPrefix)\(position + 1).member."
            let keyLength = entry.partitionKey.utf16.count
            if keyLength < 1 {
                errors.add(value: entry.partitionKey, at: path + "partitionKey", "Member must have length greater than or equal to 1")
            } else if keyLength > 256 {
                errors.add(value: entry.partitionKey, at: path + "partitionKey", "Member must have length less than or equal to 256")
            }
            if entry.data.count > configuration.maximumRecordSize {
                errors.add(
                    value: ValidationErrors.blob(entry.data.count), at: path + "data",
                    "Member must have length less than or equal to \(configuration.maximumRecordSize)")
            } else if entry.data.count + entry.partitionKey.utf8.count > configuration.maximumRecordSize, tooLarge == nil {
                tooLarge =
                    "Record \(pathPrefix.isEmpty ? "" : "\(position + 1) ")has \(entry.data.count) bytes of data and "
                    + "\(entry.partitionKey.utf8.count) bytes of partition key; together they must not exceed "
                    + "\(configuration.maximumRecordSize) bytes in stream \(stream). Send smaller records."
            }
            total += entry.data.count + entry.partitionKey.utf8.count
            if let explicit = entry.explicitHashKey {
                do throws(StreamError) {
                    hashKeys.append(try HashKey.parseExplicit(explicit, path: path + "explicitHashKey"))
                } catch {
                    if error.code == .validation {
                        errors.add(value: explicit, at: path + "explicitHashKey", "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})")
                    } else if badHashKey == nil {
                        badHashKey = error
                    }
                    hashKeys.append(0)
                }
            } else {
                hashKeys.append(HashKey.of(partitionKey: entry.partitionKey))
            }
        }
        try errors.check()
        if let badHashKey { throw badHashKey }
        if let tooLarge { throw StreamError(.invalidArgument, tooLarge) }
        if !pathPrefix.isEmpty && total > StreamLimits.putRecordsMaximumBytes {
            throw StreamError(.invalidArgument, "Records size exceeds 5 MB limit")
        }
        return hashKeys
    }

    /// Validates, routes and appends the records, then calls `completion` once every record is
    /// durable or has failed: on this thread if nothing needs to wait, otherwise on the syncer
    /// thread of the last shard to become durable. Nothing blocks on fsync.
    ///
    /// - Throws: `StreamError` for the request as a whole (validation, unknown stream), in which
    ///   case `completion` is never called.
    func put(
        stream name: String, _ entries: [PutRecordsEntry], pathPrefix: String,
        completion: @escaping @Sendable ([Result<PutResult, StreamError>]) -> Void
    ) throws(StreamError) {
        var nameErrors = ValidationErrors()
        StreamStore.validate(streamName: name, into: &nameErrors)
        try nameErrors.check()
        let hashKeys = try validate(entries, pathPrefix: pathPrefix, stream: name)
        let stream = try stream(name)
        guard status(stream) != .creating else { throw StreamError.streamNotFound(name, account: account) }

        let collector = PutCollector(count: entries.count, completion: completion)
        var pending = Array(entries.indices)
        var attempts = 0
        while !pending.isEmpty {
            attempts += 1
            guard attempts <= 16 else {
                collector.fail(pending, StreamError(.internalFailure, "Internal service failure."))
                break
            }
            guard let routes = stream.state.withLock({ $0.deleted ? nil : $0.routes }) else {
                collector.fail(pending, StreamError.streamNotFound(name, account: account))
                break
            }
            // Group by shard, keeping request order within each shard.
            var groups: [(shard: Shard, indices: [Int])] = []
            var slotOf: [ObjectIdentifier: Int] = [:]
            for index in pending {
                guard let shard = Stream.route(hashKeys[index], in: routes) else {
                    collector.fail([index], StreamError(.internalFailure, "Internal service failure."))
                    continue
                }
                let id = ObjectIdentifier(shard)
                if let slot = slotOf[id] {
                    groups[slot].indices.append(index)
                } else {
                    slotOf[id] = groups.count
                    groups.append((shard, [index]))
                }
            }
            var reroute: [Int] = []
            for group in groups {
                var batch = PreparedBatch(group.indices.map { (entries[$0].partitionKey, entries[$0].data) })
                let ticket = collector.open(group.indices, shardID: group.shard.shardID)
                do throws(Shard.AppendRefusal) {
                    let (sequences, _) = try group.shard.append(&batch) { error in collector.durable(ticket, error) }
                    collector.appended(ticket, sequences)
                } catch {
                    collector.abandon(ticket)
                    switch error {
                    case .closed: reroute.append(contentsOf: group.indices)
                    case .failed(let failure): collector.fail(group.indices, failure)
                    }
                }
            }
            pending = reroute.sorted()
        }
        collector.finishSetup()
    }
}

/// Gathers the outcome of one put across shards: each shard group's sequence numbers (known when
/// its append returns) and its durability (known when its callback runs, possibly earlier), and
/// calls the completion exactly once when all are known.
private final class PutCollector: Sendable {
    private struct Group {
        var indices: [Int]
        var shardID: String
        var sequences: [SequenceNumber]?
        var durable: StreamError??
    }

    private struct State {
        var results: [Result<PutResult, StreamError>?]
        var groups: [Group] = []
        var open = 1  // the setup itself, released by finishSetup
        var finished = false
    }

    private let state: Mutex<State>
    private let completion: @Sendable ([Result<PutResult, StreamError>]) -> Void

    init(count: Int, completion: @escaping @Sendable ([Result<PutResult, StreamError>]) -> Void) {
        state = Mutex(State(results: Array(repeating: nil, count: count)))
        self.completion = completion
    }

    func open(_ indices: [Int], shardID: String) -> Int {
        state.withLock { state in
            state.groups.append(Group(indices: indices, shardID: shardID))
            state.open += 1
            return state.groups.count - 1
        }
    }

    func appended(_ ticket: Int, _ sequences: [SequenceNumber]) {
        settle { state in
            state.groups[ticket].sequences = sequences
            return resolve(&state, ticket)
        }
    }

    func durable(_ ticket: Int, _ error: StreamError?) {
        settle { state in
            state.groups[ticket].durable = .some(error)
            return resolve(&state, ticket)
        }
    }

    /// The append was refused: no callback will come for this ticket.
    func abandon(_ ticket: Int) {
        settle { state in
            state.open -= 1
            return true
        }
    }

    func fail(_ indices: [Int], _ error: StreamError) {
        state.withLock { state in
            for index in indices { state.results[index] = .failure(error) }
        }
    }

    func finishSetup() {
        settle { state in
            state.open -= 1
            return true
        }
    }

    /// Fills in a group's results once both halves are known; true when something changed.
    private func resolve(_ state: inout State, _ ticket: Int) -> Bool {
        let group = state.groups[ticket]
        guard let sequences = group.sequences, let durable = group.durable else { return false }
        for (slot, index) in group.indices.enumerated() {
            if let error = durable {
                state.results[index] = .failure(error)
            } else {
                state.results[index] = .success(PutResult(shardID: group.shardID, sequenceNumber: sequences[slot]))
            }
        }
        state.open -= 1
        return true
    }

    private func settle(_ change: (inout State) -> Bool) {
        let results: [Result<PutResult, StreamError>]? = state.withLock { state in
            guard change(&state), state.open == 0, !state.finished else { return nil }
            state.finished = true
            return state.results.map { $0 ?? .failure(StreamError(.internalFailure, "Internal service failure.")) }
        }
        if let results { completion(results) }
    }
}

extension StreamStore {
    /// PutRecords without blocking: `completion` gets the per-entry results once every record is
    /// durable or has failed (see `put(stream:_:pathPrefix:completion:)`).
    /// - Throws: `StreamError` for the request as a whole; then `completion` is never called.
    package func putRecords(
        stream name: String, entries: [PutRecordsEntry],
        completion: @escaping @Sendable ([Result<PutResult, StreamError>]) -> Void
    ) throws(StreamError) {
        var errors = ValidationErrors()
        if entries.isEmpty {
            errors.add(value: "[]", at: "records", "Member must have length greater than or equal to 1")
        } else if entries.count > StreamLimits.putRecordsMaximumEntries {
            errors.add(
                value: "[\(entries.count) entries]", at: "records",
                "Member must have length less than or equal to \(StreamLimits.putRecordsMaximumEntries)")
        }
        try errors.check()
        try put(stream: name, entries, pathPrefix: "records.", completion: completion)
    }

    /// PutRecord without blocking: `completion` gets the result once the record is durable.
    /// - Throws: `StreamError` for an invalid request; then `completion` is never called.
    package func putRecord(
        stream name: String, partitionKey: String, data: [UInt8], explicitHashKey: String? = nil,
        completion: @escaping @Sendable (Result<PutResult, StreamError>) -> Void
    ) throws(StreamError) {
        try put(
            stream: name, [PutRecordsEntry(partitionKey: partitionKey, data: data, explicitHashKey: explicitHashKey)],
            pathPrefix: ""
        ) { results in completion(results[0]) }
    }
}
