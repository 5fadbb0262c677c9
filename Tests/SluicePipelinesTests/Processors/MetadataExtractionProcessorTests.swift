import Foundation
import SluicePipelines
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

@Suite struct MetadataExtractionProcessorTests {
    private func make(_ keys: String) throws -> any RecordProcessor {
        try #require(ProcessorRegistry.type(named: "metadataExtraction")).make(["keys": keys])
    }

    private func verdict(_ processor: any RecordProcessor, _ text: String) throws -> ProcessorVerdict {
        let record = ProcessorRecord(
            recordID: "1", data: Array(text.utf8), approximateArrival: Timestamp(milliseconds: 0), sourceStream: "s",
            shardID: "shardId-000000000000", sequenceNumber: "1", partitionKey: "k")
        return try #require(try processor.process([record]).first).verdict
    }

    @Test func keysComeFromPaths() throws {
        let processor = try make(#"customer=.customer.id, country = .geo["country code"], n=.n, flag=.f, first=.tags[0]"#)
        let record = #"{"customer":{"id":"c-42"},"geo":{"country code":"DE"},"n":7,"f":true,"tags":["a","b"]}"# + "\n"
        #expect(
            try verdict(processor, record)
                == .ok(data: Array(record.utf8), partitionKeys: ["customer": "c-42", "country": "DE", "n": "7", "flag": "true", "first": "a"]))
        // Absent and null paths set no key (the prefix then decides: partitioning-failed).
        #expect(try verdict(processor, #"{"customer":null}"#) == .ok(data: Array(#"{"customer":null}"#.utf8), partitionKeys: [:]))
    }

    @Test func recordsThatCannotBePartitionedFail() throws {
        let processor = try make("customer=.customer")
        guard case .processingFailed(let code, let message) = try verdict(processor, "not json") else {
            Issue.record("expected a failure")
            return
        }
        #expect(code == "DynamicPartitioning.MetadataExtractionFailed")
        #expect(message.hasPrefix("The record is not JSON"))
        guard case .processingFailed(_, let objectMessage) = try verdict(processor, #"{"customer":{"id":1}}"#) else {
            Issue.record("expected a failure")
            return
        }
        #expect(objectMessage == "Partition key customer at .customer is an object or array; it must be a string, number or boolean.")
    }

    @Test(arguments: [
        ("", "keys, column 1: expected a key name (letters, digits, _ and -); write NAME=PATH pairs such as customer_id=.customer.id"),
        ("a", "keys, column 2: expected \"=\" after the key name a; write NAME=PATH pairs such as customer_id=.customer.id"),
        ("a=b", "keys, column 3: expected a path starting with \".\"; write NAME=PATH pairs such as customer_id=.customer.id"),
        ("a=.x;b=.y", "keys, column 5: expected \",\" between pairs; write NAME=PATH pairs such as customer_id=.customer.id"),
        ("a=.x, a=.y", "keys, column 7: key a is given twice; write NAME=PATH pairs such as customer_id=.customer.id"),
    ])
    func badKeysSayWhere(keys: String, message: String) throws {
        let type = try #require(ProcessorRegistry.type(named: "metadataExtraction"))
        #expect(throws: ProcessorConfigurationError(parameter: "keys", message)) { try type.make(["keys": keys]) }
        #expect(throws: ProcessorConfigurationError.self) { try type.make([:]) }
    }
}

@Suite("Dynamic partitioning")
struct DynamicPartitioningTests {
    @Test func partitionKeyFromQueryRoutesRecordsAndRefusesHostileValues() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let definition = try PipelineHarness.definition(
                #"""
                {"name": "clicks", "source": {"stream": "clicks"}, "buffering": {"intervalInSeconds": 60},
                 "processors": [{"type": "metadataExtraction", "parameters": {"keys": "customer=.customer"}}, {"type": "appendDelimiter"}],
                 "destination": {"directory": "out", "compression": "none",
                   "prefix": "customer=!{partitionKeyFromQuery:customer}/!{timestamp:yyyy}/",
                   "errorOutputPrefix": "errors/!{firehose:error-output-type}/"}}
                """#)
            let runner = try h.runner(definition)
            try h.put([
                #"{"customer":"acme","n":1}"#, #"{"customer":"globex","n":2}"#, #"{"customer":"acme","n":3}"#,
                #"{"customer":"..","n":4}"#, #"{"customer":"../../etc","n":5}"#, #"{"customer":"","n":6}"#, #"{"n":7}"#,
                "not json", #"{"customer":"a\u0007b","n":9}"#,
            ])
            runner.step()
            h.clock.advance(seconds: 60)
            runner.step()
            let files = try h.archiveFiles(gzip: false)
            let acme = files.filter { $0.key.hasPrefix("out/customer=acme/2026/") }.values.map { String(decoding: $0, as: UTF8.self) }
            #expect(acme == [#"{"customer":"acme","n":1}"# + "\n" + #"{"customer":"acme","n":3}"# + "\n"])
            #expect(files.keys.contains { $0.hasPrefix("out/customer=globex/2026/") })
            #expect(files.keys.allSatisfy {
                $0.hasPrefix("out/customer=acme/") || $0.hasPrefix("out/customer=globex/") || $0.hasPrefix("out/errors/partitioning-failed/")
            })
            let documents = try h.errorDocuments()
            #expect(documents.count == 6)
            // rawData is the record as it came from the stream, before any processor.
            #expect(documents.contains { $0["rawData"] as? String == Data(#"{"n":7}"#.utf8).base64EncodedString() })
        }
    }
}
