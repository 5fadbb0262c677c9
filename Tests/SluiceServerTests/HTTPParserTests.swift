import SluiceServer
import Testing

@Suite struct HTTPParserTests {
    private func feed(_ text: String, limits: HTTPLimits = HTTPLimits(), in pieces: Int = 1) -> [HTTPParser.Event] {
        var parser = HTTPParser(limits: limits)
        var events: [HTTPParser.Event] = []
        let bytes = Array(text.utf8)
        let size = max(1, (bytes.count + pieces - 1) / pieces)
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + size)
            bytes[offset..<end].withUnsafeBytes { parser.append($0) }
            offset = end
            while let event = parser.next() { events.append(event) }
        }
        return events
    }

    private func requests(_ events: [HTTPParser.Event]) -> [HTTPRequest] {
        events.compactMap { if case .request(let request) = $0 { return request } else { return nil } }
    }

    @Test(arguments: [1, 2, 7, 1000])
    func parsesARequestWithContentLengthFedInAnyPieces(pieces: Int) {
        let events = feed("POST /x HTTP/1.1\r\nHost: a\r\nX-Amz-Target: T\r\nContent-Length: 5\r\n\r\nhello", in: pieces)
        let parsed = requests(events)
        #expect(parsed.count == 1)
        #expect(parsed.first?.method == "POST")
        #expect(parsed.first?.target == "/x")
        #expect(parsed.first?.headers["x-amz-target"] == "T")
        #expect(parsed.first?.body == Array("hello".utf8))
    }

    @Test func parsesPipelinedRequestsInOrder() {
        let one = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
        let two = "POST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
        let three = "GET /c HTTP/1.1\r\n\r\n"
        #expect(requests(feed(one + two + three)).map(\.target) == ["/a", "/b", "/c"])
    }

    @Test(arguments: [1, 3, 64])
    func parsesChunkedBodies(pieces: Int) {
        let text = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
        let parsed = requests(feed(text, in: pieces))
        #expect(parsed.map { String(decoding: $0.body, as: UTF8.self) } == ["hello world"])
    }

    @Test func asksForContinueBeforeTheBodyArrives() {
        var parser = HTTPParser(limits: HTTPLimits())
        Array("PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n".utf8).withUnsafeBytes { parser.append($0) }
        guard case .some(.continueExpected) = parser.next() else {
            Issue.record("expected a 100-continue event")
            return
        }
        #expect(parser.next() == nil)
        Array("abc".utf8).withUnsafeBytes { parser.append($0) }
        guard case .some(.request(let request)) = parser.next() else {
            Issue.record("expected the request")
            return
        }
        #expect(request.body == Array("abc".utf8))
    }

    @Test(arguments: [
        ("GARBAGE\r\n\r\n", 400),
        ("GET / HTTP/2.0\r\n\r\n", 505),
        ("get / HTTP/1.1\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n", 413),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", 417),
        ("POST / HTTP/1.1\r\n folded: header\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello", 400),
    ])
    func malformedRequestsFailWithTheRightStatus(text: String, status: Int) {
        let events = feed(text)
        guard case .some(.failure(let got, let message)) = events.last else {
            Issue.record("expected a failure for \(text.debugDescription), got \(events)")
            return
        }
        #expect(got == status)
        #expect(!message.isEmpty)
    }

    @Test func headerBytesAndCountLimitsAnswer431() {
        var limits = HTTPLimits()
        limits.maximumHeaderBytes = 256
        limits.maximumHeaderCount = 3
        let long = "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 400)
        guard case .some(.failure(431, _)) = feed(long, limits: limits).last else {
            Issue.record("a header block over the byte limit must fail with 431 even before it ends")
            return
        }
        guard case .some(.failure(431, _)) = feed("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", limits: limits).last else {
            Issue.record("more header fields than the limit must fail with 431")
            return
        }
    }

    @Test func chunkedBodiesOverTheLimitAnswer413() {
        var limits = HTTPLimits()
        limits.maximumBodyBytes = 8
        guard case .some(.failure(413, _)) = feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n", limits: limits).last else {
            Issue.record("a chunk beyond the body limit must fail with 413")
            return
        }
    }

    /// The head is split on bytes (CRLF, colon, spaces), not on Unicode characters: a combining
    /// mark right after the colon or a space is part of the value, as RFC 9110's obs-text says,
    /// and optional white space around a value is trimmed.
    @Test func headerFieldsAreSplitOnBytes() {
        let text = "POST /p HTTP/1.1\r\nX-Mark:\u{301}v\r\nX-Space: \t padded \t\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n"
        let parsed = requests(feed(text, in: 3))
        #expect(parsed.count == 1)
        #expect(parsed.first?.headers["x-mark"] == "\u{301}v")
        #expect(parsed.first?.headers["x-space"] == "padded")
        #expect(parsed.first?.headers["x-empty"] == "")
        #expect(parsed.first?.headers.count == 4)
    }

    @Test func theFirstMalformedLineDecidesTheAnswerBeforeConflictingLengths() {
        let conflicting = "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n"
        guard case .some(.failure(400, let message)) = feed(conflicting + "\r\n").last else {
            Issue.record("conflicting lengths must fail with 400")
            return
        }
        #expect(message.contains("conflicting Content-Length"))
        guard case .some(.failure(400, let malformed)) = feed(conflicting + "no colon here\r\n\r\n").last else {
            Issue.record("a malformed line must fail with 400")
            return
        }
        #expect(malformed == "Malformed header field line.")
        guard case .some(.failure(400, let spaced)) = feed("GET / HTTP/1.1\r\nBad Name: v\r\n\r\n").last else {
            Issue.record("a name with a space must fail with 400")
            return
        }
        #expect(spaced == "Header field names may not contain spaces.")
    }

    @Test func requestLinesNeedExactlyThreeParts() {
        for line in ["GET  / HTTP/1.1", "GET / HTTP/1.1 x", "get / HTTP/1.1", " / HTTP/1.1", "GET /"] {
            guard case .some(.failure(400, let message)) = feed(line + "\r\n\r\n").last else {
                Issue.record("'\(line)' must fail with 400")
                continue
            }
            #expect(message == "The request line is not 'METHOD TARGET HTTP/1.1'.", "\(line)")
        }
        guard case .some(.failure(505, _)) = feed("GET / HTTP/2.0\r\n\r\n").last else {
            Issue.record("an HTTP/2.0 request line must fail with 505")
            return
        }
        guard case .some(.failure(400, let empty)) = feed("GET / \r\n\r\n").last else {
            Issue.record("an empty version must fail with 400")
            return
        }
        #expect(empty == "Only HTTP/1.1 and HTTP/1.0 are supported; got ''.")
    }
}
