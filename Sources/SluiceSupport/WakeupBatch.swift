#if canImport(Glibc)
internal import Glibc
#endif

/// Lets a thread that does many small pieces of work in a row (the HTTP event loop answering
/// the requests of one epoll wake-up) hand off their follow-up once, at the end.
///
/// Inside `collect`, `enqueue` queues an action, once per key, to run on this thread when
/// `collect` returns; outside, `enqueue` returns false and the caller acts at once. The store
/// uses it so that a shard's syncer starts its group sync after the whole burst of appends has
/// been written, and one `fdatasync` covers all of them, instead of starting on the first append
/// and leaving the rest of the burst for another sync.
package enum WakeupBatch {
    private final class Batch {
        var actions: [(key: ObjectIdentifier, action: () -> Void)] = []
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    /// Runs `body`; actions enqueued on this thread inside it run, in order, when it returns.
    /// A nested `collect` belongs to the outer one.
    @discardableResult
    package static func collect<Result>(_ body: () throws -> Result) rethrows -> Result {
        if pthread_getspecific(key) != nil { return try body() }
        let batch = Batch()
        pthread_setspecific(key, Unmanaged.passUnretained(batch).toOpaque())
        defer {
            drain()
            pthread_setspecific(key, nil)
        }
        return try body()
    }

    /// Runs the actions queued so far on this thread now. A thread inside `collect` calls this
    /// before it blocks on something a queued action would start (waiting for its own append to
    /// become durable), so it cannot wait for itself.
    package static func drain() {
        guard let pointer = pthread_getspecific(key) else { return }
        let batch = Unmanaged<Batch>.fromOpaque(pointer).takeUnretainedValue()
        while !batch.actions.isEmpty {
            let actions = batch.actions
            batch.actions.removeAll()
            for entry in actions { entry.action() }
        }
    }

    /// Whether this thread is inside `collect`.
    package static var isCollecting: Bool { pthread_getspecific(key) != nil }

    /// Queues `action` for the end of this thread's `collect` unless one with the same `key` is
    /// queued already. Returns false (and queues nothing) outside `collect`.
    @discardableResult
    package static func enqueue(_ key: ObjectIdentifier, _ action: @escaping () -> Void) -> Bool {
        guard let pointer = pthread_getspecific(self.key) else { return false }
        let batch = Unmanaged<Batch>.fromOpaque(pointer).takeUnretainedValue()
        if !batch.actions.contains(where: { $0.key == key }) { batch.actions.append((key, action)) }
        return true
    }
}
