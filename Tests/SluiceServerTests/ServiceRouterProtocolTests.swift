import Foundation
import SluiceServer
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// Protocol-level behaviour of the router (reference §1.4): routes, content types, targets,
/// bodies that are not JSON objects, CBOR, CORS, no authentication.
@Suite struct ServiceRouterProtocolTests {
    private static let accessDeniedXML =
        "<AccessDeniedException>\n  <Message>Unable to determine service/operation name to be authorized</Message>\n</AccessDeniedException>\n"

    private static func raw(
        _ method: String, _ target: String = "/", headers: [(String, String)] = [], body: String = ""
    ) -> HTTPRequest {
        HTTPRequest(method: method, target: target, headers: HTTPHeaders(headers), body: Array(body.utf8))
    }

    @Test func healthReportsStreamsAndOpenShards() throws {
        try APIHarness.with { api in
            try api.createStream("one", shards: 2)
            try api.createStream("two", shards: 3)
            let response = api.send(Self.raw("GET", "/health?verbose=1"))
            #expect(response.status == 200)
            #expect(response.headers["Content-Type"] == "application/json")
            let body = try APIHarness.decode(response.body)
            #expect(
                body == .object(["status": .string("ok"), "streams": .number("2"), "openShards": .number("5"), "pipelines": .array([])]))
        }
    }

    @Test(arguments: ["GET", "PUT", "DELETE", "HEAD", "OPTIONS"])
    func methodsOtherThanPostAreDeniedWithXML(method: String) throws {
        try APIHarness.with { api in
            let response = api.send(Self.raw(method, "/", headers: [("X-Amz-Target", "Kinesis_20131202.ListStreams")]))
            #expect(response.status == 403)
            #expect(String(decoding: response.body, as: UTF8.self) == Self.accessDeniedXML)
            #expect(response.headers["Content-Type"] == nil)
        }
    }

    @Test func getOfAnUnknownPathIsDenied() throws {
        try APIHarness.with { api in
            #expect(api.send(Self.raw("GET", "/streams")).status == 403)
        }
    }

    @Test func postWithoutContentTypeIsDeniedOrUnknown() throws {
        try APIHarness.with { api in
            // No body, no content type (with or without a target): 403 XML.
            #expect(api.send(Self.raw("POST")).status == 403)
            let noType = api.send(Self.raw("POST", headers: [("X-Amz-Target", "Kinesis_20131202.ListStreams")]))
            #expect(noType.status == 403)
            #expect(String(decoding: noType.body, as: UTF8.self) == Self.accessDeniedXML)
            // A body without a recognised content type and no target: 403.
            #expect(api.send(Self.raw("POST", body: "{}")).status == 403)
            // x-amz-json-1.0 is not recognised either.
            let json10 = api.send(
                Self.raw("POST", headers: [("Content-Type", "application/x-amz-json-1.0")], body: "{}"))
            #expect(json10.status == 403)
            // A body and a Service.Operation target: 404 <UnknownOperationException/>.
            let withTarget = api.send(
                Self.raw("POST", headers: [("X-Amz-Target", "Kinesis_20131202.ListStreams")], body: "{}"))
            #expect(withTarget.status == 404)
            #expect(String(decoding: withTarget.body, as: UTF8.self) == "<UnknownOperationException/>\n")
        }
    }

    @Test func applicationJSONGetsTheLegacyEnvelope() throws {
        try APIHarness.with { api in
            let unknown = api.send(APIHarness.request("ListStreams", "{}", contentType: "application/json"))
            #expect(unknown.status == 404)
            #expect(unknown.headers["Content-Type"] == "application/json")
            let body = try APIHarness.decode(unknown.body)
            #expect(body["Version"] == .string("1.0"))
            #expect(body["Output"]?["__type"] == .string("com.amazon.coral.service#UnknownOperationException"))
            #expect(body["Output"]?["message"]?.string?.contains("application/x-amz-json-1.1") == true)

            let notJSON = api.send(APIHarness.request("ListStreams", "hello", contentType: "application/json"))
            #expect(
                try APIHarness.decode(notJSON.body)["Output"]?["__type"]
                    == .string("com.amazon.coral.service#SerializationException"))
        }
    }

    @Test func cborIsRefusedWithACBORErrorSayingHowToDisableIt() throws {
        try APIHarness.with { api in
            var request = APIHarness.request("PutRecord", "", contentType: "application/x-amz-cbor-1.1")
            request.body = [0xBF, 0x6A] + Array("StreamName".utf8) + [0x61, 0x73, 0xFF]
            let response = api.send(request)
            #expect(response.status == 400)
            #expect(response.headers["Content-Type"] == "application/x-amz-cbor-1.1")
            #expect(response.headers["x-amzn-ErrorType"] == "SerializationException")
            #expect(response.body.first == 0xA2, "a CBOR map of two pairs")
            let text = String(decoding: response.body, as: UTF8.self)
            #expect(text.contains("__type"))
            #expect(text.contains("SerializationException"))
            #expect(text.contains("AWS_CBOR_DISABLE=1"))
            #expect(text.contains("aws.cborEnabled=false"))
            // The CBOR text-string header of the message carries its exact length.
            let message = Array(ServiceRouter.cborMessage.utf8)
            let header = Array(
                response.body[(response.body.count - message.count - 3)..<(response.body.count - message.count)])
            #expect(header == [0x79, UInt8(message.count >> 8), UInt8(message.count & 0xFF)])
        }
    }

    @Test func emptyBodyIsASerializationErrorForAKnownOperationOnly() throws {
        try APIHarness.with { api in
            let known = try APIHarness.error(api.call("ListStreams", ""))
            #expect(known.status == 400)
            #expect(known.type == "SerializationException")
            #expect(known.errorTypeHeader == "SerializationException")
            let unknown = try APIHarness.error(api.call("ListStream", ""))
            #expect(unknown.type == "UnknownOperationException")
        }
    }

    @Test(arguments: ["hello", "true", "null", "[]", "\"text\"", "12", "{", "{\"a\":}", "{} {}", "{\"a\":1,}"])
    func bodiesThatAreNotJSONObjectsAreSerializationErrors(body: String) throws {
        try APIHarness.with { api in
            let error = try APIHarness.error(api.call("ListStreams", body))
            #expect(error.status == 400)
            #expect(error.type == "SerializationException")
            #expect(error.messageKey == "Message")
        }
    }

    @Test func unknownTargetsAreUnknownOperations() throws {
        try APIHarness.with { api in
            for target in [
                "Kinesis_20131202.ListStream", "Kinesis_20131202.", "Firehose_20150804.ListDeliveryStream", "Firehose_20150804.", "Kinesis",
            ] {
                var request = APIHarness.request("", "{}")
                request.headers.add("X-Amz-Target", target)
                let error = try APIHarness.error(api.send(request))
                #expect(error.status == 400, "\(target)")
                #expect(error.type == "UnknownOperationException", "\(target)")
            }
            let missing = try APIHarness.error(api.send(APIHarness.request("", "{}")))
            #expect(missing.type == "UnknownOperationException")
            #expect(missing.message?.contains("X-Amz-Target") == true)
            let unsupported = try APIHarness.error(api.call("SubscribeToShard", "{}"))
            #expect(unsupported.type == "UnknownOperationException")
            #expect(unsupported.message == "Sluice does not implement the Kinesis operation SubscribeToShard.")
        }
    }

    @Test func anyPathContentTypeParametersAndNoAuthenticationAreAccepted() throws {
        try APIHarness.with { api in
            var request = APIHarness.request(
                "ListStreams", "{}", contentType: "Application/X-Amz-Json-1.1; charset=utf-8")
            request.target = "/some/path?x=1"
            #expect(api.send(request).status == 200)
            let signed = APIHarness.request(
                "ListStreams", "{}",
                extraHeaders: [
                    (
                        "Authorization",
                        "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=abc"
                    )
                ])
            #expect(api.send(signed).status == 200)
            let garbage = APIHarness.request("ListStreams", "{}", extraHeaders: [("authorization", "X")])
            #expect(api.send(garbage).status == 200)
        }
    }

    @Test func unknownMembersAndNullsAreIgnored() throws {
        try APIHarness.with { api in
            try api.ok(
                "CreateStream", #"{"StreamName":"s","ShardCount":1,"Extra":{"a":[1,2]},"Tags":null,"StreamId":null}"#)
            let body = try api.ok("DescribeStreamSummary", #"{"StreamName":"s","StreamARN":null,"Limit":"ignored"}"#)
            #expect(body["StreamDescriptionSummary"]?["StreamName"] == .string("s"))
        }
    }

    @Test func deeplyNestedJSONIsRefusedNotCrashing() throws {
        try APIHarness.with { api in
            let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
            let error = try APIHarness.error(api.call("ListStreams", #"{"a":"# + deep + "}"))
            #expect(error.type == "SerializationException")
            #expect(error.message?.contains("nested deeper") == true)
        }
    }

    @Test func corsPreflightAndOriginHeaders() throws {
        try APIHarness.with { api in
            let preflight = api.send(
                Self.raw(
                    "OPTIONS",
                    headers: [
                        ("Origin", "http://app"), ("Access-Control-Request-Headers", "a, b"),
                        ("Access-Control-Request-Method", "POST"),
                    ]))
            #expect(preflight.status == 200)
            #expect(preflight.headers["Access-Control-Allow-Origin"] == "*")
            #expect(preflight.headers["Access-Control-Allow-Headers"] == "a, b")
            #expect(preflight.headers["Access-Control-Allow-Methods"] == "POST")
            #expect(preflight.headers["Access-Control-Max-Age"] == "172800")
            #expect(preflight.body.isEmpty)
            let call = api.send(APIHarness.request("ListStreams", "{}", extraHeaders: [("Origin", "http://app")]))
            #expect(call.headers["Access-Control-Allow-Origin"] == "*")
        }
    }

    @Test func errorsCarryTheErrorTypeHeaderAndALowercaseMessage() throws {
        try APIHarness.with { api in
            let response = api.call("DescribeStream", #"{"StreamName":"missing"}"#)
            #expect(response.status == 400)
            #expect(response.headers["Content-Type"] == "application/x-amz-json-1.1")
            #expect(response.headers["x-amzn-ErrorType"] == "ResourceNotFoundException")
            let body = try APIHarness.decode(response.body)
            #expect(
                body
                    == .object([
                        "__type": .string("ResourceNotFoundException"),
                        "message": .string("Stream missing under account 000000000000 not found."),
                    ]))
        }
    }

    @Test func eachRequestLogsOneDebugAccessLineWithoutPayloads() throws {
        try APIHarness.with { api in
            try api.createStream("logged", shards: 1)
            let secret = "c2VjcmV0LXBheWxvYWQ="
            let response = api.router.handle(
                APIHarness.request(
                    "PutRecord", #"{"StreamName":"logged","PartitionKey":"pk-secret","Data":"\#(secret)"}"#),
                requestID: "req-42")
            #expect(response.status == 200)
            let lines = api.logs.events.filter { $0.metadata["requestID"] == "req-42" }
            #expect(lines.count == 1)
            let line = try #require(lines.first)
            #expect(line.level == .debug)
            #expect(line.metadata["operation"] == "PutRecord")
            #expect(line.metadata["status"] == "200")
            #expect(line.metadata["stream"] == "logged")
            #expect(line.metadata["durationMs"].flatMap(Double.init) != nil)
            let everything = api.logs.events.map { "\($0.message) \($0.metadata)" }.joined()
            #expect(!everything.contains(secret))
            #expect(!everything.contains("pk-secret"))
        }
    }
}
