import SluicePipelines
import SluiceSupport
import Testing

/// The JSON built-ins together, built from definitions the way a pipeline file names them.
@Suite struct JSONProcessorChainTests {
    @Test func parseFilterProjectAndDelimit() throws {
        let chain = try ProcessorChain(
            definitions: [
                ProcessorDefinition(type: "jsonParse"),
                ProcessorDefinition(
                    type: "jsonFilter", parameters: ["where": ".path == \"/health\"", "action": "drop"]),
                ProcessorDefinition(
                    type: "jsonProject",
                    parameters: ["drop": "password", "rename": "uid:userId", "add": "receivedAt=$arrivalTime"]),
                ProcessorDefinition(type: "appendDelimiter"),
            ],
            environment: .validation(pipelineName: "clicks"))
        let texts = [
            #"{"uid": 7, "path": "/cart", "price": 1.50, "password": "x"}"#, #"{"path":"/health"}"#, "{oops}", "[1]",
        ]
        let batch = texts.enumerated().map { index, text in
            ProcessorRecord(
                recordID: "r\(index)", data: Array(text.utf8),
                approximateArrival: Timestamp(milliseconds: 1_535_365_800_123),
                sourceStream: "clicks", shardID: "shardId-000000000000", sequenceNumber: "\(index)", partitionKey: "k")
        }
        let outputs = chain.run(batch)
        #expect(outputs.map(\.count) == [1, 1, 1, 1])
        #expect(
            outputs[0][0].outcome
                == .ok(
                    data: Array(
                        "{\"userId\":7,\"path\":\"/cart\",\"price\":1.50,\"receivedAt\":\"2018-08-27T10:30:00.123Z\"}\n"
                            .utf8),
                    partitionKeys: [:]))
        #expect(outputs[0][0].raw == Array(texts[0].utf8))
        #expect(outputs[1][0].outcome == .dropped)
        #expect(
            outputs[2][0].outcome
                == .failed(
                    code: "JsonParse.InvalidJson", message: "record is not valid JSON: expected a member name at byte 1"
                ))
        #expect(
            outputs[3][0].outcome
                == .failed(
                    code: "JsonParse.InvalidJson",
                    message: "record is not a JSON object: found an array at byte 0 (requireObject is true; set it to "
                        + "\"false\" to accept any JSON value)"))
        #expect(chain.run(batch) == outputs)  // the same batch gives the same bytes
    }
}
