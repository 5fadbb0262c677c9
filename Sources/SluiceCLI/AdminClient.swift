import Foundation
import SluiceSupport

/// A tiny HTTP/1.1 client for the loopback admin endpoint of a running `sluice serve`.
enum AdminClient {
    struct AdminError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    static func message(_ body: [UInt8]) -> String? {
        (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])?["message"] as? String
    }

    static func describe(_ status: Int, _ body: [UInt8]) -> String {
        message(body) ?? "the admin endpoint answered HTTP \(status)"
    }

    /// One HTTP/1.1 request with `Connection: close`; returns the status and body.
    static func request(admin: String, method: String, path: String) throws -> (Int, [UInt8]) {
        guard let colon = admin.lastIndex(of: ":"), let port = UInt16(admin[admin.index(after: colon)...]), !admin[..<colon].isEmpty else {
            throw UsageError("option '--admin' must be HOST:PORT of the admin endpoint, for example 127.0.0.1:4568; got '\(admin)'.")
        }
        let host = String(admin[..<colon])
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
}
