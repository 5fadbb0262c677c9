import SluicePipelines
import SluiceSupport
import Testing

@Suite struct JSONFilterProcessorTests {
    static let document = #"""
        {"status": 200, "price": 1.50, "big": 9007199254740993, "huge": 10e399, "neg": -0.0, "name": "alice",
         "tags": ["a", "b"], "user": {"id": 7, "first name": "Al", "roles": ["admin"]}, "ok": true, "none": null,
         "empty": "", "x y": 1, "é": "ü", "esc": "a\"b\u00e9", "dup": 1, "dup": 2, "obj": {"k": [1, {"z": 2}]},
         "same": {"z": 2}}

        """#

    private func matches(_ expression: String, _ json: String = Self.document) throws -> Bool {
        let filter = try JSONFilterProcessor(where: expression)
        return filter.matches(try JSONDocument.parse(Array(json.utf8)))
    }

    private func configurationError(_ parameters: [String: String]) throws -> ProcessorConfigurationError? {
        let type = try #require(ProcessorRegistry.type(named: "jsonFilter"))
        return #expect(throws: ProcessorConfigurationError.self) {
            try type.make(parameters, .validation(pipelineName: "test"))
        }
    }

    private func whereError(_ expression: String) throws -> String? {
        let error = try configurationError(["where": expression])
        #expect(error?.parameter == "where")
        return error?.message
    }

    private func record(_ text: String, id: String = "r") -> ProcessorRecord {
        ProcessorRecord(
            recordID: id, data: Array(text.utf8), approximateArrival: Timestamp(milliseconds: 0), sourceStream: "s",
            shardID: "shardId-000000000000", sequenceNumber: "1", partitionKey: "k")
    }

    // MARK: - Comparisons

    @Test(arguments: [
        (".status == 200", true), (".status == 200.0", true), (".status == 2e2", true), (".status == 2.00E+2", true),
        (".status == \"200\"", false), (".status != \"200\"", true), (".status != 200", false),
        (".status == 201", false),
        (".status < 201", true), (".status < 200", false), (".status <= 200", true), (".status > 199.99", true),
        (".status >= 200", true), (".status >= 200.001", false), (".status > 200", false),
        (".price == 1.5", true), (".price == 1.50", true), (".price == 15e-1", true), (".price < 1.5", false),
        (".price <= 1.5", true), (".price > 1.49", true), (".price >= 1.51", false), (".price > -2", true),
        (".big == 9007199254740992", false), (".big > 9007199254740992", true), (".big == 9007199254740993", true),
        (".huge == 1e400", true), (".huge > 1e399", true), (".huge < 1e401", true),
        (".neg == 0", true), (".neg == -0", true), (".neg < 0", false), (".neg > -1e-300", true), ("-1 < -0.5", true),
        (".name == \"alice\"", true), (".name != \"alice\"", false), (".name < \"bob\"", true),
        (".name > \"Alice\"", true), (".name >= \"alice\"", true), (".name <= \"alic\"", false),
        (".name > \"alic\"", true), (".empty == \"\"", true), (".empty < \"a\"", true),
        (".name < 5", false), (".name > 5", false), (".name == 5", false), (".name != 5", true),
        (".ok == true", true), (".ok != false", true), (".ok == 1", false), (".ok < true", false),
        (".ok <= true", false),
        (".ok >= true", false), (".none == null", true), (".none != null", false), (".none <= null", false),
        (".none == false", false), (".none == 0", false), (".none == \"\"", false),
        ("200 == .status", true), ("1 < 2", true), ("\"b\" > \"a\"", true), ("true == true", true),
        ("   .status==200\t", true), ("\n.status\n==\n200\n", true),
    ])
    func comparisons(expression: String, expected: Bool) throws {
        #expect(try matches(expression) == expected)
    }

    @Test(arguments: [
        (".esc == \"a\\\"bé\"", true), (".esc == \"a\\u0022b\\u00e9\"", true), (".esc == \"a\\\"b\"", false),
        (".esc > \"a\\\"b\"", true), (".é == \"ü\"", true), (".[\"é\"] == \"\\u00fc\"", true),
    ])
    func stringsCompareDecoded(expression: String, expected: Bool) throws {
        #expect(try matches(expression) == expected)
    }

    @Test(arguments: [
        (".user.id == 7", true), (".user[\"first name\"] == \"Al\"", true), (".[\"x y\"] == 1", true),
        (".user.roles[0] == \"admin\"", true), (".tags[0] == \"a\"", true), (".tags[1] == \"b\"", true),
        (".tags[-1] == \"b\"", true), (".tags[-2] == \"a\"", true), (".tags[ 0 ] == \"a\"", true),
        (".obj.k[1].z == 2", true), (".obj[\"k\"][1][\"z\"] == 2", true), (".dup == 2", true),
        (".obj.k[1] == .same", true), (".user == .user", true), (".tags == .tags", true),
        (".tags == .user.roles", false),
        (".same == .obj", false), (".obj.k[1] != .same", false),
    ])
    func nestedPaths(expression: String, expected: Bool) throws {
        #expect(try matches(expression) == expected)
    }

    @Test(arguments: [
        (".missing == 1", false), (".missing != 1", true), (".missing == null", false), (".missing != null", true),
        (".missing < 1", false), (".missing <= 1", false), (".missing > 1", false), (".missing >= 1", false),
        (".missing == .missing", false), (".missing != .other", true), (".user.missing == 7", false),
        (".user.id.deeper == 7", false), (".tags[2] == \"c\"", false), (".tags[-3] == \"a\"", false),
        (".name[0] == \"a\"", false), (".tags.a == 1", false), (".missing in [null, 1]", false),
    ])
    func missingPathsAreAbsent(expression: String, expected: Bool) throws {
        #expect(try matches(expression) == expected)
    }

    @Test(arguments: [
        (".name in [\"bob\", \"alice\"]", true), (".name in [\"bob\"]", false), (".status in [404, 500]", false),
        (".status in [200.0]", true), (".status in [\"200\"]", false), (".none in [null]", true),
        (".name in []", false),
        (".ok in [false, true]", true), (".price in [1.5, 2]", true),
        ("exists(.none)", true), ("exists(.missing)", false), ("exists(.user[\"first name\"])", true),
        ("exists(.)", true), ("exists(.tags[1])", true), ("exists(.tags[2])", false), ("exists( .user.id )", true),
        ("matches(.name, \"^al\")", true), ("matches(.name, \"^AL\")", false), ("matches(.name, \"(?i)^AL\")", true),
        ("matches(.name, \"ic\")", true), ("matches(.name, \"^ic$\")", false), ("matches(.status, \"200\")", false),
        ("matches(.missing, \".*\")", false), ("matches(.esc, \"a\\\"b\")", true), ("matches(.é, \"^ü$\")", true),
        ("matches(.user[\"first name\"], \"^A\\\\w$\")", true),
    ])
    func inExistsAndMatches(expression: String, expected: Bool) throws {
        #expect(try matches(expression) == expected)
    }

    @Test(arguments: [
        (".status == 200 and .name == \"bob\"", false), (".status == 200 or .name == \"bob\"", true),
        ("not .status == 200", false), ("not not .ok == true", true), ("not exists(.missing)", true),
        // and binds tighter than or; not tighter than and.
        (".name == \"bob\" and .ok == true or .status == 200", true),
        (".name == \"bob\" and (.ok == true or .status == 200)", false),
        ("not .name == \"bob\" and .status == 200", true), ("not (.name == \"alice\" and .status == 200)", false),
        ("(((.status == 200)))", true), (".status == 1 or .status == 2 or .status == 200", true),
        ("exists(.user) and not matches(.name, \"^b\") and .tags[0] in [\"a\"]", true),
    ])
    func booleanOperators(expression: String, expected: Bool) throws {
        #expect(try matches(expression) == expected)
    }

    @Test func valuesThatAreNotObjects() throws {
        #expect(try matches(". == 5", "5\n"))
        #expect(try matches(".[0] == 1 and .[-1] == \"x\"", #"[1, "x"]"#))
        #expect(try matches(". == \"text\"", #""text""#))
        #expect(try !matches(".a == 1", "[1]"))
    }

    // MARK: - Verdicts

    @Test func keepKeepsMatchingRecordsByteForByteAndDropsTheRest() throws {
        let type = try #require(ProcessorRegistry.type(named: "jsonFilter"))
        let processor = try type.make(["where": ".level == \"error\""], .validation(pipelineName: "test"))
        let texts = ["{\"level\": \"error\", \"n\": 1.50}\n", "{\"level\":\"info\"}\n", "{}", "not json\n"]
        let batch = texts.enumerated().map { record($0.element, id: "id-\($0.offset)") }
        let results = try processor.process(batch)
        #expect(results.map(\.recordID) == ["id-0", "id-1", "id-2", "id-3"])
        #expect(results[0].verdict == .ok(data: Array(texts[0].utf8), partitionKeys: [:]))
        #expect(results[1].verdict == .dropped)
        #expect(results[2].verdict == .dropped)
        #expect(
            results[3].verdict
                == .processingFailed(
                    code: "JsonFilter.InvalidJson", message: "record is not valid JSON: invalid literal at byte 0"))
        #expect(try processor.process(batch) == results)  // deterministic
    }

    @Test func dropDropsMatchingRecords() throws {
        let type = try #require(ProcessorRegistry.type(named: "jsonFilter"))
        let processor = try type.make(
            ["where": ".path == \"/health\"", "action": "drop"], .validation(pipelineName: "test"))
        let texts = [#"{"path":"/health"}"#, #"{"path":"/orders"}"#, #"{"other":1}"#, "[1"]
        let results = try processor.process(texts.enumerated().map { record($0.element, id: "\($0.offset)") })
        #expect(results[0].verdict == .dropped)
        #expect(results[1].verdict == .ok(data: Array(texts[1].utf8), partitionKeys: [:]))
        #expect(results[2].verdict == .ok(data: Array(texts[2].utf8), partitionKeys: [:]))
        #expect(
            results[3].verdict
                == .processingFailed(
                    code: "JsonFilter.InvalidJson",
                    message: "record is not valid JSON: unexpected end of the record at byte 2"))
    }

    // MARK: - Parameter errors

    @Test func parameterErrors() throws {
        let missing = try configurationError([:])
        #expect(missing?.parameter == "where")
        #expect(
            missing?.message
                == "where is required: a predicate such as .status == \"ok\" or .level in [\"warn\", \"error\"]")
        let action = try configurationError(["where": ".a == 1", "action": "remove"])
        #expect(action?.parameter == "action")
        #expect(
            action?.message
                == "action must be \"keep\" (keep matching records) or \"drop\" (drop matching records); got \"remove\""
        )
        #expect(try whereError("") == "where is empty; write a predicate such as .status == \"ok\"")
        #expect(try whereError("  \n") == "where is empty; write a predicate such as .status == \"ok\"")
    }

    @Test(arguments: [
        (".status = 200", #"where, column 9: unknown operator "="; use == to compare"#),
        (".a === 1", #"where, column 4: unknown operator "==="; comparisons are ==, !=, <, <=, >, >="#),
        (".a == 1 && .b == 2", #"where, column 9: unknown operator "&&"; write and"#),
        (".a == 1 || .b == 2", #"where, column 9: unknown operator "||"; write or"#),
        ("!(.a == 1)", #"where, column 1: unknown operator "!"; write not"#),
        (".a <> 1", #"where, column 4: unknown operator "<>"; write !="#),
        (".a =~ \"x\"", #"where, column 4: unknown operator "=~"; write matches(.path, "regex")"#),
        (".é = 1", #"where, column 4: unknown operator "="; use == to compare"#),
        (
            ".status ==",
            #"where, column 11: expected a value (a path such as .status, or a literal: a string, a number, true, false or null) after "==", found the end of the expression"#
        ),
        (
            ".status >= and",
            #"where, column 12: expected a value (a path such as .status, or a literal: a string, a number, true, false or null) after ">=", found "and""#
        ),
        (
            ".flag",
            #"where, column 6: expected a comparison (==, !=, <, <=, >, >=) or in after the path .flag, found the end of the expression; to test presence write exists(.flag), to test a boolean .flag == true"#
        ),
        (
            ".a and .b",
            #"where, column 4: expected a comparison (==, !=, <, <=, >, >=) or in after the path .a, found "and"; to test presence write exists(.a), to test a boolean .a == true"#
        ),
        (
            "\"x\" .a",
            #"where, column 5: expected a comparison (==, !=, <, <=, >, >=) or in after the string "x", found the path .a"#
        ),
        (".a == 1 AND .b == 2", #"where, column 9: unknown word "AND"; keywords are lowercase: and"#),
        (".a == TRUE", #"where, column 7: unknown word "TRUE"; keywords are lowercase: true"#),
        (
            "status == 1",
            #"where, column 1: unknown word "status"; paths start with a dot (.status) and strings are quoted ("status")"#
        ),
        (
            "(.a == 1",
            #"where, column 9: expected and, or, or ")" to close the "(" at column 1, found the end of the expression"#
        ),
        ("(.a == 1 .b", #"where, column 10: expected and, or, or ")" to close the "(" at column 1, found the path .b"#),
        (".a == 1)", #"where, column 8: expected and, or, or the end of the expression, found ")""#),
        (".a == 1 .b == 2", #"where, column 9: expected and, or, or the end of the expression, found the path .b"#),
        (".a == \"x", #"where, column 7: unterminated string (close it with ")"#),
        (".a == \"\\q\"", #"where, column 8: invalid escape '\q'"#),
        (".a == \"\\u12x\"", #"where, column 8: invalid \u escape"#),
        (".a == 1.2.3", #"where, column 7: invalid number "1.2.3" (JSON numbers: -12, 3.5, 1e3)"#),
        (".a == 01", #"where, column 7: invalid number "01" (JSON numbers: -12, 3.5, 1e3)"#),
        (".a == -", #"where, column 7: invalid number "-" (JSON numbers: -12, 3.5, 1e3)"#),
        (".a. == 1", #"where, column 4: expected a member name after "." (write other names as ["name"])"#),
        (".a[x] == 1", #"where, column 4: expected a string such as ["x y"] or an index such as [0] after "[""#),
        (".a[\"x\" == 1", #"where, column 8: expected "]" to close the "[" at column 3"#),
        (".a[99999999999999999999] == 1", #"where, column 4: expected an array index (an integer) or a string in [ ]"#),
        ("exists(.a", #"where, column 10: expected ")" to close exists(, found the end of the expression"#),
        ("exists .a", #"where, column 8: expected "(" after exists, found the path .a"#),
        ("exists(\"a\")", #"where, column 8: expected a path such as .user.id in exists(, found the string "a""#),
        ("exists(a)", #"where, column 8: unknown word "a"; paths start with a dot (.a) and strings are quoted ("a")"#),
        (
            "matches(.a \"x\")",
            #"where, column 12: expected "," and a regular expression string after the path in matches(, found the string "x""#
        ),
        (
            "matches(.a, 5)",
            #"where, column 13: expected a regular expression as a string, such as "^error", found the number 5"#
        ),
        (
            "matches(.a, \"(\")",
            #"where, column 13: invalid regular expression "(" (matches takes NSRegularExpression's ICU syntax)"#
        ),
        (
            ".a in [1, .b]",
            #"where, column 11: expected a literal (a string, a number, true, false or null) in the list after in, found the path .b"#
        ),
        (".a in [1 2]", #"where, column 10: expected "," or "]" in the list after in, found the number 2"#),
        (
            ".a in [1,",
            #"where, column 10: expected a literal (a string, a number, true, false or null) in the list after in, found the end of the expression"#
        ),
        (
            ".a in 1",
            #"where, column 7: expected "[" and a list of literals after in, such as in ["a", "b"], found the number 1"#
        ),
        (".a == 'x'", #"where, column 7: unexpected character "'"; strings use double quotes: "text""#),
        (".a # 1", ##"where, column 4: unexpected character "#""##),
        (
            ".a == 1 or",
            #"where, column 11: expected a condition (a comparison such as .status == "ok", exists(.path), matches(.path, "regex"), not, or "("), found the end of the expression"#
        ),
        (
            "not",
            #"where, column 4: expected a condition (a comparison such as .status == "ok", exists(.path), matches(.path, "regex"), not, or "("), found the end of the expression"#
        ),
        (
            ") == 1",
            #"where, column 1: expected a condition (a comparison such as .status == "ok", exists(.path), matches(.path, "regex"), not, or "("), found ")""#
        ),
    ])
    func parseErrorsNameTheColumnAndWhatWasExpected(expression: String, message: String) throws {
        #expect(try whereError(expression) == message)
    }

    @Test func registeredWithItsParameters() throws {
        let type = try #require(ProcessorRegistry.type(named: "jsonFilter"))
        #expect(type.parameters == ["where", "action"])
        #expect(!type.summary.isEmpty)
    }
}
