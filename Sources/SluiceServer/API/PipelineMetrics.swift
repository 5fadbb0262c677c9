import SluicePipelines
import SluiceSupport

/// The pipelines' part of `GET /metrics`, in the Prometheus text format.
enum PipelineMetrics {
    static func text(_ statuses: [PipelineStatus], now: Timestamp) -> String {
        guard !statuses.isEmpty else { return "" }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: (PipelineStatus) -> [(labels: String, value: String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for status in statuses {
                for sample in samples(status) {
                    let labels = sample.labels.isEmpty ? "" : "," + sample.labels
                    out += "\(name){pipeline=\"\(status.name)\"\(labels)} \(sample.value)\n"
                }
            }
        }
        family("sluice_pipeline_incoming_records_total", "counter", "Records the pipeline read from its stream.") {
            [("", "\($0.counters.incomingRecords)")]
        }
        family("sluice_pipeline_incoming_bytes_total", "counter", "Data bytes the pipeline read from its stream.") {
            [("", "\($0.counters.incomingBytes)")]
        }
        family("sluice_pipeline_published_files_total", "counter", "Data files published to the destination.") {
            [("", "\($0.counters.filesPublished)")]
        }
        family("sluice_pipeline_published_records_total", "counter", "Records in published data files.") {
            [("", "\($0.counters.recordsPublished)")]
        }
        family(
            "sluice_pipeline_published_bytes_total", "counter",
            "Bytes of published data files, before (uncompressed) and after (compressed) compression."
        ) {
            [("stage=\"uncompressed\"", "\($0.counters.uncompressedBytesPublished)"), ("stage=\"compressed\"", "\($0.counters.bytesPublished)")]
        }
        family("sluice_pipeline_flushes_total", "counter", "Buffers sealed, by reason (size, interval, shutdown, on-demand).") { status in
            FlushReason.allCases.map { ("reason=\"\($0.rawValue)\"", "\(status.counters.flushes[$0] ?? 0)") }
        }
        family("sluice_pipeline_error_records_total", "counter", "Records sent to error output, by error-output type.") { status in
            status.counters.errorRecords.keys.sorted().map { ("type=\"\($0)\"", "\(status.counters.errorRecords[$0]!)") }
        }
        family("sluice_pipeline_retries_total", "counter", "Failed publication attempts that were retried.") {
            [("", "\($0.counters.retries)")]
        }
        family(
            "sluice_pipeline_data_freshness_seconds", "gauge",
            "Age of the oldest record not yet delivered (0 when everything is delivered)."
        ) { status in
            let age = status.oldestUndeliveredArrival.map { max(0, now.milliseconds - $0.milliseconds) } ?? 0
            return [("", String(Double(age) / 1000))]
        }
        family("sluice_pipeline_open_partitions", "gauge", "Open partition buffers.") { [("", "\($0.openPartitions)")] }
        family("sluice_pipeline_buffered_bytes", "gauge", "Uncompressed bytes in open buffers.") { [("", "\($0.bufferedBytes)")] }
        family("sluice_pipeline_healthy", "gauge", "1 while the pipeline delivers, 0 while publication fails past its retries.") {
            [("", $0.healthy ? "1" : "0")]
        }
        return out
    }
}
