/// When a partition buffer is flushed: at `sizeInMBs` of records (measured before
/// compression) or when its oldest record is `intervalInSeconds` old, whichever comes first.
package struct BufferingHints: Sendable, Equatable {
    /// 1...128, default 5. One MB is 1,048,576 bytes.
    package var sizeInMBs: Int
    /// 60...900, default 300.
    package var intervalInSeconds: Int

    package static let sizeRange = 1...128
    package static let intervalRange = 60...900
    package static let `default` = BufferingHints(sizeInMBs: 5, intervalInSeconds: 300)

    package init(sizeInMBs: Int, intervalInSeconds: Int) {
        self.sizeInMBs = sizeInMBs
        self.intervalInSeconds = intervalInSeconds
    }

    /// `sizeInMBs` in bytes.
    package var sizeInBytes: Int { sizeInMBs << 20 }
}
