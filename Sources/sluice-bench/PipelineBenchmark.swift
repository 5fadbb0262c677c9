import Foundation
import SluicePipelines
import SluiceServer
import SluiceStreams
import SluiceSupport
import Synchronization

/// `pipeline-e2e`: clickstream lines sent over HTTP as PutRecords into a stream that one pipeline
/// (gzip level 6) delivers into the archive, timed from the first request sent until every
/// record is published; compared with single-core zlib level 6 on the same data in the same run.
///
/// Two modes:
/// - hourly (default): the default `YYYY/MM/dd/HH/` prefix, `sizeInMBs` 64, the real clock;
/// - `--partitions N`: prefix `!{timestamp:yyyy/MM/dd/HH/mm/ss}/` and a stepping clock that
///   advances one second every `records / N` records sent, so the records land in N one-second
///   partitions that are all open at once (N ≤ 900, the interval, so none flushes by age);
///   `sizeInMBs` 128. This is the memory scenario (bar: peak RSS ≤ 200 MB at N = 500). Requests
///   of different seconds are never in flight together (see `sendAll`), so its throughput is
///   not comparable with the hourly mode's.
struct PipelineBenchmark {
    var baseDirectory: String
    var input: String?
    var megabytes: Int
    var connections: Int
    var shards: Int
    var sizeInMBs: Int
    var partitions: Int?
    var timeoutSeconds: Int
    var batch = 500
    /// `--keep-archive DIR`: after the checks, the published archive is moved to DIR (which must
    /// not exist yet) instead of being removed with the run's scratch data, so that a caller (the
    /// peer benchmark, `Tests/Bench/peers.py`) can compare it with the input line by line.
    var keepArchive: String? = nil

    static let pipelineName = "clickstream"
    static let streamName = "clickstream"
    static let throughputBar = 0.9
    static let rssBarMegabytes = 200.0

    /// One pre-encoded PutRecords request (HTTP head + body) in the requests file.
    struct Request {
        var offset: Int64
        var length: Int
        var firstRecord: Int
        var records: Int
    }

    /// What the preparation left: the requests on disk, totals, and the zlib baseline.
    struct Prepared {
        var requests: [Request]
        var records: Int
        var payloadBytes: Int
        var source: String
        var zlibSeconds: Double
        var zlibCompressedBytes: Int
        var zlibMembers: Int
        /// Sum of the lines' digests (`prepare(lineDigest: true)`), else 0.
        var lineDigest: UInt64 = 0
    }

    func run() throws -> BenchmarkResult {
        let directory = baseDirectory + "/sluice-bench-e2e-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileSystem.live.createDirectory(directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }  // scratch data of this run
        let requestsPath = directory + "/requests.bin"

        // Data, baseline and requests first; the data is released before the service starts so
        // the peak RSS below is the service's (plus the load generator's buffers).
        let prepared = try prepare(requestsPath: requestsPath)
        let requestFile = try FileSystem.live.open(requestsPath, .readOnly)
        defer { requestFile.close() }
        let resetPeak = ProcessMemory.resetPeak()
        let rssBefore = ProcessMemory.kilobytes("VmRSS") ?? 0

        // The service: one pipeline over stream `clickstream`.
        let clock = partitions.map { SteppingClock(partitions: $0, totalRecords: prepared.records) }
        let definition = try makeDefinition()
        let service = try startService(directory: directory, definition: definition, clock: clock)
        var serviceRunning = true
        defer { if serviceRunning { service.shutdown(graceMilliseconds: 5000) } }
        guard let manager = service.pipelines, let runner = manager.runner(named: Self.pipelineName) else {
            throw BenchmarkError("the service did not start pipeline \(Self.pipelineName)")
        }

        progress("sending \(prepared.records) records (\(mb(prepared.payloadBytes)) MB) as \(prepared.requests.count) PutRecords over \(connections) connections")
        let wall = ContinuousClock()
        let begin = wall.now
        let load = try sendAll(port: service.server.port, requests: prepared.requests, file: requestFile, clock: clock)
        let acknowledged = wall.now
        guard load.records == prepared.records else {
            throw BenchmarkError("\(load.records) records were acknowledged; \(prepared.records) were sent")
        }

        // Every record read by the pipeline, then the last partial buffers flushed and published.
        let deadline = begin + .seconds(timeoutSeconds)
        var status = runner.status
        while status.counters.incomingRecords < prepared.records {
            try checkHealth(status, deadline: deadline, wall: wall, waitingFor: "the pipeline to read every record")
            Thread.sleep(forTimeInterval: 0.002)
            status = runner.status
        }
        let openPartitions = status.openPartitions
        let flushBegin = wall.now
        var flushes = 0
        while status.counters.recordsPublished < prepared.records {
            try checkHealth(status, deadline: deadline, wall: wall, waitingFor: "every record to be published")
            if status.bufferedRecords > 0 && status.pendingBatches == 0 {
                let remaining = deadline - wall.now
                _ = manager.flush(name: Self.pipelineName, timeoutMilliseconds: max(1, remaining.components.seconds * 1000))
                flushes += 1
            } else {
                Thread.sleep(forTimeInterval: 0.002)
            }
            status = runner.status
        }
        let end = wall.now
        let peakKilobytes = ProcessMemory.kilobytes("VmHWM") ?? 0
        let seconds = (end - begin).seconds
        if let problem = status.problem { progress("pipeline reported a problem: \(problem)") }
        guard status.counters.errorRecords.isEmpty, status.counters.errorFilesPublished == 0 else {
            throw BenchmarkError("the pipeline sent records to error output: \(status.counters.errorRecords); expected none")
        }
        service.shutdown(graceMilliseconds: 5000)
        serviceRunning = false

        // The archive holds exactly the records sent: count lines and bytes by decompressing.
        progress("checking the archive")
        let archive = try verifyArchive(directory + "/archive", records: prepared.records, payloadBytes: prepared.payloadBytes)
        guard archive.files == status.counters.filesPublished else {
            throw BenchmarkError("the archive holds \(archive.files) files; the pipeline reports \(status.counters.filesPublished) published")
        }
        if let keepArchive {
            do {
                try FileManager.default.moveItem(atPath: directory + "/archive", toPath: keepArchive)
            } catch {
                throw BenchmarkError("cannot move the archive to --keep-archive '\(keepArchive)' (it must not exist yet): \(error)")
            }
        }

        let e2eRate = Double(prepared.payloadBytes) / 1e6 / seconds
        let zlibRate = Double(prepared.payloadBytes) / 1e6 / prepared.zlibSeconds
        let ratio = e2eRate / zlibRate
        let peakMegabytes = Double(peakKilobytes) / 1024
        var extra: [(String, String)] = [
            ("mode", "\"\(partitions.map { "partitions-\($0)" } ?? "hourly")\""),
            ("e2e_mb_s", String(format: "%.1f", e2eRate)),
            ("records_s", String(format: "%.0f", Double(prepared.records) / seconds)),
            ("zlib6_mb_s", String(format: "%.1f", zlibRate)),
            ("ratio_e2e_to_zlib6", String(format: "%.2f", ratio)),
            ("bar_e2e_ge_0_9_zlib6", ratio >= Self.throughputBar ? "\"met\"" : "\"not met\""),
            ("files", "\(archive.files)"),
            ("compressed_bytes", "\(archive.compressedBytes)"),
            ("compression_ratio", String(format: "%.2f", Double(prepared.payloadBytes) / Double(max(1, archive.compressedBytes)))),
            ("zlib6_compression_ratio", String(format: "%.2f", Double(prepared.payloadBytes) / Double(max(1, prepared.zlibCompressedBytes)))),
            ("zlib6_members", "\(prepared.zlibMembers)"),
            ("peak_rss_mb", String(format: "%.1f", peakMegabytes)),
            ("peak_rss_scope", resetPeak ? "\"from service start (VmHWM reset)\"" : "\"whole process, including data preparation\""),
            ("rss_before_service_mb", String(format: "%.1f", Double(rssBefore) / 1024)),
            ("open_partitions_before_flush", "\(openPartitions)"),
            ("ack_seconds", String(format: "%.2f", (acknowledged - begin).seconds)),
            ("flush_seconds", String(format: "%.2f", (end - flushBegin).seconds)),
            ("final_flushes", "\(flushes)"),
            ("count_check", "\"ok: \(archive.lines) lines, \(archive.uncompressedBytes) bytes decompressed\""),
            ("payload_mb", String(format: "%.1f", Double(prepared.payloadBytes) / 1e6)),
            ("connections", "\(connections)"), ("records_per_request", "\(batch)"), ("shards", "\(shards)"),
            ("size_in_mbs", "\(sizeInMBs)"), ("interval_s", "900"), ("gzip_level", "6"), ("durability", "\"always\""),
            ("data", "\"\(prepared.source)\""),
        ]
        if let keepArchive { extra.append(("archive_kept", jsonString(keepArchive))) }
        if let partitions {
            extra.insert(("bar_rss_le_200_mb", peakMegabytes <= Self.rssBarMegabytes ? "\"met\"" : "\"not met\""), at: 12)
            if openPartitions < partitions {
                extra.append(("note", "\"only \(openPartitions) of \(partitions) partitions were open: send at least \(partitions) requests (--mb 200 does)\""))
            }
        }
        return BenchmarkResult(
            scenario: "pipeline-e2e", threads: connections, records: prepared.records, bytes: prepared.payloadBytes, seconds: seconds,
            latenciesMilliseconds: load.latencies, extra: extra)
    }

    /// An in-process service (store under `directory/data`, archive under `directory/archive`,
    /// HTTP and admin on ephemeral ports) running `definition`, started.
    func startService(directory: String, definition: PipelineDefinition, clock: SteppingClock?) throws -> SluiceService {
        var storeConfiguration = StreamStoreConfiguration(dataDirectory: directory + "/data")
        storeConfiguration.creationDelayMilliseconds = 0
        storeConfiguration.durability = .always
        if let clock { storeConfiguration.clock = clock }
        var serverConfiguration = HTTPServerConfiguration()
        serverConfiguration.port = 0
        serverConfiguration.workers = max(64, connections)
        var pipelineConfiguration = PipelineServiceConfiguration(definitions: [definition], archiveRoot: directory + "/archive")
        pipelineConfiguration.adminPort = 0
        let logger = Logger(label: "sluice-bench", level: .warning, sink: StderrLogSink())
        let service = try SluiceService(
            store: storeConfiguration, server: serverConfiguration, pipelines: pipelineConfiguration, logger: logger)
        service.start()
        return service
    }

    // MARK: - Preparation

    /// The data (generated or `--input`), the zlib baseline unless `baseline` is false, and the
    /// requests file. With `lineDigest`, also the order-independent digest of the lines (see
    /// `ArchiveCheck.lineDigest`).
    func prepare(requestsPath: String, baseline runBaseline: Bool = true, lineDigest: Bool = false) throws -> Prepared {
        let data: ClickstreamData
        if let input {
            progress("reading \(input)")
            data = try ClickstreamData.read(path: input)
        } else {
            progress("generating \(megabytes) MB of clickstream lines")
            data = ClickstreamData.generate(megabytes: megabytes)
        }
        var baseline = (seconds: 0.0, compressed: 0, members: 0)
        if runBaseline {
            progress("zlib level 6 baseline, one thread")
            baseline = zlibBaseline(data)
        }
        progress("encoding PutRecords requests")
        let requests = try encodeRequests(data, path: requestsPath)
        var digest: UInt64 = 0
        if lineDigest {
            data.bytes.withUnsafeBytes { all in
                for line in 0..<data.count { digest &+= LineDigest.of(UnsafeRawBufferPointer(rebasing: all[data.range(of: line)])) }
            }
        }
        return Prepared(
            requests: requests, records: data.count, payloadBytes: data.bytes.count, source: data.source,
            zlibSeconds: baseline.seconds, zlibCompressedBytes: baseline.compressed, zlibMembers: baseline.members,
            lineDigest: digest)
    }

    /// Single-core zlib level 6 over the same lines, one gzip member per file the pipeline would
    /// write: groups of `sizeInMBs` MiB (hourly mode) or `partitions` equal groups of records.
    private func zlibBaseline(_ data: ClickstreamData) -> (seconds: Double, compressed: Int, members: Int) {
        var groups: [Range<Int>] = []  // byte ranges
        if let partitions {
            let per = (data.count + partitions - 1) / partitions
            var first = 0
            while first < data.count {
                let last = min(data.count, first + per) - 1
                groups.append(data.range(of: first).lowerBound..<data.range(of: last).upperBound)
                first = last + 1
            }
        } else {
            let limit = sizeInMBs << 20
            var start = 0
            for end in data.lineEnds where end - start >= limit {
                groups.append(start..<end)
                start = end
            }
            if start < data.bytes.count { groups.append(start..<data.bytes.count) }
        }
        var output: [UInt8] = []
        output.reserveCapacity(16 << 20)
        var compressed = 0
        let wall = ContinuousClock()
        let begin = wall.now
        data.bytes.withUnsafeBytes { all in
            for group in groups {
                var encoder = GzipEncoder(level: 6)
                encoder.compress(UnsafeRawBufferPointer(rebasing: all[group]), into: &output)
                encoder.finish(into: &output)
                compressed += output.count
                output.removeAll(keepingCapacity: true)
            }
        }
        return ((wall.now - begin).seconds, compressed, groups.count)
    }

    /// PutRecords of `batch` records each (partition key: the record's index), head and body,
    /// written one after another to `path` and synced, so sending costs a read, not an encoding.
    private func encodeRequests(_ data: ClickstreamData, path: String) throws -> [Request] {
        let file = try FileSystem.live.open(path, .createNew)
        defer { file.close() }
        var requests: [Request] = []
        var offset: Int64 = 0
        var body: [UInt8] = []
        var first = 0
        while first < data.count {
            let count = min(batch, data.count - first)
            body.removeAll(keepingCapacity: true)
            body.append(contentsOf: "{\"StreamName\":\"\(Self.streamName)\",\"Records\":[".utf8)
            for record in first..<(first + count) {
                if record > first { body.append(UInt8(ascii: ",")) }
                body.append(contentsOf: "{\"Data\":\"".utf8)
                Base64.encode(Array(data.bytes[data.range(of: record)]), into: &body)
                body.append(contentsOf: "\",\"PartitionKey\":\"\(record)\"}".utf8)
            }
            body.append(contentsOf: "]}".utf8)
            let head = Array(
                ("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: Kinesis_20131202.PutRecords\r\n"
                    + "Content-Type: application/x-amz-json-1.1\r\nContent-Length: \(body.count)\r\n\r\n").utf8)
            try file.write(head + body, at: offset)
            requests.append(Request(offset: offset, length: head.count + body.count, firstRecord: first, records: count))
            offset += Int64(head.count + body.count)
            first += count
        }
        try file.synchronizeData()  // no writeback of this file competes with the run's fsyncs
        return requests
    }

    /// The benchmark's pipeline; `processors` is a JSON array for the `processors` key (none when nil).
    func makeDefinition(processors: String? = nil) throws -> PipelineDefinition {
        var destination = "\"directory\":\"clickstream\",\"compression\":\"gzip\",\"compressionLevel\":6"
        var limits = ""
        if let partitions {
            destination +=
                ",\"prefix\":\"!{timestamp:yyyy/MM/dd/HH/mm/ss}/\",\"errorOutputPrefix\":\"errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/\""
            limits = ",\"maximumOpenPartitions\":\(partitions)"
        }
        if let processors { limits += ",\"processors\":\(processors)" }
        let json = """
            {"name":"\(Self.pipelineName)","source":{"stream":"\(Self.streamName)","createIfMissing":true,"shardCount":\(shards)},\
            "buffering":{"sizeInMBs":\(sizeInMBs),"intervalInSeconds":900},"destination":{\(destination)}\(limits)}
            """
        switch PipelineLoader.decode(Array(json.utf8), file: "sluice-bench/clickstream.json") {
        case .success(let definition): return definition
        case .failure(let errors): throw BenchmarkError("the benchmark's pipeline definition is invalid:\n\(errors)\n\(json)")
        }
    }

    func checkHealth(_ status: PipelineStatus, deadline: ContinuousClock.Instant, wall: ContinuousClock, waitingFor what: String) throws {
        if wall.now > deadline {
            throw BenchmarkError(
                "timed out after \(timeoutSeconds) s waiting for \(what): read \(status.counters.incomingRecords), "
                    + "published \(status.counters.recordsPublished), buffered \(status.bufferedRecords), pending batches \(status.pendingBatches)"
                    + (status.problem.map { "; problem: \($0)" } ?? ""))
        }
    }

    // MARK: - Load

    struct LoadResult {
        var records: Int
        var latencies: [Double]
    }

    /// Sends every request once over `connections` keep-alive connections (two epoll threads),
    /// each connection waiting for its answer before taking the next request. Any answer other
    /// than HTTP 200 with `FailedRecordCount` 0 aborts the run.
    func sendAll(port: UInt16, requests: [Request], file: SluiceSupport.FileHandle, clock: SteppingClock?) throws -> LoadResult {
        let next = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let acknowledged = Atomic<Int>(0)
        let failures = Mutex<[String]>([])
        let latencies = Mutex<[Double]>([])
        let group = DispatchGroup()
        let wall = ContinuousClock()
        // With the stepping clock a request's records take the clock's second when the store
        // appends them, so requests of different seconds must not be in flight together (else a
        // burst lands in the last second taken and partitions are skipped): one thread, and a
        // barrier at every step of the clock.
        let threads = clock == nil ? min(2, connections) : 1
        var descriptors: [Int32] = []
        defer { for descriptor in descriptors { Socket.close(descriptor) } }
        for _ in 0..<connections {
            let descriptor = try Socket.connect(host: "127.0.0.1", port: port)
            Socket.setNonBlocking(descriptor)
            descriptors.append(descriptor)
        }
        for thread in 0..<threads {
            let mine = stride(from: thread, to: descriptors.count, by: threads).map { descriptors[$0] }
            group.enter()
            Threads.spawn(name: "bench-e2e-client-\(thread)") {
                defer { group.leave() }
                var local: [Double] = []
                defer { latencies.withLock { $0 += local } }
                func fail(_ message: String) {
                    failures.withLock { $0.append(message) }
                    stop.store(true, ordering: .relaxed)
                }
                do {
                    let poller = try Poller()
                    var readers = mine.map { ResponseReader(descriptor: $0, capacity: 128 << 10) }  // small: counted in peak RSS
                    var inFlight: [(request: Int, sent: ContinuousClock.Instant)?] = Array(repeating: nil, count: mine.count)
                    for (slot, descriptor) in mine.enumerated() { try poller.add(descriptor, token: UInt64(slot), oneShot: false) }
                    var idle = Array(mine.indices)
                    var busy = 0
                    var exhausted = false
                    var currentStep = -1
                    while true {
                        if stop.load(ordering: .relaxed) { exhausted = true }
                        while !exhausted, let slot = idle.last {
                            if let clock {
                                // Single thread in this mode: peeking before taking is safe.
                                let peek = next.load(ordering: .relaxed)
                                if peek < requests.count {
                                    let step = clock.step(ofRecord: requests[peek].firstRecord)
                                    if busy > 0 && step != currentStep { break }  // the barrier
                                    currentStep = step
                                }
                            }
                            let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
                            guard index < requests.count else {
                                exhausted = true
                                break
                            }
                            idle.removeLast()
                            let request = requests[index]
                            clock?.advance(toRecord: request.firstRecord)
                            let bytes = try file.read(count: request.length, at: request.offset)
                            let sent = wall.now
                            try Socket.writeAll(mine[slot], [bytes], timeoutMilliseconds: 60_000)
                            inFlight[slot] = (index, sent)
                            busy += 1
                        }
                        if exhausted && busy == 0 { break }
                        for token in poller.wait(timeoutMilliseconds: 100) where token != Poller.wakeToken {
                            let slot = Int(token)
                            while let status = try readers[slot].poll() {
                                guard let (index, sent) = inFlight[slot] else {
                                    fail("an answer arrived on a connection with no request in flight (HTTP \(status.code))")
                                    return
                                }
                                guard status.code == 200, !status.failedRecords else {
                                    let records = requests[index]
                                    fail(
                                        "PutRecords \(index) (records \(records.firstRecord)..<\(records.firstRecord + records.records)) was answered with "
                                            + (status.code == 200 ? "FailedRecordCount > 0" : "HTTP \(status.code)")
                                            + "; the benchmark sends no retries and needs every record acknowledged")
                                    return
                                }
                                local.append((wall.now - sent).milliseconds)
                                acknowledged.add(requests[index].records, ordering: .relaxed)
                                inFlight[slot] = nil
                                busy -= 1
                                idle.append(slot)
                            }
                        }
                    }
                } catch {
                    fail("\(error)")
                }
            }
        }
        group.wait()
        if let failure = failures.withLock({ $0.first }) {
            throw BenchmarkError("load generator: \(failure)")
        }
        return LoadResult(records: acknowledged.load(ordering: .relaxed), latencies: latencies.withLock { $0 })
    }

    // MARK: - Archive check

    struct ArchiveCheck {
        var files = 0
        var compressedBytes = 0
        var lines = 0
        var uncompressedBytes = 0
        /// With a line check: lines that are only "\n", and the sum of every line's digest.
        var emptyLines = 0
        var lineDigest: UInt64 = 0
    }

    /// Decompresses every file under `root` (streaming) and counts lines and bytes.
    private func verifyArchive(_ root: String, records: Int, payloadBytes: Int) throws -> ArchiveCheck {
        let check = try scanArchive(root)
        guard check.lines == records, check.uncompressedBytes == payloadBytes else {
            throw BenchmarkError(
                "the archive holds \(check.lines) lines and \(check.uncompressedBytes) bytes after decompression; "
                    + "sent \(records) records and \(payloadBytes) bytes")
        }
        return check
    }

    /// Decompresses every file under `root` (streaming) and counts files, lines and bytes. With
    /// `check`, also hands every line (with its "\n"; a file's last line without one too) to
    /// `check`, which answers a problem or nil, counts lines that are only "\n" and sums the
    /// lines' digests.
    func scanArchive(_ root: String, lines check: ((UnsafeRawBufferPointer) -> String?)? = nil) throws -> ArchiveCheck {
        var result = ArchiveCheck()
        guard let walker = FileManager.default.enumerator(atPath: root) else {
            throw BenchmarkError("cannot list the archive '\(root)'")
        }
        var paths: [String] = []
        while let relative = walker.nextObject() as? String {
            let path = root + "/" + relative
            if !FileSystem.live.isDirectory(path) { paths.append(path) }
        }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { chunk.deallocate() }
        var line: [UInt8] = []
        var problem: String?
        /// Checks the collected `line` (line `number` of the archive, from 1) and empties it.
        func examine(_ check: (UnsafeRawBufferPointer) -> String?, path: String, number: Int) {
            guard !line.isEmpty else { return }
            line.withUnsafeBytes { bytes in
                result.lineDigest &+= LineDigest.of(bytes)
                if bytes.count == 1 && bytes[0] == 0x0A { result.emptyLines += 1 }
                if problem == nil, let found = check(bytes) {
                    problem = "\(path), line \(number) of the archive: \(found): \(String(decoding: bytes.prefix(400), as: UTF8.self))"
                }
            }
            line.removeAll(keepingCapacity: true)
        }
        for path in paths.sorted() {
            let handle = try FileSystem.live.open(path, .readOnly)
            defer { handle.close() }
            var decoder = GzipDecoder()
            var offset: Int64 = 0
            var lines = 0
            while true {
                let got = try handle.read(into: chunk, at: offset)
                if got == 0 { break }
                offset += Int64(got)
                do {
                    try decoder.decompress(UnsafeRawBufferPointer(rebasing: chunk[..<got])) { piece in
                        guard let check else {
                            for byte in piece where byte == 0x0A { lines += 1 }
                            return
                        }
                        var start = 0
                        for index in piece.indices where piece[index] == 0x0A {
                            line.append(contentsOf: UnsafeRawBufferPointer(rebasing: piece[start...index]))
                            lines += 1
                            examine(check, path: path, number: result.lines + lines)
                            start = index + 1
                        }
                        if start < piece.count { line.append(contentsOf: UnsafeRawBufferPointer(rebasing: piece[start...])) }
                    }
                } catch {
                    throw BenchmarkError("\(path): \(error)")
                }
            }
            do { try decoder.finish() } catch { throw BenchmarkError("\(path): \(error)") }
            if let check { examine(check, path: path, number: result.lines + lines + 1) }  // a last line without "\n"
            result.files += 1
            result.compressedBytes += Int(offset)
            result.lines += lines
            result.uncompressedBytes += decoder.producedCount
        }
        if let problem { throw BenchmarkError("archive check: \(problem)") }
        return result
    }
}

/// FNV-1a (64 bits) of one line; the archive checks sum them, so the sum does not depend on
/// the order of the lines (files and partitions may hold them in any order).
enum LineDigest {
    static func of(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}

/// The `--partitions` clock: a frozen second that steps forward as records are sent, so the
/// store stamps them with one of `partitions` consecutive seconds.
final class SteppingClock: TimeSource, Sendable {
    private let base: Int64
    private let recordsPerStep: Int
    private let lastStep: Int
    private let records = Atomic<Int>(0)

    init(partitions: Int, totalRecords: Int) {
        base = SystemTimeSource().now().milliseconds / 1000 * 1000
        recordsPerStep = max(1, (totalRecords + partitions - 1) / partitions)
        lastStep = partitions - 1
    }

    func now() -> Timestamp {
        Timestamp(milliseconds: base + Int64(step(ofRecord: records.load(ordering: .relaxed))) * 1000)
    }

    /// The second (0 ..< partitions) that record `index` is stamped with.
    func step(ofRecord index: Int) -> Int {
        min(lastStep, index / recordsPerStep)
    }

    /// Moves the clock to the second of record `index` (never backwards).
    func advance(toRecord index: Int) {
        var current = records.load(ordering: .relaxed)
        while current < index {
            let (exchanged, original) = records.compareExchange(expected: current, desired: index, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}

/// This process's memory from /proc/self.
enum ProcessMemory {
    /// A `kB` field of /proc/self/status (`VmRSS`, `VmHWM`).
    static func kilobytes(_ field: String) -> Int? {
        // /proc files report size 0, so read until end of file rather than by size.
        let descriptor = open("/proc/self/status", O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { _ = close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let got = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if got <= 0 { break }
            bytes += chunk[..<got]
        }
        let text = String(decoding: bytes, as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.dropFirst(field.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
        }
        return nil
    }

    /// Resets VmHWM to the current RSS (`echo 5 > /proc/self/clear_refs`, Linux 4.0+).
    static func resetPeak() -> Bool {
        let descriptor = open("/proc/self/clear_refs", O_WRONLY)
        guard descriptor >= 0 else { return false }
        defer { _ = close(descriptor) }
        return write(descriptor, "5", 1) == 1
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var milliseconds: Double { seconds * 1000 }
}

private func mb(_ bytes: Int) -> String { String(format: "%.1f", Double(bytes) / 1e6) }

func progress(_ message: String) {
    StandardStreams.writeError(Array("sluice-bench: \(message)\n".utf8))
}
