import Foundation
package import SluiceSupport
import Synchronization

/// Settings of the HTTP server.
package struct HTTPServerConfiguration: Sendable {
    package var host = "127.0.0.1"
    /// 0 picks a free port.
    package var port: UInt16 = 4567
    package var limits = HTTPLimits()
    /// Threads that run handlers. Handlers block on fsync (group commit), so more workers mean
    /// more writers sharing each fsync.
    package var workers = 64
    /// Connections beyond this are answered 503 and closed at once.
    package var maximumConnections = 4096
    /// Requests waiting for a worker beyond this are answered 503.
    package var maximumQueuedRequests = 8192
    /// A client must finish sending request headers within this time (slowloris defence).
    package var headerTimeoutMilliseconds = 10_000
    /// An idle keep-alive connection, or a request body that stalls, is closed after this time.
    package var idleTimeoutMilliseconds = 60_000
    /// A response that cannot be written for this long is abandoned and the connection closed.
    package var writeTimeoutMilliseconds: Int32 = 30_000

    package init() {}
}

/// An HTTP/1.1 server on POSIX sockets.
///
/// Concurrency model: one event-loop thread (`sluice-http-loop`) owns an epoll set. It accepts
/// connections and reads whatever arrives, feeding each connection's incremental parser; every
/// connection is registered one-shot, so while a request is being handled no further events
/// arrive for it. A complete request goes onto a bounded queue served by a fixed pool of worker
/// threads (`sluice-http-worker-N`). The worker runs the handler (which may block on the group
/// commit), writes the response (waiting with `poll` if the socket is full), answers any
/// further requests already buffered on that connection in order (pipelining), and re-arms the
/// connection in the epoll set. Deadlines (headers, idle keep-alive, stalled bodies) are swept by
/// the loop every 100 ms.
package final class HTTPServer: Sendable {
    package let configuration: HTTPServerConfiguration
    /// The port actually bound.
    package let port: UInt16
    private let handler: any HTTPHandler
    private let logger: Logger
    private let listener: Int32
    private let poller: Poller
    private let connections = Mutex<[UInt64: Connection]>([:])
    private let nextID = Atomic<UInt64>(1)
    private let queue: ConditionLock<WorkQueue>
    private let lifecycle = ConditionLock<Lifecycle>(Lifecycle())
    private let accepting = Atomic<Bool>(true)
    private let stopping = Atomic<Bool>(false)
    private static let listenerToken: UInt64 = 0

    private struct Lifecycle {
        var threadsRunning = 0
        var listenerClosed = false
    }

    private enum Job {
        /// A request to answer.
        case request(Connection, HTTPRequest)
        /// The rest of a response the socket could not take at once.
        case write(Connection, [[UInt8]], keepAlive: Bool)
    }

    private struct WorkQueue {
        var jobs: [Job] = []
        var head = 0
        var closed = false
        var count: Int { jobs.count - head }
    }

    /// Binds the listener. Call `start()` to serve.
    /// - Throws: `SystemError` when the address cannot be bound (in use, bad address).
    package init(configuration: HTTPServerConfiguration, handler: any HTTPHandler, logger: Logger) throws(SystemError) {
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        Socket.raiseOpenFileLimit()
        let (descriptor, port) = try Socket.listen(host: configuration.host, port: configuration.port)
        self.listener = descriptor
        self.port = port
        do throws(SystemError) {
            poller = try Poller()
            try poller.add(descriptor, token: HTTPServer.listenerToken, oneShot: false)
        } catch {
            Socket.close(descriptor)
            throw error
        }
        queue = ConditionLock(WorkQueue())
    }

    /// Starts the event loop and the workers on their own threads; returns at once.
    package func start() {
        lifecycle.withLock { $0.state.threadsRunning = configuration.workers + 1 }
        spawn("sluice-http-loop") { self.runLoop() }
        for index in 0..<configuration.workers {
            spawn("sluice-http-worker-\(index)") { self.runWorker() }
        }
    }

    private func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread {
            body()
            self.lifecycle.withLock { locked in
                locked.state.threadsRunning -= 1
                locked.broadcast()
            }
        }
        thread.name = name
        thread.start()
    }

    /// Stops accepting, lets in-flight requests finish for up to `graceMilliseconds` (including
    /// requests waiting for durability), then stops all threads and closes every idle connection.
    /// A connection still busy after the grace period has its socket shut down; whoever answers
    /// it closes it. Blocks until the threads have stopped. Idempotent.
    package func shutdown(graceMilliseconds: Int = 10_000) {
        stopAccepting()
        let deadline = monotonicNanoseconds() + Int64(graceMilliseconds) * 1_000_000
        while monotonicNanoseconds() < deadline {
            let busy = connections.withLock { $0.values.contains { $0.isBusy } } || queue.withLock { $0.state.count > 0 }
            if !busy { break }
            _ = lifecycle.withLock { $0.wait(nanoseconds: 10_000_000) }
        }
        // Past the grace period: make blocked readers and writers of busy connections fail fast.
        for connection in connections.withLock({ Array($0.values) }) where connection.isBusy {
            _ = connection.terminate { self.poller.remove($0) }
        }
        stopping.store(true, ordering: .releasing)
        queue.withLock { locked in
            locked.state.closed = true
            locked.broadcast()
        }
        poller.wake()
        lifecycle.withLock { locked in
            while locked.state.threadsRunning > 0 { locked.wait(nanoseconds: 100_000_000) }
        }
        closeListener()
        // The loop has stopped: idle connections are closed here; busy ones by their owners.
        for connection in connections.withLock({ Array($0.values) }) {
            if connection.terminate(removing: { self.poller.remove($0) }) {
                connections.withLock { _ = $0.removeValue(forKey: connection.id) }
            }
        }
    }

    /// Stops accepting connections; responses from now on carry `Connection: close`, and
    /// requests that arrive from now on are answered 503. The first step of `shutdown`.
    /// Returns once the listener is closed. Idempotent.
    package func stopAccepting() {
        accepting.store(false, ordering: .releasing)
        poller.wake()
        lifecycle.withLock { locked in
            while !locked.state.listenerClosed && locked.state.threadsRunning > 0 { locked.wait(nanoseconds: 10_000_000) }
        }
        closeListener()
    }

    /// Closes the listener once (on the loop thread while it runs, so no `accept` races with it).
    private func closeListener() {
        let first = lifecycle.withLock { locked -> Bool in
            guard !locked.state.listenerClosed else { return false }
            locked.state.listenerClosed = true
            locked.broadcast()
            return true
        }
        if first {
            poller.remove(listener)
            Socket.close(listener)
        }
    }

    private var isStopping: Bool { stopping.load(ordering: .acquiring) }
    private var isAccepting: Bool { accepting.load(ordering: .acquiring) }

    // MARK: - Event loop

    private func runLoop() {
        var scratch = [UInt8](repeating: 0, count: 64 << 10)
        var lastSweep = monotonicNanoseconds()
        while !isStopping {
            if !isAccepting { closeListener() }
            let tokens = poller.wait(timeoutMilliseconds: 100)
            // Requests answered here hand their follow-up work (a shard's group sync) on once
            // the whole wake-up is done, so one sync covers all of them.
            WakeupBatch.collect {
                for token in tokens {
                    if token == Poller.wakeToken { continue }
                    if token == HTTPServer.listenerToken {
                        if isAccepting { acceptAll() }
                        continue
                    }
                    guard let connection = connections.withLock({ $0[token] }) else { continue }
                    readAndDispatch(connection, scratch: &scratch)
                }
            }
            let now = monotonicNanoseconds()
            if now - lastSweep >= 100_000_000 {
                sweep(now: now)
                lastSweep = now
            }
        }
    }

    private func acceptAll() {
        while isAccepting {
            let descriptor: Int32?
            do throws(SystemError) {
                descriptor = try Socket.accept(listener)
            } catch {
                logger.log(.warning, "accept failed", ["error": "\(error)"])
                return
            }
            guard let descriptor else { return }
            let count = connections.withLock { $0.count }
            if count >= configuration.maximumConnections {
                Socket.writeNonBlocking(
                    descriptor,
                    HTTPServer.serialize(
                        HTTPServer.errorResponse(
                            503, "ServiceUnavailableException",
                            "The server has \(count) open connections, its limit; retry later or reuse connections."),
                        requestID: HTTPServer.makeRequestID(), keepAlive: false))
                Socket.close(descriptor)
                continue
            }
            let id = nextID.add(1, ordering: .relaxed).newValue
            let connection = Connection(id: id, descriptor: descriptor, limits: configuration.limits)
            connections.withLock { $0[id] = connection }
            do throws(SystemError) {
                try poller.add(descriptor, token: id, oneShot: true)
            } catch {
                close(connection)
            }
        }
    }

    /// Reads what arrived on `connection`, answers `100 Continue`, and hands a complete request
    /// to the workers. Runs on the loop thread; the connection is not busy (one-shot).
    private func readAndDispatch(_ connection: Connection, scratch: inout [UInt8]) {
        var peerClosed = false
        var reads = 0
        while reads < 64 {
            reads += 1
            let result = scratch.withUnsafeMutableBytes { Socket.read(connection.descriptor, into: $0) }
            switch result {
            case .bytes(let count):
                connection.received(scratch.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0[0..<count]) })
                // A short read took everything there was. Reading again would only learn EAGAIN:
                // the connection is one-shot, and re-arming it reports whatever arrives later.
                if count < scratch.count { break }
                continue
            case .wouldBlock: break
            case .closed: peerClosed = true
            }
            break
        }
        switch connection.nextEvent(peerClosed: peerClosed) {
        case .none:
            if peerClosed {
                close(connection)
            } else {
                rearm(connection)
            }
        case .some(.continueExpected):
            _ = connection.withDescriptor { Socket.writeNonBlocking($0, Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
            // More of the body may already be here.
            if case .some(.request(let request)) = connection.nextEvent(peerClosed: peerClosed) {
                enqueue(connection, request)
            } else if peerClosed {
                close(connection)
            } else {
                rearm(connection)
            }
        case .some(.request(let request)):
            enqueue(connection, request)
        case .some(.failure(let status, let message)):
            answerFailure(connection, status: status, message: message)
        }
    }

    private func enqueue(_ connection: Connection, _ request: HTTPRequest) {
        guard isAccepting else {
            answerFailure(connection, status: 503, message: "The server is shutting down; retry against another instance or after restart.")
            return
        }
        if handler.answersInline(request) {
            dispatch(connection, request)
            return
        }
        if !submit(.request(connection, request), bounded: true) {
            answerFailure(connection, status: 503, message: "The server is overloaded; retry with backoff.")
        }
    }

    /// Queues a job for the workers; false when the queue is closed or (if `bounded`) full.
    private func submit(_ job: Job, bounded: Bool) -> Bool {
        queue.withLock { locked -> Bool in
            guard !locked.state.closed else { return false }
            if bounded && locked.state.count >= configuration.maximumQueuedRequests { return false }
            if locked.state.head > 4096 && locked.state.head * 2 > locked.state.jobs.count {
                locked.state.jobs.removeFirst(locked.state.head)
                locked.state.head = 0
            }
            locked.state.jobs.append(job)
            locked.signal()
            return true
        }
    }

    /// Loop thread: re-arms a connection it has handled, or closes it if that fails.
    private func rearm(_ connection: Connection) {
        if !connection.rearm(arm(connection.id)) { close(connection) }
    }

    /// Re-arms `descriptor` with `token`; false on failure.
    private func arm(_ token: UInt64) -> (Int32) -> Bool {
        { descriptor in
            do throws(SystemError) {
                try self.poller.rearm(descriptor, token: token)
                return true
            } catch {
                return false
            }
        }
    }

    private func answerFailure(_ connection: Connection, status: Int, message: String) {
        let type: String
        switch status {
        case 413: type = "RequestEntityTooLargeException"
        case 431: type = "RequestHeaderFieldsTooLargeException"
        case 503: type = "ServiceUnavailableException"
        case 408: type = "RequestTimeoutException"
        default: type = "BadRequestException"
        }
        let requestID = HTTPServer.makeRequestID()
        logger.log(.debug, "rejected request", ["requestID": requestID, "status": String(status), "reason": message])
        let bytes = HTTPServer.serialize(HTTPServer.errorResponse(status, type, message), requestID: requestID, keepAlive: false)
        _ = connection.withDescriptor { Socket.writeNonBlocking($0, bytes) }
        close(connection)
    }

    /// Closes connections past their header or idle deadline.
    private func sweep(now: Int64) {
        let header = Int64(configuration.headerTimeoutMilliseconds) * 1_000_000
        let idle = Int64(configuration.idleTimeoutMilliseconds) * 1_000_000
        for connection in connections.withLock({ Array($0.values) }) {
            switch connection.deadline(now: now, header: header, idle: idle) {
            case .none: continue
            case .some(.header):
                answerFailure(connection, status: 408, message: "The request headers did not arrive within \(configuration.headerTimeoutMilliseconds) ms.")
            case .some(.idle):
                close(connection)
            }
        }
    }

    /// Closes a connection its caller owns (its answering thread, or the loop while it is idle).
    private func close(_ connection: Connection) {
        connection.close { self.poller.remove($0) }
        connections.withLock { _ = $0.removeValue(forKey: connection.id) }
    }

    // MARK: - Workers

    private func runWorker() {
        while let job = takeJob() {
            switch job {
            case .request(let connection, let request):
                dispatch(connection, request)
            case .write(let connection, let parts, let keepAlive):
                do throws(SystemError) {
                    try Socket.writeAll(connection.descriptor, parts, timeoutMilliseconds: configuration.writeTimeoutMilliseconds)
                } catch {
                    logger.log(.debug, "response not delivered", ["error": "\(error)"])
                    close(connection)
                    continue
                }
                afterResponse(connection, keepAlive: keepAlive)
            }
        }
    }

    private func takeJob() -> Job? {
        queue.withLock { locked -> Job? in
            while true {
                if locked.state.count > 0 {
                    let job = locked.state.jobs[locked.state.head]
                    locked.state.head += 1
                    if locked.state.head == locked.state.jobs.count {
                        locked.state.jobs.removeAll(keepingCapacity: true)
                        locked.state.head = 0
                    }
                    return job
                }
                if locked.state.closed { return nil }
                locked.wait()
            }
        }
    }

    /// Hands a request to the handler; the response is written by whichever thread answers it.
    private func dispatch(_ connection: Connection, _ request: HTTPRequest) {
        let requestID = HTTPServer.makeRequestID()
        handler.handle(request, requestID: requestID) { response in
            self.respond(connection, request: request, requestID: requestID, response: response)
        }
    }

    /// Writes a response without blocking; a worker finishes what the socket does not take.
    private func respond(_ connection: Connection, request: HTTPRequest, requestID: String, response: HTTPResponse) {
        var response = response
        if request.method == "HEAD" { response.body = [] }
        let keepAlive = HTTPServer.wantsKeepAlive(request) && isAccepting
        let parts = [HTTPServer.serialize(head: response, requestID: requestID, keepAlive: keepAlive), response.body]
        let outcome = connection.withDescriptor { descriptor -> Result<[[UInt8]], SystemError> in
            do throws(SystemError) {
                return .success(try Socket.writeAvailable(descriptor, parts))
            } catch {
                return .failure(error)
            }
        }
        switch outcome {
        case .none:
            close(connection)  // terminated by shutdown while the request was handled
        case .some(.failure(let error)):
            logger.log(.debug, "response not delivered", ["requestID": requestID, "error": "\(error)"])
            close(connection)
        case .some(.success(let remaining)):
            if remaining.isEmpty {
                afterResponse(connection, keepAlive: keepAlive)
            } else if !submit(.write(connection, remaining, keepAlive: keepAlive), bounded: false) {
                close(connection)
            }
        }
    }

    /// Owner, after a response: close, answer the next buffered request (pipelining, in order),
    /// or go idle (re-armed under the connection's lock).
    private func afterResponse(_ connection: Connection, keepAlive: Bool) {
        guard keepAlive else {
            close(connection)
            return
        }
        switch connection.finishRequest(rearm: arm(connection.id)) {
        case .request(let next):
            if !submit(.request(connection, next), bounded: false) { close(connection) }
        case .failure(let status, let message):
            answerFailure(connection, status: status, message: message)
        case .idle(let peerClosed):
            if peerClosed { close(connection) }
        case .closed:
            close(connection)
        }
    }

    // MARK: - Serialisation

    static func wantsKeepAlive(_ request: HTTPRequest) -> Bool {
        let connection = request.headers["connection"]?.lowercased()
        if request.version == "HTTP/1.0" { return connection == "keep-alive" }
        return connection != "close"
    }

    /// A JSON error in AWS's shape.
    package static func errorResponse(_ status: Int, _ type: String, _ message: String) -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.add("Content-Type", "application/x-amz-json-1.1")
        headers.add("x-amzn-ErrorType", type)
        let body = "{\"__type\":\"\(type)\",\"message\":\"\(message.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\"}"
        return HTTPResponse(status: status, headers: headers, body: Array(body.utf8))
    }

    static func serialize(_ response: HTTPResponse, requestID: String, keepAlive: Bool) -> [UInt8] {
        serialize(head: response, requestID: requestID, keepAlive: keepAlive) + response.body
    }

    static func serialize(head response: HTTPResponse, requestID: String, keepAlive: Bool) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(176 + response.headers.count * 64)
        bytes.append(contentsOf: "HTTP/1.1 ".utf8)
        appendDecimal(response.status, to: &bytes)
        bytes.append(32)
        bytes.append(contentsOf: HTTPResponse.reason(response.status).utf8)
        bytes.append(contentsOf: "\r\n".utf8)
        for (name, value) in response.headers.fields {
            bytes.append(contentsOf: name.utf8)
            bytes.append(contentsOf: ": ".utf8)
            bytes.append(contentsOf: value.utf8)
            bytes.append(contentsOf: "\r\n".utf8)
        }
        bytes.append(contentsOf: "Content-Length: ".utf8)
        appendDecimal(response.body.count, to: &bytes)
        bytes.append(contentsOf: "\r\nx-amzn-RequestId: ".utf8)
        bytes.append(contentsOf: requestID.utf8)
        bytes.append(contentsOf: "\r\nDate: ".utf8)
        bytes.append(contentsOf: HTTPDate.now().utf8)
        bytes.append(contentsOf: keepAlive ? "\r\nConnection: keep-alive\r\n\r\n".utf8 : "\r\nConnection: close\r\n\r\n".utf8)
        return bytes
    }

    private static func appendDecimal(_ value: Int, to bytes: inout [UInt8]) {
        if value >= 10 { appendDecimal(value / 10, to: &bytes) }
        bytes.append(UInt8(48 + value % 10))
    }

    /// A request id in the form AWS uses: a lowercase version-4 UUID.
    package static func makeRequestID() -> String {
        RequestIDs.next()
    }
}

/// Request ids without a system call each: a counter stepped through the SplitMix64 finaliser
/// with two 64-bit seeds drawn once from the system's random generator. Ids never repeat within
/// a process and differ between processes; they are labels for logs, not secrets (the finaliser
/// can be inverted, so one id narrows the next down to a few thousand).
enum RequestIDs {
    private static let seed: (UInt64, UInt64) = {
        var generator = SystemRandomNumberGenerator()
        return (generator.next(), generator.next())
    }()
    private static let counter = Atomic<UInt64>(0)

    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    static func next() -> String {
        let count = counter.add(1, ordering: .relaxed).newValue
        // `high` alone is a bijection of the counter, so two ids differ there at least.
        var high = mix(count ^ seed.0)
        var low = mix(high ^ seed.1)
        // Version 4 and the RFC 4122 variant, as in AWS's ids; `high`'s other 60 bits still differ.
        high = (high & ~0xF000) | 0x4000
        low = (low & ~(0xC000 << 48)) | (0x8000 << 48)
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var index = 0
            func put(_ value: UInt64, nibbles: Int) {
                for shift in stride(from: (nibbles - 1) * 4, through: 0, by: -4) {
                    buffer[index] = digits.utf8Start[Int((value >> UInt64(shift)) & 0xF)]
                    index += 1
                }
            }
            put(high >> 32, nibbles: 8)
            buffer[index] = 45
            index += 1
            put((high >> 16) & 0xFFFF, nibbles: 4)
            buffer[index] = 45
            index += 1
            put(high & 0xFFFF, nibbles: 4)
            buffer[index] = 45
            index += 1
            put(low >> 48, nibbles: 4)
            buffer[index] = 45
            index += 1
            put(low & 0xFFFF_FFFF_FFFF, nibbles: 12)
            return index
        }
    }
}

/// The IMF-fixdate for the `Date` header, cached per second.
enum HTTPDate {
    private static let cache = Mutex<(second: Int64, text: String)>((-1, ""))

    static func now() -> String {
        let now = SystemTimeSource().now()
        let second = now.milliseconds / 1000
        if let cached = cache.withLock({ $0.second == second ? $0.text : nil }) { return cached }
        let c = UTCDate.components(Timestamp(milliseconds: second * 1000))
        let days = Int(second / 86_400)
        let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days % 7]
        let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][c.month - 1]
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let text = "\(weekday), \(two(c.day)) \(month) \(c.year) \(two(c.hour)):\(two(c.minute)):\(two(c.second)) GMT"
        cache.withLock { $0 = (second, text) }
        return text
    }
}
