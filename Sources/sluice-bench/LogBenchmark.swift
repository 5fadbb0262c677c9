import Foundation
import SluiceStreams
import SluiceSupport
import Synchronization

/// One result line.
struct BenchmarkResult {
    var scenario: String
    var threads: Int
    var records: Int
    var bytes: Int
    var seconds: Double
    var latenciesMilliseconds: [Double]
    var extra: [(String, String)]

    var json: String {
        let sorted = latenciesMilliseconds.sorted()
        func percentile(_ p: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.down)))]
        }
        var fields: [(String, String)] = [
            ("scenario", "\"\(scenario)\""),
            ("threads", "\(threads)"),
            ("records_per_s", String(format: "%.0f", Double(records) / seconds)),
            ("mb_per_s", String(format: "%.1f", Double(bytes) / 1_000_000 / seconds)),
            ("p50_ms", String(format: "%.3f", percentile(0.5))),
            ("p99_ms", String(format: "%.3f", percentile(0.99))),
            ("records", "\(records)"),
            ("seconds", String(format: "%.2f", seconds)),
        ]
        fields += extra
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }
}

/// The stream-core scenarios: durable appends and sequential reads.
struct LogBenchmark {
    var baseDirectory: String
    var seconds: Int
    var batch: Int
    var shards: Int
    var recordBytes: Int

    private func makeStore(_ name: String, durability: DurabilityPolicy = .always) throws -> (StreamStore, String) {
        let directory = baseDirectory + "/sluice-bench-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var configuration = StreamStoreConfiguration(dataDirectory: directory)
        configuration.durability = durability
        configuration.segmentSize = 256 << 20
        let store = try StreamStore(configuration)
        try store.createStream(name: "bench", shardCount: shards)
        return (store, directory)
    }

    private func payloads(_ count: Int) -> [[UInt8]] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in (0..<recordBytes).map { _ in UInt8.random(in: 0...255, using: &generator) } }
    }

    /// The physical limit the append figures are compared with, measured in the same run: one
    /// thread writing 512 KiB chunks to a file, each followed by `fdatasync` (the best case for
    /// durable appends of that size on this disk), for `seconds`.
    func diskBaseline() throws -> BenchmarkResult {
        let path = baseDirectory + "/sluice-bench-disk-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let handle = try FileSystem.live.open(path, .createNew)
        defer {
            handle.close()
            try? FileSystem.live.removeFile(path)  // scratch data of this run
        }
        let chunk = (0..<(512 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let clock = ContinuousClock()
        let duration = Duration.seconds(seconds)
        var latencies: [Double] = []
        var offset: Int64 = 0
        let begin = clock.now
        while clock.now - begin < duration {
            let t0 = clock.now
            try handle.write(chunk, at: offset)
            try handle.synchronizeData()
            let elapsed = clock.now - t0
            latencies.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
            offset += Int64(chunk.count)
        }
        let elapsed = clock.now - begin
        return BenchmarkResult(
            scenario: "disk-write-fdatasync", threads: 1, records: latencies.count, bytes: Int(offset),
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            latenciesMilliseconds: latencies, extra: [("chunk_bytes", "\(chunk.count)")])
    }

    /// `threads` writers append batches of `batch` records (1 KiB each by default) for `seconds`,
    /// each batch acknowledged only once durable (fsync, group commit). Latency is per batch.
    func append(threads: Int) throws -> BenchmarkResult {
        let (store, directory) = try makeStore("append")
        defer {
            store.close()
            try? FileManager.default.removeItem(atPath: directory)  // scratch data of this run
        }
        let data = payloads(64)
        let keys = (0..<1024).map { "key-\($0)" }
        let entriesPerThread: [[PutRecordsEntry]] = (0..<threads).map { thread in
            (0..<batch).map { i in PutRecordsEntry(partitionKey: keys[(thread * 7919 + i) % keys.count], data: data[(thread + i) % data.count]) }
        }
        let records = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        let latencies = Mutex<[Double]>([])
        let ready = DispatchGroup()
        let done = DispatchGroup()
        let start = DispatchSemaphore(value: 0)
        let duration = Duration.seconds(seconds)
        let clock = ContinuousClock()
        for thread in 0..<threads {
            ready.enter()
            done.enter()
            let entries = entriesPerThread[thread]
            let worker = Thread {
                ready.leave()
                start.wait()
                var local: [Double] = []
                let begin = clock.now
                while clock.now - begin < duration {
                    let t0 = clock.now
                    do {
                        let results = try store.putRecords(stream: "bench", entries: entries)
                        let ok = results.filter { if case .success = $0 { return true } else { return false } }.count
                        records.add(ok, ordering: .relaxed)
                        failures.add(results.count - ok, ordering: .relaxed)
                    } catch {
                        failures.add(entries.count, ordering: .relaxed)
                    }
                    let elapsed = clock.now - t0
                    local.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
                }
                latencies.withLock { $0 += local }
                done.leave()
            }
            worker.name = "bench-writer-\(thread)"
            worker.start()
        }
        ready.wait()
        let begin = clock.now
        for _ in 0..<threads { start.signal() }
        done.wait()
        let elapsed = clock.now - begin
        let total = records.load(ordering: .relaxed)
        guard failures.load(ordering: .relaxed) == 0 else {
            throw StreamError(.internalFailure, "\(failures.load(ordering: .relaxed)) appends failed during the benchmark")
        }
        return BenchmarkResult(
            scenario: "log-append", threads: threads, records: total, bytes: total * recordBytes,
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            latenciesMilliseconds: latencies.withLock { $0 },
            extra: [("record_bytes", "\(recordBytes)"), ("batch", "\(batch)"), ("shards", "\(shards)"), ("durability", "\"always\"")])
    }

    /// Fills a stream with `megabytes` of 1 KiB records, then reads it back from TRIM_HORIZON in
    /// 10 MiB GetRecords-sized calls (CRC-checked) with one reader per shard.
    func read(megabytes: Int) throws -> BenchmarkResult {
        let (store, directory) = try makeStore("read")
        defer {
            store.close()
            try? FileManager.default.removeItem(atPath: directory)  // scratch data of this run
        }
        let data = payloads(64)
        let target = megabytes * 1_000_000 / recordBytes
        var written = 0
        while written < target {
            let count = min(500, target - written)
            let entries = (0..<count).map { i in PutRecordsEntry(partitionKey: "key-\((written + i) % 1024)", data: data[(written + i) % data.count]) }
            for result in try store.putRecords(stream: "bench", entries: entries) { _ = try result.get() }
            written += count
        }
        let clock = ContinuousClock()
        let records = Atomic<Int>(0)
        let bytes = Atomic<Int>(0)
        let latencies = Mutex<[Double]>([])
        let failure = Mutex<(any Error)?>(nil)
        let begin = clock.now
        DispatchQueue.concurrentPerform(iterations: shards) { shard in
            var position = ShardPosition.start
            var local: [Double] = []
            do {
                while true {
                    let t0 = clock.now
                    let read = try store.read(stream: "bench", shardIndex: shard, from: position)
                    let elapsed = clock.now - t0
                    local.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
                    records.add(read.records.count, ordering: .relaxed)
                    bytes.add(read.records.reduce(0) { $0 + $1.data.count }, ordering: .relaxed)
                    position = read.next
                    if read.caughtUp || read.records.isEmpty { break }
                }
            } catch {
                failure.withLock { $0 = error }
            }
            latencies.withLock { $0 += local }
        }
        let elapsed = clock.now - begin
        if let error = failure.withLock({ $0 }) { throw error }
        let total = records.load(ordering: .relaxed)
        guard total == written else {
            throw StreamError(.internalFailure, "read \(total) records, expected \(written)")
        }
        return BenchmarkResult(
            scenario: "log-read", threads: shards, records: total, bytes: bytes.load(ordering: .relaxed),
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            latenciesMilliseconds: latencies.withLock { $0 },
            extra: [("record_bytes", "\(recordBytes)"), ("shards", "\(shards)"), ("megabytes", "\(megabytes)")])
    }
}
