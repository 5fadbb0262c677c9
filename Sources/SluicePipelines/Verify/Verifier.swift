import Foundation
package import SluiceStreams
package import SluiceSupport

/// What `sluice verify` found.
package struct VerifyReport: Sendable {
    /// Outputs checked (records, or their parts after a split) and records a processor dropped.
    package var checkedOutputs = 0
    package var droppedOutputs = 0
    package var filesChecked = 0
    /// Outputs in no published file or error document.
    package var gaps: [String] = []
    /// Outputs claimed by more than one file.
    package var duplicates: [String] = []
    /// Files that are missing or whose content does not match the manifest.
    package var fileProblems: [String] = []
    /// What could not be checked, and why.
    package var cannotCheck: [String] = []
    /// Ranges not checked because they are past the checkpoint (not delivered yet).
    package var notYetDelivered: [String] = []

    package var holds: Bool { gaps.isEmpty && duplicates.isEmpty && fileProblems.isEmpty }

    package init() {}
}

/// `sluice verify`: audits a pipeline from its manifest (every sealed batch, never compacted),
/// the published files and the error output. Every output of every record in the stream's
/// retained range up to the checkpoint must be in exactly one published file or error document;
/// every file the manifest names must exist and decompress to the journaled size (data) or
/// number of documents (error output).
package final class Verifier {
    private let definition: PipelineDefinition
    private let store: StreamStore
    private let archiveRoot: String
    private let stateDirectory: String
    private let fileSystem: FileSystem
    private let chain: ProcessorChain?

    /// At most this many findings of each kind are listed (the counts stay exact).
    static let listLimit = 50

    package init(definition: PipelineDefinition, store: StreamStore, archiveRoot: String, stateRoot: String, fileSystem: FileSystem) {
        self.definition = definition
        self.store = store
        self.archiveRoot = archiveRoot
        self.stateDirectory = stateRoot + "/" + definition.name
        self.fileSystem = fileSystem
        // An external processor may answer differently now than when the files were written.
        if definition.processors.contains(where: { $0.type == "exec" }) {
            chain = nil
        } else {
            chain = try? ProcessorChain(definitions: definition.processors, environment: .validation(pipelineName: definition.name))
        }
    }

    private func lines(of path: String) -> [[UInt8]] {
        guard let bytes = try? fileSystem.readFile(path) else { return [] }
        return bytes.split(separator: 0x0A).map(Array.init)
    }

    package func run() -> VerifyReport {
        var report = VerifyReport()
        // The manifest: every batch sealed, and where diverted batches went instead.
        var batches: [SealedBatch] = []
        var diversions: [String: Diversion] = [:]
        for line in lines(of: stateDirectory + "/manifest") {
            switch JournalCodec.decode(line) {
            case .sealed(let batch)?:
                if !batches.contains(where: { $0.id == batch.id }) { batches.append(batch) }
            case .diverted(let diversion)?: diversions[diversion.batchID] = diversion
            default: continue
            }
        }
        var checkpoint: Checkpoint?
        var published = Set<String>()
        for line in lines(of: stateDirectory + "/journal") {
            switch JournalCodec.decode(line) {
            case .checkpoint(let value)?: checkpoint = value
            case .published(let id)?: published.insert(id)
            default: continue
            }
        }
        guard let checkpoint else {
            report.cannotCheck.append(
                "Pipeline \(definition.name) has no journal in \(stateDirectory): it never ran with this data directory, so there is nothing to audit.")
            return report
        }
        if batches.isEmpty && !fileSystem.exists(stateDirectory + "/manifest") {
            report.cannotCheck.append("No manifest in \(stateDirectory) (written since this version): files published before it cannot be mapped to records.")
        }

        // Files: each must exist and hold what the manifest says.
        for batch in batches {
            let object = diversions[batch.id].map(\.object) ?? batch.object
            let path = archiveRoot + "/" + object
            guard fileSystem.exists(path) else {
                // Published means: the journal says so, or the checkpoint has passed all of it.
                let passed = batch.spans.allSatisfy { span in
                    checkpoint.finished.contains(span.shard) || checkpoint.positions[span.shard].map { span.last < $0 } ?? false
                }
                let sealedOnly = !passed && !published.contains(batch.id) && diversions[batch.id].map { !published.contains($0.id) } ?? true
                if sealedOnly {
                    report.notYetDelivered.append("batch \(batch.id) is sealed but not published yet (\(object))")
                } else {
                    report.fileProblems.append("\(object): missing (\(batch.recordCount) records of \(Self.describe(batch.spans)))")
                }
                continue
            }
            report.filesChecked += 1
            let compressed = (try? fileSystem.readFile(path)) ?? []
            var content = compressed
            if compressed.count >= 2 && compressed[0] == 0x1F && compressed[1] == 0x8B {
                do { content = try Gzip.decompress(compressed, maximumOutput: 1 << 31) } catch {
                    report.fileProblems.append("\(object): cannot be decompressed (\(error))")
                    continue
                }
            }
            if diversions[batch.id] != nil || batch.kind != .data(partition: partitionOf(batch)) {
                let documents = content.split(separator: 0x0A).count
                if documents != batch.recordCount {
                    report.fileProblems.append("\(object): \(documents) error documents; the manifest says \(batch.recordCount)")
                }
            } else if content.count != batch.uncompressedBytes {
                report.fileProblems.append(
                    "\(object): \(content.count) bytes when decompressed; the manifest says \(batch.uncompressedBytes) (changed or truncated?)")
            }
        }

        // Records: every output up to the checkpoint in exactly one batch.
        guard let chain else {
            report.cannotCheck.append(
                "The pipeline's processors include exec, whose answers may differ now: record coverage is not checked, only the files.")
            return report
        }
        var runs: [Int: [(span: ShardSpan, object: String)]] = [:]
        for batch in batches {
            let object = diversions[batch.id].map(\.object) ?? batch.object
            for span in batch.spans { runs[span.shard, default: []].append((span, object)) }
        }
        for shard in runs.keys { runs[shard]!.sort { ($0.span.first, $0.span.firstSub) < ($1.span.first, $1.span.firstSub) } }
        for shard in checkpoint.positions.keys.sorted() {
            let shardID = ShardID.format(shard)
            guard var position = try? store.startingPosition(stream: definition.streamName, shardID: shardID, type: .trimHorizon).position
            else {
                report.cannotCheck.append("\(shardID): no longer in stream \(definition.streamName) (expired); its files were checked above.")
                continue
            }
            let end = checkpoint.finished.contains(shard) ? ShardPosition.end : checkpoint.positions[shard]!
            if !checkpoint.finished.contains(shard) {
                report.notYetDelivered.append("\(shardID): records from the checkpoint on are not delivered yet")
            }
            // A sweep over the runs in order: `active` holds the runs that started at or before the
            // output being checked and have not ended (normally one; more only for duplicates).
            let shardRuns = runs[shard] ?? []
            let wholeRecords = Set(shardRuns.filter { $0.span.firstSub == PipelineRunner.wholeRecordSub }.map(\.span.first))
            var next = 0
            var active: [(span: ShardSpan, object: String)] = []
            reading: while position < end {
                guard let read = try? store.read(stream: definition.streamName, shardIndex: shard, from: position, limit: 1000),
                    !read.records.isEmpty
                else { break }
                let records = read.records.filter { $0.sequenceNumber.position < end }
                let outputs: [ProcessorChain.Outputs] =
                    chain.isEmpty
                    ? records.map { [ProcessorChain.Output(outcome: .ok(data: $0.data, partitionKeys: [:]), raw: $0.data)] }
                    : chain.run(
                        records.map {
                            ProcessorRecord(
                                recordID: "\($0.sequenceNumber.position.packed)", data: $0.data, approximateArrival: $0.arrival,
                                sourceStream: definition.streamName, shardID: shardID, sequenceNumber: $0.sequenceNumber.description,
                                partitionKey: $0.partitionKey)
                        })
                for (index, record) in records.enumerated() {
                    let at = record.sequenceNumber.position
                    for (sub, output) in outputs[index].enumerated() {
                        if case .dropped = output.outcome {
                            report.droppedOutputs += 1
                            continue
                        }
                        report.checkedOutputs += 1
                        while next < shardRuns.count,
                            shardRuns[next].span.first < at || (shardRuns[next].span.first == at && shardRuns[next].span.firstSub <= sub)
                        {
                            active.append(shardRuns[next])
                            next += 1
                        }
                        active.removeAll { $0.span.last < at || ($0.span.last == at && $0.span.lastSub < sub) }
                        let claims = active.map(\.object)
                        let name = "\(shardID) sequence number \(record.sequenceNumber)" + (sub == 0 && outputs[index].count == 1 ? "" : " output \(sub)")
                        if claims.isEmpty && !wholeRecords.contains(at) {
                            report.gaps.append("\(name): in no published file or error document")
                        } else if claims.count > 1 {
                            report.duplicates.append("\(name): in \(claims.joined(separator: " and "))")
                        }
                    }
                }
                if read.reachedShardEnd || records.count < read.records.count { break reading }
                position = read.next
            }
        }
        return report
    }

    private func partitionOf(_ batch: SealedBatch) -> String {
        if case .data(let partition) = batch.kind { return partition }
        return "\u{0}"
    }

    static func describe(_ spans: [ShardSpan]) -> String {
        spans.prefix(3).map { "\(ShardID.format($0.shard)) \($0.first)...\($0.last)" }.joined(separator: ", ") + (spans.count > 3 ? ", …" : "")
    }
}
