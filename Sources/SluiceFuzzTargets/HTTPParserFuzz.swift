import SluiceServer

/// The `http-parser` target: the input is the byte stream a client sends on one connection.
///
/// It is fed to an `HTTPParser` the way a `Connection` feeds it (append what arrived, then take
/// events until the parser wants more), three times: all at once, in pieces of 1-16 bytes cut at
/// points derived from the input, and (for inputs up to 1 KiB) one byte at a time. With the
/// default limits and with small ones (so inputs reach them), the invariants are:
/// - the three feeds give the same requests, the same failure status and the same partial state:
///   how TCP segments a stream must not change what it means;
/// - after a failure the parser gives nothing more;
/// - every request has an upper-case method, HTTP/1.1 or HTTP/1.0, at most the header count and
///   body size of the limits, header names without spaces or colons, and with `Content-Length` a
///   body of exactly that length;
/// - every failure has a status the parser documents and a message.
enum HTTPParserFuzz {
    /// Limits small enough for fuzz inputs (4 KiB by default) to cross them.
    static let smallLimits: HTTPLimits = {
        var limits = HTTPLimits()
        limits.maximumHeaderBytes = 256
        limits.maximumHeaderCount = 8
        limits.maximumBodyBytes = 512
        return limits
    }()

    static let failureStatuses: Set<Int> = [400, 413, 417, 431, 501, 505]

    /// One parser event, comparable (`continueExpected` is left out: whether it comes depends on
    /// how much of the body had arrived with the head).
    enum Outcome: Equatable, CustomStringConvertible {
        case request(method: String, target: String, version: String, headers: [String], body: [UInt8])
        case failure(status: Int)

        var description: String {
            switch self {
            case .request(let method, let target, let version, let headers, let body):
                "request \(method) \(target) \(version), \(headers.count) header fields, \(body.count) body bytes"
            case .failure(let status): "failure \(status)"
            }
        }
    }

    struct Feed: Equatable {
        var outcomes: [Outcome] = []
        /// The parser holds part of a request at the end.
        var partial = false
    }

    static func run(_ bytes: [UInt8]) throws(FuzzFailure) {
        for limits in [HTTPLimits(), smallLimits] {
            let whole = try feed(bytes, limits, pieces: [bytes.count])
            var generator = SplitMix(seed: FuzzHash.fnv1a(bytes))
            var pieces: [Int] = []
            var total = 0
            while total < bytes.count {
                let size = min(Int(generator.next() % 16) + 1, bytes.count - total)
                pieces.append(size)
                total += size
            }
            let split = try feed(bytes, limits, pieces: pieces)
            try compare(whole, split, "pieces \(pieces.prefix(12))", limits)
            if bytes.count <= 1024 {
                let single = try feed(bytes, limits, pieces: Array(repeating: 1, count: bytes.count))
                try compare(whole, single, "one byte at a time", limits)
            }
        }
    }

    private static func compare(_ whole: Feed, _ other: Feed, _ how: String, _ limits: HTTPLimits) throws(FuzzFailure) {
        guard whole != other else { return }
        let count = min(whole.outcomes.count, other.outcomes.count)
        let first = (0..<count).first { whole.outcomes[$0] != other.outcomes[$0] } ?? count
        func at(_ feed: Feed) -> String {
            first < feed.outcomes.count ? feed.outcomes[first].description : "nothing (partial: \(feed.partial))"
        }
        throw FuzzFailure(
            .httpParser,
            "fed whole, the parser gave \(whole.outcomes.count) events (partial: \(whole.partial)); fed in \(how) it gave "
                + "\(other.outcomes.count) (partial: \(other.partial)); event \(first) is \(at(whole)) versus \(at(other)) "
                + "(limits: head \(limits.maximumHeaderBytes) bytes, \(limits.maximumHeaderCount) fields, body "
                + "\(limits.maximumBodyBytes) bytes)")
    }

    /// Feeds `bytes` in pieces of the given sizes, taking every event after each piece.
    private static func feed(_ bytes: [UInt8], _ limits: HTTPLimits, pieces: [Int]) throws(FuzzFailure) -> Feed {
        var parser = HTTPParser(limits: limits)
        var result = Feed()
        var offset = 0
        var failed = false
        for size in pieces where !failed {
            bytes[offset..<(offset + size)].withUnsafeBytes { parser.append($0) }
            offset += size
            var continues = 0
            while let event = parser.next() {
                switch event {
                case .request(let request):
                    continues = 0
                    try check(request, limits)
                    result.outcomes.append(
                        .request(
                            method: request.method, target: request.target, version: request.version,
                            headers: request.headers.fields.map { $0.name + "\u{0}" + $0.value }, body: request.body))
                case .continueExpected:
                    continues += 1
                    guard continues == 1 else {
                        throw FuzzFailure(.httpParser, "the parser asked for 100 Continue twice for one request")
                    }
                case .failure(let status, let message):
                    guard failureStatuses.contains(status), !message.isEmpty else {
                        throw FuzzFailure(.httpParser, "failure with status \(status) and message \"\(message)\"")
                    }
                    result.outcomes.append(.failure(status: status))
                    failed = true
                }
                if failed { break }
            }
        }
        if failed {
            // The connection is answered and closed: nothing more may come out.
            [UInt8]("GET / HTTP/1.1\r\n\r\n".utf8).withUnsafeBytes { parser.append($0) }
            if let event = parser.next() {
                throw FuzzFailure(.httpParser, "after a failure the parser still gave \(event)")
            }
        }
        result.partial = parser.hasPartialRequest
        return result
    }

    private static func check(_ request: HTTPRequest, _ limits: HTTPLimits) throws(FuzzFailure) {
        func fail(_ message: String) -> FuzzFailure { FuzzFailure(.httpParser, message) }
        guard !request.method.isEmpty, request.method.utf8.allSatisfy({ $0 >= 65 && $0 <= 90 }) else {
            throw fail("request method \"\(request.method)\" is not upper-case letters")
        }
        guard !request.target.isEmpty, !request.target.contains(" ") else {
            throw fail("request target \"\(request.target)\" is empty or has a space")
        }
        guard request.version == "HTTP/1.1" || request.version == "HTTP/1.0" else {
            throw fail("request version \"\(request.version)\"")
        }
        guard request.headers.count <= limits.maximumHeaderCount else {
            throw fail("\(request.headers.count) header fields; the limit is \(limits.maximumHeaderCount)")
        }
        guard request.body.count <= limits.maximumBodyBytes else {
            throw fail("a body of \(request.body.count) bytes; the limit is \(limits.maximumBodyBytes)")
        }
        for field in request.headers.fields {
            guard !field.name.isEmpty, !field.name.contains(" "), !field.name.contains(":") else {
                throw fail("header field name \"\(field.name)\"")
            }
        }
        if let length = request.headers["content-length"] {
            guard Int(length) == request.body.count else {
                throw fail("Content-Length \(length) but a body of \(request.body.count) bytes")
            }
            guard request.headers["transfer-encoding"] == nil else {
                throw fail("a request with both Content-Length and Transfer-Encoding was accepted")
            }
        }
    }
}
