package import SluiceSupport

/// What a prefix is rendered from: one batch's identity.
package struct PrefixContext: Sendable, Equatable {
    /// The instant every `!{timestamp:…}` expression prints: Firehose uses the approximate
    /// arrival time of the oldest record in the object.
    package var timestamp: Timestamp
    /// The value of `!{firehose:error-output-type}` (`processing-failed`, …); nil for data files.
    package var errorOutputType: String?
    /// Values of `!{partitionKeyFromQuery:NAME}` and `!{partitionKeyFromLambda:NAME}`, by NAME
    /// (both namespaces read the same keys).
    package var partitionKeys: [String: String]
    /// Seeds `!{firehose:random-string}`: the same seed renders the same strings, so a batch
    /// rebuilt after a crash gets the same name.
    package var randomSeed: UInt64

    package init(
        timestamp: Timestamp, errorOutputType: String? = nil, partitionKeys: [String: String] = [:], randomSeed: UInt64 = 0
    ) {
        self.timestamp = timestamp
        self.errorOutputType = errorOutputType
        self.partitionKeys = partitionKeys
        self.randomSeed = randomSeed
    }
}
