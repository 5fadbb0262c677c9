import Foundation
import SluiceServer
import SluiceTestSupport
import Testing

/// JSON members of the wrong type are `SerializationException` with AWS's wording under a
/// capital `Message` (reference §1.5), checked before any model constraint.
@Suite struct RequestTypeTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var operation: String
        var body: String
        var message: String
        var testDescription: String { "\(operation) \(body)" }
    }

    static let cases: [Case] = [
        Case(
            operation: "CreateStream", body: #"{"StreamName":12,"ShardCount":1}"#,
            message: "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String"),
        Case(
            operation: "CreateStream", body: #"{"StreamName":true,"ShardCount":1}"#,
            message: "class java.lang.Boolean can not be converted to an String"),
        Case(
            operation: "CreateStream", body: #"{"StreamName":"s","ShardCount":"1"}"#,
            message: "class java.lang.String can not be converted to an Integer"),
        Case(
            operation: "CreateStream", body: #"{"StreamName":"s","ShardCount":false}"#,
            message: "class java.lang.Boolean can not be converted to an Integer"),
        Case(
            operation: "CreateStream", body: #"{"StreamName":["s"]}"#, message: "Start of list found where not expected"
        ),
        Case(
            operation: "CreateStream", body: #"{"StreamName":{"a":"s"}}"#,
            message: "Start of structure or map found where not expected."),
        Case(operation: "CreateStream", body: #"{"StreamName":"s","Tags":"k=v"}"#, message: "Expected map or null"),
        Case(
            operation: "CreateStream", body: #"{"StreamName":"s","Tags":["k"]}"#,
            message: "Start of list found where not expected"),
        Case(
            operation: "CreateStream", body: #"{"StreamName":"s","StreamModeDetails":"ON_DEMAND"}"#,
            message: "Expected null"),
        Case(operation: "PutRecords", body: #"{"StreamName":"s","Records":"x"}"#, message: "Expected list or null"),
        Case(
            operation: "PutRecords", body: #"{"StreamName":"s","Records":{"Data":"x"}}"#,
            message: "Start of structure or map found where not expected."),
        Case(operation: "PutRecords", body: #"{"StreamName":"s","Records":[1]}"#, message: "Expected null"),
        Case(
            operation: "PutRecord", body: #"{"StreamName":"s","PartitionKey":"k","Data":5}"#,
            message: "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to a Blob"),
        Case(
            operation: "PutRecord", body: #"{"StreamName":"s","PartitionKey":"k","Data":true}"#,
            message: "class java.lang.Boolean can not be converted to a Blob"),
        Case(
            operation: "PutRecord", body: #"{"StreamName":"s","PartitionKey":"k","Data":"abcde"}"#,
            message:
                "'abcde' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: 5"
        ),
        Case(
            operation: "PutRecord", body: #"{"StreamName":"s","PartitionKey":"k","Data":"ab=c"}"#,
            message: "'ab=c' can not be converted to a Blob: Invalid Base64 character: '='"),
        Case(
            operation: "PutRecord", body: #"{"StreamName":"s","PartitionKey":"k","Data":"ab!c"}"#,
            message: "'ab!c' can not be converted to a Blob: Invalid Base64 character: '!'"),
        Case(
            operation: "PutRecord", body: #"{"StreamName":"s","PartitionKey":"k","Data":"YR=="}"#,
            message: "'YR==' can not be converted to a Blob: Invalid last non-pad Base64 character dectected"),
        Case(
            operation: "PutRecords", body: #"{"StreamName":"s","Records":[{"PartitionKey":"k","Data":"a"}]}"#,
            message:
                "'a' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: 1"
        ),
        Case(
            operation: "GetShardIterator",
            body: #"{"StreamName":"s","ShardId":"0","ShardIteratorType":"AT_TIMESTAMP","Timestamp":"2020-01-01"}"#,
            message: "class java.lang.String can not be converted to milliseconds since epoch"),
        Case(
            operation: "DeleteStream", body: #"{"StreamName":"s","EnforceConsumerDeletion":1}"#,
            message: "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an Boolean"),
        Case(
            operation: "DeleteStream", body: #"{"StreamName":"s","EnforceConsumerDeletion":"maybe"}"#,
            message: "'MAYBE' can not be converted to an Boolean"),
        Case(
            operation: "ListShards", body: #"{"StreamName":"s","ShardFilter":{"Type":7}}"#,
            message: "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String"),
        Case(
            operation: "RemoveTagsFromStream", body: #"{"StreamName":"s","TagKeys":[true]}"#,
            message: "class java.lang.Boolean can not be converted to an String"),
    ]

    @Test(arguments: cases)
    func wrongJSONTypesAreSerializationExceptions(_ test: Case) throws {
        try APIHarness.with { api in
            let error = try api.fail(test.operation, test.body)
            #expect(error.status == 400)
            #expect(error.type == "SerializationException")
            #expect(error.messageKey == "Message")
            #expect(error.message == test.message)
        }
    }

    @Test func typeErrorsComeBeforeValidationErrors() throws {
        try APIHarness.with { api in
            // StreamName breaks the pattern, ShardCount has the wrong type: the type error wins.
            let error = try api.fail("CreateStream", #"{"StreamName":"bad name!","ShardCount":"2"}"#)
            #expect(error.type == "SerializationException")
        }
    }

    @Test func integersAreFlooredAndClampedBeforeRangeChecks() throws {
        try APIHarness.with { api in
            let error = try api.fail("ListStreams", #"{"Limit":100000000000}"#)
            #expect(error.type == "ValidationException")
            #expect(
                error.message
                    == "1 validation error detected: Value '2147483647' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000"
            )
            try api.ok("CreateStream", #"{"StreamName":"floored","ShardCount":2.9}"#)
            let summary = try api.ok("DescribeStreamSummary", #"{"StreamName":"floored"}"#)
            #expect(summary["StreamDescriptionSummary"]?["OpenShardCount"] == .number("2"))
        }
    }

    @Test func oversizedBase64IsNotEchoedInFull() throws {
        try APIHarness.with { api in
            let data = String(repeating: "A", count: 10_001)
            let error = try api.fail("PutRecord", #"{"StreamName":"s","PartitionKey":"k","Data":"\#(data)"}"#)
            #expect(error.type == "SerializationException")
            #expect((error.message?.count ?? 0) < 400)
            #expect(
                error.message?.hasSuffix("Base64 encoded length is expected a multiple of 4 bytes but found: 10001")
                    == true)
        }
    }

    @Test func escapedSlashesInBase64AreDecoded() throws {
        try APIHarness.with { api in
            try api.createStream("escaped", shards: 1)
            // "???" is Pz8/ in base64; some encoders write the slash as \/.
            try api.ok("PutRecord", #"{"StreamName":"escaped","PartitionKey":"k","Data":"Pz8\/"}"#)
            let iterator = try api.ok(
                "GetShardIterator",
                #"{"StreamName":"escaped","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"}"#)
            let records = try api.ok("GetRecords", #"{"ShardIterator":"\#(iterator["ShardIterator"]?.string ?? "")"}"#)
            #expect(records["Records"]?[0]?["Data"] == .string("Pz8/"))
        }
    }
}
