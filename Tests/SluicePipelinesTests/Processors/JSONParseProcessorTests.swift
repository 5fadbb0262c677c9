import SluicePipelines
import SluiceSupport
import Testing

@Suite struct JSONParseProcessorTests {
    private func make(_ parameters: [String: String] = [:]) throws -> any RecordProcessor {
        let type = try #require(ProcessorRegistry.type(named: "jsonParse"))
        return try type.make(parameters, .validation(pipelineName: "test"))
    }

    private func verdict(_ data: [UInt8], requireObject: Bool = true) -> ProcessorVerdict {
        JSONParseProcessor(requireObject: requireObject).verdict(data)
    }

    private func verdict(_ text: String, requireObject: Bool = true) -> ProcessorVerdict {
        verdict(Array(text.utf8), requireObject: requireObject)
    }

    private func failed(_ message: String) -> ProcessorVerdict {
        .processingFailed(code: "JsonParse.InvalidJson", message: message)
    }

    // MARK: - Good records

    @Test(arguments: [
        #"{"a":1}"#, "{\"a\": 1.50, \"b\": [1e3, null, true]}\n", "  {}\r\n", #"{"é":"\u00e9😀"}"#,
        "{\"nested\":{\"deep\":[[[{}]]]}}\n",
    ])
    func objectsPassThroughByteForByte(text: String) {
        #expect(verdict(text) == .ok(data: Array(text.utf8), partitionKeys: [:]))
    }

    @Test func aBatchGetsOneVerdictPerRecordId() throws {
        let processor = try make()
        let batch = ["{\"a\":1}\n", "hello\n", "[1]"].enumerated().map { index, text in
            ProcessorRecord(
                recordID: "id-\(index)", data: Array(text.utf8), approximateArrival: Timestamp(milliseconds: 0),
                sourceStream: "s", shardID: "shardId-000000000000", sequenceNumber: "1", partitionKey: "k")
        }
        let results = try processor.process(batch)
        #expect(results.map(\.recordID) == ["id-0", "id-1", "id-2"])
        #expect(results[0].verdict == .ok(data: Array("{\"a\":1}\n".utf8), partitionKeys: [:]))
        #expect(results[1].verdict == failed("record is not valid JSON: unexpected character 'h' at byte 0"))
        #expect(
            results[2].verdict
                == failed(
                    "record is not a JSON object: found an array at byte 0 (requireObject is true; set it to \"false\" "
                        + "to accept any JSON value)"))
        #expect(try processor.process(batch) == results)  // deterministic
    }

    @Test(arguments: ["[1,2]", "\"text\"", "1.50", "true", "null", " 1e3\n"])
    func anyValueWhenObjectsAreNotRequired(text: String) throws {
        let processor = try make(["requireObject": "false"])
        let record = ProcessorRecord(
            recordID: "r", data: Array(text.utf8), approximateArrival: Timestamp(milliseconds: 0), sourceStream: "s",
            shardID: "shardId-000000000000", sequenceNumber: "1", partitionKey: "k")
        #expect(
            try processor.process([record]) == [
                ProcessorResult(recordID: "r", verdict: .ok(data: record.data, partitionKeys: [:]))
            ])
    }

    // MARK: - Bad records

    @Test(arguments: [
        ("", "record is not valid JSON: the record is empty"),
        (" \n", "record is not valid JSON: the record is empty"),
        ("nope", "record is not valid JSON: invalid literal at byte 0"),
        ("hello", "record is not valid JSON: unexpected character 'h' at byte 0"),
        (#"{"a":1,}"#, "record is not valid JSON: expected a member name at byte 7"),
        (#"{"a":"#, "record is not valid JSON: unexpected end of the record at byte 5"),
        ("{\"a\":1}\n{\"a\":2}\n", "record is not valid JSON: unexpected text after the JSON value at byte 8"),
        (#"{"a":01}"#, "record is not valid JSON: expected ',' or '}' at byte 6"),
        (#"{"a":"x\qy"}"#, #"record is not valid JSON: invalid escape '\q' at byte 7"#),
        ("{'a':1}", "record is not valid JSON: expected a member name at byte 1"),
        (#"{"a":1"#, "record is not valid JSON: unexpected end of the record at byte 6"),
    ])
    func notJSON(text: String, message: String) {
        #expect(verdict(text) == failed(message))
        #expect(verdict(text, requireObject: false) == failed(message))
    }

    @Test(arguments: [
        ("[]", "an array", 0), ("  \"x\"", "a string", 2), ("\n1.5\n", "a number", 1), ("true", "a boolean", 0),
        ("null", "null", 0),
    ])
    func notAnObject(text: String, kind: String, offset: Int) {
        #expect(
            verdict(text)
                == failed(
                    "record is not a JSON object: found \(kind) at byte \(offset) (requireObject is true; set it to "
                        + "\"false\" to accept any JSON value)"))
    }

    @Test func invalidUTF8IsNotJSON() {
        let prefix = Array(#"{"a":""#.utf8)
        for bad: [UInt8] in [
            [0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80], [0x80],
        ] {
            #expect(
                verdict(prefix + bad + Array("\"}".utf8)) == failed("record is not valid JSON: invalid UTF-8 at byte 6")
            )
        }
        let good = prefix + [0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80] + Array("\"}".utf8)
        #expect(verdict(good) == .ok(data: good, partitionKeys: [:]))
    }

    @Test func nestingIsBounded() {
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(
            verdict(deep, requireObject: false)
                == failed("record is not valid JSON: JSON nested deeper than 128 levels at byte 128"))
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(verdict(fine, requireObject: false) == .ok(data: Array(fine.utf8), partitionKeys: [:]))
    }

    // MARK: - Parameters

    @Test func requireObjectMustBeABoolean() {
        let error = #expect(throws: ProcessorConfigurationError.self) { try make(["requireObject": "yes"]) }
        #expect(error?.parameter == "requireObject")
        #expect(error?.message == "requireObject must be \"true\" or \"false\"; got \"yes\"")
    }

    @Test func registeredWithItsParameters() throws {
        let type = try #require(ProcessorRegistry.type(named: "jsonParse"))
        #expect(type.parameters == ["requireObject"])
        #expect(!type.summary.isEmpty)
    }
}
