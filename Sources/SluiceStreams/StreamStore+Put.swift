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
        let results = try put(
            stream: name, [PutRecordsEntry(partitionKey: partitionKey, data: data, explicitHashKey: explicitHashKey)],
            pathPrefix: "")
        return try results[0].get()
    }

    /// Appends up to 500 records; each succeeds or fails on its own (partial failure), and the
    /// results are in request order. Returns once every successful record is durable.
    ///
    /// - Throws: `StreamError` for problems with the request as a whole (validation of any
    ///   entry, more than 500 entries or 5 MiB, unknown stream). Storage failures are reported
    ///   per entry.
    package func putRecords(stream name: String, entries: [PutRecordsEntry]) throws(StreamError) -> [Result<PutResult, StreamError>] {
        var errors = ValidationErrors()
        if entries.isEmpty {
            errors.add(value: "[]", at: "records", "Member must have length greater than or equal to 1")
        } else if entries.count > StreamLimits.putRecordsMaximumEntries {
            errors.add(
                value: "[\(entries.count) entries]", at: "records",
                "Member must have length less than or equal to \(StreamLimits.putRecordsMaximumEntries)")
        }
        try errors.check()
        return try put(stream: name, entries, pathPrefix: "records.")
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

    private func put(stream name: String, _ entries: [PutRecordsEntry], pathPrefix: String) throws(StreamError)
        -> [Result<PutResult, StreamError>]
    {
        var nameErrors = ValidationErrors()
        StreamStore.validate(streamName: name, into: &nameErrors)
        try nameErrors.check()
        let hashKeys = try validate(entries, pathPrefix: pathPrefix, stream: name)
        let stream = try stream(name)
        guard status(stream) != .creating else { throw StreamError.streamNotFound(name, account: account) }

        var results = [Result<PutResult, StreamError>?](repeating: nil, count: entries.count)
        var pending = Array(entries.indices)
        var attempts = 0
        while !pending.isEmpty {
            attempts += 1
            guard attempts <= 16 else {
                for index in pending {
                    results[index] = .failure(StreamError(.internalFailure, "Internal service failure."))
                }
                break
            }
            let routes: [Stream.Route]? = stream.state.withLock { $0.deleted ? nil : $0.routes }
            guard let routes else { throw StreamError.streamNotFound(name, account: account) }
            // Group by shard, keeping request order within each shard.
            var groups: [(shard: Shard, indices: [Int])] = []
            var slotOf: [ObjectIdentifier: Int] = [:]
            for index in pending {
                guard let shard = Stream.route(hashKeys[index], in: routes) else {
                    results[index] = .failure(StreamError(.internalFailure, "Internal service failure."))
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
            var commits: [(shard: Shard, commit: Int64, indices: [Int], sequences: [SequenceNumber])] = []
            for group in groups {
                var batch = PreparedBatch(group.indices.map { (entries[$0].partitionKey, entries[$0].data) })
                do throws(Shard.AppendRefusal) {
                    let (sequences, commit) = try group.shard.append(&batch)
                    commits.append((group.shard, commit, group.indices, sequences))
                } catch {
                    switch error {
                    case .closed: reroute.append(contentsOf: group.indices)
                    case .failed(let failure):
                        for index in group.indices { results[index] = .failure(failure) }
                    }
                }
            }
            for commit in commits {
                var failure: StreamError?
                if settings.durability == .always {
                    do throws(StreamError) { try commit.shard.waitUntilDurable(commit.commit) } catch { failure = error }
                }
                for (slot, index) in commit.indices.enumerated() {
                    if let failure {
                        results[index] = .failure(failure)
                    } else {
                        results[index] = .success(PutResult(shardID: commit.shard.shardID, sequenceNumber: commit.sequences[slot]))
                    }
                }
            }
            pending = reroute.sorted()
        }
        return results.map { $0! }
    }
}
