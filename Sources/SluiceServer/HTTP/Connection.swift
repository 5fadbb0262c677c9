import SluiceSupport
import Synchronization

/// One client connection: its descriptor and parser.
///
/// Ownership: while `busy`, the connection belongs to the thread answering its request (a
/// worker, a syncer callback, or the loop answering inline); otherwise to the event loop. Only
/// the owner closes the descriptor. Anyone else who must end the connection (shutdown) calls
/// `terminate`, which only shuts the socket down while a request is in flight, so the number is
/// not released (and reused) under the owner. Re-arming in epoll happens under the lock, so it
/// never races with a close.
final class Connection: Sendable {
    let id: UInt64
    let descriptor: Int32
    private let state: Mutex<State>

    private struct State {
        var parser: HTTPParser
        var busy = false
        /// No more requests are answered on this connection.
        var closed = false
        /// `close(2)` has been called on the descriptor.
        var descriptorClosed = false
        var peerClosed = false
        /// Monotonic ns of the last byte received or response sent.
        var lastActivity: Int64
        /// Monotonic ns when the first byte of the current request's head arrived.
        var headStarted: Int64?
    }

    enum Deadline { case header, idle }

    enum Continuation {
        case request(HTTPRequest)
        case failure(status: Int, message: String)
        /// Idle again: re-armed (or, if the peer had gone, to be closed).
        case idle(peerClosed: Bool)
        /// The connection was terminated while the request was handled: close it.
        case closed
    }

    init(id: UInt64, descriptor: Int32, limits: HTTPLimits) {
        self.id = id
        self.descriptor = descriptor
        self.state = Mutex(State(parser: HTTPParser(limits: limits), lastActivity: monotonicNanoseconds()))
    }

    var isBusy: Bool { state.withLock { $0.busy } }

    func received(_ bytes: UnsafeRawBufferPointer) {
        state.withLock { state in
            let wasPartial = state.parser.hasPartialRequest
            state.parser.append(bytes)
            let now = monotonicNanoseconds()
            state.lastActivity = now
            if !wasPartial && state.headStarted == nil { state.headStarted = now }
        }
    }

    /// The next parser event; a complete request makes the connection busy.
    func nextEvent(peerClosed: Bool) -> HTTPParser.Event? {
        state.withLock { state in
            if peerClosed { state.peerClosed = true }
            let event = state.parser.next()
            if case .some(.request) = event {
                state.busy = true
                state.headStarted = state.parser.hasPartialRequest ? monotonicNanoseconds() : nil
            }
            return event
        }
    }

    /// Owner only: runs `body` with the descriptor, unless the connection was terminated.
    func withDescriptor<R>(_ body: (Int32) -> R) -> R? {
        state.withLock { state in
            state.closed ? nil : body(descriptor)
        }
    }

    /// Owner only, after a response: the next buffered request (the connection stays busy), or
    /// idle: answers `100 Continue` if the next request asks for it, clears `busy` and re-arms
    /// with `rearm`, all under the lock.
    func finishRequest(rearm: (Int32) -> Bool) -> Continuation {
        state.withLock { state in
            if state.closed { return .closed }
            let now = monotonicNanoseconds()
            state.lastActivity = now
            var event = state.parser.next()
            if case .some(.continueExpected) = event {
                Socket.writeNonBlocking(descriptor, Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
                event = state.parser.next()
            }
            switch event {
            case .some(.request(let request)):
                state.headStarted = state.parser.hasPartialRequest ? now : nil
                return .request(request)
            case .some(.failure(let status, let message)):
                return .failure(status: status, message: message)
            case .some(.continueExpected), .none:
                // A partial request left over starts its header clock now, not when the
                // previous request was extracted.
                state.headStarted = state.parser.hasPartialRequest ? now : nil
                if state.peerClosed { return .idle(peerClosed: true) }
                state.busy = false
                if !rearm(descriptor) {
                    state.busy = true
                    return .idle(peerClosed: true)
                }
                return .idle(peerClosed: false)
            }
        }
    }

    /// Loop thread only (the connection is not armed while the loop handles its event): re-arms.
    func rearm(_ body: (Int32) -> Bool) -> Bool {
        state.withLock { state in
            state.closed ? false : body(descriptor)
        }
    }

    /// Which deadline, if any, has passed (never for a busy connection).
    func deadline(now: Int64, header: Int64, idle: Int64) -> Deadline? {
        state.withLock { state in
            guard !state.busy, !state.closed else { return nil }
            if state.parser.isReadingHead, let started = state.headStarted, now - started > header { return .header }
            if now - state.lastActivity > idle { return .idle }
            return nil
        }
    }

    /// Closes the descriptor, once. For the owner, or the loop for a connection that is not busy.
    /// - Returns: false if it was closed already.
    @discardableResult
    func close(removing: (Int32) -> Void) -> Bool {
        state.withLock { state in
            state.closed = true
            state.busy = false
            if state.descriptorClosed { return false }
            state.descriptorClosed = true
            removing(descriptor)
            Socket.close(descriptor)
            return true
        }
    }

    /// Ends the connection from outside: closes it if idle; if a request is in flight, shuts the
    /// socket down so its owner fails fast and closes it.
    /// - Returns: true when the descriptor was closed now.
    func terminate(removing: (Int32) -> Void) -> Bool {
        state.withLock { state in
            if state.descriptorClosed { return false }
            state.closed = true
            if state.busy {
                Socket.shutdown(descriptor)
                return false
            }
            state.descriptorClosed = true
            removing(descriptor)
            Socket.close(descriptor)
            return true
        }
    }
}
