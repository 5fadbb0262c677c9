/// A pipeline's processors, applied in the order of its `processors` list.
///
/// Each processor sees the records still alive after the ones before it. Every answer is
/// checked against Firehose's contract: a record id missing from the answer, or answered twice,
/// fails the whole batch (`Lambda.MissingRecordId`, `Lambda.DuplicatedRecordId`), as does a
/// thrown `ProcessorFailure`; the batch's live records then go to error output as
/// `processing-failed`.
package struct ProcessorChain: Sendable {
    package let processors: [any RecordProcessor]

    package init(_ processors: [any RecordProcessor]) {
        self.processors = processors
    }

    /// Builds the chain of a pipeline definition from the registry.
    package init(definitions: [ProcessorDefinition], environment: ProcessorEnvironment) throws(ProcessorConfigurationError) {
        var processors: [any RecordProcessor] = []
        for definition in definitions {
            guard let type = ProcessorRegistry.type(named: definition.type) else {
                throw ProcessorConfigurationError(parameter: nil, "unknown processor type \(definition.type)")
            }
            processors.append(try type.make(definition.parameters, environment))
        }
        self.processors = processors
    }

    package var isEmpty: Bool { processors.isEmpty }

    /// The final fate of one output of an input record.
    package enum Outcome: Sendable, Equatable {
        case ok(data: [UInt8], partitionKeys: [String: String])
        case dropped
        case failed(code: String, message: String)
    }

    /// One output: its fate, and `raw`, the bytes as they entered the chain (the user record,
    /// after a split), which error output keeps so a replay starts from the original.
    package struct Output: Sendable, Equatable {
        package var outcome: Outcome
        package var raw: [UInt8]

        package init(outcome: Outcome, raw: [UInt8]) {
            self.outcome = outcome
            self.raw = raw
        }
    }

    /// The outputs of one input record, in order: one for a plain record, several after a split.
    /// An output's index in this list is its sub-position, which the pipeline journals.
    package typealias Outputs = [Output]

    private struct Item {
        var origin: Int
        var record: ProcessorRecord
        var raw: [UInt8]
        var outcome: Outcome?
    }

    /// Runs the chain over a batch; returns, for each input record (same order), its outputs.
    ///
    /// - Parameter throwingFailures: a failure of a whole batch (a thrown `ProcessorFailure`, or
    ///   an answer that breaks the contract) is thrown, so the caller can retry the batch;
    ///   otherwise the batch's live records become `.failed` outputs.
    package func run(_ batch: [ProcessorRecord], throwingFailures: Bool) throws(ProcessorFailure) -> [Outputs] {
        var items = batch.enumerated().map { Item(origin: $0.offset, record: $0.element, raw: $0.element.data, outcome: nil) }
        for processor in processors {
            let live = items.indices.filter { items[$0].outcome == nil }
            if live.isEmpty { break }
            var byID: [String: Int] = [:]
            for index in live { byID[items[index].record.recordID] = index }
            let results: [ProcessorResult]
            do {
                results = try processor.process(live.map { items[$0].record })
                try Self.check(results, ids: Set(byID.keys))
            } catch {
                if throwingFailures { throw error }
                for index in live { items[index].outcome = .failed(code: error.code, message: error.message) }
                continue
            }
            var splits: [Int: [(data: [UInt8], partitionKey: String)]] = [:]
            for result in results {
                let index = byID[result.recordID]!
                switch result.verdict {
                case .ok(let data, let keys):
                    items[index].record.data = data
                    items[index].record.partitionKeys.merge(keys) { _, new in new }
                case .dropped:
                    items[index].outcome = .dropped
                case .processingFailed(let code, let message):
                    items[index].outcome = .failed(code: code, message: message)
                case .split(let parts):
                    splits[index] = parts
                }
            }
            if !splits.isEmpty {
                var expanded: [Item] = []
                expanded.reserveCapacity(items.count)
                for (index, item) in items.enumerated() {
                    guard let parts = splits[index] else {
                        expanded.append(item)
                        continue
                    }
                    for (position, part) in parts.enumerated() {
                        var record = item.record
                        record.recordID = item.record.recordID + "." + String(position)
                        record.data = part.data
                        record.partitionKey = part.partitionKey
                        record.subsequenceNumber = position
                        expanded.append(Item(origin: item.origin, record: record, raw: part.data, outcome: nil))
                    }
                }
                items = expanded
            }
        }
        var outputs = [Outputs](repeating: [], count: batch.count)
        for item in items {
            outputs[item.origin].append(
                Output(outcome: item.outcome ?? .ok(data: item.record.data, partitionKeys: item.record.partitionKeys), raw: item.raw))
        }
        return outputs
    }

    /// Runs the chain; batch failures become `.failed` outputs.
    package func run(_ batch: [ProcessorRecord]) -> [Outputs] {
        do {
            return try run(batch, throwingFailures: false)
        } catch {
            return []  // unreachable: failures are not thrown
        }
    }

    /// Firehose's checks of a transformation response.
    static func check(_ results: [ProcessorResult], ids: Set<String>) throws(ProcessorFailure) {
        var seen = Set<String>()
        for result in results {
            guard ids.contains(result.recordID) else {
                throw ProcessorFailure(
                    code: "Lambda.MissingRecordId",
                    "The processor answered record id \(result.recordID), which was not in the batch. Ensure that it returns exactly the received record ids.")
            }
            guard seen.insert(result.recordID).inserted else {
                throw ProcessorFailure(
                    code: "Lambda.DuplicatedRecordId",
                    "The processor answered record id \(result.recordID) more than once. Ensure that it returns each received record id once.")
            }
        }
        if seen.count != ids.count {
            throw ProcessorFailure(
                code: "Lambda.MissingRecordId",
                "One or more record Ids were not returned (\(ids.count - seen.count) of \(ids.count)). Ensure that the processor returns all received record Ids.")
        }
    }
}
