package import SluiceSupport
internal import Synchronization

/// Where a shard iterator starts.
package enum ShardIteratorType: String, Sendable, CaseIterable {
    case atSequenceNumber = "AT_SEQUENCE_NUMBER"
    case afterSequenceNumber = "AFTER_SEQUENCE_NUMBER"
    case trimHorizon = "TRIM_HORIZON"
    case latest = "LATEST"
    case atTimestamp = "AT_TIMESTAMP"
}

/// What GetRecords returns.
package struct GetRecordsResult: Sendable {
    package var records: [StoredRecord]
    /// Absent once a closed shard has been read to its end.
    package var nextShardIterator: String?
    /// How far the reader is behind the newest record of the shard; 0 when caught up.
    package var millisBehindLatest: Int64
    /// The shards that continue a closed shard, once it has been read to its end.
    package var childShards: [ChildShard]
}

extension StreamStore {
    // MARK: - Starting positions

    /// Whether a reader whose next position in `shardID` is `position` may have missed records
    /// that retention removed (its position lies in a segment retention deleted). A position
    /// before TRIM_HORIZON only because empty segments were removed at start-up is no loss.
    package func mayHaveLostToRetention(stream name: String, shardID rawShardID: String, position: ShardPosition) -> Bool {
        guard let shardIndex = ShardID.index(of: rawShardID), let stream = try? stream(name),
            let shard = stream.state.withLock({ $0.shards[shardIndex] })
        else { return false }
        return shard.mayHaveLostToRetention(position)
    }

    /// The position an iterator of `type` starts at. Shared by `shardIterator` and in-process
    /// consumers.
    ///
    /// - Throws: `StreamError` with the AWS messages for each invalid combination (see
    ///   `reference/kinesis.md` §2.6).
    package func startingPosition(
        stream name: String, shardID rawShardID: String, type: ShardIteratorType, startingSequenceNumber: String? = nil,
        timestamp: Timestamp? = nil
    ) throws(StreamError) -> (shardIndex: Int, position: ShardPosition) {
        var errors = ValidationErrors()
        StreamStore.validate(streamName: name, into: &errors)
        if let startingSequenceNumber, !StreamStore.isSequenceNumberPattern(startingSequenceNumber) {
            errors.add(value: startingSequenceNumber, at: "startingSequenceNumber", "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})")
        }
        try errors.check()
        guard let shardIndex = ShardID.index(of: rawShardID) else {
            throw StreamError(.resourceNotFound, "Could not find shard \(rawShardID) in stream \(name) under account \(account).")
        }
        let shardID = ShardID.format(shardIndex)
        switch type {
        case .atSequenceNumber, .afterSequenceNumber:
            if startingSequenceNumber == nil {
                throw StreamError(
                    .invalidArgument,
                    "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or "
                        + "(2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified \(type.rawValue) and no StartingSequenceNumber.")
            }
        case .trimHorizon, .latest:
            if startingSequenceNumber != nil {
                throw StreamError(
                    .invalidArgument,
                    "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or "
                        + "(2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified \(type.rawValue) and also a StartingSequenceNumber.")
            }
        case .atTimestamp:
            guard timestamp != nil else {
                throw StreamError(
                    .invalidArgument,
                    "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.")
            }
        }
        let stream = try stream(name)
        let metadata = stream.metadata
        guard status(stream) != .creating else { throw StreamError.streamNotFound(name, account: account) }
        guard let shard = stream.state.withLock({ $0.shards[shardIndex] }) else {
            throw StreamError.shardNotFound(shardID, stream: name, account: account)
        }
        switch type {
        case .trimHorizon:
            return (shardIndex, shard.trimHorizon())
        case .latest:
            return (shardIndex, shard.tip())
        case .atTimestamp:
            let now = clock.now()
            let timestamp = timestamp!
            if timestamp > now {
                throw StreamError(
                    .invalidArgument,
                    "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. "
                        + "timestampInMillis: \(timestamp.milliseconds), currentTimestampInMillis: \(now.milliseconds)")
            }
            return (shardIndex, try shard.firstRecord(arrivedAtOrAfter: timestamp))
        case .atSequenceNumber, .afterSequenceNumber:
            let text = startingSequenceNumber!
            let invalid = "StartingSequenceNumber \(text) used in GetShardIterator on shard \(shardID) in stream \(name) under account \(account) is invalid"
            guard let sequence = SequenceNumber(text) else { throw StreamError(.invalidArgument, invalid + ".") }
            guard sequence.incarnation == metadata.incarnation else {
                throw StreamError(.invalidArgument, invalid + " because it did not come from this stream.")
            }
            guard sequence.shardIndex == shardIndex else {
                throw StreamError(
                    .invalidArgument,
                    "Invalid StartingSequenceNumber. It encodes \(ShardID.format(sequence.shardIndex)), while it was used in a call to a shard with \(shardID)")
            }
            let position = sequence.position
            if position == .end {
                if type == .afterSequenceNumber || shard.isClosed {
                    guard type == .atSequenceNumber else {
                        throw StreamError(
                            .invalidArgument,
                            "Invalid SequenceNumber for ShardIteratorType AFTER_SEQUENCE_NUMBER, SequenceNumber has reached max possible value for the shard.")
                    }
                    return (shardIndex, .end)
                }
            }
            let tip = shard.tip()
            if position > tip && !(shard.isClosed && position == .end) {
                throw StreamError(
                    .invalidArgument,
                    invalid + " because it is beyond the newest record of the shard (the next record will be at or after \(SequenceNumber(shardIndex: shardIndex, incarnation: metadata.incarnation, position: tip))). Use LATEST to wait for new records.")
            }
            if type == .atSequenceNumber {
                return (shardIndex, try shard.firstRecord(atOrAfter: position))
            }
            // AFTER: the first record strictly after `position`.
            return (shardIndex, try shard.firstRecord(atOrAfter: ShardPosition(packed: position.packed + 1)))
        }
    }

    static func isSequenceNumberPattern(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 129, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return false }
        return text == "0" || text.first != "0"
    }

    // MARK: - Iterators

    /// GetShardIterator: an opaque token for reading `shardID` from the given start.
    package func shardIterator(
        stream name: String, shardID: String, type: ShardIteratorType, startingSequenceNumber: String? = nil,
        timestamp: Timestamp? = nil
    ) throws(StreamError) -> String {
        let (shardIndex, position) = try startingPosition(
            stream: name, shardID: shardID, type: type, startingSequenceNumber: startingSequenceNumber, timestamp: timestamp)
        let incarnation = try stream(name).metadata.incarnation
        return ShardIteratorToken(
            streamName: name, incarnation: incarnation, shardIndex: shardIndex, position: position, issued: clock.now()
        ).encode(key: iteratorKey)
    }

    /// GetRecords: up to `limit` records (1-10000, default 10000) and at most 10 MiB from an
    /// iterator. Does not block.
    ///
    /// - Throws: `StreamError`: `ValidationException` (limit), `InvalidArgumentException`
    ///   ("Invalid ShardIterator." for a malformed, tampered or foreign token),
    ///   `ExpiredIteratorException` (older than 300 s on the store's clock),
    ///   `ResourceNotFoundException` (stream or shard gone).
    package func getRecords(iterator: String, limit: Int? = nil) throws(StreamError) -> GetRecordsResult {
        var errors = ValidationErrors()
        if let limit {
            if limit < 1 {
                errors.add(value: String(limit), at: "limit", "Member must have value greater than or equal to 1")
            } else if limit > StreamLimits.getRecordsMaximumLimit {
                errors.add(value: String(limit), at: "limit", "Member must have value less than or equal to \(StreamLimits.getRecordsMaximumLimit)")
            }
        }
        if iterator.isEmpty {
            errors.add(value: iterator, at: "shardIterator", "Member must have length greater than or equal to 1")
        } else if iterator.count > 512 {
            errors.add(value: iterator, at: "shardIterator", "Member must have length less than or equal to 512")
        }
        try errors.check()
        guard let token = ShardIteratorToken.decode(iterator, key: iteratorKey) else {
            throw StreamError(.invalidArgument, "Invalid ShardIterator.")
        }
        let now = clock.now()
        if now.milliseconds - token.issued.milliseconds > configuration.iteratorLifetimeMilliseconds {
            throw StreamError(
                .expiredIterator,
                "Iterator expired. The iterator was created at time \(JavaDate.format(token.issued)) while right now it is "
                    + "\(JavaDate.format(now)) which is further in the future than the tolerated delay of \(configuration.iteratorLifetimeMilliseconds) milliseconds.")
        }
        let shardID = ShardID.format(token.shardIndex)
        guard let stream = streams.withLock({ $0[token.streamName] }), stream.metadata.incarnation == token.incarnation,
            let shard = stream.state.withLock({ $0.shards[token.shardIndex] })
        else {
            throw StreamError.shardNotFound(shardID, stream: token.streamName, account: account)
        }
        let read = try shard.read(
            from: token.position, limit: limit ?? StreamLimits.getRecordsMaximumLimit,
            maximumBytes: StreamLimits.getRecordsMaximumBytes)
        var behind: Int64 = 0
        if !read.caughtUp, let tip = read.tipArrival, let last = read.records.last {
            behind = max(0, tip.milliseconds - last.arrival.milliseconds)
        }
        if read.reachedShardEnd {
            return GetRecordsResult(
                records: read.records, nextShardIterator: nil, millisBehindLatest: 0,
                childShards: childShards(of: token.shardIndex, in: stream.metadata))
        }
        let next = ShardIteratorToken(
            streamName: token.streamName, incarnation: token.incarnation, shardIndex: token.shardIndex, position: read.next,
            issued: now
        ).encode(key: iteratorKey)
        return GetRecordsResult(records: read.records, nextShardIterator: next, millisBehindLatest: behind, childShards: [])
    }

    func childShards(of index: Int, in metadata: StreamMetadata) -> [ChildShard] {
        metadata.shards
            .filter { $0.parentIndex == index || $0.adjacentParentIndex == index }
            .sorted { $0.index < $1.index }
            .map { child in
                ChildShard(
                    shardID: ShardID.format(child.index),
                    parentShardIDs: [child.parentIndex, child.adjacentParentIndex].compactMap { $0.map(ShardID.format) },
                    hashKeyRange: child.hashKeyRange)
            }
    }

    // MARK: - In-process consumers

    func shard(stream name: String, index: Int) throws(StreamError) -> Shard {
        let stream = try stream(name)
        guard let shard = stream.state.withLock({ $0.shards[index] }) else {
            throw StreamError.shardNotFound(ShardID.format(index), stream: name, account: account)
        }
        return shard
    }

    /// Reads from a position without an iterator token (for in-process consumers). Does not block.
    package func read(
        stream name: String, shardIndex: Int, from position: ShardPosition, limit: Int = StreamLimits.getRecordsMaximumLimit,
        maximumBytes: Int = StreamLimits.getRecordsMaximumBytes
    ) throws(StreamError) -> ShardRead {
        try shard(stream: name, index: shardIndex).read(from: position, limit: limit, maximumBytes: maximumBytes)
    }

    /// Like `read`, but if nothing is readable yet, blocks until a record arrives, the shard is
    /// closed, the store closes, or `timeoutMilliseconds` pass: no polling.
    package func follow(
        stream name: String, shardIndex: Int, from position: ShardPosition, limit: Int = StreamLimits.getRecordsMaximumLimit,
        maximumBytes: Int = StreamLimits.getRecordsMaximumBytes, timeoutMilliseconds: Int
    ) throws(StreamError) -> ShardRead {
        let shard = try shard(stream: name, index: shardIndex)
        let first = try shard.read(from: position, limit: limit, maximumBytes: maximumBytes)
        if !first.records.isEmpty || first.reachedShardEnd { return first }
        shard.waitForRecords(after: first.next, nanoseconds: Int64(timeoutMilliseconds) * 1_000_000)
        return try shard.read(from: first.next, limit: limit, maximumBytes: maximumBytes)
    }

    /// The children of a shard (to continue after `ShardRead.reachedShardEnd`).
    package func childShards(stream name: String, shardIndex: Int) throws(StreamError) -> [ChildShard] {
        childShards(of: shardIndex, in: try stream(name).metadata)
    }

    /// Holds the records of `shardIndex` at or after `position` against retention on behalf of
    /// `consumer` (a pipeline's undelivered records); `nil` releases the hold.
    package func setRetentionFloor(stream name: String, shardIndex: Int, consumer: String, position: ShardPosition?) throws(StreamError) {
        try shard(stream: name, index: shardIndex).setRetentionFloor(position, for: consumer)
    }
}

/// Java's `Date.toString()` in UTC (`Thu Jan 22 01:22:02 UTC 2015`), as AWS prints in
/// ExpiredIteratorException messages.
enum JavaDate {
    static func format(_ timestamp: Timestamp) -> String {
        let c = UTCDate.components(timestamp)
        let days = Int((timestamp.milliseconds >= 0 ? timestamp.milliseconds : timestamp.milliseconds - 86_399_999) / 86_400_000)
        let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][((days % 7) + 7) % 7]
        let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][c.month - 1]
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(weekday) \(month) \(two(c.day)) \(two(c.hour)):\(two(c.minute)):\(two(c.second)) UTC \(c.year)"
    }
}
