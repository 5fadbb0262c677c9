import SluiceSupport
internal import Synchronization

extension StreamStore {
    /// Result of UpdateShardCount.
    package struct ShardCountUpdate: Sendable, Equatable {
        package var currentShardCount: Int
        package var targetShardCount: Int
    }

    private func activeStream(_ name: String) throws(StreamError) -> Stream {
        var errors = ValidationErrors()
        StreamStore.validate(streamName: name, into: &errors)
        try errors.check()
        let stream = try stream(name)
        let state = status(stream)
        guard state == .active else {
            throw StreamError(.resourceInUse, "Stream \(name) under account \(account) not ACTIVE, instead in state \(state.rawValue)")
        }
        return stream
    }

    private func openShard(_ raw: String, _ stream: Stream, path: String) throws(StreamError) -> ShardMetadata {
        var errors = ValidationErrors()
        if raw.isEmpty || raw.count > 128 || !raw.utf8.allSatisfy(StreamStore.isStreamNameByte) {
            errors.add(value: raw, at: path, "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
        }
        try errors.check()
        guard let index = ShardID.index(of: raw), let shard = stream.metadata.shards.first(where: { $0.index == index }) else {
            throw StreamError(.resourceNotFound, "Could not find shard \(raw) in stream \(stream.name) under account \(account).")
        }
        guard shard.isOpen else {
            throw StreamError(
                .invalidArgument,
                "Shard \(ShardID.format(index)) in stream \(stream.name) under account \(account) has already been merged or split, and thus is not eligible for merging or splitting.")
        }
        return shard
    }

    // MARK: - Split

    /// Splits an open shard at `newStartingHashKey` into `[start, key-1]` and `[key, end]`.
    ///
    /// The parent closes (its EndingSequenceNumber is set) and takes no more records; a reader
    /// that finishes the parent and continues with the children sees every record of a partition
    /// key in put order.
    /// - Throws: `StreamError`: `InvalidArgumentException` when the key is not strictly inside the
    ///   range (AWS's message), `ResourceInUseException` when the stream is not ACTIVE,
    ///   `LimitExceededException` at the shard limit.
    package func splitShard(stream name: String, shardToSplit: String, newStartingHashKey: String) throws(StreamError) {
        var errors = ValidationErrors()
        let keyIsDecimal = !newStartingHashKey.isEmpty && newStartingHashKey.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
            && (newStartingHashKey == "0" || newStartingHashKey.first != "0") && newStartingHashKey.utf8.count <= 39
        if !keyIsDecimal {
            errors.add(value: newStartingHashKey, at: "newStartingHashKey", "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})")
        }
        try errors.check()
        try adminLock.withLock { _ throws(StreamError) in
            let stream = try activeStream(name)
            let parent = try openShard(shardToSplit, stream, path: "shardToSplit")
            let range = parent.hashKeyRange
            guard let key = UInt128(newStartingHashKey), range.start < UInt128.max, key > range.start + 1, key < range.end else {
                throw StreamError(
                    .invalidArgument,
                    "NewStartingHashKey \(newStartingHashKey) used in SplitShard() on shard \(ShardID.format(parent.index)) in stream \(name) "
                        + "under account \(account) is not both greater than one plus the shard's StartingHashKey \(range.start) "
                        + "and less than the shard's EndingHashKey \(range.end).")
            }
            try checkShardLimit(adding: 1)
            try split(stream, parent: parent, at: key)
        }
    }

    /// Admin lock held.
    private func split(_ stream: Stream, parent: ShardMetadata, at key: UInt128) throws(StreamError) {
        var metadata = stream.metadata
        let now = clock.now().milliseconds
        let lower = ShardMetadata(
            index: metadata.nextShardIndex, hashKeyRange: HashKeyRange(start: parent.hashKeyRange.start, end: key - 1),
            parentIndex: parent.index, createdAt: now)
        let upper = ShardMetadata(
            index: metadata.nextShardIndex + 1, hashKeyRange: HashKeyRange(start: key, end: parent.hashKeyRange.end),
            parentIndex: parent.index, createdAt: now)
        metadata.nextShardIndex += 2
        for slot in metadata.shards.indices where metadata.shards[slot].index == parent.index {
            metadata.shards[slot].closedAt = now
        }
        metadata.shards.append(contentsOf: [lower, upper])
        try commitReshard(stream, metadata: metadata, closing: [parent.index], opening: [lower, upper])
    }

    // MARK: - Merge

    /// Merges two adjacent open shards (`shardToMerge.end + 1 == adjacentShardToMerge.start`)
    /// into one child whose parent is `shardToMerge` and adjacent parent `adjacentShardToMerge`.
    package func mergeShards(stream name: String, shardToMerge: String, adjacentShardToMerge: String) throws(StreamError) {
        try adminLock.withLock { _ throws(StreamError) in
            let stream = try activeStream(name)
            let first = try openShard(shardToMerge, stream, path: "shardToMerge")
            let second = try openShard(adjacentShardToMerge, stream, path: "adjacentShardToMerge")
            guard first.index != second.index, first.hashKeyRange.end < UInt128.max, first.hashKeyRange.end + 1 == second.hashKeyRange.start else {
                throw StreamError(
                    .invalidArgument,
                    "Shards \(ShardID.format(first.index)) and \(ShardID.format(second.index)) in stream \(name) under account \(account) "
                        + "are not an adjacent pair of shards eligible for merging")
            }
            try merge(stream, first, second)
        }
    }

    /// Admin lock held.
    private func merge(_ stream: Stream, _ first: ShardMetadata, _ second: ShardMetadata) throws(StreamError) {
        var metadata = stream.metadata
        let now = clock.now().milliseconds
        let child = ShardMetadata(
            index: metadata.nextShardIndex, hashKeyRange: HashKeyRange(start: first.hashKeyRange.start, end: second.hashKeyRange.end),
            parentIndex: first.index, adjacentParentIndex: second.index, createdAt: now)
        metadata.nextShardIndex += 1
        for slot in metadata.shards.indices where metadata.shards[slot].index == first.index || metadata.shards[slot].index == second.index {
            metadata.shards[slot].closedAt = now
        }
        metadata.shards.append(child)
        try commitReshard(stream, metadata: metadata, closing: [first.index, second.index], opening: [child])
    }

    /// Opens the children, persists the new metadata, then closes the parents and swaps the
    /// routing table. A crash before the metadata write leaves the old layout (stray child
    /// directories are ignored); after it, the new one.
    private func commitReshard(_ stream: Stream, metadata: StreamMetadata, closing: [Int], opening: [ShardMetadata]) throws(StreamError) {
        var children: [Int: Shard] = [:]
        for child in opening {
            children[child.index] = try Shard.open(
                directory: stream.directory + "/" + ShardID.format(child.index), index: child.index,
                incarnation: metadata.incarnation, closed: false, settings: settings)
        }
        try writeMetadata(metadata, directory: stream.directory)
        let parents: [Shard] = stream.state.withLock { state in
            state.metadata = metadata
            for (index, shard) in children { state.shards[index] = shard }
            state.routes = Stream.routes(metadata, state.shards)
            return closing.compactMap { state.shards[$0] }
        }
        for parent in parents { parent.closeForResharding() }
        configuration.logger.log(
            .info, "resharded",
            ["stream": stream.name, "closed": closing.map(ShardID.format).joined(separator: ","),
             "opened": opening.map { ShardID.format($0.index) }.joined(separator: ",")])
    }

    // MARK: - UpdateShardCount

    /// Scales the open shards of a stream to `targetShardCount` with uniform hash key ranges
    /// (UNIFORM_SCALING), by splitting at every new boundary and then merging away every old one.
    ///
    /// - Throws: `StreamError`: `ValidationException` (target below 1 or above 10000),
    ///   `LimitExceededException` (more than double or less than half the open shard count, or the
    ///   shard limit), `ResourceInUseException` (stream not ACTIVE).
    @discardableResult
    package func updateShardCount(stream name: String, targetShardCount target: Int) throws(StreamError) -> ShardCountUpdate {
        var errors = ValidationErrors()
        if target < 1 {
            errors.add(value: String(target), at: "targetShardCount", "Member must have value greater than or equal to 1")
        } else if target > StreamLimits.maximumShardsPerStream {
            errors.add(value: String(target), at: "targetShardCount", "Member must have value less than or equal to \(StreamLimits.maximumShardsPerStream)")
        }
        try errors.check()
        return try adminLock.withLock { _ throws(StreamError) -> ShardCountUpdate in
            let stream = try activeStream(name)
            let current = stream.metadata.openShards.count
            if target > current * 2 {
                throw StreamError(
                    .limitExceeded,
                    "UpdateShardCount cannot scale up over double your current open shard count. Current open shard count: \(current) Target shard count: \(target)")
            }
            if target * 2 < current {
                throw StreamError(
                    .limitExceeded,
                    "UpdateShardCount cannot scale down below half your current open shard count. Current open shard count: \(current) Target shard count: \(target)")
            }
            if target > current { try checkShardLimit(adding: target - current) }
            let wanted = HashKey.evenRanges(count: target).map(\.start).dropFirst()
            // 1. Split at every target boundary that is not a boundary yet.
            for boundary in wanted {
                let open = stream.metadata.openShards
                guard let owner = open.first(where: { $0.hashKeyRange.contains(boundary) }), owner.hashKeyRange.start != boundary else { continue }
                try split(stream, parent: owner, at: boundary)
            }
            // 2. Merge across every boundary that is not a target boundary.
            let targetBoundaries = Set(wanted)
            while true {
                let open = stream.metadata.openShards.sorted { $0.hashKeyRange.start < $1.hashKeyRange.start }
                guard let slot = open.indices.dropFirst().first(where: { !targetBoundaries.contains(open[$0].hashKeyRange.start) }) else { break }
                try merge(stream, open[slot - 1], open[slot])
            }
            return ShardCountUpdate(currentShardCount: current, targetShardCount: target)
        }
    }
}
