import Foundation
import SluiceCLI
import SluiceStreams
import SluiceTestSupport
import Testing

@Suite struct CommandLineToolTests {
    /// Runs `sluice` in-process with the given arguments and standard input.
    private func run(_ arguments: [String], input: String = "") -> (status: Int32, output: String, error: String) {
        let captured = CapturedConsole(input: Array(input.utf8))
        let status = CommandLineTool.main(arguments: arguments, console: captured.console)
        return (status, captured.standardOutput, captured.standardError)
    }

    @Test(arguments: [
        (["--help"], "root.txt"), (["help", "streams"], "streams.txt"), (["put", "--help"], "put.txt"),
        (["get", "-h"], "get.txt"), (["streams", "--help"], "streams.txt"), (["serve", "--help"], "serve.txt"),
        (["help", "serve"], "serve.txt"), (["pipelines", "--help"], "pipelines.txt"), (["help", "pipelines"], "pipelines.txt"), (["replay", "--help"], "replay.txt"), (["verify", "--help"], "verify.txt"),
    ])
    func helpTextMatchesGoldenFile(arguments: [String], golden: String) {
        let result = run(arguments)
        #expect(result.status == 0)
        #expect(result.error.isEmpty)
        #expect(goldenMismatch(result.output, named: "cli/help-" + golden) == nil)
    }

    @Test func createsPutsAndGetsRecordsThroughTheCommands() throws {
        try withTemporaryDirectory { directory in
            let data = ["--data-dir", directory + "/data"]
            #expect(run(["streams", "create", "orders", "--shards", "2"] + data).output == "created stream orders with 2 shards\n")
            #expect(run(["streams", "list"] + data).output == "orders\n")

            let put = run(["put", "orders", "--partition-key", "user-1"] + data, input: "first\nsecond\nthird")
            #expect(put.status == 0, "\(put.error)")
            let acks = put.output.split(separator: "\n")
            #expect(acks.count == 3)
            for ack in acks {
                let fields = ack.split(separator: " ")
                #expect(fields.count == 2)
                #expect(fields[0].hasPrefix("shardId-00000000000"))
                #expect(SequenceNumber(String(fields[1])) != nil)
            }
            #expect(run(["put", "orders", "--partition-key", "user-1", "fourth"] + data).status == 0)
            #expect(run(["get", "orders"] + data).output == "first\nsecond\nthird\nfourth\n")
            #expect(run(["get", "orders", "--limit", "2"] + data).output == "first\nsecond\n")

            let json = run(["get", "orders", "--json", "--limit", "1"] + data).output
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            #expect(object["partitionKey"] as? String == "user-1")
            #expect(object["data"] as? String == Data("first".utf8).base64EncodedString())

            let after = run(["get", "orders", "--from", "after-sequence:\(acks[1].split(separator: " ")[1])"] + data)
            #expect(after.output == "third\nfourth\n")

            let described = run(["streams", "describe", "orders", "--json"] + data)
            let description = try #require(try JSONSerialization.jsonObject(with: Data(described.output.utf8)) as? [String: Any])
            #expect(description["StreamStatus"] as? String == "ACTIVE")
            #expect((description["Shards"] as? [Any])?.count == 2)

            #expect(run(["streams", "delete", "orders"] + data).output == "deleted stream orders\n")
            #expect(run(["streams", "list"] + data).output == "")
        }
    }

    @Test func putReadsAFileAsOneRecord() throws {
        try withTemporaryDirectory { directory in
            let data = ["--data-dir", directory + "/data"]
            let file = directory + "/payload.bin"
            try Data("line one\nline two\n".utf8).write(to: URL(fileURLWithPath: file))
            #expect(run(["streams", "create", "s"] + data).status == 0)
            #expect(run(["put", "s", "--partition-key", "k", "--file", file] + data).status == 0)
            #expect(run(["get", "s", "--json"] + data).output.split(separator: "\n").count == 1)
        }
    }

    @Test(arguments: [
        (["frobnicate"], "unknown command 'frobnicate'"),
        (["put", "orders"], "needs --partition-key KEY"),
        (["put"], "needs a stream name"),
        (["put", "orders", "--partition-key"], "needs a value"),
        (["put", "orders", "--partition-key", "k", "--bogus", "x"], "unknown option '--bogus'"),
        (["put", "orders", "--partition-key", "k", "--durability", "sometimes"], "option '--durability' must be"),
        (["streams"], "needs an action"),
        (["streams", "create"], "needs exactly one stream name"),
        (["streams", "create", "s", "--shards", "0"], "must be a whole number from 1"),
        (["get", "orders", "--from", "yesterday"], "option '--from' must be"),
        (["get", "orders", "--from", "at-timestamp:noon"], "needs an ISO 8601 time"),
        (["get", "orders", "--shard", "abc"], "option '--shard' must be a shard id"),
        (["serve", "--listen", "localhost"], "option '--listen' must be HOST:PORT"),
        (["serve", "--log-level", "loud"], "option '--log-level' must be one of"),
        (["serve", "--workers", "0"], "must be a whole number from 1"),
        (["serve", "extra"], "'sluice serve' takes no arguments"),
    ])
    func usageErrorsExit64WithAMessageSayingWhatToType(arguments: [String], expected: String) throws {
        try withTemporaryDirectory { directory in
            let result = run(arguments + ["--data-dir", directory + "/data"])
            #expect(result.status == 64)
            #expect(result.error.hasPrefix("error: "))
            #expect(result.error.contains(expected), "\(result.error)")
        }
    }

    @Test func runtimeErrorsExit1WithTheCoreMessage() throws {
        try withTemporaryDirectory { directory in
            let data = ["--data-dir", directory + "/data"]
            #expect(run(["streams", "create", "s"] + data).status == 0)
            let duplicate = run(["streams", "create", "s"] + data)
            #expect(duplicate.status == 1)
            #expect(duplicate.error == "error: Stream s under account 000000000000 already exists.\n")
            let unknown = run(["get", "nope"] + data)
            #expect(unknown.status == 1)
            #expect(unknown.error.contains("Stream nope under account 000000000000 not found."))
            let badKey = run(["put", "s", "--partition-key", String(repeating: "k", count: 257), "x"] + data)
            #expect(badKey.status == 1)
            #expect(badKey.error.contains("Member must have length less than or equal to 256"))
        }
    }

    @Test func theBuiltBinaryRunsAsASubprocess() throws {
        try withTemporaryDirectory { directory in
            let binary = productsDirectory + "/sluice"
            #expect(FileManager.default.isExecutableFile(atPath: binary), "no sluice binary at \(binary); build the package first")
            func launch(_ arguments: [String], input: String? = nil) throws -> (Int32, String, String) {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: binary)
                process.arguments = arguments + ["--data-dir", directory + "/data"]
                let output = Pipe()
                let error = Pipe()
                let stdin = Pipe()
                process.standardOutput = output
                process.standardError = error
                process.standardInput = stdin
                try process.run()
                if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
                try stdin.fileHandleForWriting.close()
                let out = output.fileHandleForReading.readDataToEndOfFile()
                let err = error.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
            }
            #expect(try launch(["streams", "create", "s"]).0 == 0)
            #expect(try launch(["put", "s", "--partition-key", "k"], input: "a\nb\n").0 == 0)
            let got = try launch(["get", "s"])
            #expect(got.0 == 0)
            #expect(got.1 == "a\nb\n")
            let usage = try launch(["put", "s"])
            #expect(usage.0 == 64)
            #expect(usage.2.contains("--partition-key"))
        }
    }
}
