internal import Synchronization

/// The file operations that `SluiceSupport` can be told to fail.
package enum FileOperation: String, Sendable, CaseIterable {
    case open, read, write, sync, truncate, rename, createDirectory, remove, lock
}

/// A failure to inject into one file operation.
package struct Fault: Sendable, Equatable {
    /// The errno the operation fails with.
    package var errno: Int32
    /// For `.write`: how many bytes really reach the file before the failure (a torn write).
    package var bytesWritten: Int

    package init(errno: Int32, bytesWritten: Int = 0) {
        self.errno = errno
        self.bytesWritten = bytesWritten
    }
}

/// The seam through which tests make file operations fail deterministically.
///
/// `SluiceSupport` asks the injector before each operation on a file or directory; a non-nil
/// answer makes the operation fail with that errno as if the kernel had returned it. Production
/// code passes no injector.
package protocol FaultInjecting: Sendable {
    /// The fault to inject into `operation` on `path`, or `nil` to let it run. Thread-safe.
    func fault(for operation: FileOperation, path: String) -> Fault?
}

/// A scripted list of faults: "fail the next 2 writes under `shard-000000000001` with ENOSPC".
///
/// Thread-safe. Rules are matched in the order they were added; a rule with a count is used up
/// after that many matches.
package final class FaultPlan: FaultInjecting {
    private struct Rule {
        var operation: FileOperation
        var pathContains: String
        var fault: Fault
        var skip: Int
        var remaining: Int?
    }

    private let rules = Mutex<[Rule]>([])

    package init() {}

    /// Makes operations fail.
    ///
    /// - Parameters:
    ///   - operation: the operation to fail.
    ///   - pathContains: only paths containing this text match (empty matches all).
    ///   - fault: the errno (and, for writes, how many bytes land first).
    ///   - after: let this many matching operations succeed first.
    ///   - times: fail this many times, or `nil` for every time until `clear()`.
    package func inject(
        _ operation: FileOperation, pathContains: String = "", fault: Fault, after: Int = 0, times: Int? = 1
    ) {
        rules.withLock {
            $0.append(Rule(operation: operation, pathContains: pathContains, fault: fault, skip: after, remaining: times))
        }
    }

    /// Removes every rule.
    package func clear() {
        rules.withLock { $0.removeAll() }
    }

    package func fault(for operation: FileOperation, path: String) -> Fault? {
        rules.withLock { rules in
            for index in rules.indices {
                guard rules[index].operation == operation else { continue }
                guard rules[index].pathContains.isEmpty || path.contains(rules[index].pathContains) else { continue }
                if rules[index].skip > 0 {
                    rules[index].skip -= 1
                    continue
                }
                if let remaining = rules[index].remaining {
                    if remaining <= 0 { continue }
                    rules[index].remaining = remaining - 1
                }
                return rules[index].fault
            }
            return nil
        }
    }
}
