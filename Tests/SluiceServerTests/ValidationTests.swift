import Foundation
import SluiceServer
import SluiceTestSupport
import Testing

/// Model constraints boto3 does not check (max lengths, patterns, enums, ranges, required
/// members) come back as AWS's Coral `ValidationException` (reference §4).
@Suite struct ValidationTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var operation: String
        var body: String
        var message: String
        var testDescription: String { "\(operation) \(body.prefix(80))" }
    }

    static let longName = String(repeating: "a", count: 129)

    static let cases: [Case] = [
        Case(
            operation: "CreateStream", body: #"{"StreamName":"\#(longName)","ShardCount":1}"#,
            message:
                "1 validation error detected: Value '\(longName)' at 'streamName' failed to satisfy constraint: Member must have length less than or equal to 128"
        ),
        Case(
            operation: "CreateStream", body: #"{"StreamName":"a b","ShardCount":1}"#,
            message:
                "1 validation error detected: Value 'a b' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        ),
        Case(
            operation: "CreateStream", body: #"{"ShardCount":0}"#,
            message:
                "2 validation errors detected: Value '0' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1; Value null at 'streamName' failed to satisfy constraint: Member must not be null"
        ),
        Case(
            operation: "CreateStream", body: #"{"StreamName":"s","StreamModeDetails":{"StreamMode":"SERVERLESS"}}"#,
            message:
                "1 validation error detected: Value 'SERVERLESS' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]"
        ),
        Case(
            operation: "CreateStream", body: #"{"StreamName":"s","StreamModeDetails":{}}"#,
            message:
                "1 validation error detected: Value null at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must not be null"
        ),
        Case(
            operation: "CreateStream", body: #"{"StreamName":"s","MaxRecordSizeInKiB":20000}"#,
            message:
                "1 validation error detected: Value '20000' at 'maxRecordSizeInKiB' failed to satisfy constraint: Member must have value less than or equal to 10240"
        ),
        Case(
            operation: "CreateStream", body: #"{"StreamName":"s","Tags":{}}"#,
            message:
                "1 validation error detected: Value '{}' at 'tags' failed to satisfy constraint: Member must have length greater than or equal to 1"
        ),
        Case(
            operation: "UpdateShardCount", body: #"{"StreamName":"s","TargetShardCount":2,"ScalingType":"RANDOM"}"#,
            message:
                "1 validation error detected: Value 'RANDOM' at 'scalingType' failed to satisfy constraint: Member must satisfy enum value set: [UNIFORM_SCALING]"
        ),
        Case(
            operation: "UpdateShardCount", body: #"{"StreamName":"s"}"#,
            message:
                "2 validation errors detected: Value null at 'scalingType' failed to satisfy constraint: Member must not be null; Value null at 'targetShardCount' failed to satisfy constraint: Member must not be null"
        ),
        Case(
            operation: "GetShardIterator",
            body: #"{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"OLDEST"}"#,
            message:
                "1 validation error detected: Value 'OLDEST' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]"
        ),
        Case(
            operation: "GetShardIterator",
            body:
                #"{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"AT_SEQUENCE_NUMBER","StartingSequenceNumber":"012"}"#,
            message:
                "1 validation error detected: Value '012' at 'startingSequenceNumber' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})"
        ),
        Case(
            operation: "DescribeStream", body: #"{"StreamName":"s","Limit":10001}"#,
            message:
                "1 validation error detected: Value '10001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000"
        ),
        Case(
            operation: "ListShards", body: #"{"StreamName":"s","MaxResults":0}"#,
            message:
                "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"
        ),
        Case(
            operation: "ListShards", body: #"{"StreamName":"s","ShardFilter":{"Type":"AT_SOMETIME"}}"#,
            message:
                "1 validation error detected: Value 'AT_SOMETIME' at 'shardFilter.type' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, FROM_TIMESTAMP]"
        ),
        Case(
            operation: "PutRecords", body: #"{"StreamName":"s","Records":[{"Data":"YQ=="},{"PartitionKey":"k"}]}"#,
            message:
                "2 validation errors detected: Value null at 'records.1.member.partitionKey' failed to satisfy constraint: Member must not be null; Value null at 'records.2.member.data' failed to satisfy constraint: Member must not be null"
        ),
        Case(
            operation: "PutRecord",
            body: #"{"StreamName":"s","PartitionKey":"k","Data":"","SequenceNumberForOrdering":"x"}"#,
            message:
                "1 validation error detected: Value 'x' at 'sequenceNumberForOrdering' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})"
        ),
        Case(
            operation: "DescribeStreamSummary", body: #"{"StreamARN":"arn:aws:kinesis:us-east-1:123:stream/s"}"#,
            message:
                "1 validation error detected: Value 'arn:aws:kinesis:us-east-1:123:stream/s' at 'streamARN' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+"
        ),
        Case(
            operation: "SplitShard",
            body: #"{"StreamName":"s","ShardToSplit":"shardId-000000000000","NewStartingHashKey":"-1"}"#,
            message:
                "1 validation error detected: Value '-1' at 'newStartingHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})"
        ),
        Case(
            operation: "MergeShards", body: #"{"StreamName":"s","ShardToMerge":"shard 0"}"#,
            message:
                "2 validation errors detected: Value null at 'adjacentShardToMerge' failed to satisfy constraint: Member must not be null; Value 'shard 0' at 'shardToMerge' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        ),
        Case(
            operation: "ListTagsForStream", body: #"{"StreamName":"s","Limit":51}"#,
            message:
                "1 validation error detected: Value '51' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 50"
        ),
        Case(
            operation: "GetRecords", body: #"{}"#,
            message:
                "1 validation error detected: Value null at 'shardIterator' failed to satisfy constraint: Member must not be null"
        ),
    ]

    @Test(arguments: cases)
    func modelConstraintsAreValidationExceptions(_ test: Case) throws {
        try APIHarness.with { api in
            let error = try api.fail(test.operation, test.body)
            #expect(error.status == 400)
            #expect(error.type == "ValidationException")
            #expect(error.messageKey == "message")
            #expect(error.message == test.message)
        }
    }

    @Test func oversizedRecordsAreRefusedWithAWSsMessage() throws {
        try APIHarness.with { api in
            try api.createStream("big", shards: 1)
            let data = Data(repeating: 7, count: 1_048_577).base64EncodedString()
            let single = try api.fail("PutRecord", #"{"StreamName":"big","PartitionKey":"k","Data":"\#(data)"}"#)
            #expect(single.type == "ValidationException")
            #expect(
                single.message
                    == "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]' at 'data' failed to satisfy constraint: Member must have length less than or equal to 1048576"
            )
            let batch = try api.fail(
                "PutRecords",
                #"{"StreamName":"big","Records":[{"PartitionKey":"k","Data":"YQ=="},{"PartitionKey":"k","Data":"\#(data)"}]}"#
            )
            #expect(batch.message?.contains("at 'records.2.member.data'") == true)
        }
    }

    @Test func putRecordsNeedsOneToFiveHundredEntries() throws {
        try APIHarness.with { api in
            try api.createStream("counted", shards: 1)
            let empty = try api.fail("PutRecords", #"{"StreamName":"counted","Records":[]}"#)
            #expect(empty.type == "ValidationException")
            #expect(empty.message?.contains("Member must have length greater than or equal to 1") == true)
            let entries = Array(repeating: #"{"PartitionKey":"k","Data":"YQ=="}"#, count: 501).joined(separator: ",")
            let tooMany = try api.fail("PutRecords", #"{"StreamName":"counted","Records":[\#(entries)]}"#)
            #expect(tooMany.type == "ValidationException")
            #expect(tooMany.message?.contains("Member must have length less than or equal to 500") == true)
        }
    }
}
