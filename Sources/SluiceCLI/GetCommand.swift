import Foundation
import SluiceStreams
import SluiceSupport

/// `sluice get STREAM [--shard ID] [--from POSITION] [--limit N] [--json]`.
enum GetCommand {
    static func run(_ arguments: [String], console: Console) throws {
        let command = "sluice get"
        let scanned = try ArgumentScanner(
            arguments, valued: ["data-dir", "shard", "from", "limit"], flags: ["json"], command: command)
        if scanned.flags.contains("help") {
            console.print(HelpText.get)
            return
        }
        guard scanned.positionals.count == 1, let stream = scanned.positionals.first else {
            throw UsageError("'sluice get' needs one stream name. Example: sluice get orders --from trim-horizon")
        }
        let limit = try scanned.integer("limit", in: 1...Int.max, command: command)
        let (type, sequence, timestamp) = try parseFrom(scanned.options["from"] ?? "trim-horizon")
        let json = scanned.flags.contains("json")
        let store = try CommandLineTool.openStore(scanned)
        defer { store.close() }
        let shards: [ShardDescription]
        if let raw = scanned.options["shard"] {
            guard let index = ShardID.index(of: raw) else {
                throw UsageError("option '--shard' must be a shard id such as shardId-000000000000 or 0; got '\(raw)'.")
            }
            let all = try store.listShards(name: stream)
            guard let shard = all.first(where: { $0.index == index }) else {
                throw StreamError(.resourceNotFound, "Stream \(stream) has no shard \(ShardID.format(index)). Run 'sluice streams describe \(stream)' to list its shards.")
            }
            shards = [shard]
        } else {
            shards = try store.listShards(name: stream)
        }
        var printed = 0
        for shard in shards {
            // at-sequence/after-sequence name one shard: skip the others.
            if let sequence, let parsed = SequenceNumber(sequence), parsed.shardIndex != shard.index, scanned.options["shard"] == nil {
                continue
            }
            var (_, position) = try store.startingPosition(
                stream: stream, shardID: shard.shardID, type: type, startingSequenceNumber: sequence, timestamp: timestamp)
            while limit.map({ printed < $0 }) ?? true {
                let read = try store.read(stream: stream, shardIndex: shard.index, from: position, limit: min(10_000, (limit ?? Int.max) - printed))
                var out: [UInt8] = []
                for record in read.records {
                    if json {
                        let line = "{\"shardId\":\"\(shard.shardID)\",\"sequenceNumber\":\"\(record.sequenceNumber)\","
                            + "\"partitionKey\":\(JSONText.quote(record.partitionKey)),"
                            + "\"approximateArrivalTimestamp\":\"\(record.arrival)\",\"data\":\"\(Data(record.data).base64EncodedString())\"}\n"
                        out += Array(line.utf8)
                    } else {
                        out += record.data
                        out.append(10)
                    }
                }
                console.output(out)
                printed += read.records.count
                position = read.next
                if read.records.isEmpty || read.caughtUp || read.reachedShardEnd { break }
            }
        }
    }

    private static func parseFrom(_ text: String) throws(UsageError) -> (ShardIteratorType, String?, Timestamp?) {
        switch text {
        case "trim-horizon": return (.trimHorizon, nil, nil)
        case "latest": return (.latest, nil, nil)
        default: break
        }
        if text.hasPrefix("at-sequence:") { return (.atSequenceNumber, String(text.dropFirst("at-sequence:".count)), nil) }
        if text.hasPrefix("after-sequence:") { return (.afterSequenceNumber, String(text.dropFirst("after-sequence:".count)), nil) }
        if text.hasPrefix("at-timestamp:") {
            let value = String(text.dropFirst("at-timestamp:".count))
            if let timestamp = UTCDate.parseISO8601(value) { return (.atTimestamp, nil, timestamp) }
            if let seconds = Double(value), seconds >= 0 {
                return (.atTimestamp, nil, Timestamp(milliseconds: Int64((seconds * 1000).rounded())))
            }
            throw UsageError("'--from at-timestamp:\(value)' needs an ISO 8601 time such as 2026-11-21T10:00:00Z or epoch seconds.")
        }
        throw UsageError("option '--from' must be trim-horizon, latest, at-timestamp:T, at-sequence:N or after-sequence:N; got '\(text)'.")
    }
}
