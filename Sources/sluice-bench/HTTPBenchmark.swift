import Foundation
import SluiceServer
import SluiceStreams
import SluiceSupport
import Synchronization

/// The service scenarios: a real `SluiceService` on a loopback port and a load generator in the
/// same process that sends pre-encoded requests over N keep-alive connections.
struct HTTPBenchmark {
    var baseDirectory: String
    var seconds: Int
    var connections: Int
    var shards: Int

    /// What a run measured.
    struct Run {
        var requests: Int
        var records: Int
        var payloadBytes: Int
        var seconds: Double
        var latencies: [Double]
        /// CPU time of the whole process (service and generator) and of the generator's threads.
        var processCPUSeconds: Double
        var generatorCPUSeconds: Double
    }

    /// PutRecords of `batch` records of 1 KiB (`http-put-records`), or single PutRecord calls of
    /// 1 KiB (`http-put-record`, batch nil). Runs once at full speed, then open-loop at half of the
    /// measured rate, where p99 matters.
    func run(scenario: String, batch: Int?) throws -> [BenchmarkResult] {
        let directory = baseDirectory + "/sluice-bench-http-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var storeConfiguration = StreamStoreConfiguration(dataDirectory: directory)
        storeConfiguration.creationDelayMilliseconds = 0
        storeConfiguration.segmentSize = 256 << 20
        var serverConfiguration = HTTPServerConfiguration()
        serverConfiguration.port = 0
        serverConfiguration.workers = max(64, connections)
        let service = try SluiceService(store: storeConfiguration, server: serverConfiguration, logger: .disabled)
        service.start()
        defer {
            service.shutdown(graceMilliseconds: 5000)
            try? FileManager.default.removeItem(atPath: directory)  // scratch data of this run
        }
        try service.store.createStream(name: "bench", shardCount: shards)
        let data = Data((0..<1024).map { UInt8(truncatingIfNeeded: $0 &* 7) }).base64EncodedString()
        let bodies: [[UInt8]] = (0..<connections).map { connection in
            if let batch {
                let records = (0..<batch).map { "{\"Data\":\"\(data)\",\"PartitionKey\":\"key-\(connection)-\($0)\"}" }
                return Array("{\"StreamName\":\"bench\",\"Records\":[\(records.joined(separator: ","))]}".utf8)
            }
            return Array("{\"StreamName\":\"bench\",\"Data\":\"\(data)\",\"PartitionKey\":\"key-\(connection)\"}".utf8)
        }
        let target = batch == nil ? "Kinesis_20131202.PutRecord" : "Kinesis_20131202.PutRecords"
        let requests = bodies.map { body in
            Array(
                ("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: \(target)\r\n"
                    + "Content-Type: application/x-amz-json-1.1\r\nContent-Length: \(body.count)\r\n\r\n").utf8) + body
        }
        let perRequest = batch ?? 1
        let full = try load(port: service.server.port, requests: requests, records: perRequest, rate: nil)
        let rate = Double(full.requests) / full.seconds / 2
        let half = try load(port: service.server.port, requests: requests, records: perRequest, rate: rate)
        return [(full, "max"), (half, "half-of-max")].map { run, mode in
            BenchmarkResult(
                scenario: scenario, threads: connections, records: run.records, bytes: run.payloadBytes, seconds: run.seconds,
                latenciesMilliseconds: run.latencies,
                extra: [
                    ("connections", "\(connections)"), ("records_per_request", "\(perRequest)"), ("mode", "\"\(mode)\""),
                    ("requests_per_s", String(format: "%.0f", Double(run.requests) / run.seconds)), ("shards", "\(shards)"),
                    ("durability", "\"always\""),
                    ("cpu_us_per_request", String(format: "%.1f", run.processCPUSeconds * 1e6 / Double(max(1, run.requests)))),
                    (
                        "generator_cpu_us_per_request",
                        String(format: "%.1f", run.generatorCPUSeconds * 1e6 / Double(max(1, run.requests)))
                    ),
                ])
        }
    }

    /// Sends requests over `requests.count` connections for `seconds`, as fast as answers come
    /// (rate nil) or open-loop at `rate` requests per second in all, with latency measured from
    /// each request's scheduled time. Two event-loop threads (epoll) drive all connections, so
    /// the generator costs little CPU next to the server it measures.
    private func load(port: UInt16, requests: [[UInt8]], records: Int, rate: Double?) throws -> Run {
        let total = Atomic<Int>(0)
        let generatorNanoseconds = Atomic<UInt64>(0)
        let processStarted = Self.cpuNanoseconds(CLOCK_PROCESS_CPUTIME_ID)
        let failures = Mutex<[String]>([])
        let latencies = Mutex<[Double]>([])
        let group = DispatchGroup()
        let clock = ContinuousClock()
        let begin = clock.now
        let end = begin + .seconds(seconds)
        let threads = min(2, requests.count)
        let interval = rate.map { Duration.seconds(Double(requests.count) / $0) }
        for thread in 0..<threads {
            let mine = Array(stride(from: thread, to: requests.count, by: threads))
            group.enter()
            Threads.spawn(name: "bench-client-\(thread)") {
                defer { group.leave() }
                defer { generatorNanoseconds.add(Self.cpuNanoseconds(CLOCK_THREAD_CPUTIME_ID), ordering: .relaxed) }
                var local: [Double] = []
                defer { latencies.withLock { $0 += local } }
                do {
                    let poller = try Poller()
                    var connections: [ClientConnection] = []
                    defer { for connection in connections { Socket.close(connection.descriptor) } }
                    for (slot, index) in mine.enumerated() {
                        let descriptor = try Socket.connect(host: "127.0.0.1", port: port)
                        Socket.setNonBlocking(descriptor)
                        try poller.add(descriptor, token: UInt64(slot), oneShot: false)
                        let offset = interval.map { $0 * (Double(index) / Double(requests.count)) } ?? .zero
                        connections.append(ClientConnection(descriptor: descriptor, request: requests[index], next: begin + offset))
                    }
                    var idle = Array(connections.indices)
                    while true {
                        let now = clock.now
                        var earliest: ContinuousClock.Instant? = nil
                        var stillIdle: [Int] = []
                        for slot in idle {
                            let connection = connections[slot]
                            if now >= end { continue }
                            if interval == nil || connection.next <= now {
                                try Socket.writeAll(connection.descriptor, [connection.request], timeoutMilliseconds: 30_000)
                                connection.sent = interval == nil ? now : connection.next
                                if let interval { connection.next += interval }
                            } else {
                                stillIdle.append(slot)
                                if earliest.map({ connection.next < $0 }) ?? true { earliest = connection.next }
                            }
                        }
                        idle = stillIdle
                        if now >= end && idle.count == connections.count { break }
                        if now >= end && !connections.contains(where: { $0.sent != nil }) { break }
                        // Sleep until the next scheduled send exactly: a timeout rounded down to
                        // whole milliseconds would spin for up to 1 ms before each send, taking a
                        // core from the server it measures.
                        var timeout: Int64 = 100_000_000
                        if let earliest {
                            let wait = earliest - clock.now
                            timeout = max(0, wait.components.seconds * 1_000_000_000 + wait.components.attoseconds / 1_000_000_000)
                        }
                        for token in poller.wait(timeoutNanoseconds: timeout) where token != Poller.wakeToken {
                            let slot = Int(token)
                            let connection = connections[slot]
                            try connection.reader.readOnce()
                            while let status = connection.reader.next() {
                                guard status.code == 200, !status.failedRecords else {
                                    failures.withLock { $0.append("HTTP \(status.code) failed=\(status.failedRecords)") }
                                    return
                                }
                                if let sent = connection.sent {
                                    let elapsed = clock.now - sent
                                    local.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
                                    total.add(1, ordering: .relaxed)
                                    connection.sent = nil
                                    idle.append(slot)
                                }
                            }
                        }
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        group.wait()
        let processCPU = Self.cpuNanoseconds(CLOCK_PROCESS_CPUTIME_ID) - processStarted
        let elapsed = clock.now - begin
        if let failure = failures.withLock({ $0.first }) {
            throw StreamError(.internalFailure, "load generator saw a failed request: \(failure)")
        }
        let count = total.load(ordering: .relaxed)
        return Run(
            requests: count, records: count * records, payloadBytes: count * records * 1024,
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            latencies: latencies.withLock { $0 }, processCPUSeconds: Double(processCPU) / 1e9,
            generatorCPUSeconds: Double(generatorNanoseconds.load(ordering: .relaxed)) / 1e9)
    }

    private static func cpuNanoseconds(_ clock: clockid_t) -> UInt64 {
        var time = timespec()
        clock_gettime(clock, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}

/// One load-generator connection (a class, so the event loop updates it in place).
final class ClientConnection {
    let descriptor: Int32
    let request: [UInt8]
    var reader: ResponseReader
    /// When the request in flight was sent (or scheduled); nil when idle.
    var sent: ContinuousClock.Instant?
    /// The next scheduled send (open-loop mode).
    var next: ContinuousClock.Instant

    init(descriptor: Int32, request: [UInt8], next: ContinuousClock.Instant) {
        self.descriptor = descriptor
        self.request = request
        self.reader = ResponseReader(descriptor: descriptor)
        self.next = next
    }
}

/// Reads HTTP responses off a non-blocking socket: status, Content-Length body, and whether a
/// PutRecords answer reports failed records.
struct ResponseReader {
    let descriptor: Int32
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0

    /// `capacity` is the initial buffer (it doubles when a response needs more).
    init(descriptor: Int32, capacity: Int = 1 << 20) {
        self.descriptor = descriptor
        buffer = [UInt8](repeating: 0, count: capacity)
    }

    /// The next complete response, reading what the socket has; nil when more bytes are needed.
    mutating func poll() throws -> (code: Int, failedRecords: Bool)? {
        while true {
            if let response = parse() { return response }
            if try !fill() { return nil }
        }
    }

    /// One read of what the socket has (the poller is level-triggered: if more is pending it
    /// reports the socket again, so there is no read that only learns EAGAIN).
    mutating func readOnce() throws {
        _ = try fill()
    }

    /// The next complete response already read, if any.
    mutating func next() -> (code: Int, failedRecords: Bool)? { parse() }

    /// Parses the next response straight from the bytes (no `String`s: the load generator shares
    /// the 2 cores with the server, so it must cost little).
    private mutating func parse() -> (code: Int, failedRecords: Bool)? {
        buffer.withUnsafeBufferPointer { bytes -> (code: Int, failedRecords: Bool)? in
            guard let headEnd = Self.find(bytes, [13, 10, 13, 10], from: start, to: end) else { return nil }
            var code = 0
            for index in (start + 9)..<min(start + 12, headEnd) { code = code * 10 + Int(bytes[index] &- 48) }
            var length = 0
            var line = start
            while line < headEnd {
                let lineEnd = Self.find(bytes, [13, 10], from: line, to: headEnd + 2) ?? headEnd
                if Self.hasPrefixIgnoringCase(bytes, line, lineEnd, "content-length:") {
                    for index in (line + 15)..<lineEnd where bytes[index] >= 48 && bytes[index] <= 57 {
                        length = length * 10 + Int(bytes[index] - 48)
                    }
                }
                line = lineEnd + 2
            }
            let bodyStart = headEnd + 4
            guard end - bodyStart >= length else { return nil }
            let bodyEnd = bodyStart + length
            var failed = false
            let key = Array(#""FailedRecordCount":"#.utf8)
            if let at = Self.find(bytes, key, from: bodyStart, to: bodyEnd) {
                failed = at + key.count < bodyEnd && bytes[at + key.count] != UInt8(ascii: "0")
            }
            start = bodyEnd
            return (code, failed)
        }
    }

    private static func find(_ bytes: UnsafeBufferPointer<UInt8>, _ marker: [UInt8], from: Int, to: Int) -> Int? {
        var index = from
        let first = marker[0]
        while index + marker.count <= to {
            if bytes[index] == first {
                var matched = true
                for offset in 1..<marker.count where bytes[index + offset] != marker[offset] {
                    matched = false
                    break
                }
                if matched { return index }
            }
            index += 1
        }
        return nil
    }

    private static func hasPrefixIgnoringCase(_ bytes: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int, _ prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard to - from >= count else { return false }
        for offset in 0..<count {
            var byte = bytes[from + offset]
            if byte >= 65 && byte <= 90 { byte += 32 }
            if byte != prefix.utf8Start[offset] { return false }
        }
        return true
    }

    /// Reads what is available; false when nothing was.
    private mutating func fill() throws -> Bool {
        if start == end {
            start = 0
            end = 0
        } else if start > buffer.count / 2 {
            let (from, count) = (start, end - start)
            buffer.withUnsafeMutableBytes { raw in
                raw.baseAddress!.copyMemory(from: raw.baseAddress! + from, byteCount: count)
            }
            start = 0
            end = count
        }
        if end == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }
        let result = buffer.withUnsafeMutableBytes { Socket.read(descriptor, into: UnsafeMutableRawBufferPointer(rebasing: $0[end...])) }
        switch result {
        case .bytes(let count):
            end += count
            return true
        case .wouldBlock: return false
        case .closed: throw StreamError(.internalFailure, "the server closed the connection")
        }
    }
}
