import Foundation
import SluiceSupport

/// `sluice pipelines status` and `sluice pipelines flush NAME`: ask a running `sluice serve`
/// through its loopback admin endpoint.
enum PipelinesCommand {
    static func run(_ arguments: [String], console: Console) throws {
        let command = "sluice pipelines"
        let scanned = try ArgumentScanner(arguments, valued: ["admin"], flags: ["json"], command: command)
        if scanned.flags.contains("help") || scanned.positionals.isEmpty {
            console.print(HelpText.pipelines)
            return
        }
        let admin = scanned.options["admin"] ?? "127.0.0.1:4568"
        switch scanned.positionals[0] {
        case "status":
            guard scanned.positionals.count == 1 else {
                throw UsageError("'sluice pipelines status' takes no arguments; got '\(scanned.positionals[1])'.")
            }
            let (status, body) = try AdminClient.request(admin: admin, method: "GET", path: "/pipelines")
            guard status == 200 else { throw AdminClient.AdminError(message: AdminClient.describe(status, body)) }
            if scanned.flags.contains("json") {
                console.print(String(decoding: body, as: UTF8.self))
            } else {
                console.print(try table(body))
            }
        case "flush":
            guard scanned.positionals.count == 2 else {
                throw UsageError("'sluice pipelines flush' takes one pipeline name, for example 'sluice pipelines flush clickstream'.")
            }
            let name = scanned.positionals[1]
            let (status, body) = try AdminClient.request(admin: admin, method: "POST", path: "/pipelines/\(name)/flush")
            guard status == 200 else { throw AdminClient.AdminError(message: AdminClient.describe(status, body)) }
            console.print(AdminClient.message(body) ?? "Flushed pipeline \(name).")
        case let other:
            throw UsageError("unknown 'sluice pipelines' command '\(other)'. Use 'status' or 'flush NAME'.")
        }
    }

    /// The status document as an aligned table.
    private static func table(_ body: [UInt8]) throws -> String {
        guard let document = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let pipelines = document["pipelines"] as? [[String: Any]]
        else { throw AdminClient.AdminError(message: "the admin endpoint sent a status document Sluice cannot read") }
        let header = ["PIPELINE", "HEALTH", "PARTITIONS", "BUFFERED", "OLDEST", "FILES", "RECORDS", "ERRORS", "RETRIES"]
        var rows = [header]
        var problems: [String] = []
        for pipeline in pipelines {
            func int(_ key: String) -> Int { (pipeline[key] as? Int) ?? 0 }
            let name = pipeline["name"] as? String ?? "?"
            let healthy = pipeline["healthy"] as? Bool ?? false
            if let problem = pipeline["problem"] as? String { problems.append("\(name): \(problem)") }
            rows.append([
                name, healthy ? "ok" : "FAILING", String(int("openPartitions")), bytes(int("bufferedBytes")),
                "\(int("oldestRecordAgeSeconds"))s", String(int("filesPublished")), String(int("recordsPublished")),
                String(int("errorRecords")), String(int("retries")),
            ])
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        var lines = rows.map { row in
            row.indices.map { column in row[column].padding(toLength: widths[column], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        if pipelines.isEmpty { lines.append("(no pipelines)") }
        lines += problems
        return lines.joined(separator: "\n")
    }

    private static func bytes(_ count: Int) -> String {
        if count >= 1 << 20 { return String(format: "%.1f MiB", Double(count) / Double(1 << 20)) }
        if count >= 1 << 10 { return String(format: "%.1f KiB", Double(count) / Double(1 << 10)) }
        return "\(count) B"
    }
}
