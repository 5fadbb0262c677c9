internal import SluiceSupport

/// `jsonFilter` followed by `jsonProject` (and an `appendDelimiter` after them, if there is one),
/// run by `ProcessorChain` as one stage that skims each record once: the filter and the
/// projection both work from the same `JSONParser.skim` of the record, and the projection's
/// output gets the delimiter as it is built instead of being copied again.
///
/// The verdicts are those of the three processors in a row (`FusedStageEquivalenceTests`
/// compares them): a record that is not JSON fails as `jsonFilter` fails it, a dropped record is
/// dropped, a kept one gets `jsonProject`'s verdict, and the delimiter goes after `Ok` outputs
/// only. Used only when the filter's predicate reads top-level members and the projection edits
/// top-level members (their fast paths); other configurations run the processors one by one.
struct FusedJSONStage: RecordProcessor {
    let filter: JSONFilterProcessor
    let project: JSONProjectProcessor
    /// The delimiter of a fused `appendDelimiter`, else empty.
    let suffix: [UInt8]

    var maySplit: Bool { false }
    var isPure: Bool { true }

    func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        batch.map { ProcessorResult(recordID: $0.recordID, verdict: verdict($0)) }
    }

    /// The chain's outputs when this stage is the whole chain: what `ProcessorChain` would build
    /// from `process`, without its bookkeeping for splits and answers out of order.
    func outputs(_ batch: [ProcessorRecord]) -> [ProcessorChain.Outputs] {
        batch.map { record in
            let outcome: ProcessorChain.Outcome
            switch verdict(record) {
            case .ok(let data, _): outcome = .ok(data: data, partitionKeys: record.partitionKeys)  // the stage sets no keys
            case .dropped: outcome = .dropped
            case .processingFailed(let code, let message): outcome = .failed(code: code, message: message)
            case .split: preconditionFailure("FusedJSONStage never splits a record")
            }
            return [ProcessorChain.Output(outcome: outcome, raw: record.data)]
        }
    }

    func verdict(_ record: ProcessorRecord) -> ProcessorVerdict {
        let skim: JSONSkim
        do {
            skim = try JSONParser.skim(record.data, maximumDepth: JSONDocument.maximumDepth)
        } catch {
            return filter.invalidJSON(error)
        }
        let filtered = filter.verdict(record.data, skim: skim)
        guard case .ok = filtered else { return filtered }
        return project.verdict(record, skim: skim, suffix: suffix)
    }

    /// `processors` with each eligible `jsonFilter` + `jsonProject` (+ `appendDelimiter`) run
    /// replaced by one fused stage.
    static func fuse(_ processors: [any RecordProcessor]) -> [any RecordProcessor] {
        var stages: [any RecordProcessor] = []
        var index = 0
        while index < processors.count {
            if index + 1 < processors.count, let filter = processors[index] as? JSONFilterProcessor,
                let project = processors[index + 1] as? JSONProjectProcessor, filter.readsTopLevelOnly, project.editsTopLevelOnly
            {
                let append = index + 2 < processors.count ? processors[index + 2] as? AppendDelimiterProcessor : nil
                stages.append(FusedJSONStage(filter: filter, project: project, suffix: append?.delimiter ?? []))
                index += append == nil ? 2 : 3
            } else {
                stages.append(processors[index])
                index += 1
            }
        }
        return stages
    }
}
