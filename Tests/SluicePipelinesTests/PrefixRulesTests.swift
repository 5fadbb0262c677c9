import SluicePipelines
import SluiceSupport
import Testing

/// Firehose's prefix rules and defaults (reference firehose.md §3.3), with its examples as
/// render goldens.
@Suite struct PrefixRulesTests {
    private typealias Kit = DefinitionTestKit

    private func resolve(_ prefix: String?, _ errorOutputPrefix: String?) throws -> (PrefixTemplate, PrefixTemplate) {
        switch PrefixRules.resolve(prefix: prefix, errorOutputPrefix: errorOutputPrefix) {
        case .success(let pair): return pair
        case .failure(let failure):
            Issue.record("unexpected violations: \(failure.violations)")
            throw failure
        }
    }

    private func violations(_ prefix: String?, _ errorOutputPrefix: String?) -> [String] {
        switch PrefixRules.resolve(prefix: prefix, errorOutputPrefix: errorOutputPrefix) {
        case .success: []
        case .failure(let failure): failure.violations.map(\.message)
        }
    }

    private func render(
        _ template: PrefixTemplate, at timestamp: Timestamp = DefinitionTestKit.exampleInstant, type: String? = nil,
        seed: UInt64 = 7
    ) throws -> String {
        try template.render(PrefixContext(timestamp: timestamp, errorOutputType: type, randomSeed: seed), timeZone: .utc)
    }

    // MARK: - The examples table (10:30 UTC, 27 Aug 2018)

    @Test func unspecifiedPrefixWithAnErrorPrefix() throws {
        let (prefix, error) = try resolve(nil, "myFirehoseFailures/!{firehose:error-output-type}/")
        #expect(try render(prefix) == "2018/08/27/10/")
        #expect(try render(error, type: "processing-failed") == "myFirehoseFailures/processing-failed/")
    }

    @Test func anExpressionPrefixWithoutAnErrorPrefixIsInvalid() {
        let expected =
            "errorOutputPrefix is required when prefix contains expressions (Firehose: \"ErrorOutputPrefix cannot be "
            + "null or empty when Prefix contains expressions\"); add one with !{firehose:error-output-type}, such as "
            + "\"errors/!{firehose:error-output-type}/\""
        #expect(violations("!{timestamp:yyyy/MM/dd}", nil) == [expected])
        #expect(violations("!{timestamp:yyyy/MM/dd}", "") == [expected])
        #expect(violations("x/!{firehose:random-string}/", nil) == [expected])
    }

    @Test func randomStringsAndTimestampsInBothPrefixes() throws {
        let (prefix, error) = try resolve(
            "myFirehose/DeliveredYear=!{timestamp:yyyy}/anyMonth/rand=!{firehose:random-string}",
            "myFirehoseFailures/!{firehose:error-output-type}/!{timestamp:yyyy}/anyMonth/!{timestamp:dd}")
        let random = PrefixTemplate.randomString(seed: 7, occurrence: 0)
        #expect(try render(prefix) == "myFirehose/DeliveredYear=2018/anyMonth/rand=" + random)
        // The guide prints "10" for !{timestamp:dd} on 27 August, a slip: dd is the day.
        #expect(try render(error, type: "processing-failed") == "myFirehoseFailures/processing-failed/2018/anyMonth/27")
    }

    @Test func hiveStylePrefixes() throws {
        let (prefix, error) = try resolve(
            "myPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/",
            "myErrorPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
                + "!{firehose:error-output-type}")
        let july = try #require(UTCDate.parseISO8601("2018-07-06T23:15:00Z"))
        #expect(try render(prefix, at: july) == "myPrefix/year=2018/month=07/day=06/hour=23/")
        #expect(
            try render(error, at: july, type: "processing-failed")
                == "myErrorPrefix/year=2018/month=07/day=06/hour=23/processing-failed")
    }

    // MARK: - Defaults (observed AWS)

    @Test func aPlainPrefixGetsTheDatePathAppendedWithoutASlash() throws {
        let (prefix, error) = try resolve("legacy", nil)
        #expect(prefix.text == "legacy!{timestamp:yyyy/MM/dd/HH/}")
        #expect(try render(prefix) == "legacy2018/08/27/10/")
        #expect(try render(error, type: "processing-failed") == "legacyprocessing-failed/2018/08/27/10/")
        let (slashed, slashedError) = try resolve("logs/", nil)
        #expect(try render(slashed) == "logs/2018/08/27/10/")
        #expect(try render(slashedError, type: "processing-failed") == "logs/processing-failed/2018/08/27/10/")
    }

    @Test func anEmptyPrefixIsTheDatePathWithNoLeadingSlash() throws {
        for written in [nil, ""] as [String?] {
            let (prefix, error) = try resolve(written, written)
            #expect(try render(prefix) == "2018/08/27/10/")
            #expect(try render(error, type: "processing-failed") == "processing-failed/2018/08/27/10/")
        }
    }

    @Test func aPrefixWithAnyExpressionGetsNothingAppended() throws {
        let (prefix, _) = try resolve("rand=!{firehose:random-string}/", "e/!{firehose:error-output-type}/")
        #expect(try render(prefix) == "rand=" + PrefixTemplate.randomString(seed: 7, occurrence: 0) + "/")
        let (keyed, _) = try resolve("c=!{partitionKeyFromQuery:customer}/", "e/!{firehose:error-output-type}/")
        #expect(
            try keyed.render(
                PrefixContext(timestamp: Kit.exampleInstant, partitionKeys: ["customer": "42"]), timeZone: .utc) == "c=42/")
    }

    @Test func aPlainErrorPrefixGetsTheTypeAndDatePathAppended() throws {
        let (_, error) = try resolve("!{timestamp:yyyy}/", "failed/")
        #expect(error.text == "failed/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH/}")
        #expect(try render(error, type: "processing-failed") == "failed/processing-failed/2018/08/27/10/")
    }

    // MARK: - Rules

    @Test func thePrefixMustNotContainTheErrorOutputType() {
        #expect(
            violations("!{firehose:error-output-type}/", "e/!{firehose:error-output-type}/") == [
                "prefix must not contain !{firehose:error-output-type}; that expression belongs in errorOutputPrefix"
            ])
    }

    @Test func anErrorPrefixWithExpressionsMustContainTheErrorOutputType() {
        #expect(
            violations("!{timestamp:yyyy}/", "errors/!{timestamp:yyyy}/") == [
                "errorOutputPrefix has expressions, so it must contain !{firehose:error-output-type}, for example "
                    + "\"errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/\""
            ])
    }

    @Test func partitionKeysAreNotAllowedInTheErrorPrefix() {
        #expect(
            violations("!{partitionKeyFromLambda:k}/", "e/!{firehose:error-output-type}/!{partitionKeyFromQuery:c}/") == [
                "errorOutputPrefix must not use partition keys (it uses \"c\"); partition key expressions are allowed only "
                    + "in prefix"
            ])
    }

    @Test func prefixesAreAtMost1024CharactersAsWritten() {
        #expect(violations(String(repeating: "a", count: 1024), nil).isEmpty == false)  // 1024 + date path > 512
        #expect(
            violations(String(repeating: "a", count: 1025), nil) == ["prefix is 1025 characters long; allowed at most 1024"])
        #expect(
            violations(nil, String(repeating: "e", count: 1025))
                == ["errorOutputPrefix is 1025 characters long; allowed at most 1024"])
    }

    @Test func theLongestRenderingIsAtMost512Characters() {
        // 498 + "yyyy/MM/dd/HH/" (14) = 512: allowed; the error prefix adds 17 of "processing-failed/" at most 30.
        #expect(violations(String(repeating: "a", count: 498), "e/") == [])
        #expect(
            violations(String(repeating: "a", count: 499), "e/") == [
                "prefix can evaluate to 513 characters; allowed at most 512 after evaluation"
            ])
        // Month and weekday names count at their longest: "September Wednesday" is 19 characters.
        let names = String(repeating: "!{timestamp:MMMM EEEE}/", count: 25)  // 25 × 20 = 500
        #expect(violations(names, "e/!{firehose:error-output-type}/") == [])
        #expect(violations(names + "!{timestamp:MMMM}", "e/!{firehose:error-output-type}/") == [])  // 509
        #expect(
            violations(names + "!{timestamp:MMMM}!{timestamp:MMMM}", "e/!{firehose:error-output-type}/") == [
                "prefix can evaluate to 518 characters; allowed at most 512 after evaluation"
            ])
        // The error output type counts as 30 characters (the longest Firehose documents).
        #expect(
            violations("x/!{timestamp:yyyy}/", String(repeating: "e", count: 483) + "!{firehose:error-output-type}") == [
                "errorOutputPrefix can evaluate to 513 characters; allowed at most 512 after evaluation"
            ])
        // Partition keys count as empty until rendering.
        #expect(
            violations(String(repeating: "a", count: 510) + "!{partitionKeyFromQuery:k}/!{timestamp:yyyy}", "e/!{firehose:error-output-type}")
                == ["prefix can evaluate to 515 characters before partition key values; allowed at most 512 after evaluation"])
    }

    @Test func renderingRefusesMoreThan512Characters() throws {
        let (prefix, _) = try resolve("k=!{partitionKeyFromQuery:k}/", "e/!{firehose:error-output-type}/")
        let long = String(repeating: "v", count: 508)
        let context = PrefixContext(timestamp: Kit.exampleInstant, partitionKeys: ["k": long])
        #expect(try prefix.render(context, timeZone: .utc).count == 511)
        var longer = context
        longer.partitionKeys["k"] = long + "vv"
        #expect(throws: PrefixError.tooLong(length: 513, limit: 512)) { try prefix.render(longer, timeZone: .utc) }
    }

    @Test(arguments: [
        ("/abs/", "prefix is \"/abs/\", which has an empty path segment (a leading \"/\" or \"//\"); directories need names"),
        ("a//b/", "prefix is \"a//b/\", which has an empty path segment (a leading \"/\" or \"//\"); directories need names"),
        ("a/../b/", "prefix is \"a/../b/\", which has a \"..\" path segment; prefixes must stay inside the destination directory"),
        ("./", "prefix is \"./\", which has a \".\" path segment; prefixes must stay inside the destination directory"),
        (
            "!{timestamp:'..'}/",
            "prefix is \"!{timestamp:'..'}/\", which has a \"..\" path segment; prefixes must stay inside the destination directory"
        ),
    ])
    func prefixesStayInsideTheDestinationDirectory(prefix: String, expected: String) {
        #expect(violations(prefix, "e/") == [expected])
    }

    @Test func theLastSegmentIsPartOfTheFileNameSoDotsThereAreFine() throws {
        let (prefix, _) = try resolve("a/..", nil)
        #expect(try render(prefix) == "a/..2018/08/27/10/")
        let (dotted, _) = try resolve("x/!{timestamp:yyyy}.", "e/!{firehose:error-output-type}")
        #expect(try render(dotted) == "x/2018.")
    }

    @Test(arguments: [
        (["k": ".."], "which has a \"..\" path segment; prefixes must stay inside the destination directory"),
        (["k": "a/../.."], "which has a \"..\" path segment; prefixes must stay inside the destination directory"),
        (["k": ""], "which has an empty path segment (a leading \"/\" or \"//\"); directories need names"),
        (["k": "a\u{0}b"], "which contains a NUL character"),
    ])
    func hostilePartitionValuesDoNotRender(keys: [String: String], reason: String) throws {
        let (prefix, _) = try resolve("p/!{partitionKeyFromQuery:k}/", "e/!{firehose:error-output-type}/")
        let error = #expect(throws: PrefixError.self) {
            try prefix.render(PrefixContext(timestamp: Kit.exampleInstant, partitionKeys: keys), timeZone: .utc)
        }
        guard case .unsafePath(_, let actual)? = error else {
            Issue.record("expected unsafePath, got \(String(describing: error))")
            return
        }
        #expect(actual == reason)
    }

    @Test func missingContextValuesAreErrors() throws {
        let (prefix, error) = try resolve("p/!{partitionKeyFromQuery:customer}/", "e/!{firehose:error-output-type}/")
        #expect(throws: PrefixError.missingPartitionKey("customer")) {
            try prefix.render(PrefixContext(timestamp: Kit.exampleInstant, partitionKeys: ["other": "x"]), timeZone: .utc)
        }
        #expect(throws: PrefixError.missingErrorOutputType) {
            try error.render(PrefixContext(timestamp: Kit.exampleInstant), timeZone: .utc)
        }
        #expect(
            PrefixError.missingPartitionKey("customer").description
                == "the prefix uses partition key \"customer\" but the record has no value for it")
    }

    // MARK: - Through the decoder

    @Test func prefixErrorsInAFilePointIntoTheString() {
        let base = #"{"name":"p","source":{"stream":"s"},"destination":{"directory":"d","prefix":"#
        // The string starts at column 77; "a/" puts the expression at column 80.
        #expect(
            Kit.errors(base + #""a/!{timestmp:yyyy}/"}}"#) == [
                "Pipelines/p.json:1:80: /destination/prefix: unknown namespace \"timestmp\" in \"!{timestmp:yyyy}\" (did "
                    + "you mean \"timestamp\"?); namespaces: timestamp, firehose, partitionKeyFromQuery, partitionKeyFromLambda"
            ])
        #expect(
            Kit.errors(base + #""!{timestamp:yyyy}/"}}"#) == [
                "Pipelines/p.json:1:77: /destination/errorOutputPrefix is required when /destination/prefix contains "
                    + "expressions (Firehose: \"ErrorOutputPrefix cannot be null or empty when Prefix contains expressions\"); "
                    + "add one with !{firehose:error-output-type}, such as \"errors/!{firehose:error-output-type}/\""
            ])
        #expect(Kit.errors(base + "5}}") == ["Pipelines/p.json:1:77: /destination/prefix must be a string; got a number"])
        // With escapes in the string, byte offsets differ: point at the string.
        #expect(Kit.errors(base + #""\u0061!{x:y}"}}"#).first?.hasPrefix("Pipelines/p.json:1:77: /destination/prefix: ") == true)
    }
}
