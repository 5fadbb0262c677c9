/// Limits on what a client may send.
package struct HTTPLimits: Sendable {
    /// Request line plus header fields, in bytes.
    package var maximumHeaderBytes = 16 << 10
    package var maximumHeaderCount = 100
    /// A PutRecords of 5 MiB of data is about 7 MiB as JSON.
    package var maximumBodyBytes = 8 << 20

    package init() {}
}

/// An incremental HTTP/1.1 request parser for one connection.
///
/// Bytes go in with `append`; `next()` returns complete requests in order (pipelining), a request
/// to answer `100 Continue`, or a failure with the status to answer before closing. Not
/// thread-safe: a connection is handled by one thread at a time.
package struct HTTPParser {
    package enum Event: Sendable {
        case request(HTTPRequest)
        /// Headers asked for `Expect: 100-continue`; answer `HTTP/1.1 100 Continue` now.
        case continueExpected
        /// The request is malformed or over a limit: answer `status` and close.
        case failure(status: Int, message: String)
    }

    private struct Head {
        var method: String
        var target: String
        var version: String
        var headers: HTTPHeaders
        var contentLength: Int?
        var chunked: Bool
    }

    private enum ChunkState {
        case size
        case data(remaining: Int)
        case dataEnd
        /// Trailer lines after the last chunk; `consumed` bytes of them so far.
        case trailer(consumed: Int)
    }

    package let limits: HTTPLimits
    /// A chunk size line with its extensions, without CRLF.
    static let maximumChunkLineBytes = 1024
    private var buffer: [UInt8] = []
    private var start = 0
    private var scanned = 0
    private var head: Head?
    private var body: [UInt8] = []
    private var chunk = ChunkState.size
    private var continueAnswered = false
    private var failed = false

    package init(limits: HTTPLimits) {
        self.limits = limits
    }

    /// Whether part of a request has arrived (used for the header and body deadlines).
    package var hasPartialRequest: Bool { head != nil || buffer.count > start }

    /// Whether the headers of the pending request are still incomplete.
    package var isReadingHead: Bool { head == nil && buffer.count > start }

    package mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if start > 0 && (start >= buffer.count || start > 1 << 16) {
            buffer.removeFirst(start)
            scanned = max(0, scanned - start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next event, or nil when more bytes are needed.
    package mutating func next() -> Event? {
        if failed { return nil }
        if head == nil {
            switch parseHead() {
            case .none: return nil
            case .some(.failure(let status, let message)):
                failed = true
                return .failure(status: status, message: message)
            case .some: break
            }
        }
        guard let current = head else { return nil }
        if current.chunked {
            switch readChunks() {
            case .some(.failure(let status, let message)):
                failed = true
                return .failure(status: status, message: message)
            case .none:
                return expectContinue(current)
            case .some: break
            }
        } else {
            let length = current.contentLength ?? 0
            guard buffer.count - start >= length else { return expectContinue(current) }
            body = Array(buffer[start..<(start + length)])
            start += length
        }
        let request = HTTPRequest(method: current.method, target: current.target, version: current.version, headers: current.headers, body: body)
        head = nil
        body = []
        chunk = .size
        continueAnswered = false
        scanned = start
        return .request(request)
    }

    private mutating func expectContinue(_ current: Head) -> Event? {
        if !continueAnswered, current.version == "HTTP/1.1", current.headers["expect"]?.lowercased() == "100-continue" {
            continueAnswered = true
            return .continueExpected
        }
        return nil
    }

    private enum HeadOutcome { case parsed, failure(Int, String) }

    private mutating func parseHead() -> HeadOutcome? {
        // Skip blank lines before a request (RFC 9112 §2.2).
        while buffer.count - start >= 2 && buffer[start] == 13 && buffer[start + 1] == 10 { start += 2 }
        let from = max(start, scanned - 3)
        let end: Int? = buffer.withUnsafeBufferPointer { bytes in
            var index = from
            while index + 3 < bytes.count {
                // Step by the fourth byte of "\r\n\r\n": most bytes are neither CR nor LF.
                let byte = bytes[index + 3]
                if byte != 10 {
                    index += byte == 13 ? 1 : 4
                    continue
                }
                if bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 { return index }
                index += 1
            }
            return nil
        }
        scanned = max(scanned, buffer.count)
        guard let end else {
            // Up to three bytes of the blank line may already be here without the fourth: a head
            // within the limit must not be refused because of where the stream was cut.
            if buffer.count - start > limits.maximumHeaderBytes + 3 {
                return .failure(431, "The request line and headers exceed \(limits.maximumHeaderBytes) bytes.")
            }
            return nil
        }
        if end - start > limits.maximumHeaderBytes {
            return .failure(431, "The request line and headers exceed \(limits.maximumHeaderBytes) bytes.")
        }
        let headStart = start
        start = end + 4
        let limits = limits
        let parsed = buffer.withUnsafeBufferPointer { bytes in
            Self.parseHead(UnsafeBufferPointer(rebasing: bytes[headStart..<end]), limits: limits)
        }
        switch parsed {
        case .success(let parsedHead):
            head = parsedHead
            return .parsed
        case .failure(let failure):
            return .failure(failure.status, failure.message)
        }
    }

    private struct HeadFailure: Error {
        var status: Int
        var message: String
        init(_ status: Int, _ message: String) {
            self.status = status
            self.message = message
        }
    }

    /// Parses a request line and header fields (without the blank line) straight from bytes.
    private static func parseHead(_ bytes: UnsafeBufferPointer<UInt8>, limits: HTTPLimits) -> Result<Head, HeadFailure> {
        func text(_ from: Int, _ to: Int) -> String {
            String(decoding: UnsafeBufferPointer(rebasing: bytes[from..<to]), as: UTF8.self)
        }
        func lineEnd(from position: Int) -> Int {
            var index = position
            while index + 1 < bytes.count {
                if bytes[index] == 13 && bytes[index + 1] == 10 { return index }
                index += 1
            }
            return bytes.count
        }
        // The request line: exactly three parts separated by single spaces.
        let requestEnd = lineEnd(from: 0)
        var spaces: [Int] = []
        for index in 0..<requestEnd where bytes[index] == 32 {
            spaces.append(index)
            if spaces.count > 2 { break }
        }
        guard spaces.count == 2, spaces[0] > 0, spaces[1] > spaces[0] + 1,
            (0..<spaces[0]).allSatisfy({ bytes[$0] >= 65 && bytes[$0] <= 90 })
        else {
            return .failure(HeadFailure(400, "The request line is not 'METHOD TARGET HTTP/1.1'."))
        }
        let version = text(spaces[1] + 1, requestEnd)
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
            return .failure(HeadFailure(version.hasPrefix("HTTP/") ? 505 : 400, "Only HTTP/1.1 and HTTP/1.0 are supported; got '\(version)'."))
        }
        // Header field lines.
        var lines: [Range<Int>] = []
        if requestEnd < bytes.count {
            var position = requestEnd + 2
            while true {
                let end = lineEnd(from: position)
                lines.append(position..<end)
                if end >= bytes.count { break }
                position = end + 2
            }
        }
        if lines.count > limits.maximumHeaderCount {
            return .failure(
                HeadFailure(431, "The request has \(lines.count) header fields; at most \(limits.maximumHeaderCount) are allowed."))
        }
        var headers = HTTPHeaders()
        headers.reserveCapacity(lines.count)
        var contentLength: String?
        var transferEncoding: String?
        var expect: String?
        var conflictingLengths = false
        for line in lines {
            guard line.lowerBound < line.upperBound, bytes[line.lowerBound] != 32, bytes[line.lowerBound] != 9,
                let colon = line.first(where: { bytes[$0] == 58 }), colon != line.lowerBound
            else {
                return .failure(HeadFailure(400, "Malformed header field line."))
            }
            if (line.lowerBound..<colon).contains(where: { bytes[$0] == 32 }) {
                return .failure(HeadFailure(400, "Header field names may not contain spaces."))
            }
            var valueStart = colon + 1
            var valueEnd = line.upperBound
            while valueStart < valueEnd && (bytes[valueStart] == 32 || bytes[valueStart] == 9) { valueStart += 1 }
            while valueEnd > valueStart && (bytes[valueEnd - 1] == 32 || bytes[valueEnd - 1] == 9) { valueEnd -= 1 }
            let name = text(line.lowerBound, colon)
            let value = text(valueStart, valueEnd)
            headers.add(name, value)
            switch HTTPHeaders.wellKnown(UnsafeBufferPointer(rebasing: bytes[line.lowerBound..<colon])) {
            case .contentLength:
                if let first = contentLength, first != value { conflictingLengths = true }
                contentLength = contentLength ?? value
            case .transferEncoding: transferEncoding = transferEncoding ?? value
            case .expect: expect = expect ?? value
            case .none: break
            }
        }
        if conflictingLengths {
            // Differing lengths are how requests are smuggled past proxies (RFC 9112 §6.3).
            return .failure(HeadFailure(400, "The request carries conflicting Content-Length values."))
        }
        var length: Int? = nil
        if let lengthText = contentLength {
            guard !lengthText.isEmpty, lengthText.utf8.count <= 18, lengthText.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                let parsed = Int(lengthText)
            else {
                return .failure(HeadFailure(400, "Content-Length '\(lengthText)' is not a number."))
            }
            length = parsed
        }
        var chunked = false
        if let encoding = transferEncoding {
            guard encoding.lowercased() == "chunked" else {
                return .failure(HeadFailure(501, "Transfer-Encoding '\(encoding)' is not supported; use chunked or Content-Length."))
            }
            guard length == nil else {
                return .failure(HeadFailure(400, "A request may not carry both Content-Length and Transfer-Encoding."))
            }
            chunked = true
        }
        if let length, length > limits.maximumBodyBytes {
            return .failure(HeadFailure(413, "The request body of \(length) bytes exceeds the limit of \(limits.maximumBodyBytes) bytes."))
        }
        if let expect, expect.lowercased() != "100-continue" {
            return .failure(HeadFailure(417, "Expect '\(expect)' is not supported."))
        }
        return .success(
            Head(
                method: text(0, spaces[0]), target: text(spaces[0] + 1, spaces[1]), version: version, headers: headers,
                contentLength: length, chunked: chunked))
    }

    /// Reads chunks; nil when more bytes are needed, `.parsed` when the body is complete.
    private mutating func readChunks() -> HeadOutcome? {
        while true {
            switch chunk {
            case .size:
                // The limit holds however the line is cut: while its CRLF is incomplete, its CR may
                // already be here.
                guard let lineEnd = findLineEnd(from: start) else {
                    return buffer.count - start > Self.maximumChunkLineBytes + 1 ? .failure(400, "A chunk size line is too long.") : nil
                }
                if lineEnd - start > Self.maximumChunkLineBytes { return .failure(400, "A chunk size line is too long.") }
                var text = String(decoding: buffer[start..<lineEnd], as: UTF8.self)
                if let semicolon = text.firstIndex(of: ";") { text = String(text[..<semicolon]) }
                guard !text.isEmpty, text.utf8.count <= 8, let size = Int(text.trimmingCharacters(in: " \t"), radix: 16), size >= 0 else {
                    return .failure(400, "Malformed chunk size '\(text)'.")
                }
                start = lineEnd + 2
                if size == 0 {
                    chunk = .trailer(consumed: 0)
                } else {
                    if body.count + size > limits.maximumBodyBytes {
                        return .failure(413, "The request body exceeds the limit of \(limits.maximumBodyBytes) bytes.")
                    }
                    chunk = .data(remaining: size)
                }
            case .data(let remaining):
                let available = min(remaining, buffer.count - start)
                if available == 0 { return nil }
                body.append(contentsOf: buffer[start..<(start + available)])
                start += available
                chunk = remaining - available == 0 ? .dataEnd : .data(remaining: remaining - available)
            case .dataEnd:
                guard buffer.count - start >= 2 else { return nil }
                guard buffer[start] == 13 && buffer[start + 1] == 10 else { return .failure(400, "A chunk is not followed by CRLF.") }
                start += 2
                chunk = .size
            case .trailer(let consumed):
                // Trailer fields count against the header limit, however the lines are cut.
                let tooLong = HeadOutcome.failure(431, "The chunked body's trailer fields exceed \(limits.maximumHeaderBytes) bytes.")
                guard let lineEnd = findLineEnd(from: start) else {
                    return consumed + buffer.count - start > limits.maximumHeaderBytes + 1 ? tooLong : nil
                }
                let total = consumed + lineEnd - start + 2
                if total > limits.maximumHeaderBytes + 2 { return tooLong }
                let empty = lineEnd == start
                start = lineEnd + 2
                if empty { return .parsed }
                chunk = .trailer(consumed: total)
            }
        }
    }

    private func findLineEnd(from position: Int) -> Int? {
        var index = position
        while index + 1 < buffer.count {
            if buffer[index] == 13 && buffer[index + 1] == 10 { return index }
            index += 1
        }
        return nil
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in characters: String) -> String {
        var view = Substring(self)
        while let first = view.first, characters.contains(first) { view.removeFirst() }
        while let last = view.last, characters.contains(last) { view.removeLast() }
        return String(view)
    }
}
