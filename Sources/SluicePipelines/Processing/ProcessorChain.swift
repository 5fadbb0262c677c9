internal import Dispatch
internal import Foundation
internal import Synchronization

/// A pipeline's processors, applied in the order of its `processors` list.
///
/// Each processor sees the records still alive after the ones before it. Every answer is
/// checked against Firehose's contract: a record id missing from the answer, or answered twice,
/// fails the whole batch (`Lambda.MissingRecordId`, `Lambda.DuplicatedRecordId`), as does a
/// thrown `ProcessorFailure`; the batch's live records then go to error output as
/// `processing-failed`.
package struct ProcessorChain: Sendable {
    package let processors: [any RecordProcessor]
    /// What runs: `processors`, with a `jsonFilter` + `jsonProject` (+ `appendDelimiter`) run
    /// fused into one stage that skims each record once (`FusedJSONStage`), unless fusing is off.
    private let stages: [any RecordProcessor]

    /// - Parameter fusing: false runs every processor on its own (tests compare both).
    package init(_ processors: [any RecordProcessor], fusing: Bool = true) {
        self.processors = processors
        stages = fusing ? FusedJSONStage.fuse(processors) : processors
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
        self.init(processors)
    }

    package var isEmpty: Bool { processors.isEmpty }

    /// How many processors run fused into a `FusedJSONStage` (for tests and benchmarks).
    package var fusedProcessorCount: Int { processors.count - stages.count + stages.filter { $0 is FusedJSONStage }.count }

    /// Whether a record may come out as several outputs (a processor that may split, such as
    /// kplDeaggregate, is in the chain).
    package var maySplit: Bool { processors.contains { $0.maySplit } }

    /// Whether every processor is pure (`RecordProcessor.isPure`): then a large batch is cut into
    /// parts that run on several threads at once, with the same outputs as one run.
    package var isPure: Bool { processors.allSatisfy { $0.isPure } }

    /// Threads for one pure batch, and the fewest records worth a thread.
    static let lanes = max(1, min(4, ProcessInfo.processInfo.activeProcessorCount))
    static let recordsPerLane = 256

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

    /// Runs the chain over a batch; returns, for each input record (same order), its outputs.
    ///
    /// - Parameter throwingFailures: a failure of a whole batch (a thrown `ProcessorFailure`, or
    ///   an answer that breaks the contract) is thrown, so the caller can retry the batch;
    ///   otherwise the batch's live records become `.failed` outputs.
    /// - Parameter parallel: false keeps a pure chain on the calling thread (a pipeline's processing
    ///   thread already runs beside the thread that routes, and measured faster alone on 2 cores).
    package func run(_ batch: [ProcessorRecord], throwingFailures: Bool, parallel: Bool = true) throws(ProcessorFailure) -> [Outputs] {
        let lanes = min(Self.lanes, batch.count / Self.recordsPerLane)
        guard isPure, parallel, lanes >= 2 else { return try runInOrder(batch, throwingFailures: throwingFailures) }
        // Pure processors answer each record on its own: contiguous parts of the batch run at
        // once and their outputs are joined in order. A part that fails as a whole (no built-in
        // does) sends the whole batch through one run, so failures cover what they always did.
        let size = (batch.count + lanes - 1) / lanes
        let parts = Mutex([Result<[Outputs], ProcessorFailure>?](repeating: nil, count: lanes))
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            let slice = Array(batch[(lane * size)..<min(batch.count, (lane + 1) * size)])
            let result = Result { () throws(ProcessorFailure) -> [Outputs] in try runInOrder(slice, throwingFailures: true) }
            parts.withLock { $0[lane] = result }
        }
        var outputs: [Outputs] = []
        outputs.reserveCapacity(batch.count)
        for part in parts.withLock({ $0 }) {
            guard case .success(let partOutputs)? = part else { return try runInOrder(batch, throwingFailures: throwingFailures) }
            outputs.append(contentsOf: partOutputs)
        }
        return outputs
    }

    /// `run` on one thread, in order.
    private func runInOrder(_ batch: [ProcessorRecord], throwingFailures: Bool) throws(ProcessorFailure) -> [Outputs] {
        // A chain that is one fused stage (the usual jsonFilter + jsonProject + appendDelimiter)
        // answers every record in order and never splits: its outputs are built directly.
        if stages.count == 1, let fused = stages[0] as? FusedJSONStage { return fused.outputs(batch) }
        // The records as they go (parallel arrays, so a batch whose records are all live is
        // handed to a processor without copying a record): the input each came from, its bytes
        // as they entered the chain, and its fate once decided.
        var records = batch
        var origins = Array(batch.indices)
        var raws = batch.map(\.data)
        var outcomes = [Outcome?](repeating: nil, count: batch.count)
        var decided = 0
        for processor in stages {
            if decided == records.count { break }
            let live = decided == 0 ? Array(records.indices) : records.indices.filter { outcomes[$0] == nil }
            let results: [ProcessorResult]
            // Where each result's record is: answers in batch order (what built-in processors
            // give) are matched by position; any other order by id, after Firehose's checks.
            let targets: [Int]
            do {
                let input = decided == 0 ? records : live.map { records[$0] }
                results = try processor.process(input)
                if results.count == input.count, zip(results, input).allSatisfy({ $0.recordID == $1.recordID }) {
                    targets = live
                } else {
                    var byID: [String: Int] = [:]
                    for index in live { byID[records[index].recordID] = index }
                    try Self.check(results, ids: Set(byID.keys))
                    targets = results.map { byID[$0.recordID]! }
                }
            } catch {
                if throwingFailures { throw error }
                for index in live { outcomes[index] = .failed(code: error.code, message: error.message) }
                decided += live.count
                continue
            }
            var splits: [Int: [(data: [UInt8], partitionKey: String)]] = [:]
            for (result, index) in zip(results, targets) {
                switch result.verdict {
                case .ok(let data, let keys):
                    records[index].data = data
                    if !keys.isEmpty { records[index].partitionKeys.merge(keys) { _, new in new } }
                case .dropped:
                    outcomes[index] = .dropped
                    decided += 1
                case .processingFailed(let code, let message):
                    outcomes[index] = .failed(code: code, message: message)
                    decided += 1
                case .split(let parts):
                    splits[index] = parts
                }
            }
            if !splits.isEmpty {
                var expanded: [ProcessorRecord] = []
                var expandedOrigins: [Int] = []
                var expandedRaws: [[UInt8]] = []
                var expandedOutcomes: [Outcome?] = []
                expanded.reserveCapacity(records.count)
                for index in records.indices {
                    guard let parts = splits[index] else {
                        expanded.append(records[index])
                        expandedOrigins.append(origins[index])
                        expandedRaws.append(raws[index])
                        expandedOutcomes.append(outcomes[index])
                        continue
                    }
                    for (position, part) in parts.enumerated() {
                        var record = records[index]
                        record.recordID = records[index].recordID + "." + String(position)
                        record.data = part.data
                        record.partitionKey = part.partitionKey
                        record.subsequenceNumber = position
                        expanded.append(record)
                        expandedOrigins.append(origins[index])
                        expandedRaws.append(part.data)
                        expandedOutcomes.append(nil)
                    }
                }
                records = expanded
                origins = expandedOrigins
                raws = expandedRaws
                outcomes = expandedOutcomes
            }
        }
        var outputs = [Outputs](repeating: [], count: batch.count)
        for index in records.indices {
            outputs[origins[index]].append(
                Output(outcome: outcomes[index] ?? .ok(data: records[index].data, partitionKeys: records[index].partitionKeys),
                       raw: raws[index]))
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
