import Foundation
import SluiceStreams
package import SluiceSupport

/// Which error documents a replay takes.
package struct ReplayOptions: Sendable, Equatable {
    /// Error-output types (`processing-failed`, `delivery-failed`, …); nil takes every type.
    package var types: Set<String>?
    /// Only documents whose record arrived at or after / before this time.
    package var since: Timestamp?
    package var until: Timestamp?
    /// Count what would be replayed without publishing or recording anything.
    package var dryRun = false

    package init(types: Set<String>? = nil, since: Timestamp? = nil, until: Timestamp? = nil, dryRun: Bool = false) {
        self.types = types
        self.since = since
        self.until = until
        self.dryRun = dryRun
    }
}

/// What a replay did.
package struct ReplaySummary: Sendable, Equatable {
    /// Error files read, and those skipped whole because the ledger has them.
    package var filesRead = 0
    /// Records published to the destination.
    package var replayed = 0
    /// Records that failed again (now in new error output with `attemptsMade` one higher).
    package var failedAgain = 0
    /// Records a processor dropped.
    package var dropped = 0
    /// Records already replayed by an earlier run (the ledger), not published again.
    package var skipped = 0
    /// Records outside `--type`/`--since`/`--until`.
    package var filteredOut = 0
    /// Files published (data and error output).
    package var filesPublished = 0

    package init() {}
}

/// Where a replay stands, for a progress bar.
package struct ReplayProgress: Sendable {
    package var recordsDone: Int
    package var recordsTotal: Int
    package var filesDone: Int
    package var filesTotal: Int
}

/// A failed replay: what went wrong; running the replay again continues where it stopped.
package struct ReplayError: Error, CustomStringConvertible, Sendable {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// `sluice replay`: reads a pipeline's error output, runs each record's `rawData` through the
/// pipeline's current processors and partitioning, and publishes the result as a normal
/// delivery would (temp file, fsync, rename, fsync).
///
/// Idempotent: the outputs of one error file are published under names derived from that file
/// and the partition, so a replay killed halfway and run again finds them in place and writes
/// nothing twice; a ledger (`<data>/pipelines/<name>/replay-ledger`) records which documents of
/// which files are done, so a second run skips them. Exactly once holds for deterministic
/// processors (every built-in); an external `exec` processor that answers differently the second
/// time can produce a different file.
package final class Replayer {
    package let definition: PipelineDefinition
    private let archiveRoot: String
    private let ledgerPath: String
    private let fileSystem: FileSystem
    private let clock: any TimeSource
    private let chain: ProcessorChain
    private let publisher: Publisher
    private let timeZone: PrefixTimeZone
    private let scratch: String

    /// The error-output types the engine writes; error files are found by these path segments.
    package static let errorTypes = [
        "processing-failed", "delivery-failed", "partitioning-failed", "decompression-failed", "activePartitionExceeded",
    ]

    package init(
        definition: PipelineDefinition, archiveRoot: String, stateRoot: String, fileSystem: FileSystem, clock: any TimeSource,
        processors: ProcessorChain? = nil
    ) throws(ReplayError) {
        self.definition = definition
        self.archiveRoot = archiveRoot
        self.fileSystem = fileSystem
        self.clock = clock
        let directory = stateRoot + "/" + definition.name
        ledgerPath = directory + "/replay-ledger"
        scratch = directory + "/replay-staging"
        publisher = Publisher(archiveRoot: archiveRoot, fileSystem: fileSystem)
        guard let timeZone = PrefixTimeZone(identifier: definition.destination.timeZone) else {
            throw ReplayError("Pipeline \(definition.name): unknown time zone \(definition.destination.timeZone)")
        }
        self.timeZone = timeZone
        if let processors {
            chain = processors
        } else {
            do {
                chain = try ProcessorChain(
                    definitions: definition.processors, environment: .validation(pipelineName: definition.name))
            } catch {
                throw ReplayError("\(definition.file): /processors: \(error.message)")
            }
        }
    }

    // MARK: - Finding error documents

    /// One error document read back.
    struct Document {
        var line: Int
        var type: String
        var rawData: [UInt8]
        var arrival: Timestamp
        var attemptsMade: Int
        var stream: String
        var shardID: String
        var sequenceNumber: String
    }

    /// A pattern for paths (relative to the pipeline's directory) that the error prefix can
    /// produce followed by a file name, capturing the error-output type: literal text as written,
    /// timestamps as any text, random strings as 11 characters of `[a-z0-9]`.
    private lazy var errorPathPattern: NSRegularExpression? = {
        var pattern = "^"
        for segment in definition.destination.errorOutputPrefix.segments {
            switch segment {
            case .literal(let bytes): pattern += NSRegularExpression.escapedPattern(for: String(decoding: bytes, as: UTF8.self))
            case .timestamp: pattern += ".*?"
            case .randomString: pattern += "[a-z0-9]{11}"
            case .errorOutputType: pattern += "(" + Self.errorTypes.map(NSRegularExpression.escapedPattern(for:)).joined(separator: "|") + ")"
            case .partitionKey: pattern += "[^/]+"  // not allowed in error prefixes; kept total
            }
        }
        return try? NSRegularExpression(pattern: pattern + "[^/]+$")
    }()

    /// Error files under the pipeline's directory, relative to the archive root, sorted: files
    /// whose path matches the error prefix (so a data folder whose name merely contains an
    /// error-output type is not taken for error output).
    func errorFiles(types: Set<String>?) -> [(path: String, type: String)] {
        let root = archiveRoot + "/" + definition.destination.directory
        guard let enumerator = FileManager.default.enumerator(atPath: root), let matcher = errorPathPattern else { return [] }
        var found: [(String, String)] = []
        while let relative = enumerator.nextObject() as? String {
            guard let name = relative.split(separator: "/").last, !name.hasPrefix(".") else { continue }
            let range = NSRange(relative.startIndex..., in: relative)
            guard let match = matcher.firstMatch(in: relative, range: range), match.numberOfRanges > 1,
                let typeRange = Range(match.range(at: 1), in: relative)
            else { continue }
            let type = String(relative[typeRange])
            if let types, !types.contains(type) { continue }
            let path = root + "/" + relative
            if fileSystem.isDirectory(path) { continue }
            found.append((definition.destination.directory + "/" + relative, type))
        }
        return found.sorted { $0.0 < $1.0 }
    }

    /// The documents of an error file (gzip or plain JSON lines).
    func documents(of relative: String, type: String) throws(ReplayError) -> [Document] {
        var bytes: [UInt8]
        do { bytes = try fileSystem.readFile(archiveRoot + "/" + relative) } catch {
            throw ReplayError("Cannot read error file \(relative): \(error)")
        }
        if bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B {
            do { bytes = try Gzip.decompress(bytes, maximumOutput: 1 << 30) } catch {
                throw ReplayError("Error file \(relative) is not valid gzip: \(error)")
            }
        }
        var documents: [Document] = []
        var line = 0
        for slice in bytes.split(separator: 0x0A, omittingEmptySubsequences: true) {
            defer { line += 1 }
            guard case .object(let object)? = try? JSONParser.parse(Array(slice)),
                case .string(let raw)? = object["rawData"], let rawBytes = raw.withBytes({ Base64.decode($0) }).successValue
            else {
                throw ReplayError("Error file \(relative), line \(line + 1), is not an error document with rawData; it cannot be replayed.")
            }
            func text(_ name: StaticString) -> String? {
                if case .string(let value)? = object[name] { return value.string }
                return nil
            }
            func number(_ name: StaticString) -> Int64? {
                if case .number(let value)? = object[name] { return value.string.flatMap { Int64($0) } }
                return nil
            }
            // Bounded: a hostile document must not overflow a later `+ 1` or a calendar computation.
            let arrival = min(max(number("arrivalTimestamp") ?? 0, 0), Self.latestTimestamp)
            let attempts = Int(min(max(number("attemptsMade") ?? 1, 0), 1_000_000))
            documents.append(
                Document(
                    line: line, type: type, rawData: rawBytes, arrival: Timestamp(milliseconds: arrival),
                    attemptsMade: attempts, stream: text("sourceStream") ?? definition.streamName,
                    shardID: text("shardId") ?? "shardId-000000000000", sequenceNumber: text("sequenceNumber") ?? "0"))
        }
        return documents
    }

    /// 9999-12-31T23:59:59.999Z.
    static let latestTimestamp: Int64 = 253_402_300_799_999

    // MARK: - Ledger

    /// What the ledger says: lines of each error file replayed (`done`), and selections that were
    /// started but not finished (`intents`), which a rerun completes first, exactly as selected.
    struct Ledger {
        var done: [String: Set<Int>] = [:]
        var intents: [String: [Int]] = [:]
    }

    func loadLedger() throws(ReplayError) -> Ledger {
        var ledger = Ledger()
        guard fileSystem.exists(ledgerPath) else { return ledger }
        let bytes: [UInt8]
        do { bytes = try fileSystem.readFile(ledgerPath) } catch {
            throw ReplayError("Cannot read the replay ledger \(ledgerPath): \(error)")
        }
        for slice in bytes.split(separator: 0x0A) {
            // A torn last line (a kill mid-append) is ignored: that file is replayed again, and
            // its outputs are found already published.
            guard case .object(let object)? = try? JSONParser.parse(Array(slice)), case .string(let file)? = object["file"],
                let name = file.string, case .array(let lines)? = object["lines"]
            else { continue }
            var numbers: [Int] = []
            for value in lines {
                if case .number(let number) = value, let line = number.string.flatMap({ Int($0) }) { numbers.append(line) }
            }
            if case .string(let state)? = object["state"], state.string == "intent" {
                ledger.intents[name] = numbers
            } else {
                ledger.done[name, default: []].formUnion(numbers)
                ledger.intents[name] = nil
            }
        }
        return ledger
    }

    private func appendLedger(file: String, lines: [Int], intent: Bool) throws(ReplayError) {
        var w = JSONWriter()
        w.beginObject()
        w.key("state"); w.string(intent ? "intent" : "done")
        w.key("file"); w.string(file)
        w.key("lines"); w.beginArray(); for line in lines { w.number(line) }; w.endArray()
        w.key("at"); w.number(clock.now().milliseconds)
        w.endObject()
        do {
            try fileSystem.createDirectory(FileSystem.parent(of: ledgerPath))
            let handle = try fileSystem.open(ledgerPath, .readWriteCreate)
            defer { handle.close() }
            try handle.write(w.bytes + [0x0A], at: try handle.size())
            try handle.synchronizeData()
        } catch {
            throw ReplayError("Cannot write the replay ledger \(ledgerPath): \(error)")
        }
    }

    // MARK: - Replaying

    /// Replays every selected error document not replayed before.
    package func run(_ options: ReplayOptions, progress: (ReplayProgress) -> Void = { _ in }) throws(ReplayError) -> ReplaySummary {
        var summary = ReplaySummary()
        let ledger = try loadLedger()
        let files = errorFiles(types: options.types)
        // Counted first for the progress bar; each file is then read again and handled alone, so
        // memory holds one error file at a time.
        var total = 0
        for file in files { total += try documents(of: file.path, type: file.type).count }
        var done = 0
        for (index, entry) in files.enumerated() {
            let file = (path: entry.path, documents: try documents(of: entry.path, type: entry.type))
            summary.filesRead += 1
            var already = ledger.done[file.path] ?? []
            if let intent = ledger.intents[file.path], !options.dryRun {
                // A replay that stopped after choosing these lines: finish exactly them first, so
                // the names (which depend on the selection) come out the same.
                let unfinished = Set(intent).subtracting(already)
                let chosen = file.documents.filter { unfinished.contains($0.line) }
                if !chosen.isEmpty {
                    try replay(chosen, from: file.path, options: options, summary: &summary)
                }
                try appendLedger(file: file.path, lines: intent, intent: false)
                already.formUnion(intent)
            }
            var selected: [Document] = []
            for document in file.documents {
                if already.contains(document.line) {
                    summary.skipped += 1
                } else if let since = options.since, document.arrival < since {
                    summary.filteredOut += 1
                } else if let until = options.until, document.arrival >= until {
                    summary.filteredOut += 1
                } else {
                    selected.append(document)
                }
            }
            if !selected.isEmpty {
                if !options.dryRun { try appendLedger(file: file.path, lines: selected.map(\.line), intent: true) }
                try replay(selected, from: file.path, options: options, summary: &summary)
                if !options.dryRun { try appendLedger(file: file.path, lines: selected.map(\.line), intent: false) }
            }
            done += file.documents.count
            progress(ReplayProgress(recordsDone: done, recordsTotal: total, filesDone: index + 1, filesTotal: files.count))
        }
        return summary
    }

    /// Processes the selected documents of one error file and publishes their outputs: one data
    /// file per partition and one error file per error partition, named from the source file.
    private func replay(_ documents: [Document], from file: String, options: ReplayOptions, summary: inout ReplaySummary) throws(ReplayError) {
        let records = documents.map { document in
            ProcessorRecord(
                recordID: "\(document.line)", data: document.rawData, approximateArrival: document.arrival, sourceStream: document.stream,
                shardID: document.shardID, sequenceNumber: document.sequenceNumber, partitionKey: "")
        }
        let outputs = chain.run(records)
        var data: [String: (keys: [String: String], oldest: Timestamp, bytes: [UInt8], count: Int)] = [:]
        var errors: [String: (type: String, oldest: Timestamp, bytes: [UInt8], count: Int)] = [:]
        let now = clock.now()
        func fail(_ document: Document, raw: [UInt8], type: String, code: String, message: String) throws(ReplayError) {
            let partition: String
            do {
                partition = try definition.destination.errorOutputPrefix.render(
                    PrefixContext(timestamp: document.arrival, errorOutputType: type), timeZone: timeZone)
            } catch {
                throw ReplayError("Pipeline \(definition.name): cannot evaluate errorOutputPrefix: \(error)")
            }
            let key = type + "\u{0}" + partition
            var entry = errors[key] ?? (type, document.arrival, [], 0)
            entry.oldest = min(entry.oldest, document.arrival)
            var w = JSONWriter(capacity: raw.count * 4 / 3 + 256)
            w.beginObject()
            w.key("attemptsMade"); w.number(document.attemptsMade + 1)
            w.key("arrivalTimestamp"); w.number(document.arrival.milliseconds)
            w.key("errorCode"); w.string(code)
            w.key("errorMessage"); w.string(message)
            w.key("attemptEndingTimestamp"); w.number(now.milliseconds)
            w.key("rawData"); w.base64(raw)
            w.key("sourceStream"); w.string(document.stream)
            w.key("shardId"); w.string(document.shardID)
            w.key("sequenceNumber"); w.string(document.sequenceNumber)
            w.endObject()
            entry.bytes += w.bytes + [0x0A]
            entry.count += 1
            errors[key] = entry
            summary.failedAgain += 1
        }
        for (index, document) in documents.enumerated() {
            for output in outputs[index] {
                switch output.outcome {
                case .dropped:
                    summary.dropped += 1
                case .failed(let code, let message):
                    try fail(
                        document, raw: output.raw, type: ErrorOutputType.of(code: code),
                        code: code, message: message)
                case .ok(let bytes, let keys):
                    var problem: String?
                    for name in definition.destination.prefix.usesPartitionKeys.sorted() {
                        if let value = keys[name], let why = PipelineRunner.unsafePartitionValue(value) {
                            problem = "Partition key \(name) \(why); it cannot be part of the prefix."
                        }
                    }
                    if let problem {
                        try fail(document, raw: output.raw, type: "partitioning-failed", code: "DynamicPartitioning.InvalidPartitionKey", message: problem)
                        continue
                    }
                    let partition: String
                    do {
                        partition = try definition.destination.prefix.render(
                            PrefixContext(timestamp: document.arrival, partitionKeys: keys), timeZone: timeZone)
                    } catch {
                        try fail(
                            document, raw: output.raw, type: "partitioning-failed", code: "DynamicPartitioning.PrefixEvaluationFailed",
                            message: "\(error)")
                        continue
                    }
                    var entry = data[partition] ?? (keys, document.arrival, [], 0)
                    entry.oldest = min(entry.oldest, document.arrival)
                    entry.bytes += bytes
                    entry.count += 1
                    data[partition] = entry
                    summary.replayed += 1
                }
            }
        }
        if options.dryRun { return }
        // Names depend on the error file, the selected lines and the partition.
        let selection = file + "\u{0}" + documents.map { String($0.line) }.joined(separator: ",")
        for partition in data.keys.sorted() {
            let entry = data[partition]!
            let id = Self.identity(definition.name, "replay", selection, partition)
            let prefix: String
            do {
                prefix = try definition.destination.prefix.render(
                    PrefixContext(timestamp: entry.oldest, partitionKeys: entry.keys, randomSeed: BatchIdentity.seed(id)), timeZone: timeZone)
            } catch {
                throw ReplayError("Pipeline \(definition.name): cannot evaluate the prefix: \(error)")
            }
            try publish(entry.bytes, object: definition.destination.directory + "/" + prefix + name(id: id, oldest: entry.oldest))
            summary.filesPublished += 1
        }
        for key in errors.keys.sorted() {
            let entry = errors[key]!
            let id = Self.identity(definition.name, "replay-failed", selection, key)
            let prefix: String
            do {
                prefix = try definition.destination.errorOutputPrefix.render(
                    PrefixContext(timestamp: entry.oldest, errorOutputType: entry.type, randomSeed: BatchIdentity.seed(id)), timeZone: timeZone)
            } catch {
                throw ReplayError("Pipeline \(definition.name): cannot evaluate errorOutputPrefix: \(error)")
            }
            try publish(entry.bytes, object: definition.destination.directory + "/" + prefix + name(id: id, oldest: entry.oldest))
            summary.filesPublished += 1
        }
    }

    private func name(id: String, oldest: Timestamp) -> String {
        ObjectName.make(
            pipeline: definition.name, version: 1, timestamp: oldest, timeZone: timeZone, id: id,
            fileExtension: definition.destination.fileExtension)
    }

    static func identity(_ parts: String...) -> String {
        BatchIdentity.id(pipeline: parts[0], kind: .error(type: parts[1], partition: parts[2] + "\u{0}" + parts[3]), spans: [])
    }

    /// Compresses as the pipeline does and publishes; an existing name is left alone.
    private func publish(_ bytes: [UInt8], object: String) throws(ReplayError) {
        if fileSystem.exists(publisher.path(of: object)) {
            // Published by a run that stopped before its ledger line: make its entry durable.
            do { try fileSystem.synchronizeDirectory(containing: publisher.path(of: object)) } catch {
                throw ReplayError("Cannot sync the directory of \(object): \(error)")
            }
            return
        }
        let path = scratch + "/" + String(object.split(separator: "/").last ?? "file") + ".\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
        do {
            try fileSystem.createDirectory(scratch)
            let handle = try fileSystem.open(path, .truncateCreate)
            let writer: any StagingFileWriter
            switch definition.destination.compression {
            case .none: writer = GzipFileWriter(handle: handle, level: nil)
            case .gzip(let level): writer = GzipFileWriter(handle: handle, level: level)
            }
            defer { writer.close() }
            try writer.append(bytes)
            try writer.finish()
            try writer.synchronize()
            try publisher.publish(stagingPath: path, object: object)
            try? fileSystem.removeFile(path)  // published; the copy is in the archive
        } catch {
            throw ReplayError("Cannot publish \(object): \(error). Run the replay again once the destination works; nothing is published twice.")
        }
    }
}

extension Result {
    fileprivate var successValue: Success? {
        if case .success(let value) = self { return value }
        return nil
    }
}

/// The one-line summary a replay prints, offline or through the server.
package enum ReplaySummaryText {
    package static func line(_ summary: ReplaySummary, dryRun: Bool) -> String {
        (dryRun ? "dry run: would replay " : "replayed ") + "\(summary.replayed) records, failed again \(summary.failedAgain), "
            + "dropped \(summary.dropped), skipped as already replayed \(summary.skipped), outside the filters \(summary.filteredOut); "
            + "\(summary.filesRead) error files read, \(summary.filesPublished) files published"
    }
}
