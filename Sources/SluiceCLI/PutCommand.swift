import Foundation
import SluiceStreams
import SluiceSupport

/// `sluice put STREAM --partition-key KEY [DATA | --file PATH]`.
enum PutCommand {
    static func run(_ arguments: [String], console: Console) throws {
        let command = "sluice put"
        let scanned = try ArgumentScanner(
            arguments, valued: ["data-dir", "partition-key", "explicit-hash-key", "file", "durability"], flags: [],
            command: command)
        if scanned.flags.contains("help") {
            console.print(HelpText.put)
            return
        }
        guard let stream = scanned.positionals.first else {
            throw UsageError("'sluice put' needs a stream name. Example: echo hello | sluice put orders --partition-key user-1")
        }
        guard scanned.positionals.count <= 2 else {
            throw UsageError("'sluice put' takes one DATA argument at most; quote data that contains spaces.")
        }
        guard let key = scanned.options["partition-key"] else {
            throw UsageError("'sluice put' needs --partition-key KEY. Example: sluice put \(stream) --partition-key user-1 'hello'")
        }
        var durability = DurabilityPolicy.always
        if let text = scanned.options["durability"] {
            guard let policy = DurabilityPolicy(text) else {
                throw UsageError("option '--durability' must be always, interval:MS (1 to 60000) or never; got '\(text)'.")
            }
            durability = policy
        }
        let inline = scanned.positionals.count == 2 ? scanned.positionals[1] : nil
        if inline != nil && scanned.options["file"] != nil {
            throw UsageError("'sluice put' takes either DATA or --file, not both.")
        }
        let explicit = scanned.options["explicit-hash-key"]
        if let file = scanned.options["file"] {
            let bytes: [UInt8]
            do { bytes = try FileSystem.live.readFile(file) } catch {
                throw UsageError("cannot read --file '\(file)': \(error.reason). Check the path.")
            }
            let store = try CommandLineTool.openStore(scanned, durability: durability)
            defer { store.close() }
            let result = try store.putRecord(stream: stream, partitionKey: key, data: bytes, explicitHashKey: explicit)
            console.print("\(result.shardID) \(result.sequenceNumber)")
            return
        }
        let store = try CommandLineTool.openStore(scanned, durability: durability)
        defer { store.close() }
        if let inline {
            let result = try store.putRecord(stream: stream, partitionKey: key, data: Array(inline.utf8), explicitHashKey: explicit)
            console.print("\(result.shardID) \(result.sequenceNumber)")
            return
        }
        try putLines(store: store, stream: stream, key: key, explicit: explicit, console: console)
    }

    /// Reads standard input, appends one record per line in batches of what has arrived (at most
    /// 500 records or 4 MiB), and prints each record's shard and sequence number once durable.
    private static func putLines(store: StreamStore, stream: String, key: String, explicit: String?, console: Console) throws {
        var pending: [UInt8] = []
        var batch: [PutRecordsEntry] = []
        var batchBytes = 0
        func flush() throws {
            guard !batch.isEmpty else { return }
            let results = try store.putRecords(stream: stream, entries: batch)
            var lines = ""
            var failure: StreamError?
            for result in results {
                switch result {
                case .success(let put): lines += "\(put.shardID) \(put.sequenceNumber)\n"
                case .failure(let error): if failure == nil { failure = error }
                }
            }
            console.output(Array(lines.utf8))
            batch.removeAll(keepingCapacity: true)
            batchBytes = 0
            if let failure { throw failure }
        }
        func add(_ line: ArraySlice<UInt8>) throws {
            if batch.count == StreamLimits.putRecordsMaximumEntries || batchBytes + line.count + key.utf8.count > 4 << 20 {
                try flush()
            }
            batch.append(PutRecordsEntry(partitionKey: key, data: Array(line), explicitHashKey: explicit))
            batchBytes += line.count + key.utf8.count
        }
        while true {
            guard let chunk = try console.input(64 << 10) else { break }
            pending += chunk
            var start = 0
            while let newline = pending[start...].firstIndex(of: 10) {
                try add(pending[start..<newline])
                start = newline + 1
            }
            pending.removeFirst(start)
            // Whatever has arrived is one batch: acknowledge it before waiting for more input.
            try flush()
        }
        if !pending.isEmpty { try add(pending[...]) }
        try flush()
    }
}
