import Foundation
import SluiceServer
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// A JSON value as the tests see it: exact JSON kinds, so `true` and `1` differ.
enum Node: Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([Node])
    case object([String: Node])

    init(_ value: JSONValue) {
        switch value {
        case .null: self = .null
        case .bool(let flag): self = .bool(flag)
        case .number(let text): self = .number(text.string ?? "")
        case .string(let text): self = .string(text.string ?? "")
        case .array(let elements): self = .array(elements.map(Node.init))
        case .object(let object):
            var members: [String: Node] = [:]
            for member in object.members { members[member.name.string ?? ""] = Node(member.value) }
            self = .object(members)
        }
    }

    subscript(_ key: String) -> Node? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    subscript(_ index: Int) -> Node? {
        if case .array(let elements) = self, elements.indices.contains(index) { return elements[index] }
        return nil
    }

    var keys: Set<String> {
        if case .object(let members) = self { return Set(members.keys) }
        return []
    }

    var string: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    var int: Int? {
        if case .number(let text) = self { return Int(text) }
        return nil
    }

    var numberText: String? {
        if case .number(let text) = self { return text }
        return nil
    }

    var bool: Bool? {
        if case .bool(let flag) = self { return flag }
        return nil
    }

    var array: [Node]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    var description: String {
        switch self {
        case .null: "null"
        case .bool(let flag): String(flag)
        case .number(let text): text
        case .string(let text): "\"\(text)\""
        case .array(let elements): "[" + elements.map(\.description).joined(separator: ",") + "]"
        case .object(let members):
            "{" + members.keys.sorted().map { "\"\($0)\":\(members[$0]!)" }.joined(separator: ",") + "}"
        }
    }
}

/// An error response, decoded.
struct WireError {
    var status: Int
    var type: String
    var message: String?
    /// The member that held the message (`message`, or `Message` for SerializationException).
    var messageKey: String?
    var errorTypeHeader: String?
}

/// A router over a fresh store in a temporary directory, with helpers to call it.
struct APIHarness {
    let router: ServiceRouter
    let store: StreamStore
    let clock: ManualTimeSource
    let logs: InMemoryLogSink

    static let account = "000000000000"

    /// Runs `body` with a router over a new store (manual clock, creation delay 0).
    static func with(
        configure: (inout StreamStoreConfiguration) -> Void = { _ in },
        _ body: (APIHarness) throws -> Void
    ) throws {
        try withTemporaryDirectory { directory in
            let clock = ManualTimeSource()
            var configuration = StreamStoreConfiguration(dataDirectory: directory + "/data")
            configuration.clock = clock
            configure(&configuration)
            let store = try StreamStore(configuration)
            defer { store.close() }
            let logs = InMemoryLogSink()
            let router = ServiceRouter(store: store, logger: Logger(label: "api-test", level: .trace, sink: logs))
            try body(APIHarness(router: router, store: store, clock: clock, logs: logs))
        }
    }

    /// A Kinesis request as the AWS SDKs send it.
    static func request(
        _ operation: String, _ body: String, contentType: String? = "application/x-amz-json-1.1",
        extraHeaders: [(String, String)] = []
    ) -> HTTPRequest {
        var headers = HTTPHeaders()
        headers.add("Host", "localhost:4567")
        if let contentType { headers.add("Content-Type", contentType) }
        if !operation.isEmpty { headers.add("X-Amz-Target", "Kinesis_20131202." + operation) }
        for (name, value) in extraHeaders { headers.add(name, value) }
        return HTTPRequest(method: "POST", target: "/", headers: headers, body: Array(body.utf8))
    }

    func send(_ request: HTTPRequest) -> HTTPResponse {
        router.handle(request, requestID: UUID().uuidString)
    }

    func call(_ operation: String, _ body: String) -> HTTPResponse {
        send(Self.request(operation, body))
    }

    /// Calls `operation`, expects 200, and decodes the body (which must also satisfy Foundation's
    /// JSONSerialization). An empty body decodes as `.null`.
    @discardableResult
    func ok(_ operation: String, _ body: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Node {
        let response = call(operation, body)
        #expect(
            response.status == 200, "\(operation): \(String(decoding: response.body, as: UTF8.self))",
            sourceLocation: sourceLocation)
        #expect(response.headers["Content-Type"] == "application/x-amz-json-1.1", sourceLocation: sourceLocation)
        guard response.status == 200 else {
            throw HarnessFailure("\(operation) failed: \(String(decoding: response.body, as: UTF8.self))")
        }
        return try Self.decode(response.body)
    }

    /// Calls `operation` and decodes the error it must answer with.
    func fail(_ operation: String, _ body: String, sourceLocation: SourceLocation = #_sourceLocation) throws
        -> WireError
    {
        try Self.error(call(operation, body), sourceLocation: sourceLocation)
    }

    static func error(_ response: HTTPResponse, sourceLocation: SourceLocation = #_sourceLocation) throws -> WireError {
        #expect(response.status != 200, "expected an error", sourceLocation: sourceLocation)
        let node = try decode(response.body)
        let type = try #require(node["__type"]?.string, "no __type in \(node)", sourceLocation: sourceLocation)
        var key: String?
        if node["message"] != nil { key = "message" }
        if node["Message"] != nil { key = "Message" }
        return WireError(
            status: response.status, type: type, message: key.flatMap { node[$0]?.string }, messageKey: key,
            errorTypeHeader: response.headers["x-amzn-ErrorType"])
    }

    static func decode(_ body: [UInt8]) throws -> Node {
        if body.isEmpty { return .null }
        _ = try JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
        return Node(try JSONParser.parse(body))
    }

    /// Creates a stream and returns its shard ids.
    @discardableResult
    func createStream(_ name: String, shards: Int) throws -> [String] {
        try ok("CreateStream", #"{"StreamName":"\#(name)","ShardCount":\#(shards)}"#)
        return (0..<shards).map { ShardID.format($0) }
    }

    func arn(_ name: String) -> String { store.arn(of: name) }
}

struct HarnessFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Base64 of UTF-8 text.
func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
