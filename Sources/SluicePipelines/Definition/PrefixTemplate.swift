/// A parsed S3-style key prefix with Firehose's `!{namespace:value}` expressions
/// (reference firehose.md §3.2).
///
/// Expressions: `!{timestamp:PATTERN}` (see `TimestampPattern`), `!{firehose:random-string}`,
/// `!{firehose:error-output-type}`, `!{partitionKeyFromQuery:NAME}` and
/// `!{partitionKeyFromLambda:NAME}`. Everything else is literal text, except that `!{` may
/// only start an expression. The rules that tie a prefix to its error output prefix (and the
/// defaults) are in `PrefixRules`.
///
/// Rendering is a pure function of a `PrefixContext`; a template is immutable and safe to share
/// between threads.
package struct PrefixTemplate: Sendable, Equatable, CustomStringConvertible {
    /// The prefix as written (for an effective prefix: after defaults were applied).
    package let text: String
    let segments: [Segment]
    /// The template contains `!{firehose:random-string}`.
    package let hasRandomString: Bool
    /// Names used by `!{partitionKeyFromQuery:…}` and `!{partitionKeyFromLambda:…}`.
    package let usesPartitionKeys: Set<String>
    /// The template contains a `!{timestamp:…}` expression.
    package let usesTimestamp: Bool
    /// The template contains `!{firehose:error-output-type}`.
    package let usesErrorOutputType: Bool

    /// Firehose's limit on the prefix as written.
    package static let maximumTextLength = 1024
    /// Firehose's limit on the prefix after evaluation.
    package static let maximumEvaluatedLength = 512
    /// What Firehose appends to a prefix without expressions, and uses for an empty one.
    package static let defaultTimePrefix = "!{timestamp:yyyy/MM/dd/HH/}"
    /// Characters of `!{firehose:random-string}`.
    package static let randomStringLength = 11
    /// The length assumed for `!{firehose:error-output-type}` when bounding the evaluated length:
    /// the longest value Firehose documents (`AmazonOpenSearchService-failed`).
    package static let maximumErrorOutputTypeLength = 30

    enum Segment: Sendable {
        /// UTF-8 bytes of literal text.
        case literal([UInt8])
        case timestamp(TimestampPattern)
        /// The n-th `!{firehose:random-string}` of the template, counting from 0.
        case randomString(occurrence: Int)
        case errorOutputType
        case partitionKey(name: String, fromLambda: Bool)
    }

    /// Parses `text`.
    /// - Throws: `PrefixError.syntax` naming the expression and the fix.
    package init(parsing text: String) throws(PrefixError) {
        self.text = text
        segments = try Self.parse(text)
        var random = false
        var keys: Set<String> = []
        var timestamp = false
        var errorType = false
        for segment in segments {
            switch segment {
            case .literal: break
            case .timestamp: timestamp = true
            case .randomString: random = true
            case .errorOutputType: errorType = true
            case .partitionKey(let name, _): keys.insert(name)
            }
        }
        hasRandomString = random
        usesPartitionKeys = keys
        usesTimestamp = timestamp
        usesErrorOutputType = errorType
    }

    /// The template has at least one `!{…}` expression.
    package var hasExpressions: Bool {
        segments.contains {
            if case .literal = $0 { return false }
            return true
        }
    }

    package var description: String { text }

    package static func == (lhs: PrefixTemplate, rhs: PrefixTemplate) -> Bool {
        lhs.text == rhs.text
    }

    /// The most characters the template can evaluate to, not counting partition key values
    /// (which are unbounded until they are known).
    package var maximumEvaluatedLength: Int {
        segments.reduce(0) { total, segment in
            switch segment {
            case .literal(let bytes): total + String(decoding: bytes, as: UTF8.self).count
            case .timestamp(let pattern): total + pattern.maximumLength
            case .randomString: total + Self.randomStringLength
            case .errorOutputType: total + Self.maximumErrorOutputTypeLength
            case .partitionKey: total
            }
        }
    }
}
