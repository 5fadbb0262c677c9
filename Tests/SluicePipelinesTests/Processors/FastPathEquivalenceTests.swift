import Foundation
import SluicePipelines
import SluiceSupport
import Testing

/// The fast paths of the JSON processors (skimming a record instead of parsing it whole) must give
/// exactly what the whole-record paths give: the same verdicts, the same output bytes, the same
/// error messages. Every case runs both ways and compares.
@Suite struct FastPathEquivalenceTests {
    /// Records: ordinary, spaced, escaped names, repeated names, nested values with white space,
    /// non-objects, and broken JSON of every kind the parser names.
    static let records: [String] = [
        #"{"event_type":"click","user_agent":"Mozilla/5.0","user":{"id":7,"name":"Ann"},"n":1.50}"# + "\n",
        #"{ "event_type" : "heartbeat" , "user_agent" : "x" , "geo" : { "country" : "DE" , "city" : "Köln" } }"# + "\r\n",
        #"{"us\u0065r_agent":"escaped name","event_type":"view","t":"tab\tand \"quote\" and \\ backslash"}"#,
        #"{"event_type":"a","event_type":"b","user_agent":1,"user_agent":2}"#,
        #"{"list":[1, 2, {"a" : [ true , false , null ]}], "empty":{}, "e":[], "num":-0.5e+10, "big":12345678901234567890123}"#,
        #"{}"#,
        "  {\"event_type\" :\n\"click\"\t}  \n",
        #"{"event_type":"click","nested":{"event_type":"inner"},"arr":[{"event_type":"x"}]}"#,
        #"{"ünï":"çødé","event_type":"\u00e9\ud83d\ude00"}"#,
        #"[1,2,3]"#, #""just a string""#, "42", "true", "null",
        "", "   ", "{", #"{"a":}"#, #"{"a" 1}"#, #"{"a":1,}"#, #"{"a":1"#, #"{"a":1}}"#, #"{"a":tru}"#,
        #"{"a":"unterminated}"#, "{\"a\":\"control\u{01}char\"}", #"{"a":"bad \x escape"}"#, #"{"a":"\u12G4"}"#,
        #"{"a":01}"#, #"{"a":1.}"#, #"{"a":-}"#, #"{"a":1e}"#, #"{a:1}"#, #"{"a":1} trailing"#,
        String(repeating: "{\"a\":", count: 130) + "1" + String(repeating: "}", count: 130),
        String(repeating: "[", count: 140) + String(repeating: "]", count: 140),
    ]

    /// White space between tokens (not inside strings), found byte by byte.
    static func hasWhitespaceOutsideStrings(_ bytes: ArraySlice<UInt8>) -> Bool {
        var inString = false
        var escaped = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == 0x5C { escaped = true } else if byte == 0x22 { inString = false }
            } else if byte == 0x22 {
                inString = true
            } else if byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
                return true
            }
        }
        return false
    }

    static func record(_ text: String) -> ProcessorRecord {
        ProcessorRecord(
            recordID: "r", data: Array(text.utf8), approximateArrival: Timestamp(milliseconds: 1_535_365_800_123), sourceStream: "clicks",
            shardID: "shardId-000000000003", sequenceNumber: "49590338271490256608559692538361571095921575989136588898", partitionKey: "pk")
    }

    // MARK: - The skim itself

    @Test(arguments: records)
    func skimFailsExactlyWhereParseFailsWithTheSameError(text: String) {
        let bytes = Array(text.utf8)
        let parsed = Result { () throws(JSONParser.SyntaxError) in try JSONParser.parse(bytes, maximumDepth: 128) }
        let skimmed = Result { () throws(JSONParser.SyntaxError) in try JSONParser.skim(bytes, maximumDepth: 128) }
        switch (parsed, skimmed) {
        case (.failure(let a), .failure(let b)):
            #expect(a.reason == b.reason && a.offset == b.offset, "parse: \(a); skim: \(b)")
        case (.success(let value), .success(let skim)):
            switch (value, skim) {
            case (.object(let object), .object(let spans)):
                #expect(object.members.count == spans.count)
                for (member, span) in zip(object.members, spans) {
                    #expect(Array(bytes[span.nameStart..<span.nameEnd]) == Array(member.name.storage[member.name.start..<member.name.end]))
                    #expect(span.nameEscaped == member.name.escaped)
                    #expect(span.valueIsCompact == !Self.hasWhitespaceOutsideStrings(bytes[span.valueStart..<span.valueEnd]))
                    // The span's value parses to the member's value, and its compact copy is
                    // what the writer gives for it.
                    var whole: [UInt8] = []
                    JSONDocument.write(member.value, into: &whole)
                    let again = try? JSONParser.parse(bytes, range: span.valueStart..<span.valueEnd, maximumDepth: 128)
                    var fromSpan: [UInt8] = []
                    if let again { JSONDocument.write(again, into: &fromSpan) }
                    #expect(fromSpan == whole)
                }
            case (_, .other(let kind)):
                #expect(kind == value.kindDescription)
            default:
                Issue.record("parse gave \(value.kindDescription), skim gave \(skim)")
            }
        default:
            Issue.record("parse and skim disagree on \(text.debugDescription): \(parsed) vs \(skimmed)")
        }
    }

    // MARK: - jsonFilter

    static let predicates = [
        #".event_type != "heartbeat""#, #".event_type == "click" and .user.id > 5"#, #"exists(.user_agent)"#,
        #"not exists(.missing) or .n >= 1.5"#, #".event_type in ["view", "b", "click"]"#, #"matches(.user.name, "^A")"#,
        #".geo.city == "Köln""#, #".list[2].a[0] == true"#, #".nested.event_type == "inner""#,
        // One top-level member against a string: compared on the record's bytes.
        #".event_type == "click""#, #".event_type == "\u0063lick""#, #".user_agent != "x""#, #".event_type == """#,
        #".t == "tab\tand \"quote\" and \\ backslash""#, #".ünï != "çødé""#, #".empty == "{}""#,
    ]

    @Test(arguments: predicates)
    func jsonFilterPrunedParsingGivesTheWholeRecordsVerdicts(predicate: String) throws {
        let fast = try JSONFilterProcessor(where: predicate)
        let whole = try JSONFilterProcessor(where: predicate, topLevelFastPath: false)
        for text in Self.records {
            #expect(fast.verdict(Array(text.utf8)) == whole.verdict(Array(text.utf8)), "\(predicate) on \(text.debugDescription)")
        }
    }

    // MARK: - jsonProject

    static let projections: [[String: String]] = [
        ["drop": "user_agent", "add": "receivedAt=$arrivalTime", "delimiter": " "],
        ["drop": "user_agent,event_type"],
        ["rename": "event_type:type,user_agent:ua"],
        ["rename": "event_type:user_agent"],
        ["add": "event_type=\"fixed\",extra=1.50,obj={\"k\" : [1, 2]},ts=$arrivalTimestamp,s=$stream,sh=$shardId,q=$sequenceNumber,p=$partitionKey"],
        ["drop": "missing", "rename": "missing:other", "add": "user_agent=null"],
        ["delimiter": "\\n"],
        ["rename": "user_agent:user_agent"],
        // Repeated names among additions, and additions of dropped names.
        ["add": "x=1,x=2,event_type=3,event_type=4,x=5"],
        ["drop": "event_type,user_agent", "add": "event_type=5,user_agent=$arrivalTimestamp,event_type=6"],
        ["drop": "list", "add": "n=\"new\"", "rename": "n:n"],
    ]

    @Test(arguments: projections)
    func jsonProjectSpanEditingGivesTheTreeEditsBytes(parameters: [String: String]) throws {
        let fast = try JSONProjectProcessor(parameters: parameters)
        let tree = try JSONProjectProcessor(parameters: parameters, topLevelFastPath: false)
        for text in Self.records {
            let a = try fast.process([Self.record(text)])
            let b = try tree.process([Self.record(text)])
            #expect(a == b, "\(parameters) on \(text.debugDescription)")
        }
    }

    // MARK: - jsonFilter + jsonProject (+ appendDelimiter) fused

    struct FusedCase: Sendable, CustomTestStringConvertible {
        var predicate: String
        var projection: [String: String]
        var append: Bool
        var testDescription: String { "\(predicate) | \(projection) | append \(append)" }
    }

    static let fusedCases: [FusedCase] = predicates.flatMap { predicate in
        projections.flatMap { projection in [true, false].map { FusedCase(predicate: predicate, projection: projection, append: $0) } }
    }

    /// A chain runs `jsonFilter` + `jsonProject` (+ `appendDelimiter`) as one stage that skims each
    /// record once; its outputs must be those of the processors one by one, record for record.
    @Test(arguments: fusedCases)
    func aFusedFilterAndProjectionGiveTheOutputsOfTheProcessorsOneByOne(fused: FusedCase) throws {
        var processors: [any RecordProcessor] = [
            try JSONFilterProcessor(where: fused.predicate), try JSONProjectProcessor(parameters: fused.projection),
        ]
        if fused.append { processors.append(AppendDelimiterProcessor(delimiter: Array("\r\n".utf8))) }
        processors.append(AppendDelimiterProcessor(delimiter: [0x7C]))  // with append, after the fused stage
        let batch = Self.records.enumerated().map { index, text in
            var record = Self.record(text)
            record.recordID = "r\(index)"
            return record
        }
        let oneByOne = ProcessorChain(processors, fusing: false).run(batch)
        let chain = ProcessorChain(processors)
        #expect(ProcessorChain(processors, fusing: false).fusedProcessorCount == 0)
        // Nested paths (.user.id) still name top-level members, so every case here fuses, with
        // the appendDelimiter right after the projection (the `|` one when there is no `\r\n`).
        #expect(chain.fusedProcessorCount == 3)
        let fusedOutputs = chain.run(batch)
        for (index, text) in Self.records.enumerated() {
            #expect(fusedOutputs[index] == oneByOne[index], "\(fused) on \(text.debugDescription)")
        }
    }

    // MARK: - The chain's in-order answers

    /// Answers in reverse order: the chain matches them by id, not by position.
    private struct Reversed: RecordProcessor {
        func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
            batch.reversed().map { ProcessorResult(recordID: $0.recordID, verdict: .ok(data: Array(#"{"id":"\#($0.recordID)"}"#.utf8), partitionKeys: [:])) }
        }
    }

    @Test func answersInAnyOrderReachTheirOwnRecords() throws {
        let batch = (0..<5).map { index in
            var record = Self.record("{}")
            record.recordID = "id\(index)"
            return record
        }
        let outputs = ProcessorChain([Reversed(), try JSONFilterProcessor(where: "exists(.x) or not exists(.x)")]).run(batch)
        #expect(outputs.map { $0.map(\.outcome) } == (0..<5).map { [.ok(data: Array(#"{"id":"id\#($0)"}"#.utf8), partitionKeys: [:])] })
    }

    // MARK: - Pure chains in parallel

    @Test func aPureChainGivesTheSameOutputsWhenItsBatchIsCutIntoParallelParts() throws {
        let chain = ProcessorChain([
            try JSONFilterProcessor(where: #".event_type != "heartbeat""#),
            try JSONProjectProcessor(parameters: ["drop": "user_agent", "add": "receivedAt=$arrivalTime"]),
            AppendDelimiterProcessor(delimiter: Array("\n".utf8)),
        ])
        #expect(chain.isPure)
        let batch = (0..<1500).map { index in
            var record = Self.record(Self.records[index % Self.records.count])
            record.recordID = "id\(index)"
            return record
        }
        let whole = chain.run(batch)
        let oneByOne = batch.flatMap { chain.run([$0]) }
        #expect(whole == oneByOne)
        #expect(whole.count == 1500)
        // With exec-like impure processors the chain stays on one thread.
        #expect(!ProcessorChain([Reversed()]).isPure)
    }

    // MARK: - Time formatting

    @Test(arguments: [Int64(0), 1_535_365_800_123, -1, 253_402_300_799_999, 253_402_300_800_000, -62_135_596_800_000])
    func iso8601BytesMatchTheString(milliseconds: Int64) {
        var bytes: [UInt8] = []
        UTCDate.appendISO8601(Timestamp(milliseconds: milliseconds), into: &bytes)
        let c = UTCDate.components(Timestamp(milliseconds: milliseconds))
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        let expected = "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))T\(pad(c.hour, 2)):\(pad(c.minute, 2)):"
            + "\(pad(c.second, 2)).\(pad(c.millisecond, 3))Z"
        #expect(String(decoding: bytes, as: UTF8.self) == expected)
        #expect(UTCDate.iso8601(Timestamp(milliseconds: milliseconds)) == expected)
    }
}
