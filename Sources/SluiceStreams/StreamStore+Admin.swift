import SluiceSupport
internal import Synchronization

extension StreamStore {
    // MARK: - Retention

    /// Raises the retention period (24-8760 hours; equal to the current value is accepted).
    package func increaseRetention(stream name: String, hours: Int) throws(StreamError) {
        try changeRetention(stream: name, hours: hours, increase: true)
    }

    /// Lowers the retention period (24-8760 hours; equal to the current value is accepted).
    /// Records older than the new period become eligible for trimming at the next
    /// `enforceRetention()`.
    package func decreaseRetention(stream name: String, hours: Int) throws(StreamError) {
        try changeRetention(stream: name, hours: hours, increase: false)
    }

    private func changeRetention(stream name: String, hours: Int, increase: Bool) throws(StreamError) {
        var errors = ValidationErrors()
        StreamStore.validate(streamName: name, into: &errors)
        try errors.check()
        if hours < StreamLimits.minimumRetentionHours {
            throw StreamError(
                .invalidArgument,
                "Minimum allowed retention period is \(StreamLimits.minimumRetentionHours) hours. Requested retention period (\(hours) hours) is too short.")
        }
        if hours > StreamLimits.maximumRetentionHours {
            throw StreamError(
                .invalidArgument,
                "Maximum allowed retention period is \(StreamLimits.maximumRetentionHours) hours. Requested retention period (\(hours) hours) is too long.")
        }
        try adminLock.withLock { _ throws(StreamError) in
            let stream = try stream(name)
            var metadata = stream.metadata
            let current = metadata.retentionHours
            if increase && hours < current {
                throw StreamError(
                    .invalidArgument,
                    "Requested retention period (\(hours) hours) for stream \(name) can not be shorter than existing retention period (\(current) hours). Use DecreaseRetentionPeriod API.")
            }
            if !increase && hours > current {
                throw StreamError(
                    .invalidArgument,
                    "Requested retention period (\(hours) hours) for stream \(name) can not be longer than existing retention period (\(current) hours). Use IncreaseRetentionPeriod API.")
            }
            metadata.retentionHours = hours
            try writeMetadata(metadata, directory: stream.directory)
            stream.state.withLock { $0.metadata = metadata }
        }
    }

    /// Deletes whole segments older than each stream's retention period (never records a
    /// retention floor holds), and forgets closed shards once nothing of them is left and they
    /// closed longer than the retention period ago. `TRIM_HORIZON` moves with the deletions.
    ///
    /// Call it periodically (the service does); tests call it after advancing a manual clock.
    /// - Returns: the number of segments deleted.
    @discardableResult
    package func enforceRetention() throws(StreamError) -> Int {
        let all = streams.withLock { Array($0.values) }
        var deleted = 0
        let now = clock.now().milliseconds
        for stream in all {
            let (metadata, shards) = stream.state.withLock { ($0.metadata, $0.shards) }
            let cutoff = now - Int64(metadata.retentionHours) * 3_600_000
            for (_, shard) in shards {
                deleted += try shard.trim(arrivedBefore: Timestamp(milliseconds: cutoff))
            }
            let expired = metadata.shards.filter { shard in
                guard let closedAt = shard.closedAt, closedAt < cutoff, let live = shards[shard.index] else { return false }
                return live.isEmpty
            }
            if !expired.isEmpty {
                try adminLock.withLock { _ throws(StreamError) in
                    var current = stream.metadata
                    let doomed = Set(expired.map(\.index))
                    current.shards.removeAll { doomed.contains($0.index) }
                    try writeMetadata(current, directory: stream.directory)
                    stream.state.withLock { state in
                        state.metadata = current
                        for index in doomed { state.shards[index] = nil }
                    }
                    for index in doomed {
                        try storage("Cannot remove expired shard directory") {
                            try fileSystem.removeTree(stream.directory + "/" + ShardID.format(index))
                        }
                    }
                }
            }
        }
        return deleted
    }

    // MARK: - Tags

    /// Checks tags against Kinesis's rules: keys 1-128 and values 0-256 characters of Unicode
    /// letters, digits, white space and `_ . / = + - % @`; keys must not start with `aws:`.
    package static func validateTags(_ tags: [String: String], stream: String, account: String) throws(StreamError) {
        var errors = ValidationErrors()
        for key in tags.keys.sorted() {
            let value = tags[key]!
            if key.isEmpty || key.count > 128 {
                errors.add(
                    value: "{\(key)=\(value)}", at: "tags",
                    "Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]")
            }
            if value.count > 256 {
                errors.add(value: "{\(key)=\(value)}", at: "tags", "Map value must satisfy constraint: [Member must have length less than or equal to 256]")
            }
        }
        try errors.check()
        for key in tags.keys where key.lowercased().hasPrefix("aws:") {
            throw StreamError(
                .invalidArgument,
                "Tag key \(key) on stream \(stream) under account \(account) starts with 'aws:', which is reserved for AWS use. Choose another key.")
        }
        for (key, value) in tags {
            // AWS documents % as allowed but refuses it with this message (kinesalite, run against AWS).
            if key.contains("%") || value.contains("%") {
                throw StreamError(
                    .invalidArgument,
                    "Failed to add tags to stream \(stream) under account \(account) because some tags contained illegal characters. "
                        + "The allowed characters are Unicode letters, white-spaces, '_',',','/','=','+','-','@'.")
            }
            if !isTagText(key) || !isTagText(value) {
                throw StreamError(
                    .invalidArgument,
                    "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @.")
            }
        }
    }

    private static func isTagText(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { scalar in
            scalar.properties.isAlphabetic || scalar.properties.numericType != nil || scalar.properties.isWhitespace
                || "_./=+-%@".unicodeScalars.contains(scalar)
        }
    }

    /// Adds or overwrites tags (at most 50 per stream).
    package func addTags(stream name: String, tags: [String: String]) throws(StreamError) {
        var errors = ValidationErrors()
        StreamStore.validate(streamName: name, into: &errors)
        if tags.isEmpty {
            errors.add(value: "{}", at: "tags", "Member must have length greater than or equal to 1")
        } else if tags.count > 200 {
            errors.add(value: "{\(tags.count) tags}", at: "tags", "Member must have length less than or equal to 200")
        }
        try errors.check()
        try StreamStore.validateTags(tags, stream: name, account: account)
        try adminLock.withLock { _ throws(StreamError) in
            let stream = try stream(name)
            var metadata = stream.metadata
            metadata.tags.merge(tags) { _, new in new }
            if metadata.tags.count > StreamLimits.maximumTagsPerStream {
                throw StreamError(
                    .invalidArgument,
                    "Failed to add tags to stream \(name) under account \(account) because a given stream cannot have more than \(StreamLimits.maximumTagsPerStream) tags.")
            }
            try writeMetadata(metadata, directory: stream.directory)
            stream.state.withLock { $0.metadata = metadata }
        }
    }

    /// Removes tags by key (1-50 keys; unknown keys are ignored).
    package func removeTags(stream name: String, keys: [String]) throws(StreamError) {
        var errors = ValidationErrors()
        StreamStore.validate(streamName: name, into: &errors)
        if keys.isEmpty {
            errors.add(value: "[]", at: "tagKeys", "Member must have length greater than or equal to 1")
        } else if keys.count > 50 {
            errors.add(value: "[\(keys.joined(separator: ", "))]", at: "tagKeys", "Member must have length less than or equal to 50")
        }
        for key in keys where key.isEmpty || key.count > 128 {
            errors.add(
                value: "[\(keys.joined(separator: ", "))]", at: "tagKeys",
                "Member must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]")
            break
        }
        try errors.check()
        try adminLock.withLock { _ throws(StreamError) in
            let stream = try stream(name)
            var metadata = stream.metadata
            for key in keys { metadata.tags[key] = nil }
            try writeMetadata(metadata, directory: stream.directory)
            stream.state.withLock { $0.metadata = metadata }
        }
    }

    /// Tags sorted by key (code-point order), starting after `exclusiveStartKey`, at most `limit`
    /// (1-50, default 10).
    package func listTags(
        stream name: String, exclusiveStartKey: String? = nil, limit: Int? = nil
    ) throws(StreamError) -> (tags: [(key: String, value: String)], hasMore: Bool) {
        var errors = ValidationErrors()
        StreamStore.validate(streamName: name, into: &errors)
        if let limit, limit < 1 || limit > 50 {
            errors.add(
                value: String(limit), at: "limit",
                limit < 1 ? "Member must have value greater than or equal to 1" : "Member must have value less than or equal to 50")
        }
        if let exclusiveStartKey, exclusiveStartKey.isEmpty || exclusiveStartKey.count > 128 {
            errors.add(
                value: exclusiveStartKey, at: "exclusiveStartTagKey",
                exclusiveStartKey.isEmpty ? "Member must have length greater than or equal to 1" : "Member must have length less than or equal to 128")
        }
        try errors.check()
        let tags = try stream(name).metadata.tags
        let sorted = tags.keys.sorted { Array($0.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.unicodeScalars.map(\.value)) }
        let after = sorted.filter { key in
            guard let start = exclusiveStartKey else { return true }
            return Array(start.unicodeScalars.map(\.value)).lexicographicallyPrecedes(key.unicodeScalars.map(\.value))
        }
        let page = after.prefix(limit ?? 10)
        return (page.map { ($0, tags[$0]!) }, after.count > page.count)
    }

    // MARK: - Limits

    /// DescribeLimits: the account shard limit and the open shards across all streams.
    package func limits() -> (shardLimit: Int, openShardCount: Int) {
        (configuration.shardLimit, openShardCount())
    }
}
