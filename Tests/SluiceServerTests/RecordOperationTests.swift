import Foundation
import SluiceServer
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// PutRecord, PutRecords (including partial failure), GetShardIterator and GetRecords.
@Suite struct RecordOperationTests {
    private static func iterator(
        _ api: APIHarness, _ stream: String, shard: String = "shardId-000000000000", type: String = "TRIM_HORIZON",
        extra: String = ""
    ) throws -> String {
        let body = try api.ok(
            "GetShardIterator",
            #"{"StreamName":"\#(stream)","ShardId":"\#(shard)","ShardIteratorType":"\#(type)"\#(extra)}"#)
        #expect(body.keys == ["ShardIterator"])
        return try #require(body["ShardIterator"]?.string)
    }

    @Test func putRecordReturnsShardSequenceNumberAndEncryptionType() throws {
        try APIHarness.with { api in
            try api.createStream("put", shards: 3)
            // Routing vectors of reference §3.1: "a" to shard 0, "b" to shard 1, "e" to shard 2.
            for (key, shard) in [("a", 0), ("b", 1), ("e", 2)] {
                let body = try api.ok(
                    "PutRecord", #"{"StreamName":"put","PartitionKey":"\#(key)","Data":"\#(base64("v"))"}"#)
                #expect(body.keys == ["ShardId", "SequenceNumber", "EncryptionType"])
                #expect(body["ShardId"] == .string(ShardID.format(shard)))
                #expect(body["EncryptionType"] == .string("NONE"))
                let sequence = try #require(body["SequenceNumber"]?.string)
                #expect(sequence.count >= 1 && sequence.allSatisfy(\.isNumber))
            }
            let explicit = try api.ok(
                "PutRecord",
                #"{"StreamName":"put","PartitionKey":"a","Data":"","ExplicitHashKey":"340282366920938463463374607431768211455","SequenceNumberForOrdering":"1"}"#
            )
            #expect(explicit["ShardId"] == .string("shardId-000000000002"))
            let outOfRange = try api.fail(
                "PutRecord",
                #"{"StreamName":"put","PartitionKey":"a","Data":"","ExplicitHashKey":"340282366920938463463374607431768211456"}"#
            )
            #expect(outOfRange.type == "InvalidArgumentException")
            #expect(outOfRange.message?.hasPrefix("Invalid ExplicitHashKey.") == true)
            let unknown = try api.fail("PutRecord", #"{"StreamName":"nope","PartitionKey":"a","Data":""}"#)
            #expect(unknown.type == "ResourceNotFoundException")
        }
    }

    @Test func putRecordsAnswersInRequestOrderWithFailedRecordCountZero() throws {
        try APIHarness.with { api in
            try api.createStream("batch", shards: 3)
            let keys = ["a", "b", "e", "f", "hello", "a"]
            let records = keys.enumerated().map { #"{"PartitionKey":"\#($1)","Data":"\#(base64("record-\($0)"))"}"# }
            let body = try api.ok(
                "PutRecords", #"{"StreamName":"batch","Records":[\#(records.joined(separator: ","))]}"#)
            #expect(body.keys == ["FailedRecordCount", "Records", "EncryptionType"])
            #expect(body["FailedRecordCount"] == .number("0"))
            #expect(body["EncryptionType"] == .string("NONE"))
            let entries = try #require(body["Records"]?.array)
            #expect(entries.map { $0["ShardId"]?.string } == [0, 1, 2, 1, 1, 0].map(ShardID.format))
            for entry in entries { #expect(entry.keys == ["SequenceNumber", "ShardId"]) }
            // Within a shard, numbers increase in request order (compare as big integers).
            let shard1 = [1, 3, 4].compactMap { entries[$0]["SequenceNumber"]?.string }.compactMap { UInt128($0) }
            #expect(shard1 == shard1.sorted() && Set(shard1).count == 3)
            let read = try api.ok(
                "GetRecords", #"{"ShardIterator":"\#(try Self.iterator(api, "batch", shard: "shardId-000000000001"))"}"#
            )
            #expect(
                read["Records"]?.array?.compactMap { $0["Data"]?.string } == [1, 3, 4].map { base64("record-\($0)") })
        }
    }

    @Test func putRecordsPartialFailureMarksExactlyTheFailedEntries() throws {
        let plan = FaultPlan()
        try APIHarness.with(configure: { $0.fileSystem = FileSystem(faults: plan) }) { api in
            try api.createStream("partial", shards: 2)
            // The next frame write under shard 1 fails with ENOSPC; shard 0 is unaffected.
            plan.inject(.write, pathContains: "shardId-000000000001", fault: Fault(errno: Errno.noSpace))
            // "a" routes to shard 0 and "b" to shard 1 of a 2-shard stream.
            let keys = ["a", "b", "a", "b", "a"]
            let records = keys.map { #"{"PartitionKey":"\#($0)","Data":"\#(base64("payload-" + $0))"}"# }
            let response = api.router.handle(
                APIHarness.request(
                    "PutRecords", #"{"StreamName":"partial","Records":[\#(records.joined(separator: ","))]}"#),
                requestID: "partial-request")
            #expect(response.status == 200)
            let body = try APIHarness.decode(response.body)
            #expect(body["FailedRecordCount"] == .number("2"))
            let entries = try #require(body["Records"]?.array)
            #expect(entries.count == 5)
            for (position, key) in keys.enumerated() {
                let entry = entries[position]
                if key == "b" {
                    #expect(
                        entry
                            == .object([
                                "ErrorCode": .string("InternalFailure"),
                                "ErrorMessage": .string("Internal service failure."),
                            ]))
                } else {
                    #expect(entry.keys == ["SequenceNumber", "ShardId"])
                    #expect(entry["ShardId"] == .string("shardId-000000000000"))
                }
            }
            // The failure is logged in full with the request id; the client never sees paths.
            let logged = api.logs.events.filter { $0.level == .error && $0.metadata["requestID"] == "partial-request" }
            #expect(logged.count == 1)
            #expect(logged.first?.metadata["error"]?.contains("ENOSPC") == true)
            #expect(!String(decoding: response.body, as: UTF8.self).contains("/"))

            let metrics = api.router.metrics.prometheusText()
            #expect(
                metrics.contains(#"sluice_incoming_records_total{stream="partial",shard="shardId-000000000000"} 3"#))
            #expect(!metrics.contains(#"sluice_incoming_records_total{stream="partial",shard="shardId-000000000001"}"#))
        }
    }

    @Test func putRecordStorageFailureIsAnInternalFailureWithoutPaths() throws {
        let plan = FaultPlan()
        try APIHarness.with(configure: { $0.fileSystem = FileSystem(faults: plan) }) { api in
            try api.createStream("broken", shards: 1)
            plan.inject(.write, pathContains: "shardId-000000000000", fault: Fault(errno: Errno.io))
            let response = api.call("PutRecord", #"{"StreamName":"broken","PartitionKey":"k","Data":"YQ=="}"#)
            #expect(response.status == 500)
            let error = try APIHarness.error(response)
            #expect(error.type == "InternalFailureException")
            #expect(error.message == "Internal service failure.")
            #expect(error.errorTypeHeader == "InternalFailureException")
            #expect(api.logs.events.contains { $0.level == .error && ($0.metadata["error"] ?? "").contains("EIO") })
        }
    }

    @Test func getRecordsHasAWSsShape() throws {
        try APIHarness.with { api in
            try api.createStream("read", shards: 1)
            try api.ok("PutRecord", #"{"StreamName":"read","PartitionKey":"pk-1","Data":"\#(base64("hello"))"}"#)
            api.clock.advance(milliseconds: 749)
            try api.ok("PutRecord", #"{"StreamName":"read","PartitionKey":"pk-2","Data":""}"#)
            let response = api.call("GetRecords", #"{"ShardIterator":"\#(try Self.iterator(api, "read"))","Limit":10}"#)
            let text = String(decoding: response.body, as: UTF8.self)
            #expect(!text.contains("E+") && !text.contains("e+"), "timestamps are plain decimals")
            let body = try APIHarness.decode(response.body)
            #expect(body.keys == ["Records", "NextShardIterator", "MillisBehindLatest"])
            let records = try #require(body["Records"]?.array)
            #expect(records.count == 2)
            #expect(records[0].keys == ["SequenceNumber", "ApproximateArrivalTimestamp", "Data", "PartitionKey"])
            #expect(records[0]["ApproximateArrivalTimestamp"] == .number("1767225600.000"))
            #expect(records[1]["ApproximateArrivalTimestamp"] == .number("1767225600.749"))
            #expect(records[0]["Data"] == .string(base64("hello")))
            #expect(records[0]["PartitionKey"] == .string("pk-1"))
            #expect(records[1]["Data"] == .string(""))
            #expect(body["MillisBehindLatest"] == .number("0"))
            let next = try #require(body["NextShardIterator"]?.string)
            let empty = try api.ok("GetRecords", #"{"ShardIterator":"\#(next)"}"#)
            #expect(empty["Records"] == .array([]))
            #expect(empty["NextShardIterator"]?.string != nil, "an open shard always returns a next iterator")
        }
    }

    @Test func millisBehindLatestAndTheIteratorAgeGauge() throws {
        try APIHarness.with { api in
            try api.createStream("lag", shards: 1)
            for index in 0..<3 {
                try api.ok("PutRecord", #"{"StreamName":"lag","PartitionKey":"k","Data":"\#(base64("r\(index)"))"}"#)
                api.clock.advance(seconds: 10)
            }
            let first = try api.ok("GetRecords", #"{"ShardIterator":"\#(try Self.iterator(api, "lag"))","Limit":1}"#)
            #expect(first["MillisBehindLatest"] == .number("20000"))
            let metrics = api.router.metrics.prometheusText()
            #expect(
                metrics.contains(#"sluice_iterator_age_milliseconds{stream="lag",shard="shardId-000000000000"} 20000"#))
        }
    }

    @Test func aClosedShardEndsWithoutNextIteratorAndWithChildShards() throws {
        try APIHarness.with { api in
            try api.createStream("parent", shards: 1)
            try api.ok("PutRecord", #"{"StreamName":"parent","PartitionKey":"k","Data":"YQ=="}"#)
            let iterator = try Self.iterator(api, "parent")
            try api.ok(
                "SplitShard",
                #"{"StreamName":"parent","ShardToSplit":"shardId-000000000000","NewStartingHashKey":"170141183460469231731687303715884105728"}"#
            )
            var next: String? = iterator
            var last = Node.null
            var rounds = 0
            while let current = next, rounds < 10 {
                last = try api.ok("GetRecords", #"{"ShardIterator":"\#(current)"}"#)
                next = last["NextShardIterator"]?.string
                rounds += 1
            }
            #expect(next == nil)
            #expect(last.keys == ["Records", "MillisBehindLatest", "ChildShards"])
            let children = try #require(last["ChildShards"]?.array)
            #expect(children.map { $0["ShardId"]?.string } == ["shardId-000000000001", "shardId-000000000002"])
            #expect(children[0].keys == ["ShardId", "ParentShards", "HashKeyRange"])
            #expect(children[0]["ParentShards"] == .array([.string("shardId-000000000000")]))
            #expect(
                children[1]["HashKeyRange"]?["StartingHashKey"] == .string("170141183460469231731687303715884105728"))
        }
    }

    @Test func iteratorTypesAndTimestamps() throws {
        try APIHarness.with { api in
            try api.createStream("types", shards: 1)
            let first = try api.ok(
                "PutRecord", #"{"StreamName":"types","PartitionKey":"k","Data":"\#(base64("one"))"}"#)
            api.clock.advance(milliseconds: 2500)
            let second = try api.ok(
                "PutRecord", #"{"StreamName":"types","PartitionKey":"k","Data":"\#(base64("two"))"}"#)
            api.clock.advance(seconds: 1)
            let firstSequence = try #require(first["SequenceNumber"]?.string)
            let secondSequence = try #require(second["SequenceNumber"]?.string)
            func data(_ iterator: String) throws -> [String] {
                try api.ok("GetRecords", #"{"ShardIterator":"\#(iterator)"}"#)["Records"]?.array?.compactMap {
                    $0["Data"]?.string
                } ?? []
            }
            #expect(try data(Self.iterator(api, "types", type: "LATEST")) == [])
            #expect(
                try data(
                    Self.iterator(
                        api, "types", type: "AT_SEQUENCE_NUMBER",
                        extra: #","StartingSequenceNumber":"\#(firstSequence)""#)) == [base64("one"), base64("two")])
            #expect(
                try data(
                    Self.iterator(
                        api, "types", type: "AFTER_SEQUENCE_NUMBER",
                        extra: #","StartingSequenceNumber":"\#(firstSequence)""#)) == [base64("two")])
            // Epoch seconds as boto3 sends them (integers), as other SDKs do (fractions), and
            // milliseconds as the Java SDK v1 sends them without CBOR: all the same instants.
            #expect(
                try data(Self.iterator(api, "types", type: "AT_TIMESTAMP", extra: #","Timestamp":1767225601"#)) == [
                    base64("two")
                ])
            #expect(
                try data(Self.iterator(api, "types", type: "AT_TIMESTAMP", extra: #","Timestamp":1767225602.500"#)) == [
                    base64("two")
                ])
            #expect(
                try data(Self.iterator(api, "types", type: "AT_TIMESTAMP", extra: #","Timestamp":1767225602.501"#))
                    == [])
            #expect(
                try data(Self.iterator(api, "types", type: "AT_TIMESTAMP", extra: #","Timestamp":1767225600000"#)) == [
                    base64("one"), base64("two"),
                ])
            _ = secondSequence

            let missing = try api.fail(
                "GetShardIterator",
                #"{"StreamName":"types","ShardId":"shardId-000000000000","ShardIteratorType":"AT_SEQUENCE_NUMBER"}"#)
            #expect(missing.type == "InvalidArgumentException")
            #expect(
                missing.message?.hasSuffix("Request specified AT_SEQUENCE_NUMBER and no StartingSequenceNumber.")
                    == true)
            let future = try api.fail(
                "GetShardIterator",
                #"{"StreamName":"types","ShardId":"0","ShardIteratorType":"AT_TIMESTAMP","Timestamp":1867225600}"#)
            #expect(
                future.message?.hasPrefix(
                    "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis.") == true)
            let noShard = try api.fail(
                "GetShardIterator",
                #"{"StreamName":"types","ShardId":"shardId-000000000007","ShardIteratorType":"LATEST"}"#)
            #expect(noShard.type == "ResourceNotFoundException")
            #expect(
                noShard.message
                    == "Shard shardId-000000000007 in stream types under account 000000000000 does not exist")
        }
    }

    @Test func badAndExpiredIterators() throws {
        try APIHarness.with { api in
            try api.createStream("iterators", shards: 1)
            let iterator = try Self.iterator(api, "iterators")
            let garbage = try api.fail("GetRecords", #"{"ShardIterator":"garbage"}"#)
            #expect(garbage.type == "InvalidArgumentException")
            #expect(garbage.message == "Invalid ShardIterator.")
            // AWS accepts an iterator wrapped in literal quotes.
            try api.ok("GetRecords", #"{"ShardIterator":"\"\#(iterator)\""}"#)
            api.clock.advance(seconds: 301)
            let expired = try api.fail("GetRecords", #"{"ShardIterator":"\#(iterator)"}"#)
            #expect(expired.type == "ExpiredIteratorException")
            #expect(expired.message?.hasPrefix("Iterator expired.") == true)
        }
    }

    @Test func metricsCountRequestsLatencyAndIncomingBytes() throws {
        try APIHarness.with { api in
            try api.createStream("metered", shards: 1)
            try api.ok(
                "PutRecords",
                #"{"StreamName":"metered","Records":[{"PartitionKey":"ab","Data":"\#(base64("12345"))"},{"PartitionKey":"c","Data":""}]}"#
            )
            _ = try api.fail("DescribeStream", #"{"StreamName":"missing"}"#)
            let response = api.send(HTTPRequest(method: "GET", target: "/metrics", headers: HTTPHeaders(), body: []))
            #expect(response.status == 200)
            #expect(response.headers["Content-Type"] == "text/plain; version=0.0.4")
            let text = String(decoding: response.body, as: UTF8.self)
            let expectedLines = [
                "# TYPE sluice_requests_total counter",
                #"sluice_requests_total{operation="PutRecords",status="200"} 1"#,
                #"sluice_requests_total{operation="CreateStream",status="200"} 1"#,
                #"sluice_requests_total{operation="DescribeStream",status="400"} 1"#,
                "# TYPE sluice_request_duration_seconds histogram",
                #"sluice_request_duration_seconds_bucket{operation="PutRecords",le="+Inf"} 1"#,
                #"sluice_request_duration_seconds_count{operation="PutRecords"} 1"#,
                "# TYPE sluice_incoming_records_total counter",
                #"sluice_incoming_records_total{stream="metered",shard="shardId-000000000000"} 2"#,
                "# TYPE sluice_incoming_bytes_total counter",
                #"sluice_incoming_bytes_total{stream="metered",shard="shardId-000000000000"} 8"#,
                "# TYPE sluice_iterator_age_milliseconds gauge",
            ]
            let lines = Set(text.split(separator: "\n").map(String.init))
            for line in expectedLines { #expect(lines.contains(line), "missing: \(line)") }
            for bound in [
                "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
            ] {
                #expect(
                    text.contains(#"sluice_request_duration_seconds_bucket{operation="PutRecords",le="\#(bound)"}"#),
                    "bucket \(bound)")
            }
            #expect(text.contains("# HELP sluice_requests_total"))
            #expect(text.contains(#"sluice_request_duration_seconds_sum{operation="PutRecords"}"#))
            // Deleting the stream drops its per-shard series.
            try api.ok("DeleteStream", #"{"StreamName":"metered"}"#)
            #expect(!api.router.metrics.prometheusText().contains(#"stream="metered""#))
        }
    }
}
