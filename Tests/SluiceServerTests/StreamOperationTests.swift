import Foundation
import SluiceServer
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// CreateStream, DeleteStream, DescribeStream, DescribeStreamSummary, ListStreams,
/// DescribeLimits, and addressing streams by ARN.
@Suite struct StreamOperationTests {
    /// 2026-01-01T00:00:00Z, the manual clock's start, as AWS writes timestamps.
    static let created = Node.number("1767225600.000")

    @Test func createStreamReturnsAnEmptyBodyAndDefaultsToFourShards() throws {
        try APIHarness.with { api in
            let response = api.call("CreateStream", #"{"StreamName":"defaults"}"#)
            #expect(response.status == 200)
            #expect(response.body.isEmpty)
            #expect(response.headers["Content-Type"] == "application/x-amz-json-1.1")
            let summary = try api.ok("DescribeStreamSummary", #"{"StreamName":"defaults"}"#)
            #expect(summary["StreamDescriptionSummary"]?["OpenShardCount"] == .number("4"))
            try api.ok("CreateStream", #"{"StreamName":"on-demand","StreamModeDetails":{"StreamMode":"ON_DEMAND"}}"#)
            let onDemand = try api.ok("DescribeStreamSummary", #"{"StreamName":"on-demand"}"#)
            #expect(onDemand["StreamDescriptionSummary"]?["OpenShardCount"] == .number("4"))
            let duplicate = try api.fail("CreateStream", #"{"StreamName":"defaults","ShardCount":1}"#)
            #expect(duplicate.type == "ResourceInUseException")
            #expect(duplicate.message == "Stream defaults under account 000000000000 already exists.")
        }
    }

    @Test func createStreamWithTagsStoresThem() throws {
        try APIHarness.with { api in
            try api.ok("CreateStream", #"{"StreamName":"tagged","ShardCount":1,"Tags":{"team":"data","env":"test"}}"#)
            let tags = try api.ok("ListTagsForStream", #"{"StreamName":"tagged"}"#)
            #expect(
                tags["Tags"]
                    == .array([
                        .object(["Key": .string("env"), "Value": .string("test")]),
                        .object(["Key": .string("team"), "Value": .string("data")]),
                    ]))
        }
    }

    @Test func describeStreamHasAWSsShape() throws {
        try APIHarness.with { api in
            try api.createStream("shape", shards: 2)
            let body = try api.ok("DescribeStream", #"{"StreamName":"shape"}"#)
            #expect(body.keys == ["StreamDescription"])
            let description = try #require(body["StreamDescription"])
            #expect(
                description.keys == [
                    "StreamName", "StreamARN", "StreamStatus", "StreamModeDetails", "Shards", "HasMoreShards",
                    "RetentionPeriodHours", "StreamCreationTimestamp", "EnhancedMonitoring", "EncryptionType",
                ])
            #expect(description["StreamName"] == .string("shape"))
            #expect(description["StreamARN"] == .string("arn:aws:kinesis:us-east-1:000000000000:stream/shape"))
            #expect(description["StreamStatus"] == .string("ACTIVE"))
            #expect(description["StreamModeDetails"] == .object(["StreamMode": .string("PROVISIONED")]))
            #expect(description["HasMoreShards"] == .bool(false))
            #expect(description["RetentionPeriodHours"] == .number("24"))
            #expect(description["StreamCreationTimestamp"] == Self.created)
            #expect(description["EnhancedMonitoring"] == .array([.object(["ShardLevelMetrics": .array([])])]))
            #expect(description["EncryptionType"] == .string("NONE"))
            let shards = try #require(description["Shards"]?.array)
            #expect(shards.count == 2)
            let first = try #require(shards.first)
            #expect(first.keys == ["ShardId", "HashKeyRange", "SequenceNumberRange"])
            #expect(first["ShardId"] == .string("shardId-000000000000"))
            #expect(
                first["HashKeyRange"]
                    == .object([
                        "StartingHashKey": .string("0"),
                        "EndingHashKey": .string("170141183460469231731687303715884105727"),
                    ]))
            #expect(first["SequenceNumberRange"]?.keys == ["StartingSequenceNumber"])
            let starting = first["SequenceNumberRange"]?["StartingSequenceNumber"]?.string ?? ""
            #expect(!starting.isEmpty && starting.allSatisfy(\.isNumber))
            #expect(shards[1]["HashKeyRange"]?["EndingHashKey"] == .string("340282366920938463463374607431768211455"))
        }
    }

    @Test func describeStreamPagesWithLimitAndExclusiveStartShardId() throws {
        try APIHarness.with { api in
            try api.createStream("paged", shards: 5)
            let first = try api.ok("DescribeStream", #"{"StreamName":"paged","Limit":2}"#)
            #expect(
                first["StreamDescription"]?["Shards"]?.array?.compactMap { $0["ShardId"]?.string } == [
                    "shardId-000000000000", "shardId-000000000001",
                ])
            #expect(first["StreamDescription"]?["HasMoreShards"] == .bool(true))
            let rest = try api.ok(
                "DescribeStream", #"{"StreamName":"paged","Limit":6,"ExclusiveStartShardId":"shardId-000000000001"}"#)
            #expect(rest["StreamDescription"]?["Shards"]?.array?.count == 3)
            #expect(rest["StreamDescription"]?["HasMoreShards"] == .bool(false))
            // AWS normalises shard ids: shardId-3 is shardId-000000000003.
            let short = try api.ok("DescribeStream", #"{"StreamName":"paged","ExclusiveStartShardId":"shardId-3"}"#)
            #expect(
                short["StreamDescription"]?["Shards"]?.array?.compactMap { $0["ShardId"]?.string } == [
                    "shardId-000000000004"
                ])
        }
    }

    @Test func describeStreamCapsTheLimitAtOneHundred() throws {
        try APIHarness.with { api in
            try api.createStream("wide", shards: 120)
            let body = try api.ok("DescribeStream", #"{"StreamName":"wide","Limit":10000}"#)
            #expect(body["StreamDescription"]?["Shards"]?.array?.count == 100)
            #expect(body["StreamDescription"]?["HasMoreShards"] == .bool(true))
        }
    }

    @Test func describeStreamSummaryHasAWSsShape() throws {
        try APIHarness.with { api in
            try api.createStream("summary", shards: 3)
            let body = try api.ok("DescribeStreamSummary", #"{"StreamName":"summary"}"#)
            let summary = try #require(body["StreamDescriptionSummary"])
            #expect(
                summary.keys == [
                    "StreamName", "StreamARN", "StreamStatus", "StreamModeDetails", "RetentionPeriodHours",
                    "StreamCreationTimestamp", "EnhancedMonitoring", "EncryptionType", "OpenShardCount",
                    "ConsumerCount",
                    "MaxRecordSizeInKiB",
                ])
            #expect(summary["OpenShardCount"] == .number("3"))
            #expect(summary["ConsumerCount"] == .number("0"))
            #expect(summary["MaxRecordSizeInKiB"] == .number("1024"))
            #expect(summary["StreamCreationTimestamp"] == Self.created)
        }
    }

    @Test func creatingStreamsReportCreatingWithNoShards() throws {
        try APIHarness.with(configure: { $0.creationDelayMilliseconds = 500 }) { api in
            try api.createStream("slow", shards: 2)
            let creating = try api.ok("DescribeStream", #"{"StreamName":"slow"}"#)
            #expect(creating["StreamDescription"]?["StreamStatus"] == .string("CREATING"))
            #expect(creating["StreamDescription"]?["Shards"] == .array([]))
            let put = try api.fail("PutRecord", #"{"StreamName":"slow","PartitionKey":"k","Data":"YQ=="}"#)
            #expect(put.type == "ResourceNotFoundException")
            api.clock.advance(milliseconds: 500)
            let active = try api.ok("DescribeStream", #"{"StreamName":"slow"}"#)
            #expect(active["StreamDescription"]?["StreamStatus"] == .string("ACTIVE"))
        }
    }

    @Test func deleteStreamRemovesIt() throws {
        try APIHarness.with { api in
            try api.createStream("doomed", shards: 1)
            let response = api.call("DeleteStream", #"{"StreamName":"doomed","EnforceConsumerDeletion":true}"#)
            #expect(response.status == 200)
            #expect(response.body.isEmpty)
            let gone = try api.fail("DescribeStream", #"{"StreamName":"doomed"}"#)
            #expect(gone.type == "ResourceNotFoundException")
            #expect(gone.message == "Stream doomed under account 000000000000 not found.")
            #expect(try api.fail("DeleteStream", #"{"StreamName":"doomed"}"#).type == "ResourceNotFoundException")
        }
    }

    @Test func listStreamsPagesWithNextTokenAndExclusiveStartStreamName() throws {
        try APIHarness.with { api in
            for name in ["e", "a", "d", "c", "b"] { try api.createStream(name, shards: 1) }
            let first = try api.ok("ListStreams", #"{"Limit":2}"#)
            #expect(first.keys == ["StreamNames", "HasMoreStreams", "NextToken", "StreamSummaries"])
            #expect(first["StreamNames"] == .array([.string("a"), .string("b")]))
            #expect(first["HasMoreStreams"] == .bool(true))
            let summary = try #require(first["StreamSummaries"]?[0])
            #expect(
                summary
                    == .object([
                        "StreamName": .string("a"), "StreamARN": .string(api.arn("a")),
                        "StreamStatus": .string("ACTIVE"),
                        "StreamModeDetails": .object(["StreamMode": .string("PROVISIONED")]),
                        "StreamCreationTimestamp": Self.created,
                    ]))
            let token = try #require(first["NextToken"]?.string)
            let second = try api.ok("ListStreams", #"{"Limit":2,"NextToken":"\#(token)"}"#)
            #expect(second["StreamNames"] == .array([.string("c"), .string("d")]))
            let secondToken = try #require(second["NextToken"]?.string)
            let last = try api.ok("ListStreams", #"{"NextToken":"\#(secondToken)"}"#)
            #expect(last["StreamNames"] == .array([.string("e")]))
            #expect(last["HasMoreStreams"] == .bool(false))
            #expect(last["NextToken"] == nil)

            let after = try api.ok("ListStreams", #"{"ExclusiveStartStreamName":"b","Limit":10}"#)
            #expect(after["StreamNames"] == .array([.string("c"), .string("d"), .string("e")]))
            let all = try api.ok("ListStreams", "{}")
            #expect(all["StreamNames"]?.array?.count == 5)
            #expect(all["HasMoreStreams"] == .bool(false))
        }
    }

    @Test func listStreamsTokensExpireAfterFiveMinutesAndMustBeOurs() throws {
        try APIHarness.with { api in
            for name in ["a", "b"] { try api.createStream(name, shards: 1) }
            let token = try #require(try api.ok("ListStreams", #"{"Limit":1}"#)["NextToken"]?.string)
            api.clock.advance(seconds: 301)
            let expired = try api.fail("ListStreams", #"{"NextToken":"\#(token)"}"#)
            #expect(expired.type == "ExpiredNextTokenException")
            let bogus = try api.fail("ListStreams", #"{"NextToken":"not-a-token"}"#)
            #expect(bogus.type == "InvalidArgumentException")
            #expect(bogus.message?.contains("not-a-token") == true)
        }
    }

    @Test func describeLimitsReportsShardLimitAndOpenShards() throws {
        try APIHarness.with(configure: { $0.shardLimit = 40 }) { api in
            try api.createStream("limits", shards: 3)
            let body = try api.ok("DescribeLimits", "{}")
            #expect(
                body
                    == .object([
                        "ShardLimit": .number("40"), "OpenShardCount": .number("3"),
                        "OnDemandStreamCount": .number("0"),
                        "OnDemandStreamCountLimit": .number("50"),
                    ]))
        }
    }

    @Test func streamARNWorksWhereverStreamNameDoes() throws {
        try APIHarness.with { api in
            try api.createStream("by-arn", shards: 2)
            let arn = api.arn("by-arn")
            let describe = try api.ok("DescribeStream", #"{"StreamARN":"\#(arn)"}"#)
            #expect(describe["StreamDescription"]?["StreamName"] == .string("by-arn"))
            try api.ok("DescribeStreamSummary", #"{"StreamARN":"\#(arn)","StreamName":"by-arn"}"#)
            let put = try api.ok("PutRecord", #"{"StreamARN":"\#(arn)","PartitionKey":"k","Data":"YQ=="}"#)
            #expect(put["ShardId"]?.string != nil)
            let batch = try api.ok(
                "PutRecords", #"{"StreamARN":"\#(arn)","Records":[{"PartitionKey":"k","Data":"YQ=="}]}"#)
            #expect(batch["FailedRecordCount"] == .number("0"))
            try api.ok("ListShards", #"{"StreamARN":"\#(arn)"}"#)
            try api.ok(
                "GetShardIterator",
                #"{"StreamARN":"\#(arn)","ShardId":"shardId-000000000000","ShardIteratorType":"LATEST"}"#)
            try api.ok("AddTagsToStream", #"{"StreamARN":"\#(arn)","Tags":{"k":"v"}}"#)
            try api.ok("ListTagsForStream", #"{"StreamARN":"\#(arn)"}"#)
            try api.ok("RemoveTagsFromStream", #"{"StreamARN":"\#(arn)","TagKeys":["k"]}"#)
            try api.ok("IncreaseStreamRetentionPeriod", #"{"StreamARN":"\#(arn)","RetentionPeriodHours":48}"#)
            try api.ok("DecreaseStreamRetentionPeriod", #"{"StreamARN":"\#(arn)","RetentionPeriodHours":24}"#)
            try api.ok(
                "SplitShard",
                #"{"StreamARN":"\#(arn)","ShardToSplit":"shardId-000000000000","NewStartingHashKey":"1000"}"#)
            try api.ok(
                "MergeShards",
                #"{"StreamARN":"\#(arn)","ShardToMerge":"shardId-000000000002","AdjacentShardToMerge":"shardId-000000000003"}"#
            )
            try api.ok(
                "UpdateShardCount", #"{"StreamARN":"\#(arn)","TargetShardCount":2,"ScalingType":"UNIFORM_SCALING"}"#)
            // Another account or region in the ARN still names the stream (one account, one region).
            try api.ok(
                "DescribeStreamSummary", #"{"StreamARN":"arn:aws:kinesis:eu-west-1:123456789012:stream/by-arn"}"#)
            try api.ok("DeleteStream", #"{"StreamARN":"\#(arn)"}"#)
            let gone = try api.fail("DescribeStream", #"{"StreamARN":"\#(arn)"}"#)
            #expect(gone.type == "ResourceNotFoundException")
        }
    }

    @Test func aStreamMustBeNamedOnceAndConsistently() throws {
        try APIHarness.with { api in
            try api.createStream("one", shards: 1)
            let neither = try api.fail("DescribeStream", "{}")
            #expect(neither.type == "InvalidArgumentException")
            #expect(neither.message == "Stream arn and stream name can't be empty at the same time")
            let mismatch = try api.fail("DescribeStream", #"{"StreamName":"one","StreamARN":"\#(api.arn("two"))"}"#)
            #expect(mismatch.type == "InvalidArgumentException")
            #expect(mismatch.message?.contains("names stream two but StreamName is one") == true)
            let notStream = try api.fail(
                "DescribeStream", #"{"StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/a:b:consumer/x"}"#)
            #expect(notStream.type == "InvalidArgumentException")
        }
    }
}
