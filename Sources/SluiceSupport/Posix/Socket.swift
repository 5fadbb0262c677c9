#if canImport(Glibc)
internal import Glibc
#endif
internal import CSluiceLinux

/// TCP sockets for the server: a listener, non-blocking connections, and the few calls the event
/// loop needs. Every call retries on `EINTR` and throws `SystemError` naming the call.
package enum Socket {
    /// The outcome of a non-blocking read.
    package enum ReadResult: Equatable {
        case bytes(Int)
        case wouldBlock
        case closed
    }

    /// Creates a non-blocking TCP listener bound to `host:port` (IPv4; `port` 0 picks a free one)
    /// with `SO_REUSEADDR`.
    /// - Returns: the descriptor and the port actually bound.
    package static func listen(host: String, port: UInt16, backlog: Int32 = 1024) throws(SystemError) -> (descriptor: Int32, port: UInt16) {
        let where_ = "\(host):\(port)"
        let descriptor = try retryingSyscall("socket", path: where_) {
            socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        var yes: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            Glibc.close(descriptor)
            throw SystemError(call: "inet_pton", errno: EINVAL, path: where_)
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if bound != 0 {
            let code = errno
            Glibc.close(descriptor)
            throw SystemError(call: "bind", errno: code, path: where_)
        }
        if Glibc.listen(descriptor, backlog) != 0 {
            let code = errno
            Glibc.close(descriptor)
            throw SystemError(call: "listen", errno: code, path: where_)
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return (descriptor, UInt16(bigEndian: actual.sin_port))
    }

    /// Opens a blocking TCP connection to `host:port` (IPv4) with `TCP_NODELAY` (load generators
    /// and tests).
    package static func connect(host: String, port: UInt16) throws(SystemError) -> Int32 {
        let where_ = "\(host):\(port)"
        let descriptor = try retryingSyscall("socket", path: where_) {
            socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            Glibc.close(descriptor)
            throw SystemError(call: "inet_pton", errno: EINVAL, path: where_)
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result != 0 {
            let code = errno
            Glibc.close(descriptor)
            throw SystemError(call: "connect", errno: code, path: where_)
        }
        var yes: Int32 = 1
        _ = setsockopt(descriptor, Int32(IPPROTO_TCP), CSluiceLinux_tcpNoDelay(), &yes, socklen_t(MemoryLayout<Int32>.size))
        return descriptor
    }

    /// Makes a socket non-blocking (`fcntl` `O_NONBLOCK`).
    package static func setNonBlocking(_ descriptor: Int32) {
        let flags = fcntl(descriptor, F_GETFL)
        _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
    }

    /// Accepts one pending connection as a non-blocking socket with `TCP_NODELAY`, or nil when
    /// none is pending.
    package static func accept(_ listener: Int32) throws(SystemError) -> Int32? {
        while true {
            let descriptor = CSluiceLinux_accept4(listener, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
            if descriptor >= 0 {
                var yes: Int32 = 1
                _ = setsockopt(descriptor, Int32(IPPROTO_TCP), CSluiceLinux_tcpNoDelay(), &yes, socklen_t(MemoryLayout<Int32>.size))
                return descriptor
            }
            let code = errno
            switch code {
            case EINTR, ECONNABORTED, EPROTO: continue
            case EAGAIN: return nil
            default: throw SystemError(call: "accept4", errno: code)
            }
        }
    }

    /// Reads what is available into `buffer` at `offset` without blocking.
    package static func read(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer) -> ReadResult {
        while true {
            let got = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            if got > 0 { return .bytes(got) }
            if got == 0 { return .closed }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN { return .wouldBlock }
            return .closed  // ECONNRESET and friends: the peer is gone
        }
    }

    /// Writes all of `parts` (gathered with `writev`), waiting with `poll` while the socket is
    /// full, for at most `timeoutMilliseconds` of no progress.
    package static func writeAll(_ descriptor: Int32, _ parts: [[UInt8]], timeoutMilliseconds: Int32) throws(SystemError) {
        var remaining = try writeAvailable(descriptor, parts)
        while !remaining.isEmpty {
            var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&poller, 1, timeoutMilliseconds)
            if ready == 0 { throw SystemError(call: "poll", errno: ETIMEDOUT, path: "socket \(descriptor)") }
            if ready < 0 && errno != EINTR { throw SystemError(call: "poll", errno: errno, path: "socket \(descriptor)") }
            remaining = try writeAvailable(descriptor, remaining)
        }
    }

    /// Writes as much of `parts` as the socket takes without blocking.
    /// - Returns: what is left to write (empty when everything went out).
    package static func writeAvailable(_ descriptor: Int32, _ parts: [[UInt8]]) throws(SystemError) -> [[UInt8]] {
        var index = 0
        var offset = 0
        while index < parts.count {
            if parts[index].count == offset {
                index += 1
                offset = 0
                continue
            }
            let written: Int = withIOVectors(parts, from: index, offset: offset) { vectors, count in
                writev(descriptor, vectors, count)
            }
            if written < 0 {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN { break }
                throw SystemError(call: "writev", errno: code, path: "socket \(descriptor)")
            }
            var remaining = written
            while remaining > 0 && index < parts.count {
                let left = parts[index].count - offset
                if remaining >= left {
                    remaining -= left
                    index += 1
                    offset = 0
                } else {
                    offset += remaining
                    remaining = 0
                }
            }
        }
        guard index < parts.count else { return [] }
        return [Array(parts[index][offset...])] + parts[(index + 1)...]
    }

    private static func withIOVectors<R>(
        _ parts: [[UInt8]], from index: Int, offset: Int, _ body: (UnsafePointer<iovec>, Int32) -> R
    ) -> R {
        let count = min(parts.count - index, 16)
        var vectors = [iovec](repeating: iovec(), count: count)
        // The arrays outlive the call: `parts` is borrowed for its whole duration.
        return parts.withUnsafeBufferPointer { all in
            for slot in 0..<count {
                let part = all[index + slot]
                let skip = slot == 0 ? offset : 0
                part.withUnsafeBytes { raw in
                    vectors[slot] = iovec(
                        iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress.map { $0 + skip }),
                        iov_len: raw.count - skip)
                }
            }
            return vectors.withUnsafeBufferPointer { body($0.baseAddress!, Int32(count)) }
        }
    }

    /// Writes what fits without blocking (best effort, for short canned answers to connections
    /// that are about to be closed).
    package static func writeNonBlocking(_ descriptor: Int32, _ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Closes a socket.
    package static func close(_ descriptor: Int32) {
        _ = Glibc.close(descriptor)
    }

    /// Shuts a socket down in both directions without releasing the descriptor: blocked and
    /// later reads and writes fail at once, and the number cannot be reused until `close`.
    package static func shutdown(_ descriptor: Int32) {
        _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// Raises the soft open-file limit to the hard limit (servers hold one descriptor per connection).
    package static func raiseOpenFileLimit() {
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
    }
}

/// An epoll instance plus an eventfd to wake it from other threads.
package final class Poller: Sendable {
    private let descriptor: Int32
    private let wakeDescriptor: Int32
    /// The token events of the wake-up eventfd carry.
    package static let wakeToken: UInt64 = .max

    package init() throws(SystemError) {
        descriptor = try retryingSyscall("epoll_create1", path: nil) { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        wakeDescriptor = try retryingSyscall("eventfd", path: nil) { eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC)) }
        try add(wakeDescriptor, token: Poller.wakeToken, oneShot: false)
    }

    deinit {
        Glibc.close(wakeDescriptor)
        Glibc.close(descriptor)
    }

    private func control(_ operation: Int32, _ fd: Int32, token: UInt64, oneShot: Bool) throws(SystemError) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | (oneShot ? EPOLLONESHOT.rawValue : 0)
        event.data.u64 = token
        _ = try retryingSyscall("epoll_ctl", path: nil) { epoll_ctl(descriptor, operation, fd, &event) }
    }

    /// Watches `fd` for readability; with `oneShot`, one event then nothing until `rearm`.
    package func add(_ fd: Int32, token: UInt64, oneShot: Bool) throws(SystemError) {
        try control(EPOLL_CTL_ADD, fd, token: token, oneShot: oneShot)
    }

    /// Re-enables a one-shot descriptor. Callable from any thread.
    package func rearm(_ fd: Int32, token: UInt64) throws(SystemError) {
        try control(EPOLL_CTL_MOD, fd, token: token, oneShot: true)
    }

    /// Stops watching `fd`.
    package func remove(_ fd: Int32) {
        var event = epoll_event()
        _ = epoll_ctl(descriptor, EPOLL_CTL_DEL, fd, &event)
    }

    /// Waits up to `timeoutMilliseconds` and returns the tokens of ready descriptors (the wake
    /// token when `wake()` was called).
    package func wait(timeoutMilliseconds: Int32, maximum: Int = 256) -> [UInt64] {
        withUnsafeTemporaryAllocation(of: epoll_event.self, capacity: maximum) { events in
            tokens(events, epoll_wait(descriptor, events.baseAddress, Int32(maximum), timeoutMilliseconds))
        }
    }

    /// Waits up to `timeoutNanoseconds` (not rounded to milliseconds, so a caller that must act
    /// at a precise time neither spins nor oversleeps) and returns the tokens of ready descriptors.
    package func wait(timeoutNanoseconds: Int64, maximum: Int = 256) -> [UInt64] {
        let timeout = max(0, timeoutNanoseconds)
        return withUnsafeTemporaryAllocation(of: epoll_event.self, capacity: maximum) { events in
            var count = CSluiceLinux_epollWaitNanoseconds(descriptor, events.baseAddress, Int32(maximum), timeout)
            if count < 0 && errno == ENOSYS {
                // Kernels before 5.11: round up, so the caller never wakes early and spins.
                let milliseconds = Int32(clamping: (timeout + 999_999) / 1_000_000)
                count = epoll_wait(descriptor, events.baseAddress, Int32(maximum), milliseconds)
            }
            return tokens(events, count)
        }
    }

    private func tokens(_ events: UnsafeMutableBufferPointer<epoll_event>, _ count: Int32) -> [UInt64] {
        guard count > 0 else { return [] }
        var tokens: [UInt64] = []
        tokens.reserveCapacity(Int(count))
        for index in 0..<Int(count) {
            let token = events[index].data.u64
            if token == Poller.wakeToken {
                var value: UInt64 = 0
                _ = Glibc.read(wakeDescriptor, &value, 8)
            }
            tokens.append(token)
        }
        return tokens
    }

    /// Wakes a thread blocked in `wait`. Callable from any thread.
    package func wake() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeDescriptor, &one, 8)
    }
}

/// Process signals.
package enum Signals {
    /// Stops the default action of `signal` so a `DispatchSource` can observe it.
    package static func ignore(_ signal: Int32) {
        _ = Glibc.signal(signal, SIG_IGN)
    }

    private static func terminationSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        return set
    }

    /// Blocks SIGTERM and SIGINT in the calling thread and every thread it creates later, so a
    /// termination signal stays pending until `waitForTermination` takes it: none is lost or fatal
    /// in the window before the process is ready to handle it. Call before starting threads.
    package static func blockTermination() {
        var set = terminationSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Waits for SIGTERM or SIGINT (blocked with `blockTermination`) and returns which arrived.
    package static func waitForTermination() -> Int32 {
        var set = terminationSet()
        var signal: Int32 = 0
        while sigwait(&set, &signal) != 0 {}
        return signal
    }

    package static let terminate: Int32 = SIGTERM
    package static let interrupt: Int32 = SIGINT
}
