/// Header fields with case-insensitive lookup, in arrival order.
package struct HTTPHeaders: Sendable, Sequence {
    package private(set) var fields: [(name: String, value: String)] = []

    package init(_ fields: [(name: String, value: String)] = []) {
        self.fields = fields
    }

    package mutating func add(_ name: String, _ value: String) {
        fields.append((name, value))
    }

    /// The first value of `name` (ASCII case-insensitive), or nil. Allocates nothing.
    package subscript(_ name: String) -> String? {
        fields.first { HTTPHeaders.equalIgnoringASCIICase($0.name, name) }?.value
    }

    static func equalIgnoringASCIICase(_ a: String, _ b: String) -> Bool {
        let x = a.utf8
        let y = b.utf8
        guard x.count == y.count else { return false }
        for (p, q) in zip(x, y) where p != q {
            let lp = p >= 65 && p <= 90 ? p + 32 : p
            let lq = q >= 65 && q <= 90 ? q + 32 : q
            if lp != lq { return false }
        }
        return true
    }

    package var count: Int { fields.count }

    mutating func reserveCapacity(_ count: Int) {
        fields.reserveCapacity(count)
    }

    /// The fields the parser itself interprets.
    enum WellKnown {
        case contentLength, transferEncoding, expect
    }

    /// Which field the name (raw bytes, any case) is, if the parser interprets it.
    static func wellKnown(_ name: UnsafeBufferPointer<UInt8>) -> WellKnown? {
        switch name.count {
        case 14: return matches(name, "content-length") ? .contentLength : nil
        case 17: return matches(name, "transfer-encoding") ? .transferEncoding : nil
        case 6: return matches(name, "expect") ? .expect : nil
        default: return nil
        }
    }

    /// Whether `bytes` equal the lower-case ASCII `name`, ignoring ASCII case.
    static func matches(_ bytes: UnsafeBufferPointer<UInt8>, _ name: StaticString) -> Bool {
        guard bytes.count == name.utf8CodeUnitCount else { return false }
        let expected = name.utf8Start
        for index in 0..<bytes.count {
            let byte = bytes[index]
            if (byte >= 65 && byte <= 90 ? byte + 32 : byte) != expected[index] { return false }
        }
        return true
    }

    package func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }
}

/// A parsed HTTP/1.1 request with its whole body.
package struct HTTPRequest: Sendable {
    package var method: String
    /// The request target as sent (`/`, `/health?x=1`).
    package var target: String
    /// `HTTP/1.1` or `HTTP/1.0`.
    package var version: String
    package var headers: HTTPHeaders
    package var body: [UInt8]

    package init(method: String, target: String, version: String = "HTTP/1.1", headers: HTTPHeaders, body: [UInt8]) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
    }

    /// The target without its query string.
    package var path: String {
        if let question = target.firstIndex(of: "?") { return String(target[..<question]) }
        return target
    }
}

/// A response to serialise. `Content-Length`, `Date`, `Connection` and `x-amzn-RequestId` are
/// added by the server.
package struct HTTPResponse: Sendable {
    package var status: Int
    package var headers: HTTPHeaders
    package var body: [UInt8]

    package init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The reason phrase for common statuses.
    package static func reason(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 400: "Bad Request"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 411: "Length Required"
        case 413: "Payload Too Large"
        case 415: "Unsupported Media Type"
        case 417: "Expectation Failed"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status"
        }
    }
}

/// Something that answers requests: the Kinesis API, health and metrics. Called on worker
/// threads, concurrently; must be thread-safe.
package protocol HTTPHandler: Sendable {
    /// Answers one request. `requestID` is the id the server sends as `x-amzn-RequestId`.
    func handle(_ request: HTTPRequest, requestID: String) -> HTTPResponse

    /// Answers one request by calling `respond` exactly once, now or later from any thread, so
    /// that a handler waiting for durability does not hold a worker thread. The default calls
    /// `handle(_:requestID:)`.
    func handle(_ request: HTTPRequest, requestID: String, respond: @escaping @Sendable (HTTPResponse) -> Void)

    /// Whether `handle(_:requestID:respond:)` returns quickly for this request without blocking
    /// (no disk reads, no fsync), so the event loop may run it itself instead of a worker.
    /// The default is false.
    func answersInline(_ request: HTTPRequest) -> Bool
}

extension HTTPHandler {
    package func answersInline(_ request: HTTPRequest) -> Bool { false }

    package func handle(_ request: HTTPRequest, requestID: String, respond: @escaping @Sendable (HTTPResponse) -> Void) {
        respond(handle(request, requestID: requestID))
    }
}
