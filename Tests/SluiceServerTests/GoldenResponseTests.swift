import Foundation
import SluiceServer
import SluiceSupport
import SluiceTestSupport
import Testing

/// Exact wire bodies of canonical responses, compared with `Fixtures/golden/kinesis/*.json`
/// (`RECORD_GOLDEN=1` rewrites them). Sequence numbers and shard iterators embed a random
/// stream incarnation and key, so they are masked.
@Suite struct GoldenResponseTests {
    private static func masked(_ body: [UInt8]) throws -> String {
        var text = String(decoding: body, as: UTF8.self)
        for (pattern, replacement) in [
            (#""(SequenceNumber|StartingSequenceNumber|EndingSequenceNumber)":"\d+""#, #""$1":"<sequence-number>""#),
            (#""(ShardIterator|NextShardIterator)":"[A-Za-z0-9_-]+""#, #""$1":"<shard-iterator>""#),
        ] {
            let expression = try NSRegularExpression(pattern: pattern)
            text = expression.stringByReplacingMatches(
                in: text, range: NSRange(text.startIndex..., in: text), withTemplate: replacement)
        }
        return text + "\n"
    }

    private static func expectGolden(
        _ response: HTTPResponse, _ name: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let mismatch = goldenMismatch(try masked(response.body), named: "kinesis/\(name).json")
        #expect(mismatch == nil, "\(mismatch ?? "")", sourceLocation: sourceLocation)
    }

    @Test func canonicalResponses() throws {
        try APIHarness.with { api in
            try api.ok("CreateStream", #"{"StreamName":"golden","ShardCount":2,"Tags":{"team":"data"}}"#)
            try Self.expectGolden(api.call("DescribeStream", #"{"StreamName":"golden"}"#), "DescribeStream")
            try Self.expectGolden(
                api.call("DescribeStreamSummary", #"{"StreamName":"golden"}"#), "DescribeStreamSummary")
            try Self.expectGolden(api.call("ListStreams", "{}"), "ListStreams")
            try Self.expectGolden(api.call("DescribeLimits", "{}"), "DescribeLimits")
            try Self.expectGolden(api.call("ListTagsForStream", #"{"StreamName":"golden"}"#), "ListTagsForStream")
            try Self.expectGolden(
                api.call(
                    "PutRecords",
                    #"{"StreamName":"golden","Records":[{"PartitionKey":"a","Data":"aGVsbG8="},{"PartitionKey":"b","Data":""}]}"#
                ),
                "PutRecords")
            let iterator = try api.ok(
                "GetShardIterator",
                #"{"StreamName":"golden","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"}"#)
            try Self.expectGolden(
                api.call("GetRecords", #"{"ShardIterator":"\#(iterator["ShardIterator"]?.string ?? "")"}"#),
                "GetRecords")
            try Self.expectGolden(api.call("DescribeStream", #"{"StreamName":"missing"}"#), "ResourceNotFoundException")
            try Self.expectGolden(api.call("CreateStream", #"{"ShardCount":0}"#), "ValidationException")
            try Self.expectGolden(api.call("CreateStream", #"{"StreamName":5}"#), "SerializationException")
        }
    }
}
