import SluicePipelines
import SluiceSupport
import SluiceTestSupport
import Testing

/// Bad pipeline files: every problem reported, each with its line:column, pointer, rule and fix.
@Suite struct DefinitionErrorTests {
    private typealias Kit = DefinitionTestKit
    private static let file = "Pipelines/p.json"

    /// `{"name":"p","source":{"stream":"s"},"destination":{"directory":"d"}` is 68 characters, so
    /// members added by `minimal` start at column 69.
    @Test(arguments: [
        (#""buffering":{"sizeInMBs":0}"#, "1:94: /buffering/sizeInMBs is 0; allowed 1...128"),
        (#""buffering":{"sizeInMBs":129}"#, "1:94: /buffering/sizeInMBs is 129; allowed 1...128"),
        (#""buffering":{"intervalInSeconds":59}"#, "1:102: /buffering/intervalInSeconds is 59; allowed 60...900"),
        (#""buffering":{"intervalInSeconds":901}"#, "1:102: /buffering/intervalInSeconds is 901; allowed 60...900"),
        (#""retry":{"durationInSeconds":-1}"#, "1:98: /retry/durationInSeconds is -1; allowed 0...7200"),
        (#""retry":{"durationInSeconds":7201}"#, "1:98: /retry/durationInSeconds is 7201; allowed 0...7200"),
        (#""maximumOpenPartitions":0"#, "1:93: /maximumOpenPartitions is 0; allowed 1...5000"),
        (#""maximumOpenPartitions":5001"#, "1:93: /maximumOpenPartitions is 5001; allowed 1...5000"),
        (
            #""buffering":{"sizeInMBs":99999999999999999999999}"#,
            "1:94: /buffering/sizeInMBs is 99999999999999999999999; allowed 1...128"
        ),
    ])
    func numbersOutsideTheirRangeAreRefused(extra: String, expected: String) {
        #expect(Kit.errors(Kit.minimal(extra)) == ["\(Self.file):\(expected)"])
    }

    @Test(arguments: [
        #""buffering":{"sizeInMBs":1,"intervalInSeconds":60}"#, #""buffering":{"sizeInMBs":128,"intervalInSeconds":900}"#,
        #""retry":{"durationInSeconds":0}"#, #""retry":{"durationInSeconds":7200}"#, #""maximumOpenPartitions":1"#,
        #""maximumOpenPartitions":5000"#,
    ])
    func theBoundsThemselvesAreAllowed(extra: String) {
        #expect(Kit.errors(Kit.minimal(extra)) == [])
    }

    @Test(arguments: [
        (#""buffering":{"sizeInMBs":"5"}"#, "1:94: /buffering/sizeInMBs must be an integer; got a string"),
        (#""buffering":{"sizeInMBs":5.5}"#, "1:94: /buffering/sizeInMBs must be an integer; got 5.5"),
        (#""buffering":{"sizeInMBs":1e2}"#, "1:94: /buffering/sizeInMBs must be an integer; got 1e2"),
        (#""buffering":{"sizeInMBs":true}"#, "1:82: /buffering/sizeInMBs must be an integer; got a boolean"),
        (#""buffering":[]"#, "1:69: /buffering must be an object; got an array"),
        (#""retry":{"durationInSeconds":null}"#, "1:78: /retry/durationInSeconds must be an integer; got null"),
        (#""processors":{}"#, "1:69: /processors must be an array; got an object"),
        (#""maximumOpenPartitions":"500""#, "1:93: /maximumOpenPartitions must be an integer; got a string"),
        (#""$schema":1"#, "1:79: /$schema must be a string; got a number"),
    ])
    func wrongTypesNameTheExpectedType(extra: String, expected: String) {
        #expect(Kit.errors(Kit.minimal(extra)) == ["\(Self.file):\(expected)"])
    }

    @Test(arguments: [
        (#"{"name":5,"source":{"stream":"s"},"destination":{"directory":"d"}}"#, "1:9: /name must be a string; got a number"),
        (#"{"name":null,"source":{"stream":"s"},"destination":{"directory":"d"}}"#, "1:2: /name must be a string; got null"),
        (#"{"name":"p","source":"s","destination":{"directory":"d"}}"#, "1:22: /source must be an object; got a string"),
        (
            #"{"name":"p","source":{"stream":"s","createIfMissing":"yes"},"destination":{"directory":"d"}}"#,
            "1:54: /source/createIfMissing must be true or false; got a string"
        ),
        (
            #"{"name":"p","source":{"stream":"s"},"destination":{"directory":["d"]}}"#,
            "1:52: /destination/directory must be a string; got an array"
        ),
        ("[]", "1:1: a pipeline file holds one JSON object; got an array"),
        ("  \n  \"clicks\"", "2:3: a pipeline file holds one JSON object; got a string"),
    ])
    func wrongTypesAnywhere(json: String, expected: String) {
        #expect(Kit.errors(json) == ["\(Self.file):\(expected)"])
    }

    @Test func missingRequiredKeysAreAllReportedAtTheObjectThatShouldHoldThem() {
        #expect(
            Kit.errors("\n  {}") == [
                "\(Self.file):2:3: /name is required: the pipeline's name, 1-64 characters of [a-zA-Z0-9_.-], such as \"clicks\"",
                "\(Self.file):2:3: /source is required: where records come from: {\"stream\": \"NAME\"} or {\"directPut\": {}}",
                "\(Self.file):2:3: /destination is required: where files go: {\"directory\": \"DIR\"} under the archive directory",
            ])
        #expect(
            Kit.errors(#"{"name":"p","source":{"stream":"s"},"destination":{}}"#) == [
                "\(Self.file):1:37: /destination/directory is required: the directory under the archive directory that "
                    + "receives this pipeline's files, such as \"clicks\""
            ])
        #expect(
            Kit.errors(#"{"name":"p","source":{},"destination":{"directory":"d"}}"#) == [
                "\(Self.file):1:13: /source needs \"stream\" (read a stream of the stream core) or \"directPut\" (take "
                    + "Firehose PutRecord and PutRecordBatch calls), for example {\"stream\": \"clicks\"}"
            ])
    }

    // MARK: - Unknown and repeated keys

    @Test(arguments: [
        (
            #""bufering":{}"#,
            "1:69: /bufering is not a known key (did you mean \"buffering\"?); keys of the top level: $schema, name, "
                + "source, buffering, destination, retry, processors, maximumOpenPartitions"
        ),
        (
            #""buffering":{"intervalInSecond":60}"#,
            "1:82: /buffering/intervalInSecond is not a known key (did you mean \"intervalInSeconds\"?); keys of "
                + "/buffering: sizeInMBs, intervalInSeconds"
        ),
        (
            #""BufferingHints":{}"#,
            "1:69: /BufferingHints is not a known key (did you mean \"buffering\"?); keys of the top level: $schema, "
                + "name, source, buffering, destination, retry, processors, maximumOpenPartitions"
        ),
        (
            #""color":"red""#,
            "1:69: /color is not a known key; keys of the top level: $schema, name, source, buffering, destination, "
                + "retry, processors, maximumOpenPartitions"
        ),
        (#""name":"q""#, "1:69: /name appears twice; keep one"),
    ])
    func unknownKeysSuggestTheClosestKnownOne(extra: String, expected: String) {
        #expect(Kit.errors(Kit.minimal(extra)) == ["\(Self.file):\(expected)"])
    }

    @Test func firehoseSpellingsPointToSluiceKeys() {
        let json = #"{"name":"p","source":{"stream":"s"},"destination":{"directory":"d","CompressionFormat":"GZIP"}}"#
        #expect(
            Kit.errors(json) == [
                "\(Self.file):1:68: /destination/CompressionFormat is not a known key (did you mean \"compression\"?); "
                    + "keys of /destination: directory, prefix, errorOutputPrefix, compression, compressionLevel, "
                    + "fileExtension, timeZone"
            ])
    }

    @Test func keysWithSlashesAreEscapedInPointers() {
        #expect(
            Kit.errors(Kit.minimal(#""a/b~c":1"#)).first?.hasPrefix("\(Self.file):1:69: /a~1b~0c is not a known key") == true)
    }

    // MARK: - Names, enumerations, patterns

    @Test(arguments: [
        (#""my pipeline""#, "1:9: /name is \"my pipeline\", which has ' '; allowed 1-64 characters of [a-zA-Z0-9_.-]"),
        (#""""#, "1:9: /name is empty; allowed 1-64 characters of [a-zA-Z0-9_.-]"),
        (
            "\"" + String(repeating: "n", count: 65) + "\"",
            "1:9: /name is 65 characters long; allowed 1-64 characters of [a-zA-Z0-9_.-]"
        ),
        (#""..""#, "1:9: /name is \"..\", which names a directory entry; choose another pipeline name"),
        (#""caf\u00e9""#, "1:9: /name is \"café\", which has 'é'; allowed 1-64 characters of [a-zA-Z0-9_.-]"),
    ])
    func pipelineNamesFollowFirehosesRule(name: String, expected: String) {
        let json = #"{"name":"# + name + #","source":{"stream":"s"},"destination":{"directory":"d"}}"#
        #expect(Kit.errors(json) == ["\(Self.file):\(expected)"])
    }

    @Test func aNameOfSixtyFourCharactersIsAllowed() throws {
        let name = String(repeating: "n", count: 64)
        let definition = try Kit.decode(#"{"name":""# + name + #"","source":{"directPut":{}},"destination":{"directory":"d"}}"#)
        #expect(definition.streamName == "firehose-" + name)
    }

    @Test(arguments: [
        (
            #"{"stream":"s","startingPosition":"EARLIEST"}"#,
            "1:55: /source/startingPosition is \"EARLIEST\"; allowed \"TRIM_HORIZON\" or \"LATEST\""
        ),
        (
            #"{"stream":"s","startingPosition":"latest"}"#,
            "1:55: /source/startingPosition is \"latest\"; allowed \"TRIM_HORIZON\" or \"LATEST\" (did you mean \"LATEST\"?)"
        ),
        (
            #"{"stream":"s","shardCount":2}"#,
            "1:36: /source/shardCount only applies when the pipeline creates the stream; set \"createIfMissing\": true or "
                + "remove shardCount"
        ),
        (#"{"stream":"s","createIfMissing":true,"shardCount":0}"#, "1:72: /source/shardCount is 0; allowed 1...10000"),
        (#"{"stream":"s","createIfMissing":true,"shardCount":10001}"#, "1:72: /source/shardCount is 10001; allowed 1...10000"),
        (#"{"directPut":{"shardCount":0}}"#, "1:49: /source/directPut/shardCount is 0; allowed 1...10000"),
        (
            #"{"stream":"s","directPut":{}}"#,
            "1:23: /source/stream cannot be used with /source/directPut; a source either reads a stream (\"stream\") or "
                + "takes direct PUT calls (\"directPut\"), not both"
        ),
        (#"{"stream":"a/b"}"#, "1:32: /source/stream is \"a/b\", which has '/'; allowed 1-128 characters of [a-zA-Z0-9_.-]"),
        (#"{"stream":""}"#, "1:32: /source/stream is empty; allowed 1-128 characters of [a-zA-Z0-9_.-]"),
    ])
    func sourceRules(source: String, expected: String) {
        let json = #"{"name":"p","source":"# + source + #","destination":{"directory":"d"}}"#
        #expect(Kit.errors(json) == ["\(Self.file):\(expected)"])
    }

    @Test(arguments: [
        (#","compression":"GZIP""#, "1:82: /destination/compression is \"GZIP\"; allowed \"gzip\" or \"none\" (did you mean \"gzip\"?)"),
        (
            #","compression":"UNCOMPRESSED""#,
            "1:82: /destination/compression is \"UNCOMPRESSED\"; allowed \"gzip\" or \"none\" (did you mean \"none\"?)"
        ),
        (#","compression":"snappy""#, "1:82: /destination/compression is \"snappy\"; allowed \"gzip\" or \"none\""),
        (#","compressionLevel":0"#, "1:87: /destination/compressionLevel is 0; allowed 1...9"),
        (#","compressionLevel":10"#, "1:87: /destination/compressionLevel is 10; allowed 1...9"),
        (
            #","compression":"none","compressionLevel":5"#,
            "1:89: /destination/compressionLevel only applies to \"compression\": \"gzip\"; remove it or use gzip"
        ),
        (
            #","fileExtension":"gz""#,
            "1:84: /destination/fileExtension is \"gz\"; allowed an empty string, or \".\" followed by 1-127 of "
                + "0-9 a-z ! - _ . * ' ( ), such as \".json.gz\""
        ),
        (
            #","fileExtension":".GZ""#,
            "1:84: /destination/fileExtension is \".GZ\"; allowed an empty string, or \".\" followed by 1-127 of "
                + "0-9 a-z ! - _ . * ' ( ), such as \".json.gz\""
        ),
        (
            #","timeZone":"EST""#,
            "1:79: /destination/timeZone is \"EST\", which is not an IANA time zone name; use \"UTC\" or an "
                + "Area/Location name such as \"America/New_York\""
        ),
        (
            #","timeZone":"America/New_Yrok""#,
            "1:79: /destination/timeZone is \"America/New_Yrok\", which is not an IANA time zone name (did you mean "
                + "\"America/New_York\"?); use \"UTC\" or an Area/Location name such as \"America/New_York\""
        ),
        (
            #","timeZone":"kolkata""#,
            "1:79: /destination/timeZone is \"kolkata\", which is not an IANA time zone name (did you mean "
                + "\"Asia/Kolkata\"?); use \"UTC\" or an Area/Location name such as \"America/New_York\""
        ),
    ])
    func destinationRules(members: String, expected: String) {
        let json = #"{"name":"p","source":{"stream":"s"},"destination":{"directory":"d""# + members + "}}"
        #expect(Kit.errors(json) == ["\(Self.file):\(expected)"])
    }

    @Test(arguments: ["GMT+5", "utc", "Etc/Nowhere", "/UTC"])
    func timeZonesMustBeIANAAreaLocationNames(zone: String) {
        let json = #"{"name":"p","source":{"stream":"s"},"destination":{"directory":"d","timeZone":""# + zone + #""}}"#
        let errors = Kit.errors(json)
        #expect(errors.count == 1)
        #expect(errors.first?.contains("/destination/timeZone is \"\(zone)\", which is not an IANA time zone name") == true)
    }

    @Test(arguments: ["America/New_York", "Asia/Kolkata", "Europe/Paris", "UTC", "Etc/UTC", "Australia/Lord_Howe"])
    func knownZonesAreAccepted(zone: String) throws {
        let json = #"{"name":"p","source":{"stream":"s"},"destination":{"directory":"d","timeZone":""# + zone + #""}}"#
        #expect(try Kit.decode(json).destination.timeZone == zone)
    }

    // MARK: - Directories

    @Test(arguments: [
        (
            #""../x""#,
            #"/destination/directory is "../x": ".." would leave the archive directory; use a path inside it, such as "clicks""#
        ),
        (
            #""a/../../b""#,
            #"/destination/directory is "a/../../b": ".." would leave the archive directory; use a path inside it, such as "clicks""#
        ),
        (#""/abs""#, #"/destination/directory is "/abs": it must be relative to the archive directory; remove the leading "/""#),
        (#""/""#, #"/destination/directory is "/": it must be relative to the archive directory; remove the leading "/""#),
        (#""a//b""#, #"/destination/directory is "a//b": empty path segment ("//"); write "a/b""#),
        (#""./a""#, #"/destination/directory is "./a": "." path segments are not allowed; write "a""#),
        (#""""#, #"/destination/directory is empty; name a directory under the archive directory, such as "clicks""#),
        (#""a\nb""#, #"/destination/directory is "a"# + "\n" + #"b": control characters are not allowed in directory names"#),
    ])
    func directoriesStayInsideTheArchive(directory: String, expected: String) {
        let json = #"{"name":"p","source":{"stream":"s"},"destination":{"directory":"# + directory + "}}"
        #expect(Kit.errors(json) == ["\(Self.file):1:64: \(expected)"])
    }

    @Test(arguments: [("a/b/", "a/b"), ("a//", "a"), ("clicks", "clicks"), ("a/.b/c..d", "a/.b/c..d")])
    func directoriesAreNormalized(written: String, normalized: String) throws {
        let json = #"{"name":"p","source":{"stream":"s"},"destination":{"directory":""# + written + #""}}"#
        #expect(try Kit.decode(json).destination.directory == normalized)
    }

    // MARK: - Processors

    @Test func processorTypesAndShapesAreChecked() {
        #expect(
            Kit.errors(Kit.minimal(#""processors":[{"type":"lambda","parameters":{"arn":"x"}}]"#)) == [
                "\(Self.file):1:91: /processors/0/type is \"lambda\"; allowed \(ProcessorRegistry.names.joined(separator: ", "))"
            ])
        #expect(
            Kit.errors(Kit.minimal(#""processors":[{"parameters":{"a":1}}]"#)) == [
                "\(Self.file):1:84: /processors/0/type is required: the processor's type",
                "\(Self.file):1:102: /processors/0/parameters/a must be a string; got a number",
            ])
        #expect(
            Kit.errors(Kit.minimal(#""processors":[7]"#)) == [
                "\(Self.file):1:69: /processors/0 must be an object with \"type\" and \"parameters\"; got a number"
            ])
    }

    // MARK: - JSON syntax and positions

    @Test func syntaxErrorsHaveALineAndColumn() {
        let json = """
            {
              "name": "p",
              "source": {"stream": "s"}
              "destination": {"directory": "d"}
            }
            """
        #expect(Kit.errors(json) == ["\(Self.file):4:3: not valid JSON: expected ',' or '}'"])
        #expect(Kit.errors(#"{"name": "p",}"#) == ["\(Self.file):1:14: not valid JSON: expected a member name"])
        #expect(Kit.errors("") == ["\(Self.file):1:1: not valid JSON: unexpected end of the body"])
        #expect(Kit.errors("{\"name\": \"p\n\"}") == [
            "\(Self.file):1:12: not valid JSON: control character in a string (escape it as \\u000a)"
        ])
    }

    @Test func aByteOrderMarkIsWhiteSpace() {
        let json = "\u{FEFF}" + Kit.minimal(#""buffering":{"sizeInMBs":0}"#)
        // The mark is one character of the first line.
        #expect(Kit.errors(json) == ["\(Self.file):1:95: /buffering/sizeInMBs is 0; allowed 1...128"])
        #expect(Kit.errors("\u{FEFF}[]") == ["\(Self.file):1:2: a pipeline file holds one JSON object; got an array"])
    }

    @Test func theExampleFromTheBrief() {
        let json = """
            {
              "name": "clicks",
              "source": {"stream": "clicks"},
              "destination": {"directory": "clicks"},
              "buffering": {
                "sizeInMBs": 5,
                "intervalInSeconds":   30
              }
            }
            """
        #expect(
            Kit.errors(json, file: "Pipelines/clicks.json") == [
                "Pipelines/clicks.json:7:28: /buffering/intervalInSeconds is 30; allowed 60...900"
            ])
    }

    @Test func columnsCountCharactersNotBytes() {
        // "é" and "日本" are 2 and 6 bytes but 1 and 2 characters.
        let json = #"{"$schema":"é日本","name":"a b","source":{"stream":"s"},"destination":{"directory":"d"}}"#
        #expect(Kit.errors(json) == [
            "\(Self.file):1:25: /name is \"a b\", which has ' '; allowed 1-64 characters of [a-zA-Z0-9_.-]"
        ])
    }

    @Test func everyErrorInAFileIsReportedInFileOrder() {
        let json = """
            {
              "name": "my clicks",
              "source": {"stream": "clicks", "startingPosition": "NOW"},
              "buffering": {"sizeInMBs": 500, "intervalInSeconds": 30},
              "destination": {"directory": "../clicks", "compression": "zip", "timeZone": "Mars/Olympus"},
              "retry": {"durationInSecs": 10}
            }
            """
        let errors = Kit.errors(json, file: "Pipelines/clicks.json")
        #expect(
            errors == [
                "Pipelines/clicks.json:2:11: /name is \"my clicks\", which has ' '; allowed 1-64 characters of [a-zA-Z0-9_.-]",
                "Pipelines/clicks.json:3:54: /source/startingPosition is \"NOW\"; allowed \"TRIM_HORIZON\" or \"LATEST\"",
                "Pipelines/clicks.json:4:30: /buffering/sizeInMBs is 500; allowed 1...128",
                "Pipelines/clicks.json:4:56: /buffering/intervalInSeconds is 30; allowed 60...900",
                "Pipelines/clicks.json:5:32: /destination/directory is \"../clicks\": \"..\" would leave the archive "
                    + "directory; use a path inside it, such as \"clicks\"",
                "Pipelines/clicks.json:5:60: /destination/compression is \"zip\"; allowed \"gzip\" or \"none\" (did you mean "
                    + "\"gzip\"?)",
                "Pipelines/clicks.json:5:79: /destination/timeZone is \"Mars/Olympus\", which is not an IANA time zone name; "
                    + "use \"UTC\" or an Area/Location name such as \"America/New_York\"",
                "Pipelines/clicks.json:6:13: /retry/durationInSecs is not a known key (did you mean \"durationInSeconds\"?); "
                    + "keys of /retry: durationInSeconds",
            ])
    }

    @Test func theErrorCarriesItsParts() throws {
        let json = Kit.minimal(#""buffering":{"sizeInMBs":0}"#)
        guard case .failure(let failure) = PipelineLoader.decode(Array(json.utf8), file: "x.json") else {
            Issue.record("decoded")
            return
        }
        let error = try #require(failure.errors.first)
        #expect(error.file == "x.json")
        #expect(error.line == 1)
        #expect(error.column == 94)
        #expect(error.pointer == "/buffering/sizeInMBs")
        #expect(error.message == "/buffering/sizeInMBs is 0; allowed 1...128")
        #expect(failure.description == "x.json:1:94: /buffering/sizeInMBs is 0; allowed 1...128")
    }
}
