import Foundation
import SluiceCLI
import SluicePipelines
import SluiceServer
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

@Suite struct ReplayCommandTests {
    private func run(_ arguments: [String]) -> (status: Int32, output: String, error: String) {
        let captured = CapturedConsole(input: [])
        let status = CommandLineTool.main(arguments: arguments, console: captured.console)
        return (status, captured.standardOutput, captured.standardError)
    }

    /// A pipeline file and one processing-failed error file with three documents.
    private func setUp(_ directory: String) throws {
        try FileSystem.live.createDirectory(directory + "/Pipelines")
        try FileSystem.live.writeAtomically(
            Array(#"{"name": "logs", "source": {"stream": "logs"}, "processors": [{"type": "appendDelimiter"}], "destination": {"directory": "logs", "compression": "none"}}"#.utf8),
            to: directory + "/Pipelines/logs.json")
        var lines = ""
        for n in 0..<3 {
            let raw = Data("line \(n)".utf8).base64EncodedString()
            lines += #"{"attemptsMade":1,"arrivalTimestamp":1767225600000,"errorCode":"X","errorMessage":"x","attemptEndingTimestamp":1767225600000,"rawData":"\#(raw)","sourceStream":"logs","shardId":"shardId-000000000000","sequenceNumber":"\#(n)"}"# + "\n"
        }
        try FileSystem.live.createDirectory(directory + "/archive/logs/processing-failed/2026/01/01/00")
        try FileSystem.live.writeAtomically(Array(lines.utf8), to: directory + "/archive/logs/processing-failed/2026/01/01/00/logs-1-x")
    }

    private func replayedFiles(_ directory: String) throws -> [String] {
        try FileManager.default.subpathsOfDirectory(atPath: directory + "/archive/logs").filter {
            $0.hasPrefix("2026/") && !$0.hasSuffix("/") && !FileSystem.live.isDirectory(directory + "/archive/logs/" + $0)
        }
    }

    @Test func replaysOfflineAndIsIdempotent() throws {
        try withTemporaryDirectory { directory in
            try setUp(directory)
            let paths = ["--pipelines", directory + "/Pipelines", "--archive-dir", directory + "/archive", "--data-dir", directory + "/data"]
            var result = run(["replay", "logs", "--dry-run"] + paths)
            #expect(result.status == 0, "\(result.error)")
            #expect(result.output.hasPrefix("dry run: would replay 3 records"))
            #expect(try replayedFiles(directory).isEmpty)
            result = run(["replay", "logs"] + paths)
            #expect(result.status == 0, "\(result.error)")
            #expect(result.output.hasPrefix("replayed 3 records, failed again 0"))
            let files = try replayedFiles(directory)
            #expect(files.count == 1)
            let content = try String(contentsOfFile: directory + "/archive/logs/" + files[0], encoding: .utf8)
            #expect(content == "line 0\nline 1\nline 2\n")
            result = run(["replay", "logs"] + paths)
            #expect(result.output.hasPrefix("replayed 0 records, failed again 0, dropped 0, skipped as already replayed 3"))
            #expect(try replayedFiles(directory) == files)
        }
    }

    @Test func badArgumentsSayWhatToDo() throws {
        #expect(run(["replay"]).status == 64)
        #expect(run(["replay", "x", "--type", "weird"]).error.contains("option '--type' must be one of"))
        #expect(run(["replay", "x", "--since", "yesterday"]).error.contains("option '--since' must be an ISO 8601 time"))
        try withTemporaryDirectory { directory in
            try setUp(directory)
            let result = run(["replay", "nope", "--pipelines", directory + "/Pipelines", "--data-dir", directory + "/data"])
            #expect(result.status == 64)
            #expect(result.error.contains("no pipeline named nope"))
        }
    }

    @Test func replaysThroughARunningServer() throws {
        try withTemporaryDirectory { directory in
            try setUp(directory)
            var store = StreamStoreConfiguration(dataDirectory: directory + "/data")
            store.clock = ManualTimeSource()
            var server = HTTPServerConfiguration()
            server.port = 0
            let loaded = PipelineLoader.loadDirectory(directory + "/Pipelines", fileSystem: .live)
            var pipelines = PipelineServiceConfiguration(definitions: loaded.definitions, archiveRoot: directory + "/archive")
            pipelines.adminPort = 0
            let stream = try StreamStore(store)
            try stream.createStream(name: "logs", shardCount: 1)
            stream.close()
            let service = try SluiceService(store: store, server: server, pipelines: pipelines, logger: .disabled)
            service.start()
            defer { service.shutdown(graceMilliseconds: 1_000) }
            let result = run(["replay", "logs", "--data-dir", directory + "/data", "--admin", "127.0.0.1:\(try #require(service.admin).port)"])
            #expect(result.status == 0, "\(result.error)")
            #expect(result.error.contains("replaying through its admin endpoint"))
            #expect(result.output.hasPrefix("replayed 3 records"))
            #expect(try replayedFiles(directory).count == 1)
        }
    }
}

@Suite struct VerifyCommandTests {
    private func run(_ arguments: [String]) -> (status: Int32, output: String, error: String) {
        let captured = CapturedConsole(input: [])
        let status = CommandLineTool.main(arguments: arguments, console: captured.console)
        return (status, captured.standardOutput, captured.standardError)
    }

    @Test func verifyExitsZeroOnlyWhenTheAuditHolds() throws {
        try withTemporaryDirectory { directory in
            try FileSystem.live.createDirectory(directory + "/Pipelines")
            try FileSystem.live.writeAtomically(
                Array(#"{"name": "logs", "source": {"stream": "logs", "createIfMissing": true}, "destination": {"directory": "logs"}}"#.utf8),
                to: directory + "/Pipelines/logs.json")
            var store = StreamStoreConfiguration(dataDirectory: directory + "/data")
            store.clock = ManualTimeSource()
            var server = HTTPServerConfiguration()
            server.port = 0
            let loaded = PipelineLoader.loadDirectory(directory + "/Pipelines", fileSystem: .live)
            var pipelines = PipelineServiceConfiguration(definitions: loaded.definitions, archiveRoot: directory + "/archive")
            pipelines.adminPort = 0
            let service = try SluiceService(store: store, server: server, pipelines: pipelines, logger: .disabled)
            service.start()
            _ = try service.store.putRecords(stream: "logs", entries: (0..<5).map { PutRecordsEntry(partitionKey: "k\($0)", data: Array("r\($0)\n".utf8)) })
            service.shutdown(graceMilliseconds: 1_000)  // flushes the open buffer (reason shutdown)
            let paths = ["--pipelines", directory + "/Pipelines", "--archive-dir", directory + "/archive", "--data-dir", directory + "/data"]
            var result = run(["verify", "logs"] + paths)
            #expect(result.status == 0, "\(result.output)\(result.error)")
            #expect(result.output.contains("audit holds: 5 outputs checked"))
            for file in try FileManager.default.subpathsOfDirectory(atPath: directory + "/archive/logs")
            where !FileSystem.live.isDirectory(directory + "/archive/logs/" + file) {
                try FileSystem.live.removeFile(directory + "/archive/logs/" + file)
            }
            result = run(["verify", "logs"] + paths)
            #expect(result.status == 1)
            #expect(result.output.contains("FILE PROBLEMS (1):"))
            #expect(result.output.contains("audit FAILS"))
            #expect(run(["verify"]).status == 64)
        }
    }
}
