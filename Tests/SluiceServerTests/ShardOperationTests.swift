import Foundation
import SluiceServer
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// ListShards (paging, NextToken rules, ShardFilter), SplitShard, MergeShards, UpdateShardCount.
@Suite struct ShardOperationTests {
    private static func ids(_ body: Node) -> [String] {
        body["Shards"]?.array?.compactMap { $0["ShardId"]?.string } ?? []
    }

    @Test func listShardsPagesWithNextTokenAndMaxResults() throws {
        try APIHarness.with { api in
            let all = try api.createStream("many", shards: 5)
            let first = try api.ok("ListShards", #"{"StreamName":"many","MaxResults":2}"#)
            #expect(first.keys == ["Shards", "NextToken"])
            #expect(Self.ids(first) == Array(all[0..<2]))
            let token = try #require(first["NextToken"]?.string)
            // AWS's form: the token alone (with MaxResults).
            let second = try api.ok("ListShards", #"{"NextToken":"\#(token)","MaxResults":2}"#)
            #expect(Self.ids(second) == Array(all[2..<4]))
            // boto3's paginator form: the token with the original StreamName and MaxResults.
            let secondToken = try #require(second["NextToken"]?.string)
            let third = try api.ok("ListShards", #"{"StreamName":"many","NextToken":"\#(secondToken)","MaxResults":2}"#)
            #expect(Self.ids(third) == [all[4]])
            #expect(third["NextToken"] == nil)
            let everything = try api.ok("ListShards", #"{"StreamName":"many"}"#)
            #expect(Self.ids(everything) == all)
            #expect(everything.keys == ["Shards"])
        }
    }

    @Test func listShardsDefaultsToAndCapsAtOneThousand() throws {
        try APIHarness.with(configure: { $0.shardLimit = 2000 }) { api in
            try api.createStream("huge", shards: 1001)
            let first = try api.ok("ListShards", #"{"StreamName":"huge","MaxResults":5000}"#)
            #expect(first["Shards"]?.array?.count == 1000)
            let token = try #require(first["NextToken"]?.string)
            let rest = try api.ok("ListShards", #"{"NextToken":"\#(token)"}"#)
            #expect(Self.ids(rest) == ["shardId-000000001000"])
        }
    }

    @Test func listShardsNextTokenRules() throws {
        try APIHarness.with { api in
            try api.createStream("rules", shards: 4)
            try api.createStream("other", shards: 1)
            let neither = try api.fail("ListShards", "{}")
            #expect(neither.type == "InvalidArgumentException")
            #expect(neither.message == "Either NextToken or StreamName should be provided.")

            let page = try api.ok(
                "ListShards",
                #"{"StreamName":"rules","MaxResults":1,"ExclusiveStartShardId":"shardId-000000000000","ShardFilter":{"Type":"AT_LATEST"}}"#
            )
            #expect(Self.ids(page) == ["shardId-000000000001"])
            let token = try #require(page["NextToken"]?.string)

            let wrongStream = try api.fail("ListShards", #"{"StreamName":"other","NextToken":"\#(token)"}"#)
            #expect(wrongStream.message == "NextToken and StreamName cannot be provided together.")
            let wrongARN = try api.fail("ListShards", #"{"StreamARN":"\#(api.arn("other"))","NextToken":"\#(token)"}"#)
            #expect(wrongARN.message == "NextToken and StreamARN cannot be provided together.")
            let wrongStart = try api.fail(
                "ListShards", #"{"NextToken":"\#(token)","ExclusiveStartShardId":"shardId-000000000002"}"#)
            #expect(wrongStart.message == "NextToken and ExclusiveStartShardId cannot be provided together.")
            let wrongFilter = try api.fail(
                "ListShards", #"{"NextToken":"\#(token)","ShardFilter":{"Type":"AT_TRIM_HORIZON"}}"#)
            #expect(wrongFilter.message == "NextToken and ShardFilter cannot be provided together.")

            // Repeating the first request's parameters with the token is tolerated (botocore#2009).
            let repeated = try api.ok(
                "ListShards",
                #"{"StreamName":"rules","StreamARN":"\#(api.arn("rules"))","MaxResults":1,"NextToken":"\#(token)","ExclusiveStartShardId":"shardId-000000000000","ShardFilter":{"Type":"AT_LATEST"}}"#
            )
            #expect(Self.ids(repeated) == ["shardId-000000000002"])

            let bogus = try api.fail("ListShards", #"{"NextToken":"AAAA"}"#)
            #expect(bogus.type == "InvalidArgumentException")
            api.clock.advance(seconds: 301)
            let expired = try api.fail("ListShards", #"{"NextToken":"\#(token)"}"#)
            #expect(expired.type == "ExpiredNextTokenException")
        }
    }

    @Test func aTokenDoesNotContinueIntoARecreatedStream() throws {
        try APIHarness.with { api in
            try api.createStream("again", shards: 3)
            let token = try #require(
                try api.ok("ListShards", #"{"StreamName":"again","MaxResults":1}"#)["NextToken"]?.string)
            try api.ok("DeleteStream", #"{"StreamName":"again"}"#)
            api.clock.advance(seconds: 1)
            try api.createStream("again", shards: 3)
            let error = try api.fail("ListShards", #"{"NextToken":"\#(token)"}"#)
            #expect(error.type == "InvalidArgumentException")
        }
    }

    @Test func listShardsExclusiveStartShardIdAndCreationTimestamp() throws {
        try APIHarness.with { api in
            try api.createStream("start", shards: 4)
            let after = try api.ok(
                "ListShards", #"{"StreamName":"start","ExclusiveStartShardId":"shardId-000000000001"}"#)
            #expect(Self.ids(after) == ["shardId-000000000002", "shardId-000000000003"])
            // StreamCreationTimestamp as boto3 sends it (whole seconds) matches.
            try api.ok("ListShards", #"{"StreamName":"start","StreamCreationTimestamp":1767225600}"#)
            let other = try api.fail("ListShards", #"{"StreamName":"start","StreamCreationTimestamp":1700000000}"#)
            #expect(other.type == "ResourceNotFoundException")
        }
    }

    /// Stream of 2 shards at T0; at T0+10 s shard 0 splits into 2 and 3; at T0+20 s shards 2 and 3
    /// merge into 4. Open afterwards: 1 and 4.
    private static func reshardedStream(_ api: APIHarness) throws {
        try api.createStream("lineage", shards: 2)
        api.clock.advance(seconds: 10)
        try api.ok(
            "SplitShard",
            #"{"StreamName":"lineage","ShardToSplit":"shardId-000000000000","NewStartingHashKey":"85070591730234615865843651857942052864"}"#
        )
        api.clock.advance(seconds: 10)
        try api.ok(
            "MergeShards",
            #"{"StreamName":"lineage","ShardToMerge":"shardId-000000000002","AdjacentShardToMerge":"shardId-000000000003"}"#
        )
        api.clock.advance(seconds: 10)
    }

    struct FilterCase: CustomTestStringConvertible, Sendable {
        var filter: String
        var expected: [Int]
        var testDescription: String { filter }
    }

    static let t0 = 1_767_225_600

    static let filterCases: [FilterCase] = [
        FilterCase(filter: #"{"Type":"AT_LATEST"}"#, expected: [1, 4]),
        FilterCase(filter: #"{"Type":"AFTER_SHARD_ID","ShardId":"shardId-000000000002"}"#, expected: [3, 4]),
        FilterCase(filter: #"{"Type":"AT_TRIM_HORIZON"}"#, expected: [0, 1]),
        FilterCase(filter: #"{"Type":"FROM_TRIM_HORIZON"}"#, expected: [0, 1, 2, 3, 4]),
        FilterCase(filter: #"{"Type":"AT_TIMESTAMP","Timestamp":\#(t0 + 15)}"#, expected: [1, 2, 3]),
        FilterCase(filter: #"{"Type":"AT_TIMESTAMP","Timestamp":\#(t0 - 1000).5}"#, expected: [0, 1]),
        // Milliseconds (Java SDK v1 without CBOR) mean the same instant.
        FilterCase(filter: #"{"Type":"AT_TIMESTAMP","Timestamp":\#((t0 + 25) * 1000)}"#, expected: [1, 4]),
        FilterCase(filter: #"{"Type":"FROM_TIMESTAMP","Timestamp":\#(t0 + 15)}"#, expected: [1, 2, 3, 4]),
        FilterCase(filter: #"{"Type":"FROM_TIMESTAMP","Timestamp":\#(t0 + 5)}"#, expected: [0, 1, 2, 3, 4]),
    ]

    @Test(arguments: filterCases)
    func shardFilterTypes(_ test: FilterCase) throws {
        try APIHarness.with { api in
            try Self.reshardedStream(api)
            let body = try api.ok("ListShards", #"{"StreamName":"lineage","ShardFilter":\#(test.filter)}"#)
            #expect(Self.ids(body) == test.expected.map(ShardID.format))
        }
    }

    @Test func shardFiltersThatNeedAShardIdOrTimestampSaySo() throws {
        try APIHarness.with { api in
            try api.createStream("needs", shards: 1)
            let noShard = try api.fail("ListShards", #"{"StreamName":"needs","ShardFilter":{"Type":"AFTER_SHARD_ID"}}"#)
            #expect(noShard.type == "InvalidArgumentException")
            let noTime = try api.fail("ListShards", #"{"StreamName":"needs","ShardFilter":{"Type":"AT_TIMESTAMP"}}"#)
            #expect(noTime.type == "InvalidArgumentException")
            let noType = try api.fail("ListShards", #"{"StreamName":"needs","ShardFilter":{}}"#)
            #expect(noType.type == "ValidationException")
            #expect(noType.message?.contains("Value null at 'shardFilter.type'") == true)
        }
    }

    @Test func splitAndMergeShowLineageInListShards() throws {
        try APIHarness.with { api in
            try Self.reshardedStream(api)
            let body = try api.ok("ListShards", #"{"StreamName":"lineage"}"#)
            let shards = try #require(body["Shards"]?.array)
            #expect(shards.count == 5)
            #expect(shards[0]["SequenceNumberRange"]?["EndingSequenceNumber"]?.string != nil, "shard 0 is closed")
            #expect(shards[1]["SequenceNumberRange"]?["EndingSequenceNumber"] == nil, "shard 1 is open")
            #expect(shards[2]["ParentShardId"] == .string("shardId-000000000000"))
            #expect(shards[2]["HashKeyRange"]?["EndingHashKey"] == .string("85070591730234615865843651857942052863"))
            #expect(shards[3]["HashKeyRange"]?["StartingHashKey"] == .string("85070591730234615865843651857942052864"))
            #expect(shards[4]["ParentShardId"] == .string("shardId-000000000002"))
            #expect(shards[4]["AdjacentParentShardId"] == .string("shardId-000000000003"))
            #expect(
                shards[4].keys == [
                    "ShardId", "ParentShardId", "AdjacentParentShardId", "HashKeyRange", "SequenceNumberRange",
                ])
        }
    }

    @Test func reshardingErrorsUseAWSsWords() throws {
        try APIHarness.with { api in
            try api.createStream("errors", shards: 2)
            let outside = try api.fail(
                "SplitShard", #"{"StreamName":"errors","ShardToSplit":"shardId-000000000000","NewStartingHashKey":"0"}"#
            )
            #expect(outside.type == "InvalidArgumentException")
            #expect(
                outside.message?.hasPrefix(
                    "NewStartingHashKey 0 used in SplitShard() on shard shardId-000000000000 in stream errors") == true)
            let notAdjacent = try api.fail(
                "MergeShards",
                #"{"StreamName":"errors","ShardToMerge":"shardId-000000000001","AdjacentShardToMerge":"shardId-000000000000"}"#
            )
            #expect(notAdjacent.type == "InvalidArgumentException")
            let missing = try api.fail(
                "SplitShard",
                #"{"StreamName":"errors","ShardToSplit":"shardId-000000000009","NewStartingHashKey":"12345"}"#)
            #expect(missing.type == "ResourceNotFoundException")
        }
    }

    @Test func updateShardCountReportsCurrentAndTarget() throws {
        try APIHarness.with { api in
            try api.createStream("scale", shards: 2)
            let body = try api.ok(
                "UpdateShardCount", #"{"StreamName":"scale","TargetShardCount":4,"ScalingType":"UNIFORM_SCALING"}"#)
            #expect(
                body
                    == .object([
                        "StreamName": .string("scale"), "CurrentShardCount": .number("2"),
                        "TargetShardCount": .number("4"),
                        "StreamARN": .string(api.arn("scale")),
                    ]))
            let open = try api.ok("ListShards", #"{"StreamName":"scale","ShardFilter":{"Type":"AT_LATEST"}}"#)
            #expect(open["Shards"]?.array?.count == 4)
            let tooFar = try api.fail(
                "UpdateShardCount", #"{"StreamName":"scale","TargetShardCount":9,"ScalingType":"UNIFORM_SCALING"}"#)
            #expect(tooFar.type == "LimitExceededException")
        }
    }
}
