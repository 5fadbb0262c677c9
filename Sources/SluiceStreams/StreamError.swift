package import SluiceSupport

/// An error from the stream core, carrying the AWS error name it maps to on the wire.
///
/// Messages follow AWS's wording where `reference/kinesis.md` gives it, and otherwise say what
/// failed, on which object, why, and what to do.
package struct StreamError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The kind of failure; its raw value is the AWS `__type`.
    package enum Code: String, Sendable, Equatable {
        case resourceNotFound = "ResourceNotFoundException"
        case resourceInUse = "ResourceInUseException"
        case invalidArgument = "InvalidArgumentException"
        case limitExceeded = "LimitExceededException"
        case expiredIterator = "ExpiredIteratorException"
        case validation = "ValidationException"
        /// Storage failures (ENOSPC, EIO) and corruption: a server fault, HTTP 500 on the wire.
        case internalFailure = "InternalFailureException"
    }

    package var code: Code
    package var message: String
    /// The system error underneath, for storage failures.
    package var cause: SystemError?

    package init(_ code: Code, _ message: String, cause: SystemError? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// The AWS error name (`__type`).
    package var awsName: String { code.rawValue }

    package var description: String {
        if let cause { return "\(code.rawValue): \(message) (\(cause))" }
        return "\(code.rawValue): \(message)"
    }

    package static func == (lhs: StreamError, rhs: StreamError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message
    }

    // MARK: - Factories in AWS wording

    static func streamNotFound(_ name: String, account: String) -> StreamError {
        StreamError(.resourceNotFound, "Stream \(name) under account \(account) not found.")
    }

    static func shardNotFound(_ shard: String, stream: String, account: String) -> StreamError {
        StreamError(.resourceNotFound, "Shard \(shard) in stream \(stream) under account \(account) does not exist")
    }

    static func storage(_ action: String, _ error: SystemError) -> StreamError {
        StreamError(.internalFailure, "\(action): \(error). \(error.remedy)", cause: error)
    }
}

/// Builds AWS's Coral-style validation message:
/// `"2 validation errors detected: Value 'x' at 'streamName' failed to satisfy constraint: ...; ..."`.
package struct ValidationErrors: Sendable {
    private(set) var items: [String] = []

    package init() {}

    package var isEmpty: Bool { items.isEmpty }

    /// Adds one item. `value` is rendered quoted, or as bare `null` when nil.
    package mutating func add(value: String?, at path: String, _ rule: String) {
        let rendered = value.map { "'\($0)'" } ?? "null"
        items.append("Value \(rendered) at '\(path)' failed to satisfy constraint: \(rule)")
    }

    /// The rendered blob form AWS prints for byte values.
    package static func blob(_ count: Int) -> String {
        "java.nio.HeapByteBuffer[pos=0 lim=\(count) cap=\(count)]"
    }

    /// The error, or nil when nothing was added. AWS counts at most 10 items.
    package var error: StreamError? {
        guard !items.isEmpty else { return nil }
        let shown = Array(items.prefix(10))
        let noun = shown.count == 1 ? "error" : "errors"
        return StreamError(.validation, "\(shown.count) validation \(noun) detected: " + shown.joined(separator: "; "))
    }

    /// Throws the error if anything was added.
    package func check() throws(StreamError) {
        if let error { throw error }
    }
}
