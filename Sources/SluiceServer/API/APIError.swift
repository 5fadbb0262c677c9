package import SluiceStreams

/// An error of the Kinesis API layer, as it goes on the wire: an AWS error name (`__type`), a
/// message, and an HTTP status (400, or 500 for `InternalFailureException`).
///
/// Domain errors from the stream core (`StreamError`) are mapped here exactly once
/// (`init(_:)`); storage failures keep their full text in `cause` for the log, and clients see
/// a message without internal paths.
package struct APIError: Error, CustomStringConvertible, Sendable {
    /// The AWS error name, the `__type` of the JSON body and the `x-amzn-ErrorType` header.
    package struct Code: RawRepresentable, Hashable, Sendable {
        package var rawValue: String

        package init(rawValue: String) {
            self.rawValue = rawValue
        }

        package static let serialization = Code(rawValue: "SerializationException")
        package static let validation = Code(rawValue: "ValidationException")
        package static let invalidArgument = Code(rawValue: "InvalidArgumentException")
        package static let resourceNotFound = Code(rawValue: "ResourceNotFoundException")
        package static let resourceInUse = Code(rawValue: "ResourceInUseException")
        package static let limitExceeded = Code(rawValue: "LimitExceededException")
        package static let expiredIterator = Code(rawValue: "ExpiredIteratorException")
        package static let expiredNextToken = Code(rawValue: "ExpiredNextTokenException")
        package static let unknownOperation = Code(rawValue: "UnknownOperationException")
        package static let internalFailure = Code(rawValue: "InternalFailureException")
        /// Firehose's throttling / cannot-store answer (HTTP 503, retried by the SDKs).
        package static let serviceUnavailable = Code(rawValue: "ServiceUnavailableException")
    }

    package var code: Code
    /// The message; nil sends `{"__type": ...}` alone.
    package var message: String?
    /// The underlying core error, logged with the request id (never sent for internal failures).
    package var cause: StreamError?

    package init(_ code: Code, _ message: String?, cause: StreamError? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// Maps a stream-core error to its wire form. Internal failures (disk full, I/O errors,
    /// corruption) become `InternalFailureException` "Internal service failure." so no data
    /// directory path reaches the client; the full error stays in `cause` for the log.
    package init(_ error: StreamError) {
        switch error.code {
        case .internalFailure:
            self.init(.internalFailure, "Internal service failure.", cause: error)
        default:
            self.init(Code(rawValue: error.awsName), error.message, cause: error)
        }
    }

    /// 500 for `InternalFailureException`, 503 for Firehose's `ServiceUnavailableException`, 400
    /// for everything else (AWS models every other Kinesis exception as a client error).
    package var status: Int {
        switch code {
        case .internalFailure: 500
        case .serviceUnavailable: 503
        default: 400
        }
    }

    /// AWS sends `SerializationException` messages under a capital `Message` key (Coral's JSON
    /// layer); every other error uses `message`.
    package var messageKey: String { code == .serialization ? "Message" : "message" }

    package var description: String {
        var text = code.rawValue
        if let message { text += ": " + message }
        if let cause, cause.code == .internalFailure { text += " (\(cause))" }
        return text
    }

    // MARK: - Common errors

    /// A JSON member of the wrong type (AWS's Coral/Jackson wording, reference §1.5).
    static func serialization(_ message: String) -> APIError {
        APIError(.serialization, message)
    }

    static func invalidArgument(_ message: String) -> APIError {
        APIError(.invalidArgument, message)
    }
}

/// Runs a stream-core call and maps its `StreamError` to an `APIError`.
@inline(__always)
func mapped<T>(_ body: () throws(StreamError) -> T) throws(APIError) -> T {
    do {
        return try body()
    } catch {
        throw APIError(error)
    }
}

extension ValidationErrors {
    /// Throws the Coral-style `ValidationException` if anything was added.
    func checkAPI() throws(APIError) {
        if let error { throw APIError(error) }
    }
}
