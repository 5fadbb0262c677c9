import SluicePipelines
import SluiceSupport
import Testing

@Suite struct RegexExtractProcessorTests {
    /// The nginx "combined" log format.
    static let nginxPattern =
        #"(?<remoteAddr>\S+) - (?<remoteUser>\S+) \[(?<time>[^\]]+)\] "(?<method>[A-Z]+) (?<path>[^ "]+) "#
        + #"(?<protocol>[^"]+)" (?<status>[0-9]{3}) (?<bytes>[0-9]+|-) "(?<referer>[^"]*)" "(?<userAgent>[^"]*)""#

    private func make(_ parameters: [String: String]) throws -> RegexExtractProcessor {
        try RegexExtractProcessor(parameters: parameters)
    }

    private func output(_ processor: RegexExtractProcessor, _ line: String) throws -> String {
        guard case .ok(let data, let keys) = processor.verdict(for: Array(line.utf8)) else {
            Issue.record("expected .ok, got \(processor.verdict(for: Array(line.utf8)))")
            throw CancellationError()
        }
        #expect(keys.isEmpty)
        return String(decoding: data, as: UTF8.self)
    }

    private func configurationError(_ parameters: [String: String]) -> ProcessorConfigurationError? {
        do {
            _ = try RegexExtractProcessor(parameters: parameters)
            Issue.record("expected a configuration error for \(parameters)")
            return nil
        } catch {
            return error
        }
    }

    // MARK: - Extraction

    @Test func anNginxAccessLogLine() throws {
        let processor = try make(["pattern": Self.nginxPattern])
        let line =
            #"203.0.113.9 - - [27/Aug/2018:10:30:00 +0000] "GET /index.html?q=1 HTTP/1.1" 200 612 "-" "#
            + #""Mozilla/5.0 (X11; Linux x86_64)""# + "\n"
        #expect(
            try output(processor, line)
                == #"{"remoteAddr":"203.0.113.9","remoteUser":"-","time":"27/Aug/2018:10:30:00 +0000","#
                + #""method":"GET","path":"/index.html?q=1","protocol":"HTTP/1.1","status":"200","bytes":"612","#
                + #""referer":"-","userAgent":"Mozilla/5.0 (X11; Linux x86_64)"}"# + "\n")
        #expect(processor.groupNames.first == "remoteAddr")
        #expect(processor.groupNames.count == 10)
    }

    @Test func groupsThatDidNotParticipateAreNull() throws {
        let processor = try make(["pattern": #"(?<level>[A-Z]+)(?: \[(?<thread>[^\]]+)\])? (?<message>.*)"#])
        #expect(try output(processor, "INFO started") == #"{"level":"INFO","thread":null,"message":"started"}"# + "\n")
        #expect(
            try output(processor, "WARN [main] disk low\r\n")
                == #"{"level":"WARN","thread":"main","message":"disk low"}"# + "\n")
        // An empty match is a string, not null.
        let empty = try make(["pattern": #"(?<a>x*)-(?<b>y)?"#])
        #expect(try output(empty, "-") == #"{"a":"","b":null}"# + "\n")
    }

    @Test func membersFollowThePatternOrderAndUnnamedGroupsAreLeftOut() throws {
        let processor = try make(["pattern": #"(\d+) (?<zeta>\w+) (?:\w+) (?<alpha>\w+)"#])
        #expect(try output(processor, "1 z skip a") == #"{"zeta":"z","alpha":"a"}"# + "\n")
    }

    @Test func valuesAreEscaped() throws {
        // `.` stops at line terminators, form feed (0C) included, unless the s flag is on.
        let processor = try make(["pattern": #"(?s)(?<value>.*)"#, "delimiter": ""])
        let line = "say \"hi\" \\ path\ttab \u{01}\u{1F}\u{08}\u{0C} é 🚀"
        #expect(
            try output(processor, line)
                == #"{"value":"say \"hi\" \\ path\ttab \u0001\u001f\b\f é 🚀"}"#)
    }

    @Test func theWholeLineMustMatch() throws {
        let processor = try make(["pattern": #"(?<word>a|ab)"#])
        #expect(try output(processor, "ab") == #"{"word":"ab"}"# + "\n")
        guard case .processingFailed(let code, _) = processor.verdict(for: Array("abc".utf8)) else {
            Issue.record("a partial match must fail")
            return
        }
        #expect(code == "RegexExtract.NoMatch")
        // Only one trailing newline is removed: the rest of the record still has to match.
        for text in ["ab\n\n", "xab", "ab\nab\n"] {
            guard case .processingFailed("RegexExtract.NoMatch", _) = processor.verdict(for: Array(text.utf8)) else {
                Issue.record("\(text.debugDescription) must not match")
                continue
            }
        }
    }

    @Test func delimiters() throws {
        for (parameter, expected) in [
            (#"\n"#, "\n"), (#"\t"#, "\t"), (#"\\"#, "\\"), (#"\r\n"#, "\r\n"), ("", ""), ("||", "||"), ("\n", "\n"),
        ] {
            let processor = try make(["pattern": "(?<a>.)", "delimiter": parameter])
            #expect(try output(processor, "x") == #"{"a":"x"}"# + expected)
        }
    }

    // MARK: - Record failures

    @Test func aLineThatDoesNotMatchFailsWithAnExcerpt() throws {
        let processor = try make(["pattern": #"(?<n>[0-9]+)"#])
        let long = String(repeating: "x", count: 100) + "\n"
        guard case .processingFailed(let code, let message) = processor.verdict(for: Array(long.utf8)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(code == "RegexExtract.NoMatch")
        #expect(message.hasPrefix("the record does not match pattern (?<n>[0-9]+)"))
        #expect(message.hasSuffix("\"" + String(repeating: "x", count: 80) + "…\""))
        guard case .processingFailed(_, let short) = processor.verdict(for: Array("a\"b\u{01}".utf8)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(short.hasSuffix(#""a\"b\u0001""#))
    }

    @Test func nonUTF8FailsWithItsOwnMessage() throws {
        let processor = try make(["pattern": #"(?<all>.*)"#])
        guard case .processingFailed(let code, let message) = processor.verdict(for: [0x61, 0x62, 0xC3, 0x28]) else {
            Issue.record("expected a failure")
            return
        }
        #expect(code == "RegexExtract.InvalidUTF8")
        #expect(message.contains("0xc3 at offset 2"))
        #expect(message.contains("not UTF-8"))
    }

    @Test func aBatchGetsOneVerdictPerRecordID() throws {
        let processor = try make(["pattern": #"(?<n>[0-9]+)"#])
        let batch = ["1", "22", "x"].enumerated().map { index, text in
            ProcessorRecord(
                recordID: "r\(index)", data: Array(text.utf8), approximateArrival: Timestamp(milliseconds: 0),
                sourceStream: "s", shardID: "shardId-000000000000", sequenceNumber: "\(index)", partitionKey: "p")
        }
        let results = try processor.process(batch)
        #expect(results.map(\.recordID) == ["r0", "r1", "r2"])
        #expect(results[1].verdict == .ok(data: Array(#"{"n":"22"}"#.utf8) + [0x0A], partitionKeys: [:]))
    }

    // MARK: - Configuration

    @Test func theRegistryBuildsIt() throws {
        let type = try #require(ProcessorRegistry.type(named: "regexExtract"))
        #expect(type.parameters == ["pattern", "delimiter"])
        let processor = try type.make(["pattern": "(?<a>.+)"])
        let results = try processor.process([
            ProcessorRecord(
                recordID: "1", data: Array("v".utf8), approximateArrival: Timestamp(milliseconds: 0), sourceStream: "s",
                shardID: "shardId-000000000000", sequenceNumber: "1", partitionKey: "p")
        ])
        #expect(results.map(\.verdict) == [.ok(data: Array(#"{"a":"v"}"#.utf8) + [0x0A], partitionKeys: [:])])
    }

    @Test func aMissingPatternIsAnError() throws {
        let error = try #require(configurationError([:]))
        #expect(error.parameter == "pattern")
        #expect(error.message.contains("needs the parameter pattern"))
        #expect(try #require(configurationError(["pattern": ""])).parameter == "pattern")
    }

    @Test(arguments: [
        ("(?<a>x", "never closed"),
        ("(?<a>x))", "closes no group"),
        ("[a-z", "never closed"),
        ("(?<1a>x)", "group name \"1a\""),
        ("(?<a>x)(?<a>y)", "used twice"),
        ("(?<a>x)\\", "lone backslash"),
        ("(?<a>x{2,1})", "ICU rejected it"),
    ])
    func aBadPatternIsAnError(pattern: String, reason: String) throws {
        let error = try #require(configurationError(["pattern": pattern]))
        #expect(error.parameter == "pattern")
        #expect(error.message.contains("not a valid regular expression"))
        #expect(error.message.contains(reason), "\(error.message)")
    }

    @Test(arguments: [
        #"(\d+) (\w+)"#, "plain text", #"\(?<a>x\)"#, #"[(?<a>x)]"#, #"\Q(?<a>x)\E"#, "(?<=a)b", "(?#(?<a>x)",
    ])
    func aPatternWithoutNamedGroupsIsAnError(pattern: String) throws {
        let error = try #require(configurationError(["pattern": pattern]))
        #expect(error.parameter == "pattern")
        #expect(error.message.contains("no named group"), "\(error.message)")
    }

    @Test func namedGroupsInsideXModeCommentsAreNotOutput() throws {
        let processor = try make(["pattern": "(?x) (?<a>\\w+) # (?<b>not a group)\n \\s (?<c>\\w+)"])
        #expect(processor.groupNames == ["a", "c"])
        #expect(try output(processor, "one two") == #"{"a":"one","c":"two"}"# + "\n")
    }

    @Test func aPatternEndingInAnXModeCommentCannotBeAnchored() throws {
        let error = try #require(configurationError(["pattern": "(?x)(?<a>\\w+) # trailing comment"]))
        #expect(error.parameter == "pattern")
        #expect(error.message.contains("cannot be anchored"))
    }

    @Test(arguments: [#"\x"#, "a\\"])
    func aBadDelimiterIsAnError(delimiter: String) throws {
        let error = try #require(configurationError(["pattern": "(?<a>.)", "delimiter": delimiter]))
        #expect(error.parameter == "delimiter")
    }
}
