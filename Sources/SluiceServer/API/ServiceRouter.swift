package import SluicePipelines
package import SluiceStreams
package import SluiceSupport

/// A well-formed API request to perform.
enum APIOperation {
    case kinesis(KinesisOperation, RequestFields)
    case firehose(FirehoseOperation, RequestFields)
}

/// Answers every HTTP request of the service: the Kinesis Data Streams JSON 1.1 API, plus
/// `GET /health` and `GET /metrics`.
///
/// Kinesis requests are `POST` to any path (AWS ignores it) with `X-Amz-Target:
/// Kinesis_20131202.<Operation>` and `Content-Type: application/x-amz-json-1.1`. Requests that
/// are not are refused the way AWS refuses them (reference §1.4, kinesalite's AWS-run tests):
///
/// | request | answer |
/// |---|---|
/// | method other than POST (except the two GET routes) | 403, XML `AccessDeniedException` |
/// | `OPTIONS` with `Origin` | 200, CORS preflight headers |
/// | `Content-Type: application/x-amz-cbor-1.1` | 400, CBOR `SerializationException` saying how to turn CBOR off |
/// | `Content-Type: application/json` | 404, legacy envelope `{"Output":{"__type":"com.amazon.coral.service#UnknownOperationException",...},"Version":"1.0"}` (`SerializationException` if the body is not JSON) |
/// | other or no content type, non-empty body, a `Service.Operation` target | 404, `<UnknownOperationException/>` |
/// | other or no content type otherwise | 403, XML `AccessDeniedException` |
/// | JSON 1.1, empty body | 400 `SerializationException` for a known operation, else `UnknownOperationException` |
/// | JSON 1.1, body not a JSON object | 400 `SerializationException` |
/// | JSON 1.1, unknown target | 400 `UnknownOperationException` |
///
/// No authentication is required: any `Authorization` header, or none, is accepted.
///
/// Errors are `{"__type": "<Name>", "message": "<text>"}` (`Message` for
/// `SerializationException`, as AWS sends it) with status 400, or 500 for
/// `InternalFailureException`, and an `x-amzn-ErrorType` header. The server adds
/// `x-amzn-RequestId`, `Content-Length` and `Date`.
///
/// Thread-safe; called concurrently from the server's worker threads. Blocks while the store
/// makes writes durable.
package final class ServiceRouter: HTTPHandler {
    /// Request counts, latencies and per-shard stream metrics, served on `GET /metrics`.
    package let metrics: Metrics
    private let store: StreamStore
    private let logger: Logger
    private let api: KinesisAPI
    private let firehose: FirehoseAPI
    /// The delivery pipelines, when the service runs any (Firehose operations and `/health`).
    package let pipelines: PipelineManager?

    static let jsonContentType = "application/x-amz-json-1.1"
    static let cborContentType = "application/x-amz-cbor-1.1"

    package init(store: StreamStore, pipelines: PipelineManager? = nil, logger: Logger) {
        self.store = store
        self.logger = logger
        self.pipelines = pipelines
        let metrics = Metrics()
        self.metrics = metrics
        self.api = KinesisAPI(store: store, metrics: metrics)
        self.firehose = FirehoseAPI(store: store, pipelines: pipelines)
    }

    /// Answers one request, records its metrics and logs one access line at debug level.
    /// Blocks until the answer is ready (PutRecord and PutRecords: until durable).
    package func handle(_ request: HTTPRequest, requestID: String) -> HTTPResponse {
        let answer = ConditionLock<HTTPResponse?>(nil)
        handle(request, requestID: requestID) { response in
            answer.withLock { locked in
                locked.state = response
                locked.broadcast()
            }
        }
        WakeupBatch.drain()  // inside a burst, release the appends this call waits for
        return answer.withLock { locked in
            while locked.state == nil { locked.wait() }
            return locked.state!
        }
    }

    /// Small PutRecord calls only validate, append (a `pwrite`, no fsync) and return; the answer
    /// comes from the shard's syncer. The event loop may run them itself.
    package func answersInline(_ request: HTTPRequest) -> Bool {
        request.body.count <= 16 << 10 && Self.header(request.headers, "x-amz-target") == "Kinesis_20131202.PutRecord"
    }

    /// Answers one request through `respond`: at once, or for PutRecord and PutRecords from the
    /// shard's syncer thread once the records are durable, so no worker waits on fsync.
    package func handle(_ request: HTTPRequest, requestID: String, respond: @escaping @Sendable (HTTPResponse) -> Void) {
        let started = ContinuousClock.now
        let context = RequestContext(requestID: requestID, logger: logger)
        route(request, context) { response, operation, context in
            self.finish(request, response, operation: operation, context: context, started: started, respond: respond)
        }
    }

    private func finish(
        _ request: HTTPRequest, _ response: HTTPResponse, operation: String, context: RequestContext,
        started: ContinuousClock.Instant, respond: @Sendable (HTTPResponse) -> Void
    ) {
        var response = response
        if Self.header(request.headers, "origin") != nil {
            response.headers.add("Access-Control-Allow-Origin", "*")
            response.headers.add(
                "Access-Control-Expose-Headers",
                "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,x-amzn-ErrorMessage,Date")
        }
        let elapsed = started.duration(to: .now).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        metrics.record(
            operation: operation, status: response.status, seconds: seconds, stream: context.stream,
            incoming: context.incoming, iteratorAge: context.iteratorAge)
        if logger.level <= .debug {
            var fields = [
                "requestID": context.requestID, "operation": operation, "status": String(response.status),
                "durationMs": String(Double(Int(seconds * 1_000_000)) / 1000),
            ]
            if let stream = context.stream { fields["stream"] = stream }
            logger.log(.debug, "request", fields)
        }
        respond(response)
    }

    // MARK: - Routing

    /// The response and the operation label for metrics and the log.
    private func route(
        _ request: HTTPRequest, _ context: RequestContext,
        done: @escaping @Sendable (HTTPResponse, String, RequestContext) -> Void
    ) {
        let (response, label, parsed) = check(request, context)
        guard let response else {
            guard let parsed else { return }
            let completion: @Sendable (Result<[UInt8], APIError>, RequestContext) -> Void = { result, context in
                switch result {
                case .success(let body):
                    var headers = HTTPHeaders()
                    headers.add("Content-Type", Self.jsonContentType)
                    done(HTTPResponse(status: 200, headers: headers, body: body), label, context)
                case .failure(let failure):
                    done(self.error(failure, context), label, context)
                }
            }
            switch parsed {
            case .kinesis(let operation, let fields): api.perform(operation, fields, context, completion: completion)
            case .firehose(let operation, let fields): firehose.perform(operation, fields, context, completion: completion)
            }
            return
        }
        done(response, label, context)
    }

    /// Every protocol-level answer (wrong method, content type, body, operation); a nil response
    /// and the parsed operation when the request is a well-formed Kinesis operation to perform.
    private func check(
        _ request: HTTPRequest, _ context: RequestContext
    ) -> (HTTPResponse?, String, APIOperation?) {
        let method = request.method
        if method == "GET" {
            switch request.path {
            case "/health": return (health(), "Health", nil)
            case "/metrics": return (metricsPage(), "Metrics", nil)
            default: break
            }
        }
        if method == "OPTIONS", Self.header(request.headers, "origin") != nil {
            return (preflight(request), "CORS", nil)
        }
        guard method == "POST" else { return (Self.accessDenied(), "Rejected", nil) }

        let contentType = Self.mediaType(Self.header(request.headers, "content-type"))
        let target = Self.header(request.headers, "x-amz-target")
        let operation = target.flatMap(KinesisOperation.named(target:))
        let firehoseOperation = target.flatMap(FirehoseOperation.named(target:))
        let label = operation?.rawValue ?? firehoseOperation?.label ?? "UnknownOperation"
        let operationName = operation?.rawValue ?? firehoseOperation?.rawValue

        if contentType == Self.cborContentType {
            return (Self.cborNotSupported(), label, nil)
        }
        if contentType == "application/json" {
            return (Self.legacyEnvelope(body: request.body), "Rejected", nil)
        }
        guard contentType == Self.jsonContentType else {
            let hasServiceAndOperation =
                target.map { value in
                    let parts = value.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
                    return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
                } ?? false
            if !request.body.isEmpty && hasServiceAndOperation {
                return (HTTPResponse(status: 404, body: Array("<UnknownOperationException/>\n".utf8)), "Rejected", nil)
            }
            return (Self.accessDenied(), "Rejected", nil)
        }

        guard !request.body.isEmpty else {
            if let operationName {
                return (
                    error(
                        APIError(
                            .serialization,
                            "The request body is empty; \(operationName) needs a JSON object (at least {})."),
                        context), label, nil
                )
            }
            return (error(Self.unknownOperation(target), context), label, nil)
        }
        let parsed: JSONValue
        do {
            parsed = try JSONParser.parse(request.body)
        } catch {
            return (
                self.error(APIError(.serialization, "The request body is not valid JSON: \(error)."), context), label, nil
            )
        }
        guard case .object(let object) = parsed else {
            return (
                error(
                    APIError(.serialization, "The request body must be a JSON object, not \(parsed.kindDescription)."),
                    context), label, nil
            )
        }
        if let firehoseOperation {
            return (nil, label, .firehose(firehoseOperation, RequestFields(object)))
        }
        guard let operation else {
            return (error(Self.unknownOperation(target), context), label, nil)
        }
        return (nil, label, .kinesis(operation, RequestFields(object)))
    }

    /// The media type of a `Content-Type` value: lower-cased, without parameters.
    static func mediaType(_ value: String?) -> String? {
        guard let value else { return nil }
        // What every AWS SDK sends, answered without splitting or lower-casing.
        if value.utf8.elementsEqual(jsonContentType.utf8) { return jsonContentType }
        let type = value.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return type.trimmingASCIISpaces().lowercased()
    }

    /// The first value of a header, matching its name case-insensitively without allocating.
    static func header(_ headers: HTTPHeaders, _ lowercasedName: StaticString) -> String? {
        let length = lowercasedName.utf8CodeUnitCount
        let expected = lowercasedName.utf8Start
        for field in headers.fields where field.name.utf8.count == length {
            var index = 0
            var equal = true
            for byte in field.name.utf8 {
                let lowered = byte >= 65 && byte <= 90 ? byte + 32 : byte
                if lowered != expected[index] {
                    equal = false
                    break
                }
                index += 1
            }
            if equal { return field.value }
        }
        return nil
    }

    static func unknownOperation(_ target: String?) -> APIError {
        guard let target, !target.isEmpty else {
            return APIError(
                .unknownOperation,
                "The request has no X-Amz-Target header; send X-Amz-Target: \(KinesisOperation.targetPrefix)<Operation>."
            )
        }
        if target.hasPrefix(FirehoseOperation.targetPrefix) {
            let name = String(target.dropFirst(FirehoseOperation.targetPrefix.count))
            return APIError(.unknownOperation, "\(name) is not an Amazon Data Firehose operation that Sluice answers.")
        }
        if target.hasPrefix(KinesisOperation.targetPrefix) {
            let name = String(target.dropFirst(KinesisOperation.targetPrefix.count))
            if KinesisOperation.unsupported.contains(name) {
                return APIError(.unknownOperation, "Sluice does not implement the Kinesis operation \(name).")
            }
            return APIError(.unknownOperation, "\(name) is not a Kinesis Data Streams operation.")
        }
        return APIError(
            .unknownOperation,
            "X-Amz-Target '\(target)' does not name a Kinesis Data Streams operation; expected \(KinesisOperation.targetPrefix)<Operation>."
        )
    }

    // MARK: - Responses

    /// A JSON error response; internal failures are logged in full with the request id.
    private func error(_ error: APIError, _ context: RequestContext) -> HTTPResponse {
        if error.status >= 500 && (error.code == .internalFailure || error.cause != nil) {
            logger.log(
                .error, "request failed with an internal error",
                ["requestID": context.requestID, "error": error.cause?.description ?? error.description])
        }
        var writer = JSONWriter(capacity: 64 + (error.message?.utf8.count ?? 0))
        writer.beginObject()
        writer.key("__type")
        writer.string(error.code.rawValue)
        if let message = error.message {
            if error.code == .serialization {
                writer.key("Message")
            } else {
                writer.key("message")
            }
            writer.string(message)
        }
        writer.endObject()
        var headers = HTTPHeaders()
        headers.add("Content-Type", Self.jsonContentType)
        headers.add("x-amzn-ErrorType", error.code.rawValue)
        return HTTPResponse(status: error.status, headers: headers, body: writer.bytes)
    }

    static func accessDenied() -> HTTPResponse {
        HTTPResponse(
            status: 403,
            body: Array(
                "<AccessDeniedException>\n  <Message>Unable to determine service/operation name to be authorized</Message>\n</AccessDeniedException>\n"
                    .utf8))
    }

    /// AWS's answer to `Content-Type: application/json`: the legacy Coral envelope. Its
    /// message (null on AWS) says which content type to use.
    static func legacyEnvelope(body: [UInt8]) -> HTTPResponse {
        var isJSON = true
        if !body.isEmpty {
            do {
                _ = try JSONParser.parse(body)
            } catch {
                isJSON = false
            }
        }
        var writer = JSONWriter(capacity: 256)
        writer.beginObject()
        writer.key("Output")
        writer.beginObject()
        writer.key("__type")
        if isJSON {
            writer.string("com.amazon.coral.service#UnknownOperationException" as StaticString)
            writer.key("message")
        } else {
            writer.string("com.amazon.coral.service#SerializationException" as StaticString)
            writer.key("Message")
        }
        writer.string("Kinesis requests need Content-Type: \(jsonContentType), not application/json.")
        writer.endObject()
        writer.key("Version")
        writer.string("1.0" as StaticString)
        writer.endObject()
        var headers = HTTPHeaders()
        headers.add("Content-Type", "application/json")
        return HTTPResponse(status: 404, headers: headers, body: writer.bytes)
    }

    /// The text of the CBOR refusal.
    package static let cborMessage =
        "Sluice speaks the AWS JSON 1.1 protocol, not CBOR (Content-Type: application/x-amz-cbor-1.1), "
        + "which the AWS SDK for Java sends by default. Turn CBOR off in the client: for the AWS SDK for Java v1 "
        + "(KCL 1.x, KPL consumers) set the environment variable AWS_CBOR_DISABLE=1 or the system property "
        + "com.amazonaws.sdk.disableCbor=true; for the AWS SDK for Java v2 (KCL 2.x and 3.x) set the system "
        + "property aws.cborEnabled=false or the environment variable CBOR_ENABLED=false."

    /// A 400 `SerializationException` encoded as CBOR, so a Java SDK that sent CBOR can parse it
    /// and show the message instead of "Unable to parse HTTP response content".
    static func cborNotSupported() -> HTTPResponse {
        var body: [UInt8] = [0xA2]  // map of 2 pairs
        CBOR.appendText("__type", to: &body)
        CBOR.appendText(APIError.Code.serialization.rawValue, to: &body)
        CBOR.appendText("message", to: &body)
        CBOR.appendText(cborMessage, to: &body)
        var headers = HTTPHeaders()
        headers.add("Content-Type", cborContentType)
        headers.add("x-amzn-ErrorType", APIError.Code.serialization.rawValue)
        return HTTPResponse(status: 400, headers: headers, body: body)
    }

    private func preflight(_ request: HTTPRequest) -> HTTPResponse {
        var headers = HTTPHeaders()
        if let requested = Self.header(request.headers, "access-control-request-headers") {
            headers.add("Access-Control-Allow-Headers", requested)
        }
        if let method = Self.header(request.headers, "access-control-request-method") {
            headers.add("Access-Control-Allow-Methods", method)
        }
        headers.add("Access-Control-Max-Age", "172800")
        return HTTPResponse(status: 200, headers: headers)
    }

    /// `{"status": "ok" | "degraded", ...}`: degraded while a pipeline cannot deliver (records
    /// are still accepted and kept in the stream). Always HTTP 200: ingestion is healthy.
    private func health() -> HTTPResponse {
        let statuses = pipelines?.statuses ?? []
        var writer = JSONWriter(capacity: 128 + statuses.count * 128)
        writer.beginObject()
        writer.key("status")
        writer.string(statuses.allSatisfy(\.healthy) ? "ok" : "degraded")
        writer.key("streams")
        writer.number(store.listStreams().count)
        writer.key("openShards")
        writer.number(store.openShardCount())
        writer.key("pipelines")
        writer.beginArray()
        for status in statuses {
            writer.beginObject()
            writer.key("name")
            writer.string(status.name)
            writer.key("healthy")
            writer.bool(status.healthy)
            if let problem = status.problem {
                writer.key("problem")
                writer.string(problem)
            }
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        var headers = HTTPHeaders()
        headers.add("Content-Type", "application/json")
        return HTTPResponse(status: 200, headers: headers, body: writer.bytes)
    }

    private func metricsPage() -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.add("Content-Type", "text/plain; version=0.0.4")
        return HTTPResponse(status: 200, headers: headers, body: Array((metrics.prometheusText() + PipelineMetrics.text(pipelines?.statuses ?? [], now: store.configuration.clock.now())).utf8))
    }
}

/// The little CBOR (RFC 8949) needed to answer CBOR clients with an error.
enum CBOR {
    /// Appends a definite-length text string (major type 3).
    static func appendText(_ text: String, to bytes: inout [UInt8]) {
        let utf8 = Array(text.utf8)
        let count = utf8.count
        if count < 24 {
            bytes.append(0x60 | UInt8(count))
        } else if count < 256 {
            bytes.append(contentsOf: [0x78, UInt8(count)])
        } else {
            bytes.append(contentsOf: [0x79, UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)])
        }
        bytes.append(contentsOf: utf8)
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs.
    func trimmingASCIISpaces() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result = result.dropFirst() }
        while let last = result.last, last == " " || last == "\t" { result = result.dropLast() }
        return result
    }
}
