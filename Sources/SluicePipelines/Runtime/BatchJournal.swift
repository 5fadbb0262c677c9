package import SluiceStreams
package import SluiceSupport

/// Outputs of one shard from `(first, firstSub)` through `(last, lastSub)`, both inclusive: a
/// record's outputs are numbered from 0 (one output for a plain record; several when a processor
/// splits an aggregated record).
package struct ShardSpan: Sendable, Equatable {
    package var shard: Int
    package var first: ShardPosition
    package var last: ShardPosition
    package var firstSub: Int
    package var lastSub: Int

    package init(shard: Int, first: ShardPosition, last: ShardPosition, firstSub: Int = 0, lastSub: Int = 0) {
        self.shard = shard
        self.first = first
        self.last = last
        self.firstSub = firstSub
        self.lastSub = lastSub
    }

    /// Whether output `sub` of the record at `position` is in the span.
    package func contains(_ position: ShardPosition, sub: Int) -> Bool {
        (position > first || (position == first && sub >= firstSub)) && (position < last || (position == last && sub <= lastSub))
    }
}

/// What a batch holds: data for the destination, or error documents of one error-output type.
/// Either way its members are exactly the records of its spans: runs of consecutive records of
/// one shard, in the order they were buffered.
package enum BatchKind: Sendable, Equatable {
    /// Records whose evaluated prefix is `partition`.
    case data(partition: String)
    /// Error documents of `type` under the evaluated error prefix `partition`.
    case error(type: String, partition: String)

    var partition: String {
        switch self {
        case .data(let partition), .error(_, let partition): partition
        }
    }
}

/// A flushed batch as recorded in the journal before it is published. With the stream, this is
/// enough to rebuild the very same file under the very same name after a crash.
package struct SealedBatch: Sendable, Equatable {
    package var id: String
    package var kind: BatchKind
    /// The object's path relative to the archive root.
    package var object: String
    package var reason: FlushReason
    package var configHash: String
    package var version: Int
    package var recordCount: Int
    package var uncompressedBytes: Int
    package var oldestArrival: Timestamp
    package var spans: [ShardSpan]
    /// The staging file's name in the pipeline's staging directory, and its size once finished.
    package var staging: String
    package var stagingSize: Int64
    package var sealedAt: Timestamp
    /// The gzip level the staging file was written with (nil: uncompressed), so a rebuild after a
    /// configuration change still produces the journaled file.
    package var compressionLevel: Int?
}

/// A data batch that exhausted its retries and went to error output as `delivery-failed`.
package struct Diversion: Sendable, Equatable {
    package var batchID: String
    package var id: String
    package var object: String
    package var staging: String
    package var stagingSize: Int64
    package var errorCode: String
    package var errorMessage: String
    package var attemptsMade: Int
    package var attemptEndingTimestamp: Timestamp
}

/// Where reading stands: everything before `positions[shard]` is delivered (published, in error
/// output, or in a sealed batch that recovery publishes). `finished` shards were read to their
/// end and are fully delivered.
package struct Checkpoint: Sendable, Equatable {
    package var positions: [Int: ShardPosition] = [:]
    package var finished: Set<Int> = []

    package init(positions: [Int: ShardPosition] = [:], finished: Set<Int> = []) {
        self.positions = positions
        self.finished = finished
    }
}

package enum JournalEntry: Sendable, Equatable {
    case sealed(SealedBatch)
    case published(id: String)
    case diverted(Diversion)
    case checkpoint(Checkpoint)
}

/// What the journal says after replaying it.
package struct JournalState: Sendable, Equatable {
    package var checkpoint: Checkpoint?
    /// Sealed batches in journal order.
    package var sealed: [SealedBatch] = []
    package var published: Set<String> = []
    package var diversions: [String: Diversion] = [:]

    package init() {}

    package mutating func apply(_ entry: JournalEntry) {
        switch entry {
        case .sealed(let batch):
            sealed.removeAll { $0.id == batch.id }
            sealed.append(batch)
        case .published(let id): published.insert(id)
        case .diverted(let diversion): diversions[diversion.batchID] = diversion
        case .checkpoint(let checkpoint): self.checkpoint = checkpoint
        }
    }

    /// Drops batches that are published and lie wholly before the checkpoint: replay never
    /// reaches them again.
    package mutating func prune() {
        guard let checkpoint else { return }
        let state = self
        sealed.removeAll { batch in
            guard state.isDone(batch) else { return false }
            return batch.spans.allSatisfy { span in
                if checkpoint.finished.contains(span.shard) { return true }
                guard let position = checkpoint.positions[span.shard] else { return false }
                return span.last < position
            }
        }
        let live = Set(sealed.map(\.id))
        published = published.filter { id in live.contains(id) || diversions.values.contains { $0.id == id && live.contains($0.batchID) } }
        diversions = diversions.filter { live.contains($0.key) }
    }

    /// The batch's records are in the archive (as data, or as `delivery-failed` error output).
    package func isDone(_ batch: SealedBatch) -> Bool {
        if published.contains(batch.id) { return true }
        if let diversion = diversions[batch.id] { return published.contains(diversion.id) }
        return false
    }

    /// Entries that reproduce this state (for compaction).
    package var entries: [JournalEntry] {
        var out: [JournalEntry] = []
        if let checkpoint { out.append(.checkpoint(checkpoint)) }
        for batch in sealed {
            out.append(.sealed(batch))
            if published.contains(batch.id) { out.append(.published(id: batch.id)) }
            if let diversion = diversions[batch.id] {
                out.append(.diverted(diversion))
                if published.contains(diversion.id) { out.append(.published(id: diversion.id)) }
            }
        }
        return out
    }
}

/// A pipeline's batch journal: one JSON document per line, appended and fsynced before the
/// step it records takes effect (seal before publish, diversion before its error file).
///
/// A torn last line (a crash mid-append) is ignored: the step it described never happened. A
/// damaged line before the last is an error, not silently skipped.
package final class BatchJournal {
    package let path: String
    private let fileSystem: FileSystem
    private var handle: FileHandle?
    private var size: Int64 = 0
    /// Lines appended since the last compaction.
    private(set) var linesSinceCompaction = 0

    package init(path: String, fileSystem: FileSystem) {
        self.path = path
        self.fileSystem = fileSystem
    }

    deinit { handle?.close() }

    /// Reads the journal (an absent file is an empty journal) and opens it for appending.
    package func load() throws(PipelineRuntimeError) -> JournalState {
        handle?.close()
        handle = nil
        var state = JournalState()
        if fileSystem.exists(path) {
            let bytes: [UInt8]
            do { bytes = try fileSystem.readFile(path) } catch {
                throw PipelineRuntimeError("Cannot read the batch journal '\(path)': \(error)")
            }
            var lineStart = 0
            var validEnd = 0
            var lineNumber = 0
            while lineStart < bytes.count {
                lineNumber += 1
                guard let newline = bytes[lineStart...].firstIndex(of: 0x0A) else { break }  // torn tail
                let line = Array(bytes[lineStart..<newline])
                guard let entry = JournalCodec.decode(line) else {
                    if newline + 1 >= bytes.count { break }  // torn last line
                    throw PipelineRuntimeError(
                        "The batch journal '\(path)' is damaged at line \(lineNumber). Move it aside to start the pipeline from its stream's trim horizon, or restore it from a backup.")
                }
                state.apply(entry)
                lineStart = newline + 1
                validEnd = lineStart
            }
            size = Int64(validEnd)
        }
        do {
            let created = !fileSystem.exists(path)
            let handle = try fileSystem.open(path, .readWriteCreate)
            if try handle.size() != size { try handle.truncate(to: size) }
            if created { try fileSystem.synchronizeDirectory(containing: path) }
            self.handle = handle
        } catch {
            throw PipelineRuntimeError("Cannot open the batch journal '\(path)': \(error)")
        }
        return state
    }

    /// The manifest beside the journal: every `sealed` and `diverted` entry, never compacted, so
    /// `sluice verify` can map published files to sequence numbers long after the journal forgot them.
    package var manifestPath: String { FileSystem.parent(of: path) + "/manifest" }

    /// Appends entries; with `synchronize`, they are on disk when this returns. Sealed and
    /// diverted entries go to the manifest first.
    package func append(_ entries: [JournalEntry], synchronize: Bool) throws(SystemError) {
        guard let handle else { throw SystemError(call: "write", errno: 9, path: path) }  // EBADF: not loaded
        var bytes: [UInt8] = []
        for entry in entries {
            bytes += JournalCodec.encode(entry)
            bytes.append(0x0A)
        }
        try handle.write(bytes, at: size)
        size += Int64(bytes.count)
        linesSinceCompaction += entries.count
        if synchronize { try handle.synchronizeData() }
        // After the journal: the manifest never names a batch the journal does not have. One the
        // journal has but the manifest lacks (a crash in between) is added at start-up.
        try appendToManifest(entries, synchronize: synchronize)
    }

    /// Appends the sealed and diverted entries among `entries` to the manifest.
    package func appendToManifest(_ entries: [JournalEntry], synchronize: Bool) throws(SystemError) {
        let lasting = entries.filter {
            switch $0 {
            case .sealed, .diverted: true
            default: false
            }
        }
        if !lasting.isEmpty {
            var bytes: [UInt8] = []
            for entry in lasting {
                bytes += JournalCodec.encode(entry)
                bytes.append(0x0A)
            }
            let created = !fileSystem.exists(manifestPath)
            let manifest = try fileSystem.open(manifestPath, .readWriteCreate)
            defer { manifest.close() }
            try manifest.write(bytes, at: try manifest.size())
            if synchronize {
                try manifest.synchronizeData()
                if created { try fileSystem.synchronizeDirectory(containing: manifestPath) }
            }
        }
    }

    /// Adds to the manifest the journal's batches and diversions it lacks (after a crash between
    /// the two writes).
    package func reconcileManifest(with state: JournalState) throws(SystemError) {
        var known = Set<String>()
        if fileSystem.exists(manifestPath) {
            for line in try fileSystem.readFile(manifestPath).split(separator: 0x0A) {
                switch JournalCodec.decode(Array(line)) {
                case .sealed(let batch)?: known.insert(batch.id)
                case .diverted(let diversion)?: known.insert("diverted:" + diversion.batchID)
                default: continue
                }
            }
        }
        var missing: [JournalEntry] = []
        for batch in state.sealed where !known.contains(batch.id) { missing.append(.sealed(batch)) }
        for diversion in state.diversions.values where !known.contains("diverted:" + diversion.batchID) { missing.append(.diverted(diversion)) }
        if !missing.isEmpty { try appendToManifest(missing, synchronize: true) }
    }

    /// Replaces the journal with the entries of `state`, atomically and durably.
    package func compact(_ state: JournalState) throws(SystemError) {
        var bytes: [UInt8] = []
        for entry in state.entries {
            bytes += JournalCodec.encode(entry)
            bytes.append(0x0A)
        }
        try fileSystem.writeAtomically(bytes, to: path)
        handle?.close()
        handle = try fileSystem.open(path, .readWrite)
        size = Int64(bytes.count)
        linesSinceCompaction = 0
    }
}

/// JSON encoding of journal entries. Positions are packed 64-bit values written as decimal
/// strings (they exceed JSON's safe integer range).
package enum JournalCodec {
    package static func encode(_ entry: JournalEntry) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        switch entry {
        case .sealed(let b):
            w.key("type"); w.string("sealed")
            w.key("id"); w.string(b.id)
            switch b.kind {
            case .data(let partition):
                w.key("kind"); w.string("data")
                w.key("partition"); w.string(partition)
            case .error(let type, let partition):
                w.key("kind"); w.string("error")
                w.key("errorType"); w.string(type)
                w.key("partition"); w.string(partition)
            }
            w.key("object"); w.string(b.object)
            w.key("reason"); w.string(b.reason.rawValue)
            w.key("configHash"); w.string(b.configHash)
            w.key("version"); w.number(b.version)
            w.key("records"); w.number(b.recordCount)
            w.key("bytes"); w.number(b.uncompressedBytes)
            w.key("oldestArrival"); w.number(b.oldestArrival.milliseconds)
            w.key("spans"); encodeSpans(b.spans, into: &w)
            w.key("staging"); w.string(b.staging)
            w.key("stagingSize"); w.number(b.stagingSize)
            w.key("sealedAt"); w.number(b.sealedAt.milliseconds)
            w.key("compressionLevel"); w.number(b.compressionLevel ?? 0)
        case .published(let id):
            w.key("type"); w.string("published")
            w.key("id"); w.string(id)
        case .diverted(let d):
            w.key("type"); w.string("diverted")
            w.key("batch"); w.string(d.batchID)
            w.key("id"); w.string(d.id)
            w.key("object"); w.string(d.object)
            w.key("staging"); w.string(d.staging)
            w.key("stagingSize"); w.number(d.stagingSize)
            w.key("errorCode"); w.string(d.errorCode)
            w.key("errorMessage"); w.string(d.errorMessage)
            w.key("attemptsMade"); w.number(d.attemptsMade)
            w.key("attemptEndingTimestamp"); w.number(d.attemptEndingTimestamp.milliseconds)
        case .checkpoint(let c):
            w.key("type"); w.string("checkpoint")
            w.key("positions")
            w.beginArray()
            for shard in c.positions.keys.sorted() {
                w.beginArray(); w.number(shard); w.string(String(c.positions[shard]!.packed)); w.endArray()
            }
            w.endArray()
            w.key("finished")
            w.beginArray()
            for shard in c.finished.sorted() { w.number(shard) }
            w.endArray()
        }
        w.endObject()
        return w.bytes
    }

    private static func encodeSpans(_ spans: [ShardSpan], into w: inout JSONWriter) {
        w.beginArray()
        for span in spans {
            w.beginArray()
            w.number(span.shard)
            w.string(String(span.first.packed))
            w.string(String(span.last.packed))
            if span.firstSub != 0 || span.lastSub != 0 {
                w.number(span.firstSub)
                w.number(span.lastSub)
            }
            w.endArray()
        }
        w.endArray()
    }

    package static func decode(_ line: [UInt8]) -> JournalEntry? {
        guard case .object(let o)? = try? JSONParser.parse(line) else { return nil }
        guard let type = o.string("type") else { return nil }
        switch type {
        case "sealed":
            guard let id = o.string("id"), let kindName = o.string("kind"), let partition = o.string("partition"),
                let object = o.string("object"), let reasonText = o.string("reason"), let reason = FlushReason(rawValue: reasonText),
                let configHash = o.string("configHash"), let version = o.int("version"), let records = o.int("records"),
                let bytes = o.int("bytes"), let oldest = o.int("oldestArrival"), let spans = decodeSpans(o["spans"]),
                let staging = o.string("staging"), let stagingSize = o.int("stagingSize"), let sealedAt = o.int("sealedAt")
            else { return nil }
            let kind: BatchKind
            switch kindName {
            case "data": kind = .data(partition: partition)
            case "error":
                guard let errorType = o.string("errorType") else { return nil }
                kind = .error(type: errorType, partition: partition)
            default: return nil
            }
            return .sealed(
                SealedBatch(
                    id: id, kind: kind, object: object, reason: reason, configHash: configHash, version: version,
                    recordCount: records, uncompressedBytes: bytes, oldestArrival: Timestamp(milliseconds: Int64(oldest)),
                    spans: spans, staging: staging, stagingSize: Int64(stagingSize), sealedAt: Timestamp(milliseconds: Int64(sealedAt)),
                    compressionLevel: o.int("compressionLevel").flatMap { $0 == 0 ? nil : $0 }))
        case "published":
            guard let id = o.string("id") else { return nil }
            return .published(id: id)
        case "diverted":
            guard let batch = o.string("batch"), let id = o.string("id"), let object = o.string("object"),
                let staging = o.string("staging"), let size = o.int("stagingSize"), let code = o.string("errorCode"),
                let message = o.string("errorMessage"), let attempts = o.int("attemptsMade"), let ending = o.int("attemptEndingTimestamp")
            else { return nil }
            return .diverted(
                Diversion(
                    batchID: batch, id: id, object: object, staging: staging, stagingSize: Int64(size), errorCode: code,
                    errorMessage: message, attemptsMade: attempts, attemptEndingTimestamp: Timestamp(milliseconds: Int64(ending))))
        case "checkpoint":
            guard case .array(let positions)? = o["positions"], case .array(let finished)? = o["finished"] else { return nil }
            var checkpoint = Checkpoint()
            for item in positions {
                guard case .array(let pair) = item, pair.count == 2, let shard = pair[0].intValue,
                    let packed = pair[1].stringValue.flatMap({ UInt64($0) })
                else { return nil }
                checkpoint.positions[shard] = ShardPosition(packed: packed)
            }
            for item in finished {
                guard let shard = item.intValue else { return nil }
                checkpoint.finished.insert(shard)
            }
            return .checkpoint(checkpoint)
        default:
            return nil
        }
    }

    private static func decodeSpans(_ value: JSONValue?) -> [ShardSpan]? {
        guard case .array(let items)? = value else { return nil }
        var spans: [ShardSpan] = []
        for item in items {
            guard case .array(let fields) = item, fields.count == 3 || fields.count == 5, let shard = fields[0].intValue,
                let first = fields[1].stringValue.flatMap({ UInt64($0) }), let last = fields[2].stringValue.flatMap({ UInt64($0) })
            else { return nil }
            var span = ShardSpan(shard: shard, first: ShardPosition(packed: first), last: ShardPosition(packed: last))
            if fields.count == 5 {
                guard let firstSub = fields[3].intValue, let lastSub = fields[4].intValue else { return nil }
                span.firstSub = firstSub
                span.lastSub = lastSub
            }
            spans.append(span)
        }
        return spans
    }
}

extension JSONValue {
    fileprivate var stringValue: String? {
        if case .string(let text) = self { return text.string }
        return nil
    }

    fileprivate var intValue: Int? {
        if case .number(let text) = self, let string = text.string { return Int(string) }
        return nil
    }
}

extension JSONObject {
    fileprivate func string(_ name: StaticString) -> String? { self[name]?.stringValue }
    fileprivate func int(_ name: StaticString) -> Int? { self[name]?.intValue }
}

/// A failure of the pipeline runtime (journal, staging, stream access) with a message that says
/// what to do.
package struct PipelineRuntimeError: Error, CustomStringConvertible, Sendable {
    package var message: String

    package init(_ message: String) {
        self.message = message
    }

    package var description: String { message }
}
