import Dispatch
import Foundation
import SluiceTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Signal handling of a real `sluice serve` process: one SIGTERM/SIGINT drains in-flight requests
/// and exits 0; a second signal while it drains exits 1 at once.
///
/// What the server counts as in flight (`HTTPServer.shutdown`): a connection with a complete
/// request that has not been answered in full, or a job on the worker queue. A request whose
/// body is still arriving is not in flight (it is cut off when the drain ends), so these tests
/// keep a request in flight another way: a `GetRecords` response of about 9.6 MB to a client
/// with a tiny receive buffer that never reads. The worker answering it stays blocked writing
/// (its write timeout is 30 s), so the drain lasts the whole grace period (10 s, fixed in
/// `ServeCommand`; there is no flag for it).
@Suite(.timeLimit(.minutes(2 * testTimeScale)))
struct ServeSignalTests {
    @Test(arguments: [(SIGTERM, SIGTERM), (SIGINT, SIGTERM), (SIGTERM, SIGINT)])
    func aSecondSignalDuringTheDrainExitsWithStatusOne(first: Int32, second: Int32) throws {
        try withTemporaryDirectory { directory in
            let server = try ServeChild(directory: directory, arguments: ["--creation-delay-ms", "0", "--workers", "4"])
            defer { server.killIfRunning() }
            let port = try server.waitForListeningPort(timeout: 30)

            // 8 records of 900 000 bytes: the GetRecords response is ~9.6 MB of base64 JSON,
            // more than the server's socket send buffer (at most 4 MiB) can take.
            let client = try TestHTTPClient(port: UInt16(port), timeoutSeconds: 30)
            try ServeSignalTests.createActiveStream("drain", client: client)
            let payload = Data(repeating: 0x5A, count: 900_000).base64EncodedString()
            for index in 0..<8 {
                let put = try ServeSignalTests.call(
                    client, "PutRecord", #"{"StreamName":"drain","PartitionKey":"k","Data":"\#(payload)"}"#)
                try #require(put.status == 200, "PutRecord \(index) answered \(put.status): \(put.text)")
            }
            let iterator = try ServeSignalTests.call(
                client, "GetShardIterator",
                #"{"StreamName":"drain","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"}"#)
            try #require(iterator.status == 200, "GetShardIterator answered \(iterator.status): \(iterator.text)")
            let token = try #require(ServeSignalTests.field("ShardIterator", of: iterator.body))

            let reader = try StalledReader(port: UInt16(port))
            defer { reader.close() }
            try reader.send(
                TestHTTPClient.encode(
                    "POST", "/", headers: ServeSignalTests.headers("GetRecords"),
                    body: Array(#"{"ShardIterator":"\#(token)","Limit":10000}"#.utf8)))
            // The response has begun: the handler ran and a worker is writing the rest. Encoding
            // 9.6 MB takes about 1.5 s in a debug build and 9 s under ThreadSanitizer, hence the
            // scaled bound.
            let responseWait = scaledMilliseconds(10_000)
            try #require(
                reader.waitForResponseBytes(timeoutMilliseconds: Int32(responseWait)),
                "no response bytes within \(responseWait / 1000) s")

            try #require(
                server.waitUntilTerminationSignalsAreHandled(timeoutMilliseconds: 10_000),
                "sluice serve did not install its SIGTERM/SIGINT handling within 10 s")
            server.send(first)
            try #require(
                server.waitForStderr(containing: "draining in-flight requests", timeoutMilliseconds: 5_000),
                "sluice serve did not start draining after signal \(first).\n\(server.stderrTail())")
            let early = server.waitForExit(timeoutMilliseconds: 500)
            #expect(
                early == .stillRunning,
                "sluice serve ended while a request was in flight: \(early).\n\(server.stderrTail())")

            server.send(second)
            let exit = server.waitForExit(timeoutMilliseconds: 3_000)
            #expect(
                exit == .exited(1),
                "after a second signal sluice serve should exit 1 at once: \(exit).\n\(server.stderrTail())")
            #expect(server.stderrTail().contains("second signal"))
        }
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func oneSignalWithNothingInFlightExitsZero(signal: Int32) throws {
        try withTemporaryDirectory { directory in
            let server = try ServeChild(directory: directory, arguments: ["--creation-delay-ms", "0", "--workers", "4"])
            defer { server.killIfRunning() }
            let port = try server.waitForListeningPort(timeout: 30)
            do {
                let client = try TestHTTPClient(port: UInt16(port))
                let listed = try ServeSignalTests.call(client, "ListStreams", "{}")
                try #require(listed.status == 200, "ListStreams answered \(listed.status): \(listed.text)")
            }
            try #require(
                server.waitUntilTerminationSignalsAreHandled(timeoutMilliseconds: 10_000),
                "sluice serve did not install its SIGTERM/SIGINT handling within 10 s")

            server.send(signal)
            let exit = server.waitForExit(timeoutMilliseconds: 10_000)
            #expect(
                exit == .exited(0),
                "sluice serve did not exit 0 within 10 s of signal \(signal): \(exit).\n\(server.stderrTail())")
            #expect(server.stderrTail().contains("stopped"))
        }
    }

    /// A supervisor may signal as soon as the server reports that it listens. `serve` blocks
    /// SIGTERM and SIGINT before it starts any thread and takes them with `sigwait` on its signal
    /// thread, so a signal sent at once stays pending instead of being lost or fatal. (Before
    /// that fix, about one run in five lost the signal or died of it.)
    @Test func aSignalRightAfterTheListeningLineIsNotLost() throws {
        try withTemporaryDirectory { directory in
            let server = try ServeChild(directory: directory, arguments: ["--creation-delay-ms", "0", "--workers", "4"])
            defer { server.killIfRunning() }
            _ = try server.waitForListeningPort(timeout: 30)
            server.send(SIGTERM)
            let exit = server.waitForExit(timeoutMilliseconds: 5_000)
            #expect(exit == .exited(0), "\(exit)\n\(server.stderrTail())")
        }
    }

    // MARK: - Kinesis calls

    private static func headers(_ operation: String) -> [(String, String)] {
        [("X-Amz-Target", "Kinesis_20131202.\(operation)"), ("Content-Type", "application/x-amz-json-1.1")]
    }

    private static func call(
        _ client: TestHTTPClient, _ operation: String, _ body: String
    ) throws -> TestHTTPClient.Response {
        try client.request(headers: headers(operation), body: Array(body.utf8))
    }

    /// A top-level string field of a JSON body.
    private static func field(_ name: String, of body: [UInt8]) -> String? {
        // nil when the body is not JSON; the caller reports it.
        let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
        return object?[name] as? String
    }

    /// Creates a one-shard stream and waits (at most 10 s) until it is ACTIVE.
    private static func createActiveStream(_ name: String, client: TestHTTPClient) throws {
        let created = try call(client, "CreateStream", #"{"StreamName":"\#(name)","ShardCount":1}"#)
        try #require(created.status == 200, "CreateStream answered \(created.status): \(created.text)")
        let deadline = DispatchTime.now() + .seconds(10)
        while DispatchTime.now() < deadline {
            let summary = try call(client, "DescribeStreamSummary", #"{"StreamName":"\#(name)"}"#)
            if summary.text.contains(#""StreamStatus":"ACTIVE""#) { return }
            usleep(20_000)
        }
        Issue.record("stream '\(name)' did not become ACTIVE within 10 s")
    }
}

// MARK: - A client that never reads

/// A connection to 127.0.0.1 with a tiny receive buffer, which sends a request and then reads
/// nothing, so the server's response backs up in the server's socket.
private final class StalledReader {
    private let descriptor: Int32
    private var closed = false

    init(port: UInt16) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw SignalTestFailure("socket failed: errno \(errno)") }
        // Before connect, so the advertised window stays small.
        var size: Int32 = 4096
        setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw SignalTestFailure("connect to 127.0.0.1:\(port) failed: errno \(code)")
        }
    }

    deinit { close() }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { throw SignalTestFailure("send failed: errno \(errno)") }
            offset += sent
        }
    }

    /// Waits until some response bytes are queued on the socket (`poll`, without reading them).
    func waitForResponseBytes(timeoutMilliseconds: Int32) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, timeoutMilliseconds) == 1 && (entry.revents & Int16(POLLIN)) != 0
    }

    func close() {
        if closed { return }
        closed = true
        Glibc.close(descriptor)
    }
}

private struct SignalTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
