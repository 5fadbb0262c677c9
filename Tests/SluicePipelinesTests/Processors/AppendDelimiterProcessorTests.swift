import SluicePipelines
import SluiceSupport
import Testing

@Suite struct AppendDelimiterProcessorTests {
    private func make(_ parameters: [String: String] = [:]) throws -> any RecordProcessor {
        let type = try #require(ProcessorRegistry.type(named: "appendDelimiter"))
        return try type.make(parameters, .validation(pipelineName: "test"))
    }

    private func output(_ parameters: [String: String], _ data: [UInt8]) throws -> [UInt8] {
        let record = ProcessorRecord(
            recordID: "r", data: data, approximateArrival: Timestamp(milliseconds: 0), sourceStream: "s",
            shardID: "shardId-000000000000", sequenceNumber: "1", partitionKey: "k")
        let results = try make(parameters).process([record])
        try #require(results.count == 1 && results[0].recordID == "r")
        guard case .ok(let data, let keys) = results[0].verdict else {
            Issue.record("expected .ok, got \(results[0].verdict)")
            return []
        }
        #expect(keys.isEmpty)
        return data
    }

    @Test func aNewlineByDefault() throws {
        #expect(try output([:], Array(#"{"a":1}"#.utf8)) == Array("{\"a\":1}\n".utf8))
        // Always appended, as Firehose does, even after an existing newline or to an empty record.
        #expect(try output([:], Array("x\n".utf8)) == Array("x\n\n".utf8))
        #expect(try output([:], []) == [0x0A])
    }

    @Test(
        arguments: [
            (#"\n"#, [0x0A]), ("\n", [0x0A]), (#"\r\n"#, [0x0D, 0x0A]), (#"\t"#, [0x09]), (#"\\"#, [0x5C]),
            (#"\0"#, [0x00]), (#"\x1e"#, [0x1E]), (#"\x1E"#, [0x1E]), (#"\xff"#, [0xFF]), ("|", [0x7C]),
            (#"--\n"#, [0x2D, 0x2D, 0x0A]), ("¦", [0xC2, 0xA6]), (#"a\\nb"#, [0x61, 0x5C, 0x6E, 0x62]),
        ] as [(String, [UInt8])])
    func escapes(parameter: String, bytes: [UInt8]) throws {
        #expect(try output(["delimiter": parameter], [0x61]) == [0x61] + bytes)
    }

    @Test(arguments: [
        ("", "delimiter is empty; give the bytes to append, such as \\n (the default)"),
        (
            #"\q"#,
            #"delimiter, column 1: unknown escape "\q"; the escapes are \n, \t, \r, \\, \0 and \xHH (two hex digits), so write a backslash as \\"#
        ),
        (
            #"ab\"#,
            #"delimiter, column 3: a lone \ ends the value; the escapes are \n, \t, \r, \\, \0 and \xHH (two hex digits), so write a backslash as \\"#
        ),
        (
            #"\x1"#,
            #"delimiter, column 1: \x needs two hex digits, such as \x1e; the escapes are \n, \t, \r, \\, \0 and \xHH (two hex digits), so write a backslash as \\"#
        ),
        (
            #"é\xzz"#,
            #"delimiter, column 2: \x needs two hex digits, such as \x1e; the escapes are \n, \t, \r, \\, \0 and \xHH (two hex digits), so write a backslash as \\"#
        ),
    ])
    func badDelimiters(parameter: String, message: String) {
        let error = #expect(throws: ProcessorConfigurationError.self) { try make(["delimiter": parameter]) }
        #expect(error?.parameter == "delimiter")
        #expect(error?.message == message)
    }

    @Test func deterministicAndOneVerdictPerRecord() throws {
        let processor = try make(["delimiter": #"\x1e"#])
        let batch = (0..<3).map { index in
            ProcessorRecord(
                recordID: "id-\(index)", data: Array("r\(index)".utf8), approximateArrival: Timestamp(milliseconds: 0),
                sourceStream: "s", shardID: "shardId-000000000000", sequenceNumber: "\(index)", partitionKey: "k")
        }
        let results = try processor.process(batch)
        #expect(results.map(\.recordID) == ["id-0", "id-1", "id-2"])
        #expect(results[2].verdict == .ok(data: Array("r2".utf8) + [0x1E], partitionKeys: [:]))
        #expect(try processor.process(batch) == results)
    }

    @Test func registeredWithItsParameters() throws {
        let type = try #require(ProcessorRegistry.type(named: "appendDelimiter"))
        #expect(type.parameters == ["delimiter"])
        #expect(!type.summary.isEmpty)
    }
}
