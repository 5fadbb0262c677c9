import Foundation

/// Dedicated, named threads for blocking work (STYLE: no unstructured tasks in Sources).
package enum Threads {
    /// Starts `body` on a new thread called `name`; returns at once.
    package static func spawn(name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        thread.start()
    }
}
