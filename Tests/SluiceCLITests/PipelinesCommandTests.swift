import Foundation
import SluiceCLI
import SluicePipelines
import SluiceServer
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// `sluice pipelines status|flush` against an in-process service's admin endpoint.
@Suite struct PipelinesCommandTests {
    private func run(_ arguments: [String]) -> (status: Int32, output: String, error: String) {
        let captured = CapturedConsole(input: [])
        let status = CommandLineTool.main(arguments: arguments, console: captured.console)
        return (status, captured.standardOutput, captured.standardError)
    }

    @Test func statusAndFlushTalkToTheAdminEndpoint() throws {
        try withTemporaryDirectory { directory in
            var store = StreamStoreConfiguration(dataDirectory: directory + "/data")
            store.clock = ManualTimeSource()
            var server = HTTPServerConfiguration()
            server.port = 0
            let definition = try PipelineLoader.decode(
                Array(#"{"name": "orders", "source": {"directPut": {"shardCount": 1}}, "destination": {"directory": "orders"}}"#.utf8),
                file: "orders.json"
            ).get()
            var pipelines = PipelineServiceConfiguration(definitions: [definition], archiveRoot: directory + "/archive")
            pipelines.adminPort = 0
            let service = try SluiceService(store: store, server: server, pipelines: pipelines, logger: .disabled)
            service.start()
            defer { service.shutdown(graceMilliseconds: 1_000) }
            let admin = ["--admin", "127.0.0.1:\(try #require(service.admin).port)"]
            _ = try service.store.putRecords(
                stream: "firehose-orders", entries: [PutRecordsEntry(partitionKey: "k", data: Array("hello\n".utf8))])

            var status = run(["pipelines", "status"] + admin)
            #expect(status.status == 0, "\(status.error)")
            let lines = status.output.split(separator: "\n")
            #expect(lines.first?.hasPrefix("PIPELINE") == true)
            #expect(lines.count == 2 && lines[1].hasPrefix("orders") && lines[1].contains("ok"))

            let flush = run(["pipelines", "flush", "orders"] + admin)
            #expect(flush.status == 0, "\(flush.error)")
            #expect(flush.output == "Flushed pipeline orders.\n")
            status = run(["pipelines", "status", "--json"] + admin)
            let document = try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any]
            let first = (document?["pipelines"] as? [[String: Any]])?.first
            #expect(first?["recordsPublished"] as? Int == 1)
            #expect(first?["filesPublished"] as? Int == 1)

            let unknown = run(["pipelines", "flush", "nope"] + admin)
            #expect(unknown.status == 1)
            #expect(unknown.error.contains("No pipeline named nope"))
        }
    }

    @Test func badInvocationsSayWhatToDo() throws {
        var result = run(["pipelines", "status", "--admin", "nowhere"])
        #expect(result.status == 64)
        #expect(result.error.contains("must be HOST:PORT"))
        result = run(["pipelines", "frobnicate"])
        #expect(result.status == 64)
        result = run(["pipelines", "flush"])
        #expect(result.status == 64)
        // Nothing listens on port 1.
        result = run(["pipelines", "status", "--admin", "127.0.0.1:1"])
        #expect(result.status == 1)
        #expect(result.error.contains("cannot reach the admin endpoint at 127.0.0.1:1"))
    }
}
