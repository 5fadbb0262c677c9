import SluiceSupport
import Synchronization

/// One client connection: its descriptor and parser, touched by the loop thread while idle and
/// by one worker while a request is being handled (never both: the descriptor is one-shot).
final class Connection: Sendable {
    let id: UInt64
    let descriptor: Int32
    private let state: Mutex<State>

    private struct State {
        var parser: HTTPParser
        var busy = false
        var closed = false
        var peerClosed = false
        /// Monotonic ns of the last byte received or response sent.
        var lastActivity: Int64
        /// Monotonic ns when the first byte of the current request's head arrived.
        var headStarted: Int64?
    }

    enum Deadline { case header, idle }

    enum Continuation {
        case request(HTTPRequest)
        case continueExpected
        case failure(status: Int, message: String)
        case idle(peerClosed: Bool)
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

    /// The next parser event; a complete request marks the connection busy.
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

    /// After a response: the next buffered request, or idle.
    func finishRequest() -> Continuation {
        state.withLock { state in
            state.lastActivity = monotonicNanoseconds()
            switch state.parser.next() {
            case .some(.request(let request)):
                state.headStarted = state.parser.hasPartialRequest ? monotonicNanoseconds() : nil
                return .request(request)
            case .some(.continueExpected):
                state.busy = false
                return .continueExpected
            case .some(.failure(let status, let message)):
                state.busy = false
                return .failure(status: status, message: message)
            case .none:
                state.busy = false
                if state.parser.hasPartialRequest && state.headStarted == nil { state.headStarted = monotonicNanoseconds() }
                return .idle(peerClosed: state.peerClosed)
            }
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

    /// Marks the connection closed; false if it already was.
    func markClosed() -> Bool {
        state.withLock { state in
            if state.closed { return false }
            state.closed = true
            state.busy = false
            return true
        }
    }
}
