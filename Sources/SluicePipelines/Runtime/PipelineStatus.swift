package import SluiceSupport

/// Running totals of one pipeline since the service started (for `/metrics` and `status`).
package struct PipelineCounters: Sendable, Equatable {
    package var incomingRecords = 0
    package var incomingBytes = 0
    package var filesPublished = 0
    package var recordsPublished = 0
    /// Bytes of published data files as written (after compression).
    package var bytesPublished = 0
    /// Bytes of the records in published data files (before compression).
    package var uncompressedBytesPublished = 0
    package var errorFilesPublished = 0
    /// Records a processor dropped (its `Dropped` verdict).
    package var droppedRecords = 0
    package var flushes: [FlushReason: Int] = [:]
    /// Records sent to error output, by error-output type.
    package var errorRecords: [String: Int] = [:]
    package var retries = 0

    package init() {}
}

/// A point-in-time view of one pipeline.
package struct PipelineStatus: Sendable, Equatable {
    package var name: String
    package var version = 1
    /// False while publication fails past its retries, or the pipeline cannot run (the problem says why).
    package var healthy = true
    package var problem: String?
    package var openPartitions = 0
    package var pendingBatches = 0
    package var bufferedBytes = 0
    package var bufferedRecords = 0
    /// How long the oldest open buffer has been filling.
    package var oldestBufferAgeMilliseconds: Int64?
    /// Arrival time of the oldest record not yet delivered (data freshness).
    package var oldestUndeliveredArrival: Timestamp?
    /// Every shard was read to its newest record (as of the last step) and nothing read waits for
    /// a processing retry: with producers stopped, a flush then publishes everything.
    package var caughtUp = false
    package var counters = PipelineCounters()

    package init(name: String) {
        self.name = name
    }
}

extension PipelineDefinition {
    /// The first run starts at the stream's newest record instead of its trim horizon.
    var startsAtLatest: Bool {
        if case .stream(_, _, _, .latest) = source { return true }
        return false
    }
}
