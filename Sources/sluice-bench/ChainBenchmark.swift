import Foundation
import SluicePipelines
import SluiceSupport

/// `processor-chain`: the built-in processors alone, in memory, on one thread: nanoseconds per
/// record for each chain, over the same clickstream lines in batches of 500 (what the pipeline
/// hands the chain). No HTTP, store or gzip: where the chain's time goes.
struct ChainBenchmark {
    var records: Int
    var only: String?

    static let chains: [(name: String, processors: [ProcessorDefinition])] = [
        ("appendDelimiter", [ProcessorDefinition(type: "appendDelimiter")]),
        ("jsonFilter", [ProcessorDefinition(type: "jsonFilter", parameters: ["where": ".event_type != \"heartbeat\""])]),
        ("jsonProject", [ProcessorDefinition(type: "jsonProject", parameters: ["drop": "user_agent", "add": "receivedAt=$arrivalTime", "delimiter": " "])]),
        ("builtin-chain", [
            ProcessorDefinition(type: "jsonFilter", parameters: ["where": ".event_type != \"heartbeat\""]),
            ProcessorDefinition(type: "jsonProject", parameters: ["drop": "user_agent", "add": "receivedAt=$arrivalTime", "delimiter": " "]),
            ProcessorDefinition(type: "appendDelimiter"),
        ]),
    ]

    /// CPU time of this thread: what the chain costs, whatever else the machine runs.
    static func threadCPUNanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    func run(_ emit: (String) -> Void) throws {
        let data = ClickstreamData.generate(megabytes: max(1, records * 520 / 1_000_000))
        let count = min(records, data.count)
        let batches: [[ProcessorRecord]] = stride(from: 0, to: count, by: 500).map { start in
            (start..<min(start + 500, count)).map { line in
                ProcessorRecord(
                    recordID: String(line), data: Array(data.bytes[data.range(of: line)]),
                    approximateArrival: Timestamp(milliseconds: 1_715_299_200_000), sourceStream: "clickstream",
                    shardID: "shardId-000000000000", sequenceNumber: String(49_000_000_000 + line), partitionKey: "k\(line % 64)")
            }
        }
        let bytes = batches.reduce(0) { $0 + $1.reduce(0) { $0 + $1.data.count } }
        for chain in Self.chains where only == nil || only == chain.name {
            let processors = try ProcessorChain(definitions: chain.processors, environment: .validation(pipelineName: "bench"))
            var best = Double.infinity
            var kept = 0
            for _ in 0..<3 {
                let started = Self.threadCPUNanoseconds()
                kept = 0
                for batch in batches {
                    for outputs in processors.run(batch) {
                        for output in outputs { if case .ok = output.outcome { kept += 1 } }
                    }
                }
                best = min(best, Double(Self.threadCPUNanoseconds() - started))
            }
            let perRecord = best / Double(count)
            emit(#"{"scenario":"processor-chain","chain":"\#(chain.name)","records":\#(count),"kept":\#(kept),"cpu_ns_per_record":\#(Int(perRecord)),"mb_per_s":\#(Int(Double(bytes) / best * 1000))}"#)
        }
    }
}
