import Foundation
import SluiceServer
import SluiceTestSupport
import Testing

/// Mutated requests of every operation never crash the router and always get 200 or a 400
/// with a JSON error.
@Suite struct RobustnessTests {
    static let seeds: [(String, String)] = [
        (
            "CreateStream",
            #"{"StreamName":"fuzz","ShardCount":2,"Tags":{"a":"b"},"StreamModeDetails":{"StreamMode":"PROVISIONED"}}"#
        ),
        ("PutRecord", #"{"StreamName":"fuzz","PartitionKey":"k","Data":"aGVsbG8=","ExplicitHashKey":"1"}"#),
        (
            "PutRecords",
            #"{"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/fuzz","Records":[{"PartitionKey":"k","Data":"YQ=="},{"PartitionKey":"\u00e9","Data":""}]}"#
        ),
        (
            "ListShards",
            #"{"StreamName":"fuzz","MaxResults":1,"ShardFilter":{"Type":"AT_TIMESTAMP","Timestamp":1767225600.5}}"#
        ),
        (
            "GetShardIterator",
            #"{"StreamName":"fuzz","ShardId":"shardId-000000000000","ShardIteratorType":"AT_TIMESTAMP","Timestamp":1767225600}"#
        ),
        ("GetRecords", #"{"ShardIterator":"AAAA","Limit":5}"#),
        ("ListStreams", #"{"Limit":1,"ExclusiveStartStreamName":"a","NextToken":"eyJrIjoiTGlzdFN0cmVhbXMifQ"}"#),
        ("DescribeStream", #"{"StreamName":"fuzz","Limit":1,"ExclusiveStartShardId":"shardId-0"}"#),
        ("SplitShard", #"{"StreamName":"fuzz","ShardToSplit":"0","NewStartingHashKey":"100"}"#),
        ("UpdateShardCount", #"{"StreamName":"fuzz","TargetShardCount":3,"ScalingType":"UNIFORM_SCALING"}"#),
        ("AddTagsToStream", #"{"StreamName":"fuzz","Tags":{"k":"v"}}"#),
        ("RemoveTagsFromStream", #"{"StreamName":"fuzz","TagKeys":["k"]}"#),
        ("IncreaseStreamRetentionPeriod", #"{"StreamName":"fuzz","RetentionPeriodHours":48}"#),
    ]

    @Test func mutatedRequestsNeverCrash() throws {
        try APIHarness.with { api in
            var random = SeededRandom(seed: 2026)
            let alphabet = Array(#"{}[]:,"\0123456789.eE-+truefalsenull aZ=/\u"#.utf8) + [0x00, 0x1F, 0x80, 0xC3, 0xFF]
            for round in 0..<3000 {
                let (operation, seed) = Self.seeds[round % Self.seeds.count]
                var body = Array(seed.utf8)
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    let position = Int.random(in: 0...body.count, using: &random)
                    switch Int.random(in: 0..<3, using: &random) {
                    case 0 where position < body.count: body.remove(at: position)
                    case 1 where position < body.count: body[position] = alphabet.randomElement(using: &random) ?? 0
                    default: body.insert(alphabet.randomElement(using: &random) ?? 0, at: position)
                    }
                }
                var request = APIHarness.request(operation, "")
                request.body = body
                let response = api.send(request)
                #expect(
                    response.status == 200 || response.status == 400,
                    "\(operation): \(String(decoding: body, as: UTF8.self))")
                if response.status == 400 {
                    let error = try APIHarness.error(response)
                    #expect(!error.type.isEmpty)
                }
            }
        }
    }
}
