import Foundation
import SluiceStreams
import SluiceSupport

/// `sluice streams create|list|describe|delete`.
enum StreamsCommand {
    static func run(_ arguments: [String], console: Console) throws {
        let scanned = try ArgumentScanner(arguments, valued: ["data-dir", "shards"], flags: ["json"], command: "sluice streams")
        if scanned.flags.contains("help") {
            console.print(HelpText.streams)
            return
        }
        guard let action = scanned.positionals.first else {
            throw UsageError("'sluice streams' needs an action: create, list, describe or delete. Example: sluice streams create orders --shards 2")
        }
        let names = Array(scanned.positionals.dropFirst())
        func requireName() throws(UsageError) -> String {
            guard names.count == 1 else {
                throw UsageError("'sluice streams \(action)' needs exactly one stream name. Example: sluice streams \(action) orders")
            }
            return names[0]
        }
        switch action {
        case "create":
            let name = try requireName()
            let shards = try scanned.integer("shards", in: 1...StreamLimits.maximumShardsPerStream, command: "sluice streams create") ?? 1
            let store = try CommandLineTool.openStore(scanned)
            defer { store.close() }
            try store.createStream(name: name, shardCount: shards)
            console.print("created stream \(name) with \(shards) shard\(shards == 1 ? "" : "s")")
        case "list":
            guard names.isEmpty else { throw UsageError("'sluice streams list' takes no arguments.") }
            let store = try CommandLineTool.openStore(scanned)
            defer { store.close() }
            for name in store.listStreams() { console.print(name) }
        case "describe":
            let name = try requireName()
            let store = try CommandLineTool.openStore(scanned)
            defer { store.close() }
            let description = try store.describeStream(name: name)
            console.print(scanned.flags.contains("json") ? json(description) : text(description))
        case "delete":
            let name = try requireName()
            let store = try CommandLineTool.openStore(scanned)
            defer { store.close() }
            try store.deleteStream(name: name)
            console.print("deleted stream \(name)")
        default:
            throw UsageError("unknown action '\(action)' for 'sluice streams'. Use create, list, describe or delete.")
        }
    }

    static func text(_ d: StreamDescription) -> String {
        var lines = [
            "Stream:     \(d.name)",
            "ARN:        \(d.arn)",
            "Status:     \(d.status.rawValue)",
            "Retention:  \(d.retentionHours) hours",
            "Created:    \(Timestamp(milliseconds: d.createdAt))",
            "Shards:     \(d.openShardCount) open, \(d.shards.count) in all",
        ]
        for shard in d.shards {
            var line = "  \(shard.shardID)  \(shard.isOpen ? "open  " : "closed")  hash keys \(shard.hashKeyRange.start)...\(shard.hashKeyRange.end)"
            if let parent = shard.parentShardID {
                line += "  parent \(parent)"
                if let adjacent = shard.adjacentParentShardID { line += "+\(adjacent)" }
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    static func json(_ d: StreamDescription) -> String {
        let shards = d.shards.map { shard -> String in
            var fields = [
                "\"ShardId\":\(JSONText.quote(shard.shardID))",
                "\"HashKeyRange\":{\"StartingHashKey\":\"\(shard.hashKeyRange.start)\",\"EndingHashKey\":\"\(shard.hashKeyRange.end)\"}",
            ]
            var range = "\"StartingSequenceNumber\":\"\(shard.startingSequenceNumber)\""
            if let end = shard.endingSequenceNumber { range += ",\"EndingSequenceNumber\":\"\(end)\"" }
            fields.append("\"SequenceNumberRange\":{\(range)}")
            if let parent = shard.parentShardID { fields.append("\"ParentShardId\":\(JSONText.quote(parent))") }
            if let adjacent = shard.adjacentParentShardID { fields.append("\"AdjacentParentShardId\":\(JSONText.quote(adjacent))") }
            return "{" + fields.joined(separator: ",") + "}"
        }
        return "{\"StreamName\":\(JSONText.quote(d.name)),\"StreamARN\":\(JSONText.quote(d.arn)),"
            + "\"StreamStatus\":\"\(d.status.rawValue)\",\"RetentionPeriodHours\":\(d.retentionHours),"
            + "\"StreamCreationTimestamp\":\(JSONText.seconds(d.createdAt)),\"OpenShardCount\":\(d.openShardCount),"
            + "\"Shards\":[\(shards.joined(separator: ","))]}"
    }
}

/// Minimal JSON text helpers for CLI output.
enum JSONText {
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// Epoch seconds with millisecond precision, never in exponent notation.
    static func seconds(_ milliseconds: Int64) -> String {
        let whole = milliseconds / 1000
        let fraction = milliseconds % 1000
        let digits = String(fraction)
        return "\(whole).\(String(repeating: "0", count: 3 - digits.count))\(digits)"
    }
}
