internal import Synchronization
internal import Glibc

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

/// Faults drawn at random, for the crash soak: "each write under `/archive/` fails with ENOSPC
/// with probability 0.05". Read by `sluice serve` from `SLUICE_FAULTS` (see `parse`); a test seam,
/// never set in production.
///
/// Thread-safe. The draws come from one seeded generator, so a run is repeatable only as far as
/// the order of file operations across threads is.
package final class RandomFaults: FaultInjecting {
    package struct Rule: Sendable, Equatable {
        package var operation: FileOperation
        package var pathContains: String
        package var errno: Int32
        package var probability: Double

        package init(operation: FileOperation, pathContains: String, errno: Int32, probability: Double) {
            self.operation = operation
            self.pathContains = pathContains
            self.errno = errno
            self.probability = probability
        }
    }

    package let rules: [Rule]
    private let state: Mutex<UInt64>

    package init(rules: [Rule], seed: UInt64) {
        self.rules = rules
        self.state = Mutex(seed)
    }

    /// The errnos a rule may name.
    package static let errnoNames: [String: Int32] = [
        "EIO": EIO, "ENOSPC": ENOSPC, "EACCES": EACCES, "EROFS": EROFS, "EDQUOT": EDQUOT, "EPERM": EPERM,
    ]

    /// Parses `operation@path-substring=ERRNO:probability` rules separated by `;`, for example
    /// `write@/archive/=ENOSPC:0.05;sync@/data/=EIO:0.01`. The path part may be empty
    /// (`rename@=EACCES:1` matches every rename).
    package static func parse(_ text: String, seed: UInt64) throws(FaultRuleError) -> RandomFaults {
        var rules: [Rule] = []
        for piece in text.split(separator: ";", omittingEmptySubsequences: true) {
            let rule = piece.trimmingWhitespace()
            guard !rule.isEmpty else { continue }
            guard let at = rule.firstIndex(of: "@"), let equals = rule.lastIndex(of: "="), at < equals,
                let colon = rule[equals...].firstIndex(of: ":")
            else {
                throw FaultRuleError(rule: rule, problem: "is not operation@path=ERRNO:probability")
            }
            let operationName = String(rule[..<at])
            guard let operation = FileOperation(rawValue: operationName) else {
                let allowed = FileOperation.allCases.map(\.rawValue).joined(separator: ", ")
                throw FaultRuleError(rule: rule, problem: "names operation '\(operationName)'; use one of \(allowed)")
            }
            let errnoName = String(rule[rule.index(after: equals)..<colon])
            guard let number = errnoNames[errnoName] else {
                let allowed = errnoNames.keys.sorted().joined(separator: ", ")
                throw FaultRuleError(rule: rule, problem: "names errno '\(errnoName)'; use one of \(allowed)")
            }
            guard let probability = Double(rule[rule.index(after: colon)...]), probability >= 0, probability <= 1 else {
                throw FaultRuleError(rule: rule, problem: "needs a probability from 0 to 1 after the ':'")
            }
            let path = String(rule[rule.index(after: at)..<equals])
            rules.append(Rule(operation: operation, pathContains: path, errno: number, probability: probability))
        }
        return RandomFaults(rules: rules, seed: seed)
    }

    package func fault(for operation: FileOperation, path: String) -> Fault? {
        for rule in rules where rule.operation == operation {
            guard rule.pathContains.isEmpty || path.contains(rule.pathContains) else { continue }
            if rule.probability >= 1 || nextUnit() < rule.probability {
                return Fault(errno: rule.errno)
            }
        }
        return nil
    }

    /// A uniform draw in [0, 1) from SplitMix64.
    private func nextUnit() -> Double {
        let value = state.withLock { state -> UInt64 in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        return Double(value >> 11) / Double(1 << 53)
    }
}

/// A `SLUICE_FAULTS` rule that does not parse.
package struct FaultRuleError: Error, CustomStringConvertible, Equatable {
    package var rule: String
    package var problem: String
    package var description: String {
        "SLUICE_FAULTS rule '\(rule)' \(problem), for example write@/archive/=ENOSPC:0.05"
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        var view = self[...]
        while let first = view.first, first == " " || first == "\t" || first == "\n" { view.removeFirst() }
        while let last = view.last, last == " " || last == "\t" || last == "\n" { view.removeLast() }
        return String(view)
    }
}
