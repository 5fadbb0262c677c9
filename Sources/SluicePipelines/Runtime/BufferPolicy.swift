package import SluiceSupport

/// Why a buffer was flushed. Recorded in the batch journal and counted in `/metrics`.
package enum FlushReason: String, Sendable, CaseIterable {
    /// The uncompressed bytes reached `sizeInMBs`.
    case size
    /// The oldest record has been buffered for `intervalInSeconds`.
    case interval
    /// The service is shutting down gracefully.
    case shutdown
    /// An operator asked (`sluice pipelines flush`).
    case onDemand = "on-demand"
}

/// What a partition buffer holds, as far as the flush rules are concerned.
package struct BufferState: Sendable, Equatable {
    /// When the first (oldest) record entered the buffer, on the pipeline's clock.
    package var openedAt: Timestamp
    /// Bytes appended so far, before compression.
    package var uncompressedBytes: Int
    package var recordCount: Int

    package init(openedAt: Timestamp, uncompressedBytes: Int = 0, recordCount: Int = 0) {
        self.openedAt = openedAt
        self.uncompressedBytes = uncompressedBytes
        self.recordCount = recordCount
    }
}

/// Firehose's buffering hints as a pure decision: flush when the uncompressed bytes reach the
/// size limit or the oldest record has waited the interval, whichever comes first.
///
/// The interval counts from when the oldest record entered the buffer (not from its arrival in
/// the stream), so a pipeline catching up on a backlog still writes full files instead of one
/// file per read. Time comes from the caller: tests drive it with a manual clock.
package struct BufferPolicy: Sendable, Equatable {
    /// `sizeInMBs` in bytes (1 MB = 1 MiB, as Firehose counts).
    package var sizeLimitBytes: Int
    package var intervalMilliseconds: Int64

    package init(sizeLimitBytes: Int, intervalMilliseconds: Int64) {
        self.sizeLimitBytes = sizeLimitBytes
        self.intervalMilliseconds = intervalMilliseconds
    }

    package init(sizeInMBs: Int, intervalInSeconds: Int) {
        self.init(sizeLimitBytes: sizeInMBs << 20, intervalMilliseconds: Int64(intervalInSeconds) * 1000)
    }

    /// When the buffer is due by age.
    package func deadline(of state: BufferState) -> Timestamp {
        state.openedAt.adding(milliseconds: intervalMilliseconds)
    }

    /// The reason to flush now, or nil to keep buffering. Size wins over interval when both hold.
    package func flushReason(for state: BufferState, now: Timestamp) -> FlushReason? {
        if state.recordCount == 0 { return nil }
        if state.uncompressedBytes >= sizeLimitBytes { return .size }
        if now >= deadline(of: state) { return .interval }
        return nil
    }
}
