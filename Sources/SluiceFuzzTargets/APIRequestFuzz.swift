import SluiceServer
import SluiceStreams
import SluiceSupport

/// The `api-requests` target: the JSON 1.1 body of a Kinesis PutRecords, Firehose
/// PutRecordBatch or Kinesis GetRecords call, sent through `ServiceRouter.handle` as the server
/// does once the HTTP parser has a request (`POST /`, `X-Amz-Target`, `Content-Type:
/// application/x-amz-json-1.1`), against the store of `APIFuzzEnvironment`.
///
/// Input: `<Operation>\n<body>` where the first line is `PutRecords`, `PutRecordBatch` or
/// `GetRecords`; any other input is a body, sent to the operation its hash picks. `@ITERATOR@`
/// in a body becomes a fresh TRIM_HORIZON iterator of the `fuzz` stream's first shard, so
/// GetRecords reaches the store (a random iterator only ever fails its MAC check).
///
/// Invariants: the status is 200 or 400 (500 is an internal failure); the body is a JSON object
/// in valid UTF-8 with the JSON 1.1 content type; an error has a `__type` equal to its
/// `x-amzn-ErrorType` header and a string message; a success has the members of its operation,
/// with one result per request record for the two puts and a failure count that matches.
enum APIRequestFuzz {
    enum Operation: String, CaseIterable {
        case putRecords = "PutRecords"
        case putRecordBatch = "PutRecordBatch"
        case getRecords = "GetRecords"

        var target: String {
            switch self {
            case .putRecords, .getRecords: "Kinesis_20131202." + rawValue
            case .putRecordBatch: "Firehose_20150804." + rawValue
            }
        }
    }

    static let iteratorPlaceholder = Array("@ITERATOR@".utf8)

    static func run(_ bytes: [UInt8]) throws(FuzzFailure) {
        var operation = Operation.allCases[Int(FuzzHash.fnv1a(bytes) % UInt64(Operation.allCases.count))]
        var body = bytes
        if let newline = bytes.firstIndex(of: UInt8(ascii: "\n")),
            let named = Operation(rawValue: String(decoding: bytes[..<newline], as: UTF8.self))
        {
            operation = named
            body = Array(bytes[(newline + 1)...])
        }
        try APIFuzzEnvironment.with { (environment) throws(FuzzFailure) in
            if body.count >= iteratorPlaceholder.count, let iterator = try iterator(environment, for: body) {
                body = replacing(iteratorPlaceholder, with: Array(iterator.utf8), in: body)
            }
            var headers = HTTPHeaders()
            headers.add("Host", "127.0.0.1:4567")
            headers.add("Content-Type", "application/x-amz-json-1.1")
            headers.add("X-Amz-Target", operation.target)
            let request = HTTPRequest(method: "POST", target: "/", headers: headers, body: body)
            let response = environment.router.handle(request, requestID: "fuzz")
            try check(response, operation, body)
        }
    }

    private static func iterator(_ environment: APIFuzzEnvironment, for body: [UInt8]) throws(FuzzFailure) -> String? {
        guard range(of: iteratorPlaceholder, in: body) != nil else { return nil }
        do throws(StreamError) {
            return try environment.store.shardIterator(
                stream: APIFuzzEnvironment.streamName, shardID: "shardId-000000000000", type: .trimHorizon)
        } catch {
            throw FuzzFailure(.apiRequests, "cannot get an iterator of the scratch stream: \(error)")
        }
    }

    // MARK: - Checks

    private static func check(_ response: HTTPResponse, _ operation: Operation, _ body: [UInt8]) throws(FuzzFailure) {
        func fail(_ message: String) -> FuzzFailure {
            FuzzFailure(
                .apiRequests,
                "\(operation.rawValue) answered \(response.status): \(message); response body: "
                    + String(decoding: response.body.prefix(600), as: UTF8.self))
        }
        guard response.status == 200 || response.status == 400 else { throw fail("status is neither 200 nor 400") }
        guard response.headers["Content-Type"] == "application/x-amz-json-1.1" else { throw fail("content type") }
        guard String(validating: response.body, as: UTF8.self) != nil else { throw fail("the body is not UTF-8") }
        let parsed: JSONValue
        do throws(JSONParser.SyntaxError) {
            parsed = try JSONParser.parse(response.body)
        } catch {
            throw fail("the body is not JSON (\(error))")
        }
        guard case .object(let object) = parsed else { throw fail("the body is not a JSON object") }

        guard response.status == 200 else {
            guard let type = text(object["__type"]), !type.isEmpty, response.headers["x-amzn-ErrorType"] == type else {
                throw fail("no __type, or one that differs from x-amzn-ErrorType")
            }
            for message in [object["message"], object["Message"]] {
                if let message, text(message) == nil { throw fail("the message is not a string") }
            }
            return
        }

        // A 200 answers a request whose body is a JSON object.
        let sent: JSONValue
        do throws(JSONParser.SyntaxError) {
            sent = try JSONParser.parse(body)
        } catch {
            throw fail("succeeded on a body that is not JSON (\(error))")
        }
        guard case .object(let request) = sent else { throw fail("succeeded on a body that is not an object") }
        switch operation {
        case .putRecords:
            try checkPutResults(
                object, results: "Records", failedCount: "FailedRecordCount", request: request, success: ["SequenceNumber", "ShardId"],
                fail)
        case .putRecordBatch:
            try checkPutResults(
                object, results: "RequestResponses", failedCount: "FailedPutCount", request: request, success: ["RecordId"], fail)
        case .getRecords:
            guard case .array(let records) = object["Records"], object["MillisBehindLatest"] != nil else {
                throw fail("no Records or MillisBehindLatest")
            }
            for record in records {
                guard case .object(let fields) = record, text(fields["SequenceNumber"]) != nil, text(fields["Data"]) != nil,
                    text(fields["PartitionKey"]) != nil, fields["ApproximateArrivalTimestamp"] != nil
                else { throw fail("a record lacks a member") }
            }
            guard text(object["NextShardIterator"]) != nil || object["ChildShards"] != nil else {
                throw fail("neither NextShardIterator nor ChildShards")
            }
        }
    }

    private static func checkPutResults(
        _ object: JSONObject, results: StaticString, failedCount: StaticString, request: JSONObject, success: [StaticString],
        _ fail: (String) -> FuzzFailure
    ) throws(FuzzFailure) {
        guard case .array(let entries) = object[results], case .array(let sent) = request["Records"] else {
            throw fail("no \(results) array, or a request without Records succeeded")
        }
        guard entries.count == sent.count else { throw fail("\(entries.count) results for \(sent.count) records") }
        var failed = 0
        for entry in entries {
            guard case .object(let fields) = entry else { throw fail("a result is not an object") }
            if fields["ErrorCode"] != nil {
                guard text(fields["ErrorCode"]) != nil, text(fields["ErrorMessage"]) != nil else {
                    throw fail("a failed result without ErrorCode and ErrorMessage strings")
                }
                failed += 1
            } else {
                guard success.allSatisfy({ text(fields[$0]) != nil }) else { throw fail("a result lacks \(success)") }
            }
        }
        guard case .number(let count) = object[failedCount], count.string == String(failed) else {
            throw fail("\(failedCount) does not count the \(failed) failed results")
        }
    }

    private static func text(_ value: JSONValue?) -> String? {
        guard case .string(let text) = value else { return nil }
        return text.string
    }

    // MARK: - Bytes

    private static func range(of needle: [UInt8], in haystack: [UInt8]) -> Range<Int>? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return start..<(start + needle.count) }
        }
        return nil
    }

    private static func replacing(_ needle: [UInt8], with replacement: [UInt8], in haystack: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var rest = haystack[...]
        while let found = range(of: needle, in: Array(rest)) {
            out += rest[rest.startIndex..<(rest.startIndex + found.lowerBound)]
            out += replacement
            rest = rest[(rest.startIndex + found.upperBound)...]
        }
        return out + rest
    }
}
