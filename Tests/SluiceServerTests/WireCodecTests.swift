import Foundation
import SluiceServer
import SluiceSupport
import SluiceTestSupport
import Testing

/// The JSON parser, base64 and timestamp conversions of the API layer.
@Suite struct WireCodecTests {
    @Test func base64RoundTripsEveryLength() {
        var random = SeededRandom(seed: 7)
        for length in 0..<70 {
            let bytes = random.bytes(length)
            var encoded: [UInt8] = []
            Base64.encode(bytes, into: &encoded)
            #expect(String(decoding: encoded, as: UTF8.self) == Data(bytes).base64EncodedString())
            let decoded = encoded.withUnsafeBufferPointer { Base64.decode($0) }
            #expect(decoded == .success(bytes))
        }
    }

    @Test(arguments: [
        ("abcde", Base64.DecodingError.length(5)),
        ("ab=c", .invalidCharacter(UInt8(ascii: "="))),
        ("ab c", .invalidCharacter(UInt8(ascii: " "))),
        ("YWJj\nYQ==", .length(9)),
        ("YR==", .nonCanonical),
        ("YWJ=", .nonCanonical),
        ("====", .nonCanonical),
        ("A===", .nonCanonical),
        ("ab-_", .invalidCharacter(UInt8(ascii: "-"))),
    ])
    func base64RefusesWhatAWSRefuses(input: String, expected: Base64.DecodingError) {
        let bytes = Array(input.utf8)
        let result = bytes.withUnsafeBufferPointer { Base64.decode($0) }
        #expect(result == .failure(expected))
    }

    @Test func parserKeepsJSONKindsApart() throws {
        let value = try JSONParser.parse(
            Array(#" {"a":true,"b":1,"c":"1","d":null,"e":[],"f":{},"g":-0.5e+3,"h":"\u00e9\ud83d\ude00\n\/"} "#.utf8))
        let node = Node(value)
        #expect(node["a"] == .bool(true))
        #expect(node["b"] == .number("1"))
        #expect(node["c"] == .string("1"))
        #expect(node["d"] == .null)
        #expect(node["e"] == .array([]))
        #expect(node["f"] == .object([:]))
        #expect(node["g"] == .number("-0.5e+3"))
        #expect(node["h"] == .string("é😀\n/"))
    }

    @Test(arguments: [
        "", " ", "01", "1.", "-", "+1", "1e", "[1,]", "{\"a\" 1}", "\"\\x\"", "\"\\u12g4\"", "\"a\u{01}\"", "tru",
        "nul", "\"abc", "[\"\\\"]",
    ])
    func parserRefusesInvalidJSON(text: String) {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(Array(text.utf8)) }
    }

    @Test func invalidUTF8InAStringIsASerializationError() throws {
        try APIHarness.with { api in
            var request = APIHarness.request("DescribeStream", "")
            request.body = Array(#"{"StreamName":""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8)
            let error = try APIHarness.error(api.send(request))
            #expect(error.type == "SerializationException")
        }
    }

    @Test(arguments: [
        ("1459799926.480", Int64(1_459_799_926_480)),
        ("1459799926", 1_459_799_926_000),
        ("1459799926.4809", 1_459_799_926_480),
        ("1.459799926480e9", 1_459_799_926_480),
        ("1459799926480", 1_459_799_926_480),
        ("0", 0),
        ("-1.5", -1_500),
        ("1e400", Int64.max),
    ])
    func requestTimestampsAreExactEpochSeconds(text: String, milliseconds: Int64) throws {
        guard case .number(let number) = try JSONParser.parse(Array(text.utf8)) else {
            Issue.record("\(text) is not a number")
            return
        }
        #expect(number.epochMilliseconds() == milliseconds)
    }

    @Test func arnPatternMatchesLikeJavaRegex() {
        #expect(ModelRules.matchesStreamARN("arn:aws:kinesis:us-east-1:123456789012:stream/orders"))
        #expect(ModelRules.matchesStreamARN("arn:aws-cn:kinesis:cn-north-1:123456789012:stream/a.b-c_d"))
        #expect(ModelRules.matchesStreamARN("arn:aws:kinesis::123456789012:stream/x"))
        #expect(!ModelRules.matchesStreamARN("arn:aws:kinesis:123456789012:stream/x"))
        #expect(!ModelRules.matchesStreamARN("arn:aws:kinesis:us-east-1:12345678901:stream/x"))
        #expect(!ModelRules.matchesStreamARN("arn:aws:kinesis:us-east-1:123456789012:stream/"))
        #expect(!ModelRules.matchesStreamARN("arn:aws:kinesis:us-east-1:123456789012:stream/a b"))
        #expect(!ModelRules.matchesStreamARN("arn:aws:firehose:us-east-1:123456789012:stream/x"))
        #expect(!ModelRules.matchesStreamARN("arn:aws:kinesis:us\neast:123456789012:stream/x"))
    }
}

extension Base64.DecodingError: CustomTestStringConvertible {
    public var testDescription: String { awsReason }
}
