import Foundation
import SluiceServer
import SluiceSupport
import SluiceTestSupport
import Synchronization
import Testing

/// Answers with the request body, and the method and target in headers.
private struct EchoHandler: HTTPHandler {
    func handle(_ request: HTTPRequest, requestID: String) -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.add("X-Method", request.method)
        headers.add("X-Target", request.target)
        return HTTPResponse(status: 200, headers: headers, body: request.body)
    }
}

@Suite(.timeLimit(.minutes(testTimeScale))) struct HTTPServerTests {
    private func withServer(_ adjust: (inout HTTPServerConfiguration) -> Void = { _ in }, _ body: (HTTPServer) throws -> Void) throws {
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        configuration.workers = 4
        adjust(&configuration)
        let server = try HTTPServer(configuration: configuration, handler: EchoHandler(), logger: .disabled)
        server.start()
        defer { server.shutdown(graceMilliseconds: 1000) }
        try body(server)
    }

    @Test func answersWithRequestIdAndKeepsTheConnectionAlive() throws {
        try withServer { server in
            let client = try TestHTTPClient(port: server.port)
            let first = try client.request(body: Array("one".utf8))
            #expect(first.status == 200)
            #expect(first.text == "one")
            #expect(first.headers["x-amzn-requestid"]?.count == 36)
            #expect(first.headers["connection"] == "keep-alive")
            let second = try client.request("GET", "/two")
            #expect(second.headers["x-target"] == "/two")
            #expect(first.headers["x-amzn-requestid"] != second.headers["x-amzn-requestid"])
        }
    }

    @Test func requestIdsAreDistinctVersion4UUIDs() throws {
        var seen = Set<String>()
        for _ in 0..<10_000 {
            let id = HTTPServer.makeRequestID()
            #expect(UUID(uuidString: id)?.uuidString.lowercased() == id)
            let bytes = Array(id.utf8)
            #expect(bytes[14] == UInt8(ascii: "4"))
            #expect([UInt8(ascii: "8"), UInt8(ascii: "9"), UInt8(ascii: "a"), UInt8(ascii: "b")].contains(bytes[19]))
            seen.insert(id)
        }
        #expect(seen.count == 10_000)
    }

    @Test func answersPipelinedRequestsInOrder() throws {
        try withServer { server in
            let client = try TestHTTPClient(port: server.port)
            var bytes: [UInt8] = []
            for index in 0..<20 { bytes += TestHTTPClient.encode("POST", "/\(index)", headers: [], body: Array("body-\(index)".utf8)) }
            try client.send(bytes)
            for index in 0..<20 {
                let response = try client.readResponse()
                #expect(response.headers["x-target"] == "/\(index)")
                #expect(response.text == "body-\(index)")
            }
        }
    }

    @Test func sends100ContinueBeforeReadingTheBody() throws {
        try withServer { server in
            let client = try TestHTTPClient(port: server.port)
            try client.send("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
            let interim = try client.readResponse()
            #expect(interim.status == 100)
            try client.send("data")
            let final = try client.readResponse()
            #expect(final.status == 200)
            #expect(final.text == "data")
        }
    }

    @Test func acceptsChunkedBodies() throws {
        try withServer { server in
            let client = try TestHTTPClient(port: server.port)
            try client.send("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
            #expect(try client.readResponse().text == "abcde")
        }
    }

    @Test func oversizeBodiesAreRefusedWith413BeforeTheyArrive() throws {
        try withServer({ $0.limits.maximumBodyBytes = 1024 }) { server in
            let client = try TestHTTPClient(port: server.port)
            try client.send("POST / HTTP/1.1\r\nContent-Length: 67108864\r\n\r\npartial")
            let response = try client.readResponse()
            #expect(response.status == 413)
            #expect(response.text.contains("RequestEntityTooLargeException"))
            #expect(response.headers["x-amzn-requestid"] != nil)
            #expect(try TestHTTPClient(port: server.port).request(body: [1]).status == 200)
        }
    }

    @Test func garbageGets400AndTheServerKeepsServing() throws {
        try withServer { server in
            let client = try TestHTTPClient(port: server.port)
            try client.send("\u{1}\u{2}garbage garbage\r\n\r\n")
            #expect(try client.readResponse().status == 400)
            #expect(try TestHTTPClient(port: server.port).request(body: [7]).body == [7])
        }
    }

    @Test func slowHeadersAreCutOffAtTheHeaderDeadline() throws {
        try withServer({ $0.headerTimeoutMilliseconds = 300 }) { server in
            let client = try TestHTTPClient(port: server.port, timeoutSeconds: 5)
            try client.send("POST / HTTP/1.1\r\nX-Slow: ")
            // The server answers 408 and closes; reading blocks at most until then.
            let response = try client.readResponse()
            #expect(response.status == 408)
            #expect(client.isClosedByPeer())
        }
    }

    @Test func connectionsBeyondTheLimitAreRefusedFast() throws {
        try withServer({ $0.maximumConnections = 2 }) { server in
            let first = try TestHTTPClient(port: server.port)
            let second = try TestHTTPClient(port: server.port)
            #expect(try first.request(body: [1]).status == 200)
            #expect(try second.request(body: [2]).status == 200)
            let third = try TestHTTPClient(port: server.port)
            let refused = try third.readResponse()
            #expect(refused.status == 503)
            #expect(refused.text.contains("ServiceUnavailableException"))
        }
    }

    @Test func connectionCloseIsHonoured() throws {
        try withServer { server in
            let client = try TestHTTPClient(port: server.port)
            let response = try client.request(headers: [("Connection", "close")], body: [1])
            #expect(response.headers["connection"] == "close")
            #expect(client.isClosedByPeer())
        }
    }

    @Test func shutdownWaitsForInFlightRequests() throws {
        let started = ConditionLock<Bool>(false)
        let release = ConditionLock<Bool>(false)
        struct BlockingHandler: HTTPHandler {
            let started: ConditionLock<Bool>
            let release: ConditionLock<Bool>
            func handle(_ request: HTTPRequest, requestID: String) -> HTTPResponse {
                started.withLock { locked in
                    locked.state = true
                    locked.broadcast()
                }
                release.withLock { locked in
                    while !locked.state { locked.wait(nanoseconds: 5_000_000_000) }
                }
                return HTTPResponse(status: 200, body: Array("done".utf8))
            }
        }
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        configuration.workers = 2
        let server = try HTTPServer(configuration: configuration, handler: BlockingHandler(started: started, release: release), logger: .disabled)
        server.start()
        let client = try TestHTTPClient(port: server.port)
        try client.send(TestHTTPClient.encode("POST", "/", headers: [], body: []))
        started.withLock { locked in
            while !locked.state { locked.wait(nanoseconds: 5_000_000_000) }
        }
        server.stopAccepting()
        let stopper = Thread { server.shutdown(graceMilliseconds: 10_000) }
        stopper.start()
        release.withLock { locked in
            locked.state = true
            locked.broadcast()
        }
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.text == "done")
        #expect(response.headers["connection"] == "close")
        // (Whether the port now refuses connections is not checked: tests run in parallel and
        // another test's server may be given the same ephemeral port at once.)
    }
}

/// Holds every request's `respond` until the test delivers it (a request waiting for durability).
private final class DeferredHandler: HTTPHandler {
    let pending = ConditionLock<[@Sendable (HTTPResponse) -> Void]>([])

    func handle(_ request: HTTPRequest, requestID: String) -> HTTPResponse {
        HTTPResponse(status: 500)
    }

    func handle(_ request: HTTPRequest, requestID: String, respond: @escaping @Sendable (HTTPResponse) -> Void) {
        pending.withLock { locked in
            locked.state.append(respond)
            locked.broadcast()
        }
    }

    func waitForRequest() {
        pending.withLock { locked in
            while locked.state.isEmpty { locked.wait(nanoseconds: 5_000_000_000) }
        }
    }

    func deliver(_ response: HTTPResponse) {
        let waiting = pending.withLock { $0.state }
        for respond in waiting { respond(response) }
    }
}

@Suite(.timeLimit(.minutes(testTimeScale))) struct HTTPServerShutdownTests {
    private func startServer(_ handler: DeferredHandler) throws -> HTTPServer {
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        configuration.workers = 2
        let server = try HTTPServer(configuration: configuration, handler: handler, logger: .disabled)
        server.start()
        return server
    }

    /// True if any of the files has content.
    private func anyWritten(_ paths: [String]) -> Bool {
        var written = false
        for path in paths {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            if size > 0 { written = true }
        }
        return written
    }

    @Test func aResponseDeliveredAfterShutdownNeverReachesAReusedDescriptor() throws {
        try withTemporaryDirectory { directory in
            let handler = DeferredHandler()
            let server = try startServer(handler)
            let client = try TestHTTPClient(port: server.port, timeoutSeconds: 5)
            try client.send(TestHTTPClient.encode("POST", "/", headers: [], body: [1]))
            handler.waitForRequest()
            // The request is still unanswered when the grace period ends.
            server.shutdown(graceMilliseconds: 50)
            // Files opened now take the lowest free descriptor numbers: had shutdown closed the
            // connection's descriptor, one of them would own that number.
            var paths: [String] = []
            var handles: [Foundation.FileHandle] = []
            for index in 0..<16 {
                let path = directory + "/innocent-\(index)"
                _ = FileManager.default.createFile(atPath: path, contents: nil)
                paths.append(path)
                handles.append(try Foundation.FileHandle(forWritingTo: URL(fileURLWithPath: path)))
            }
            defer { for handle in handles { try? handle.close() } }
            handler.deliver(HTTPResponse(status: 200, body: Array(repeating: 65, count: 500)))
            let written = anyWritten(paths)
            #expect(!written, "the late response went into another file")
            #expect(client.isClosedByPeer())
        }
    }

    @Test func requestsArrivingDuringTheDrainAreRefusedWith503() throws {
        let handler = DeferredHandler()
        let server = try startServer(handler)
        let busy = try TestHTTPClient(port: server.port, timeoutSeconds: 5)
        let idle = try TestHTTPClient(port: server.port, timeoutSeconds: 5)
        try busy.send(TestHTTPClient.encode("POST", "/", headers: [], body: [1]))
        handler.waitForRequest()
        server.stopAccepting()
        let refused = try idle.request(body: [2])
        #expect(refused.status == 503)
        #expect(refused.text.contains("shutting down"))
        handler.deliver(HTTPResponse(status: 200, body: Array("done".utf8)))
        let answered = try busy.readResponse()
        #expect(answered.text == "done")
        #expect(answered.headers["connection"] == "close")
        server.shutdown(graceMilliseconds: 1000)
    }
}
