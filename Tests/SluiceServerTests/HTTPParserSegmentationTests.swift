import SluiceServer
import Testing

/// How a byte stream is cut into reads must not change what the parser makes of it (broken
/// twice, as the `http-parser` fuzz target showed; Fixtures/fuzz/regressions/http-parser holds
/// both inputs).
@Suite struct HTTPParserSegmentationTests {
    /// Every event, feeding `bytes` in reads of `size` bytes and taking events after each read.
    private func events(_ bytes: [UInt8], limits: HTTPLimits, size: Int) -> [String] {
        var parser = HTTPParser(limits: limits)
        var events: [String] = []
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + size)
            bytes[offset..<end].withUnsafeBytes { parser.append($0) }
            offset = end
            while let event = parser.next() {
                switch event {
                case .request(let request): events.append("request \(request.method) \(request.target) \(request.headers.count)")
                case .continueExpected: break
                case .failure(let status, _): events.append("failure \(status)")
                }
            }
        }
        return events
    }

    /// A head of exactly the byte limit is accepted whether its blank line arrives in one read or
    /// byte by byte; before the fix, a read that ended inside the final CRLF CRLF answered 431.
    @Test(arguments: [253, 254, 255, 256])
    func aHeadWithinTheLimitIsAcceptedHoweverItIsCut(headBytes: Int) {
        var limits = HTTPLimits()
        limits.maximumHeaderBytes = 256
        let start = "GET /health HTTP/1.1\r\nX: "
        let head = start + String(repeating: "a", count: headBytes - start.utf8.count)
        let bytes = Array((head + "\r\n\r\n").utf8)
        let whole = events(bytes, limits: limits, size: bytes.count)
        #expect(whole == ["request GET /health 1"])
        for size in [1, 2, 3, 7] {
            #expect(events(bytes, limits: limits, size: size) == whole, "reads of \(size) bytes")
        }
    }

    /// One byte over the limit is refused with 431 however it is cut.
    @Test func aHeadOverTheLimitIsRefusedHoweverItIsCut() {
        var limits = HTTPLimits()
        limits.maximumHeaderBytes = 256
        let start = "GET /health HTTP/1.1\r\nX: "
        let bytes = Array((start + String(repeating: "a", count: 257 - start.utf8.count) + "\r\n\r\n").utf8)
        for size in [1, 2, 3, bytes.count] {
            #expect(events(bytes, limits: limits, size: size) == ["failure 431"], "reads of \(size) bytes")
        }
    }

    /// A chunk size line (with extensions) of up to 1024 bytes is read however it is cut, and a
    /// longer one is refused however it is cut; before the fix, a long line that arrived in one
    /// read with its CRLF was accepted.
    @Test(arguments: [1022, 1023, 1024, 1025, 1026, 1100])
    func chunkSizeLinesAreLimitedHoweverTheyAreCut(lineBytes: Int) {
        let line = "2;" + String(repeating: "x", count: lineBytes - 2)
        let bytes = Array(("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + line + "\r\n{}\r\n0\r\n\r\n").utf8)
        let expected = lineBytes <= 1024 ? ["request POST / 1"] : ["failure 400"]
        for size in [1, 2, 5, bytes.count] {
            #expect(events(bytes, limits: HTTPLimits(), size: size) == expected, "reads of \(size) bytes")
        }
    }
    /// Trailer fields after the last chunk count against the header limit however they are cut;
    /// before, an unfinished trailer line grew without bound (reported by the fuzzing work).
    @Test(arguments: [100, 250, 257, 400, 20_000])
    func trailerFieldsAreLimitedHoweverTheyAreCut(trailerBytes: Int) {
        var limits = HTTPLimits()
        limits.maximumHeaderBytes = 256
        let head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n"
        // Trailer lines of at most 50 bytes each ("T: xxx\r\n"), `trailerBytes` in all.
        var trailer = ""
        while trailer.utf8.count < trailerBytes {
            let room = trailerBytes - trailer.utf8.count
            let line = room >= 8 ? "T: " + String(repeating: "t", count: min(45, room - 5)) + "\r\n" : String(repeating: " ", count: room)
            trailer += line
        }
        let bytes = Array((head + trailer + "\r\n").utf8)
        for size in [1, 3, 64, bytes.count] {
            let got = events(bytes, limits: limits, size: size)
            if trailerBytes > 256 {
                #expect(got == ["failure 431"], "reads of \(size) bytes")
            } else {
                #expect(got == ["request POST / 1"], "reads of \(size) bytes")
            }
        }
    }
}
