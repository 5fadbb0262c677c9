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
        guard let colon = admin.lastIndex(of: ":"), let port = UInt16(admin[admin.index(after: colon)...]), !admin[..<colon].isEmpty else {
            throw UsageError("option '--admin' must be HOST:PORT of the admin endpoint, for example 127.0.0.1:4568; got '\(admin)'.")
        }
        let host = String(admin[..<colon])
        switch scanned.positionals[0] {
        case "status":
            guard scanned.positionals.count == 1 else {
                throw UsageError("'sluice pipelines status' takes no arguments; got '\(scanned.positionals[1])'.")
            }
            let (status, body) = try request(host: host, port: port, method: "GET", path: "/pipelines", admin: admin)
            guard status == 200 else { throw AdminError(message: describe(status, body)) }
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
            let (status, body) = try request(host: host, port: port, method: "POST", path: "/pipelines/\(name)/flush", admin: admin)
            guard status == 200 else { throw AdminError(message: describe(status, body)) }
            console.print(message(body) ?? "Flushed pipeline \(name).")
        case let other:
            throw UsageError("unknown 'sluice pipelines' command '\(other)'. Use 'status' or 'flush NAME'.")
        }
    }

    struct AdminError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    private static func message(_ body: [UInt8]) -> String? {
        (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])?["message"] as? String
    }

    private static func describe(_ status: Int, _ body: [UInt8]) -> String {
        message(body) ?? "the admin endpoint answered HTTP \(status)"
    }

    /// One HTTP/1.1 request with `Connection: close`; returns the status and body.
    private static func request(host: String, port: UInt16, method: String, path: String, admin: String) throws -> (Int, [UInt8]) {
        let descriptor: Int32
        do {
            descriptor = try Socket.connect(host: host, port: port)
        } catch {
            throw AdminError(
                message: "cannot reach the admin endpoint at \(admin): \(error). Is 'sluice serve' running with pipelines? "
                    + "Pass its --admin-listen address with --admin.")
        }
        defer { Socket.close(descriptor) }
        let head = "\(method) \(path) HTTP/1.1\r\nHost: \(admin)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        try Socket.writeAll(descriptor, [Array(head.utf8)], timeoutMilliseconds: 10_000)
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        reading: while response.count < 16 << 20 {
            let result = buffer.withUnsafeMutableBytes { Socket.read(descriptor, into: $0) }
            switch result {
            case .bytes(let count): response += buffer[0..<count]
            case .closed: break reading
            case .wouldBlock: continue
            }
        }
        guard let end = response.indices.first(where: { index in
            index + 3 < response.count && response[index] == 13 && response[index + 1] == 10 && response[index + 2] == 13 && response[index + 3] == 10
        }) else {
            throw AdminError(message: "the admin endpoint at \(admin) sent an incomplete answer")
        }
        let head2 = String(decoding: response[0..<end], as: UTF8.self)
        let statusLine = head2.split(separator: "\r\n").first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else {
            throw AdminError(message: "the admin endpoint at \(admin) sent an invalid status line: \(statusLine)")
        }
        return (status, Array(response[(end + 4)...]))
    }

    /// The status document as an aligned table.
    private static func table(_ body: [UInt8]) throws -> String {
        guard let document = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let pipelines = document["pipelines"] as? [[String: Any]]
        else { throw AdminError(message: "the admin endpoint sent a status document Sluice cannot read") }
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
