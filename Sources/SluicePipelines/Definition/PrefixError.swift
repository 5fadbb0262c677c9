/// Why a prefix expression cannot be parsed or rendered.
package enum PrefixError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The prefix text breaks the expression grammar; `offset` is the UTF-8 offset in the text
    /// where the offending expression starts.
    case syntax(String, offset: Int)
    /// The prefix uses `!{partitionKeyFrom…:name}` and the context has no value for `name`.
    case missingPartitionKey(String)
    /// The prefix uses `!{firehose:error-output-type}` and the context has no error output type.
    case missingErrorOutputType
    /// The rendered prefix is longer than Firehose's limit of 512 characters.
    case tooLong(length: Int, limit: Int)
    /// The rendered prefix would not name a place inside the destination directory.
    case unsafePath(prefix: String, reason: String)

    package var description: String {
        switch self {
        case .syntax(let message, _):
            message
        case .missingPartitionKey(let name):
            "the prefix uses partition key \"\(name)\" but the record has no value for it"
        case .missingErrorOutputType:
            "the prefix uses !{firehose:error-output-type}, which only error output prefixes can render"
        case .tooLong(let length, let limit):
            "the prefix evaluates to \(length) characters; allowed at most \(limit)"
        case .unsafePath(let prefix, let reason):
            "the prefix evaluates to \"\(prefix)\", \(reason)"
        }
    }
}
