internal import Synchronization

/// Request and stream metrics, rendered in the Prometheus text format (version 0.0.4) for
/// `GET /metrics`.
///
/// Thread-safe: all state sits behind one `Mutex`, taken once per request for a few dictionary
/// updates, so the hot path stays cheap.
package final class Metrics: Sendable {
    /// Upper bounds of the latency histogram buckets, in seconds (`+Inf` is implicit).
    package static let durationBuckets: [Double] = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
    ]

    private struct RequestKey: Hashable {
        var operation: String
        var status: Int
    }

    private struct ShardKey: Hashable, Comparable {
        var stream: String
        var shard: String

        static func < (lhs: ShardKey, rhs: ShardKey) -> Bool {
            (lhs.stream, lhs.shard) < (rhs.stream, rhs.shard)
        }
    }

    private struct Histogram {
        /// Non-cumulative counts per bucket; the last slot is `+Inf`.
        var counts = [UInt64](repeating: 0, count: Metrics.durationBuckets.count + 1)
        var sum: Double = 0
        var count: UInt64 = 0
    }

    private struct Incoming {
        var records: UInt64 = 0
        var bytes: UInt64 = 0
    }

    private struct State {
        var requests: [RequestKey: UInt64] = [:]
        var durations: [String: Histogram] = [:]
        var incoming: [ShardKey: Incoming] = [:]
        var iteratorAge: [ShardKey: Int64] = [:]
    }

    private let state = Mutex(State())

    package init() {}

    /// Records one finished request, and the acknowledged records it wrote, if any.
    ///
    /// - Parameters:
    ///   - operation: the Kinesis operation (or a route name such as `Health`).
    ///   - status: the HTTP status sent.
    ///   - seconds: how long the request took.
    ///   - incoming: per shard of `stream`, records acknowledged and their data+key bytes.
    ///   - iteratorAge: for GetRecords, the shard read and its MillisBehindLatest.
    func record(
        operation: String, status: Int, seconds: Double, stream: String? = nil,
        incoming: [(shard: String, records: Int, bytes: Int)] = [],
        iteratorAge: (stream: String, shard: String, milliseconds: Int64)? = nil
    ) {
        var bucket = Metrics.durationBuckets.count
        for (slot, bound) in Metrics.durationBuckets.enumerated() where seconds <= bound {
            bucket = slot
            break
        }
        state.withLock { state in
            state.requests[RequestKey(operation: operation, status: status), default: 0] += 1
            state.durations[operation, default: Histogram()].counts[bucket] += 1
            state.durations[operation, default: Histogram()].sum += seconds
            state.durations[operation, default: Histogram()].count += 1
            if let stream {
                for entry in incoming {
                    let key = ShardKey(stream: stream, shard: entry.shard)
                    state.incoming[key, default: Incoming()].records += UInt64(entry.records)
                    state.incoming[key, default: Incoming()].bytes += UInt64(entry.bytes)
                }
            }
            if let iteratorAge {
                state.iteratorAge[ShardKey(stream: iteratorAge.stream, shard: iteratorAge.shard)] =
                    iteratorAge.milliseconds
            }
        }
    }

    /// Drops the per-shard series of a deleted stream.
    func forget(stream: String) {
        state.withLock { state in
            state.incoming = state.incoming.filter { $0.key.stream != stream }
            state.iteratorAge = state.iteratorAge.filter { $0.key.stream != stream }
        }
    }

    /// The metrics in the Prometheus text exposition format, sorted for stable output.
    package func prometheusText() -> String {
        let snapshot = state.withLock { $0 }
        var out = ""
        out += "# HELP sluice_requests_total Kinesis API requests by operation and HTTP status.\n"
        out += "# TYPE sluice_requests_total counter\n"
        for key in snapshot.requests.keys.sorted(by: { ($0.operation, $0.status) < ($1.operation, $1.status) }) {
            out +=
                "sluice_requests_total{operation=\"\(Self.escape(key.operation))\",status=\"\(key.status)\"} \(snapshot.requests[key] ?? 0)\n"
        }
        out += "# HELP sluice_request_duration_seconds Time to answer a request, by operation.\n"
        out += "# TYPE sluice_request_duration_seconds histogram\n"
        for operation in snapshot.durations.keys.sorted() {
            guard let histogram = snapshot.durations[operation] else { continue }
            let label = Self.escape(operation)
            var cumulative: UInt64 = 0
            for (slot, bound) in Metrics.durationBuckets.enumerated() {
                cumulative += histogram.counts[slot]
                out +=
                    "sluice_request_duration_seconds_bucket{operation=\"\(label)\",le=\"\(Self.format(bound))\"} \(cumulative)\n"
            }
            cumulative += histogram.counts[Metrics.durationBuckets.count]
            out += "sluice_request_duration_seconds_bucket{operation=\"\(label)\",le=\"+Inf\"} \(cumulative)\n"
            out += "sluice_request_duration_seconds_sum{operation=\"\(label)\"} \(histogram.sum)\n"
            out += "sluice_request_duration_seconds_count{operation=\"\(label)\"} \(histogram.count)\n"
        }
        out += "# HELP sluice_incoming_records_total Records acknowledged by PutRecord and PutRecords, by shard.\n"
        out += "# TYPE sluice_incoming_records_total counter\n"
        let shards = snapshot.incoming.keys.sorted()
        for key in shards {
            out += "sluice_incoming_records_total{\(Self.labels(key))} \(snapshot.incoming[key]?.records ?? 0)\n"
        }
        out += "# HELP sluice_incoming_bytes_total Data and partition key bytes of acknowledged records, by shard.\n"
        out += "# TYPE sluice_incoming_bytes_total counter\n"
        for key in shards {
            out += "sluice_incoming_bytes_total{\(Self.labels(key))} \(snapshot.incoming[key]?.bytes ?? 0)\n"
        }
        out += "# HELP sluice_iterator_age_milliseconds MillisBehindLatest of the last GetRecords call, by shard.\n"
        out += "# TYPE sluice_iterator_age_milliseconds gauge\n"
        for key in snapshot.iteratorAge.keys.sorted() {
            out += "sluice_iterator_age_milliseconds{\(Self.labels(key))} \(snapshot.iteratorAge[key] ?? 0)\n"
        }
        return out
    }

    private static func labels(_ key: ShardKey) -> String {
        "stream=\"\(escape(key.stream))\",shard=\"\(escape(key.shard))\""
    }

    /// Bucket bounds as Prometheus clients print them (`0.0005`, `1`, `2.5`).
    private static func format(_ bound: Double) -> String {
        bound == bound.rounded() ? String(Int(bound)) : String(bound)
    }

    /// Escapes a label value (backslash, double quote, line feed).
    private static func escape(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
