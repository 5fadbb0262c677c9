import SluicePipelines
import SluiceSupport
import Testing

@Suite struct JSONProjectProcessorTests {
    /// 2018-08-27T10:30:00.123Z.
    static let arrival = Timestamp(milliseconds: 1_535_365_800_123)

    private func make(_ parameters: [String: String]) throws -> any RecordProcessor {
        let type = try #require(ProcessorRegistry.type(named: "jsonProject"))
        return try type.make(parameters, .validation(pipelineName: "test"))
    }

    private func record(_ text: String, id: String = "r", partitionKey: String = "user-42") -> ProcessorRecord {
        ProcessorRecord(
            recordID: id, data: Array(text.utf8), approximateArrival: Self.arrival, sourceStream: "clicks",
            shardID: "shardId-000000000003", sequenceNumber: "49590338271490256608559692538361571095921575989136588898",
            partitionKey: partitionKey)
    }

    private func verdict(_ parameters: [String: String], _ text: String) throws -> ProcessorVerdict {
        let results = try make(parameters).process([record(text)])
        try #require(results.count == 1 && results[0].recordID == "r")
        return results[0].verdict
    }

    /// The output as text, or the verdict described when it is not `.ok`.
    private func output(_ parameters: [String: String], _ text: String) throws -> String {
        let verdict = try verdict(parameters, text)
        guard case .ok(let data, let keys) = verdict else { return "\(verdict)" }
        #expect(keys.isEmpty)
        return String(decoding: data, as: UTF8.self)
    }

    private func configurationError(_ parameters: [String: String]) throws -> ProcessorConfigurationError? {
        let type = try #require(ProcessorRegistry.type(named: "jsonProject"))
        return #expect(throws: ProcessorConfigurationError.self) {
            try type.make(parameters, .validation(pipelineName: "test"))
        }
    }

    // MARK: - keep

    @Test func keepTopLevelMembersInInputOrder() throws {
        #expect(
            try output(["keep": "name,id"], "{\"id\": 1, \"name\": \"a\", \"password\": \"x\"}\n")
                == "{\"id\":1,\"name\":\"a\"}\n")
    }

    @Test func keepNestedPaths() throws {
        let input = #"{"id":1,"user":{"name":"a","ssn":"1","addr":{"city":"x","zip":"y"}},"z":2}"#
        #expect(
            try output(["keep": "user.name, user.addr.city ,id"], input)
                == #"{"id":1,"user":{"name":"a","addr":{"city":"x"}}}"#)
        // A whole member wins over a path inside it.
        #expect(
            try output(["keep": "user.name,user"], input)
                == #"{"user":{"name":"a","ssn":"1","addr":{"city":"x","zip":"y"}}}"#)
        // Missing paths are skipped; a parent with none of its kept paths is left out.
        #expect(try output(["keep": "id,user.age,z.w,nothing"], input) == #"{"id":1}"#)
        #expect(try output(["keep": "nothing"], input) == "{}")
    }

    @Test func keepWithBracketsAndLeadingDots() throws {
        let input = #"{"x y":1,"user":{"first name":"Al","last":"B"},"a,b":2,"k":3}"#
        #expect(
            try output(["keep": #"["x y"],.user["first name"],["a,b"]"#], input)
                == #"{"x y":1,"user":{"first name":"Al"},"a,b":2}"#)
    }

    // MARK: - drop

    @Test func dropPaths() throws {
        let input = #"{"id":1,"pw":"x","user":{"name":"a","ssn":"1"},"tail":true}"#
        #expect(
            try output(["drop": "pw,user.ssn,missing,user.missing.deep,id.sub"], input)
                == #"{"id":1,"user":{"name":"a"},"tail":true}"#)
        #expect(try output(["drop": "dup"], #"{"dup":1,"a":2,"dup":3}"#) == #"{"a":2}"#)
    }

    // MARK: - rename

    @Test(arguments: [
        ("user_id:userId", #"{"user_id":1,"b":2}"#, #"{"userId":1,"b":2}"#),
        ("geo.lat:geo.latitude", #"{"geo":{"lat":1,"lon":2},"b":3}"#, #"{"geo":{"latitude":1,"lon":2},"b":3}"#),
        ("geo.lat:latitude", #"{"geo":{"lat":1,"lon":2},"b":3}"#, #"{"geo":{"lon":2},"b":3,"latitude":1}"#),
        ("a:meta.a", #"{"a":1,"b":2}"#, #"{"b":2,"meta":{"a":1}}"#),
        ("a.b:a", #"{"x":0,"a":{"b":5},"y":1}"#, #"{"x":0,"a":5,"y":1}"#),
        ("c:a", #"{"a":1,"b":2,"c":3}"#, #"{"b":2,"a":3}"#),
        ("b:a.z", #"{"a":{"y":1},"b":2,"c":3}"#, #"{"a":{"y":1,"z":2},"c":3}"#),
        ("b:a.y", #"{"a":{"y":1,"x":0},"b":2}"#, #"{"a":{"y":2,"x":0}}"#),
        ("missing:x", #"{"a":1}"#, #"{"a":1}"#),
        ("a:a", #"{"a":1}"#, #"{"a":1}"#),
        ("a:b,b:c", #"{"a":1}"#, #"{"c":1}"#),
        (#"a:["x \"y\""]"#, #"{"a":1}"#, #"{"x \"y\"":1}"#),
        ("a:é", #"{"a":1}"#, #"{"é":1}"#),
    ])
    func rename(pairs: String, input: String, expected: String) throws {
        #expect(try output(["rename": pairs], input) == expected)
    }

    @Test func renameThroughAMemberThatIsNotAnObjectFails() throws {
        #expect(
            try verdict(["rename": "a:meta.a"], #"{"a":1,"meta":"x"}"#)
                == .processingFailed(
                    code: "JsonProject.PathConflict",
                    message: "cannot rename a to meta.a: .meta is a string, not an object"))
    }

    // MARK: - add

    @Test func addLiteralsAtTheEnd() throws {
        let add = #"env=prod, n=1.50,e=1e3,t=true,z=null,s="a,b",arr=[1, "x,y"],obj={"k": "v"},empty=,sp=two words"#
        #expect(
            try output(["add": add], "{\"a\":1}\n")
                == #"{"a":1,"env":"prod","n":1.50,"e":1e3,"t":true,"z":null,"s":"a,b","arr":[1,"x,y"],"obj":{"k":"v"},"#
                + #""empty":"","sp":"two words"}"# + "\n")
        // Bare strings that are not JSON, such as a zip code with a leading zero, stay strings.
        #expect(try output(["add": #"zip=02134,q=say "hi""#], "{}") == #"{"zip":"02134","q":"say \"hi\""}"#)
        #expect(try output(["add": #"dollar="$stream""#], "{}") == #"{"dollar":"$stream"}"#)
    }

    @Test func addMetadata() throws {
        let add =
            "ts=$arrivalTimestamp,time=$arrivalTime,stream=$stream,shard=$shardId,seq=$sequenceNumber,key=$partitionKey"
        #expect(
            try output(["add": add], "{}")
                == #"{"ts":1535365800123,"time":"2018-08-27T10:30:00.123Z","stream":"clicks","#
                + #""shard":"shardId-000000000003","seq":"49590338271490256608559692538361571095921575989136588898","#
                + #""key":"user-42"}"#)
        let results = try make(["add": "key=$partitionKey"]).process([record("{}", partitionKey: "a\"b\\c\n")])
        #expect(results[0].verdict == .ok(data: Array(#"{"key":"a\"b\\c\n"}"#.utf8), partitionKeys: [:]))
    }

    @Test func addReplacesInPlaceOrCreatesObjects() throws {
        #expect(try output(["add": "a=5"], #"{"a":1,"b":2}"#) == #"{"a":5,"b":2}"#)
        #expect(try output(["add": "a=5"], #"{"a":1,"b":2,"a":3}"#) == #"{"b":2,"a":5}"#)
        #expect(try output(["add": "meta.stream=$stream"], #"{"a":1}"#) == #"{"a":1,"meta":{"stream":"clicks"}}"#)
        #expect(try output(["add": "meta.x=1"], #"{"meta":{"y":0},"b":1}"#) == #"{"meta":{"y":0,"x":1},"b":1}"#)
        #expect(try output(["add": "obj={\"k\":1},obj.j=2"], "{}") == #"{"obj":{"k":1,"j":2}}"#)
        #expect(
            try verdict(["add": "meta.ts=$arrivalTimestamp"], #"{"meta":"x"}"#)
                == .processingFailed(
                    code: "JsonProject.PathConflict", message: "cannot add meta.ts: .meta is a string, not an object"))
        #expect(
            try verdict(["add": "a.b.c=1"], #"{"a":{"b":[1]}}"#)
                == .processingFailed(
                    code: "JsonProject.PathConflict", message: "cannot add a.b.c: .a.b is an array, not an object"))
    }

    // MARK: - Order, output text, newlines

    @Test func operationsRunInTheOrderKeepDropRenameAdd() throws {
        #expect(
            try output(
                ["keep": "a,b,c", "drop": "b", "rename": "a:b", "add": "a=9,d=$stream"], #"{"c":3,"a":1,"b":2,"x":0}"#)
                == #"{"c":3,"b":1,"a":9,"d":"clicks"}"#)
    }

    @Test func untouchedTextIsKeptByteForByte() throws {
        let input =
            "{ \"a\" : 1.50 ,\n \"b\":[ 1e3 , -0.0, 12345678901234567890123 , \"x\\\"y\\u00e9\" ],\t\"c\" : {\"d\" : 1E-7} }\n"
        #expect(
            try output(["drop": "zzz"], input)
                == "{\"a\":1.50,\"b\":[1e3,-0.0,12345678901234567890123,\"x\\\"y\\u00e9\"],\"c\":{\"d\":1E-7}}\n")
        // Names keep their escapes, and match by their decoded text.
        #expect(try output(["keep": "ab"], #"{"a\u0062":1,"x":2}"#) == #"{"a\u0062":1}"#)
        #expect(try output(["rename": "ab:c"], #"{"a\u0062":1}"#) == #"{"c":1}"#)
    }

    @Test func trailingNewlineAndDelimiter() throws {
        #expect(try output(["drop": "x"], #"{"a":1}"#) == #"{"a":1}"#)
        #expect(try output(["drop": "x"], "{\"a\":1}\n") == "{\"a\":1}\n")
        #expect(try output(["drop": "x"], "{\"a\":1}\r\n") == "{\"a\":1}\r\n")
        #expect(try output(["drop": "x"], "{\"a\":1}\n \n") == "{\"a\":1}\n")
        // The delimiter replaces the input's newline rather than doubling it.
        #expect(try output(["delimiter": #"\n"#], "{\"a\": 1}\n") == "{\"a\":1}\n")
        #expect(try output(["delimiter": #"\x1e"#, "drop": "x"], "{\"a\":1}\n") == "{\"a\":1}\u{1E}")
    }

    // MARK: - Bad records

    @Test func recordsThatAreNotObjects() throws {
        #expect(
            try verdict(["drop": "a"], "[1]\n")
                == .processingFailed(
                    code: "JsonProject.NotAnObject",
                    message: "record is an array, not a JSON object; jsonProject edits objects (put jsonFilter or "
                        + "jsonParse before it to route other records)"))
        #expect(
            try verdict(["drop": "a"], "\"a\"")
                == .processingFailed(
                    code: "JsonProject.NotAnObject",
                    message: "record is a string, not a JSON object; jsonProject edits objects (put jsonFilter or "
                        + "jsonParse before it to route other records)"))
        #expect(
            try verdict(["drop": "a"], "{\"a\":")
                == .processingFailed(
                    code: "JsonProject.InvalidJson",
                    message: "record is not valid JSON: unexpected end of the record at byte 5"))
    }

    @Test func deterministic() throws {
        let processor = try make(["keep": "a,b", "rename": "a:x", "add": "t=$arrivalTime,k=$partitionKey"])
        let batch = (0..<4).map { record("{\"b\": [1.0, 2e0], \"a\": {\"n\": \($0)}, \"c\": 0}\n", id: "id-\($0)") }
        let first = try processor.process(batch)
        #expect(try processor.process(batch) == first)
        #expect(first.map(\.recordID) == ["id-0", "id-1", "id-2", "id-3"])
        #expect(
            first[3].verdict
                == .ok(
                    data: Array(
                        "{\"b\":[1.0,2e0],\"x\":{\"n\":3},\"t\":\"2018-08-27T10:30:00.123Z\",\"k\":\"user-42\"}\n".utf8),
                    partitionKeys: [:]))
    }

    // MARK: - Parameter errors

    @Test(
        arguments: [
            (
                [:], nil,
                "jsonProject needs at least one of keep, drop, rename, add or delimiter, such as \"keep\": \"id,user.name\""
            ),
            (["keep": ""], "keep", "keep is empty; write paths such as id,user.name, or leave keep out"),
            (["drop": " "], "drop", "drop is empty; write paths such as id,user.name, or leave drop out"),
            (
                ["keep": "a,,b"], "keep",
                "keep, column 3: empty item; remove the extra comma (write paths such as id,user.name)"
            ),
            (
                ["keep": "a,"], "keep",
                "keep, column 3: empty item; remove the extra comma (write paths such as id,user.name)"
            ),
            (
                ["keep": "a..b"], "keep",
                #"keep, column 3: expected a member name after "." (write other names as ["name"]) (write paths such as id,user.name)"#
            ),
            (
                ["keep": "tags[0]"], "keep",
                "keep, column 1: tags[0] has an array index; jsonProject paths name object members only"
            ),
            (["drop": "."], "drop", "drop, column 1: \".\" is the whole record; name a member, such as .id"),
            (["drop": "a b"], "drop", "drop, column 3: unexpected text after a (write paths such as id,user.name)"),
            (
                ["rename": "a"], "rename",
                #"rename, column 2: expected ":" and the new name after a (write old:new pairs such as user_id:userId,geo.lat:latitude)"#
            ),
            (
                ["rename": "a=b"], "rename",
                #"rename, column 2: expected ":" and the new name after a (write old:new pairs such as user_id:userId,geo.lat:latitude)"#
            ),
            (
                ["rename": "x:y,a:b:c"], "rename",
                "rename, column 8: unexpected text after b (write old:new pairs such as user_id:userId,geo.lat:latitude)"
            ),
            (
                ["rename": "a:"], "rename",
                "rename, column 3: expected a member name (write old:new pairs such as user_id:userId,geo.lat:latitude)"
            ),
            (
                ["add": "x"], "add",
                #"add, column 2: expected "=" and the value after x (write name=value pairs such as env=prod,receivedAt=$arrivalTime)"#
            ),
            (
                ["add": "t=$arivalTime"], "add",
                #"add, column 3: unknown metadata name "$arivalTime" (did you mean "$arrivalTime"?); the names are "#
                    + #"$arrivalTimestamp, $arrivalTime, $stream, $shardId, $sequenceNumber, $partitionKey (quote a string "#
                    + #"that starts with $: "$arivalTime")"#
            ),
            (
                ["add": "t=$now"], "add",
                #"add, column 3: unknown metadata name "$now"; the names are $arrivalTimestamp, $arrivalTime, $stream, "#
                    + #"$shardId, $sequenceNumber, $partitionKey (quote a string that starts with $: "$now")"#
            ),
            (
                ["add": #"o={"a":}"#], "add",
                #"add, column 8: the value is not valid JSON: unexpected character '}' (a value starting with ", [ or { must be JSON)"#
            ),
            (
                ["add": #"s="abc"#], "add",
                #"add, column 7: the value is not valid JSON: unterminated string (a value starting with ", [ or { must be JSON)"#
            ),
            (
                ["delimiter": #"\q"#], "delimiter",
                #"delimiter, column 1: unknown escape "\q"; the escapes are \n, \t, \r, \\, \0 and \xHH (two hex digits), so write a backslash as \\"#
            ),
        ] as [([String: String], String?, String)])
    func parameterErrors(parameters: [String: String], parameter: String?, message: String) throws {
        let error = try configurationError(parameters)
        #expect(error?.parameter == parameter)
        #expect(error?.message == message)
    }

    @Test func registeredWithItsParameters() throws {
        let type = try #require(ProcessorRegistry.type(named: "jsonProject"))
        #expect(type.parameters == ["keep", "drop", "rename", "add", "delimiter"])
        #expect(!type.summary.isEmpty)
    }
}
