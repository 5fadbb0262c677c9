import Foundation
import SluicePipelines
import SluiceServer
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// A router with two pipelines (a direct-put one and a stream-sourced one) over a fresh store.
private struct FirehoseHarness {
    let api: APIHarness
    let pipelines: PipelineManager
    let router: ServiceRouter
    let archive: String

    static func with(_ body: (FirehoseHarness) throws -> Void) throws {
        try withTemporaryDirectory { directory in
            let clock = ManualTimeSource()
            var configuration = StreamStoreConfiguration(dataDirectory: directory + "/data")
            configuration.clock = clock
            let store = try StreamStore(configuration)
            defer { store.close() }
            let logs = InMemoryLogSink()
            let logger = Logger(label: "firehose-test", level: .trace, sink: logs)
            var definitions: [PipelineDefinition] = []
            for (file, json) in [
                (
                    "orders.json",
                    #"{"name": "orders", "source": {"directPut": {"shardCount": 2}}, "buffering": {"sizeInMBs": 1, "intervalInSeconds": 60}, "destination": {"directory": "orders"}}"#
                ),
                (
                    "clicks.json",
                    #"{"name": "clicks", "source": {"stream": "clicks", "createIfMissing": true}, "destination": {"directory": "clicks", "compression": "none"}}"#
                ),
            ] {
                definitions.append(try PipelineLoader.decode(Array(json.utf8), file: file).get())
            }
            let context = PipelineContext(
                store: store, clock: clock, fileSystem: .live, archiveRoot: directory + "/archive", stateRoot: directory + "/data/pipelines",
                logger: logger)
            let pipelines = try PipelineManager(definitions: definitions, context: context)
            let router = ServiceRouter(store: store, pipelines: pipelines, logger: logger)
            let api = APIHarness(router: router, store: store, clock: clock, logs: logs)
            try body(FirehoseHarness(api: api, pipelines: pipelines, router: router, archive: directory + "/archive"))
        }
    }

    static func request(_ operation: String, _ body: String) -> HTTPRequest {
        var headers = HTTPHeaders()
        headers.add("Content-Type", "application/x-amz-json-1.1")
        headers.add("X-Amz-Target", "Firehose_20150804." + operation)
        return HTTPRequest(method: "POST", target: "/", headers: headers, body: Array(body.utf8))
    }

    func call(_ operation: String, _ body: String) -> HTTPResponse {
        router.handle(Self.request(operation, body), requestID: "test")
    }

    func ok(_ operation: String, _ body: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Node {
        let response = call(operation, body)
        #expect(response.status == 200, "\(String(decoding: response.body, as: UTF8.self))", sourceLocation: sourceLocation)
        return try APIHarness.decode(response.body)
    }

    func fail(_ operation: String, _ body: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> WireError {
        try APIHarness.error(call(operation, body), sourceLocation: sourceLocation)
    }
}

@Suite("Firehose API")
struct FirehoseAPITests {
    @Test func putRecordBatchStoresEveryRecordInTheBackingStream() throws {
        try FirehoseHarness.with { h in
            let records = (0..<20).map { #"{"Data":"\#(base64("r\($0)\n"))"}"# }.joined(separator: ",")
            let body = try h.ok("PutRecordBatch", #"{"DeliveryStreamName":"orders","Records":[\#(records)]}"#)
            #expect(body["FailedPutCount"]?.int == 0)
            #expect(body["Encrypted"]?.bool == false)
            let responses = try #require(body["RequestResponses"]?.array)
            #expect(responses.count == 20)
            #expect(responses.allSatisfy { $0["RecordId"]?.string?.isEmpty == false && $0.keys == ["RecordId"] })
            var stored = 0
            for shard in try h.api.store.listShards(name: "firehose-orders") {
                let iterator = try h.api.store.shardIterator(stream: "firehose-orders", shardID: shard.shardID, type: .trimHorizon)
                stored += try h.api.store.getRecords(iterator: iterator).records.count
            }
            #expect(stored == 20)
        }
    }

    @Test func putRecordAnswersARecordId() throws {
        try FirehoseHarness.with { h in
            let body = try h.ok("PutRecord", #"{"DeliveryStreamName":"orders","Record":{"Data":"\#(base64("one\n"))"}}"#)
            #expect(body.keys == ["RecordId", "Encrypted"])
            #expect(SequenceNumber(try #require(body["RecordId"]?.string)) != nil)
        }
    }

    @Test func limitsAreFirehoses() throws {
        try FirehoseHarness.with { h in
            let big = String(repeating: "A", count: 1_365_336)  // base64 of 1,024,002 bytes
            var error = try h.fail("PutRecordBatch", #"{"DeliveryStreamName":"orders","Records":[{"Data":"\#(big)"}]}"#)
            #expect(error.type == "ValidationException")
            #expect(error.message?.contains("at 'records.1.member.data' failed to satisfy constraint: Member must have length less than or equal to 1024000") == true)
            error = try h.fail("PutRecord", #"{"DeliveryStreamName":"orders","Record":{"Data":"\#(big)"}}"#)
            #expect(error.type == "ValidationException")
            #expect(error.message?.contains("'record.data'") == true)
            let many = Array(repeating: #"{"Data":"eA=="}"#, count: 501).joined(separator: ",")
            error = try h.fail("PutRecordBatch", #"{"DeliveryStreamName":"orders","Records":[\#(many)]}"#)
            #expect(error.type == "ValidationException")
            #expect(error.message?.contains("Member must have length less than or equal to 500") == true)
            error = try h.fail("PutRecordBatch", #"{"DeliveryStreamName":"orders","Records":[]}"#)
            #expect(error.type == "ValidationException")
            let nearlyMax = String(repeating: "A", count: 1_333_332)  // 999,999 bytes each
            let five = Array(repeating: #"{"Data":"\#(nearlyMax)"}"#, count: 5).joined(separator: ",")
            error = try h.fail("PutRecordBatch", #"{"DeliveryStreamName":"orders","Records":[\#(five)]}"#)
            #expect(error.type == "InvalidArgumentException")
            #expect(error.message?.hasPrefix("Records size exceeds 4 MB limit") == true)
            error = try h.fail("PutRecordBatch", #"{"Records":[{"Data":"eA=="}]}"#)
            #expect(error.type == "ValidationException")
            #expect(error.message == "1 validation error detected: Value null at 'deliveryStreamName' failed to satisfy constraint: Member must not be null")
            error = try h.fail("PutRecordBatch", #"{"DeliveryStreamName":"orders","Records":[{}]}"#)
            #expect(error.type == "ValidationException")
            #expect(error.message?.contains("'records.1.member.data'") == true)
            error = try h.fail("PutRecord", #"{"DeliveryStreamName":"orders","Record":{"Data":"!!"}}"#)
            #expect(error.type == "SerializationException")
        }
    }

    @Test func unknownAndStreamSourcedDeliveryStreamsAreRefused() throws {
        try FirehoseHarness.with { h in
            var error = try h.fail("PutRecord", #"{"DeliveryStreamName":"nope","Record":{"Data":"eA=="}}"#)
            #expect(error.status == 400)
            #expect(error.type == "ResourceNotFoundException")
            #expect(error.message == "Firehose nope under account 000000000000 not found.")
            error = try h.fail("PutRecordBatch", #"{"DeliveryStreamName":"clicks","Records":[{"Data":"eA=="}]}"#)
            #expect(error.type == "InvalidArgumentException")
            #expect(error.message?.contains("KinesisStreamAsSource") == true)
            error = try h.fail("DescribeDeliveryStream", #"{"DeliveryStreamName":"nope"}"#)
            #expect(error.type == "ResourceNotFoundException")
        }
    }

    @Test func controlPlaneChangesExplainThatPipelinesAreFiles() throws {
        try FirehoseHarness.with { h in
            for operation in ["CreateDeliveryStream", "DeleteDeliveryStream", "UpdateDestination", "TagDeliveryStream"] {
                let error = try h.fail(operation, #"{"DeliveryStreamName":"orders"}"#)
                #expect(error.type == "InvalidArgumentException")
                #expect(error.message?.contains("pipeline files") == true)
            }
            let error = try h.fail("PutRecordsEverywhere", "{}")
            #expect(error.type == "UnknownOperationException")
            #expect(error.message?.contains("Firehose") == true)
            let tags = try h.ok("ListTagsForDeliveryStream", #"{"DeliveryStreamName":"orders"}"#)
            #expect(tags["HasMoreTags"]?.bool == false)
        }
    }

    @Test func describeAndListReflectThePipelineFiles() throws {
        try FirehoseHarness.with { h in
            let description = try #require(try h.ok("DescribeDeliveryStream", #"{"DeliveryStreamName":"orders"}"#)["DeliveryStreamDescription"])
            #expect(description["DeliveryStreamName"]?.string == "orders")
            #expect(description["DeliveryStreamARN"]?.string == "arn:aws:firehose:us-east-1:000000000000:deliverystream/orders")
            #expect(description["DeliveryStreamStatus"]?.string == "ACTIVE")
            #expect(description["DeliveryStreamType"]?.string == "DirectPut")
            #expect(description["VersionId"]?.string == "1")
            #expect(description["HasMoreDestinations"]?.bool == false)
            let s3 = try #require(description["Destinations"]?[0]?["ExtendedS3DestinationDescription"])
            #expect(s3["BufferingHints"]?["SizeInMBs"]?.int == 1)
            #expect(s3["BufferingHints"]?["IntervalInSeconds"]?.int == 60)
            #expect(s3["CompressionFormat"]?.string == "GZIP")
            #expect(s3["FileExtension"]?.string == ".gz")
            let clicks = try #require(try h.ok("DescribeDeliveryStream", #"{"DeliveryStreamName":"clicks"}"#)["DeliveryStreamDescription"])
            #expect(clicks["DeliveryStreamType"]?.string == "KinesisStreamAsSource")
            #expect(clicks["Source"]?["KinesisStreamSourceDescription"]?["KinesisStreamARN"]?.string == "arn:aws:kinesis:us-east-1:000000000000:stream/clicks")
            #expect(clicks["Destinations"]?[0]?["ExtendedS3DestinationDescription"]?["CompressionFormat"]?.string == "UNCOMPRESSED")

            var list = try h.ok("ListDeliveryStreams", "{}")
            #expect(list["DeliveryStreamNames"] == .array([.string("clicks"), .string("orders")]))
            #expect(list["HasMoreDeliveryStreams"]?.bool == false)
            list = try h.ok("ListDeliveryStreams", #"{"Limit":1}"#)
            #expect(list["DeliveryStreamNames"] == .array([.string("clicks")]))
            #expect(list["HasMoreDeliveryStreams"]?.bool == true)
            list = try h.ok("ListDeliveryStreams", #"{"Limit":1,"ExclusiveStartDeliveryStreamName":"clicks"}"#)
            #expect(list["DeliveryStreamNames"] == .array([.string("orders")]))
            list = try h.ok("ListDeliveryStreams", #"{"DeliveryStreamType":"DirectPut"}"#)
            #expect(list["DeliveryStreamNames"] == .array([.string("orders")]))
            let error = try h.fail("ListDeliveryStreams", #"{"Limit":0}"#)
            #expect(error.type == "ValidationException")
        }
    }

    @Test func healthAndMetricsShowPipelines() throws {
        try FirehoseHarness.with { h in
            _ = try h.ok("PutRecordBatch", #"{"DeliveryStreamName":"orders","Records":[{"Data":"\#(base64("x\n"))"}]}"#)
            h.pipelines.runners.forEach { $0.step() }
            let health = h.router.handle(HTTPRequest(method: "GET", target: "/health", headers: HTTPHeaders(), body: []), requestID: "h")
            let node = try APIHarness.decode(health.body)
            #expect(node["status"]?.string == "ok")
            #expect(node["pipelines"]?.array?.count == 2)
            let metrics = h.router.handle(HTTPRequest(method: "GET", target: "/metrics", headers: HTTPHeaders(), body: []), requestID: "m")
            let text = String(decoding: metrics.body, as: UTF8.self)
            #expect(text.contains(#"sluice_pipeline_incoming_records_total{pipeline="orders"} 1"#))
            #expect(text.contains(#"sluice_pipeline_flushes_total{pipeline="orders",reason="size"} 0"#))
            #expect(text.contains(#"sluice_pipeline_healthy{pipeline="clicks"} 1"#))
            #expect(text.contains("sluice_pipeline_data_freshness_seconds"))
        }
    }
}
