import SluicePipelines
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

/// Pipeline files that decode: every key, the defaults, and the configuration hash.
@Suite struct DefinitionDecodingTests {
    private typealias Kit = DefinitionTestKit

    @Test func theSmallestFileGetsEveryDefault() throws {
        let definition = try Kit.decode(Kit.minimal())
        #expect(definition.name == "p")
        #expect(definition.source == .stream(name: "s", createIfMissing: false, shardCount: 1, startingPosition: .trimHorizon))
        #expect(definition.streamName == "s")
        #expect(definition.buffering == BufferingHints(sizeInMBs: 5, intervalInSeconds: 300))
        #expect(definition.buffering.sizeInBytes == 5 * 1_048_576)
        #expect(definition.retryDurationSeconds == 300)
        #expect(definition.processors.isEmpty)
        #expect(definition.maximumOpenPartitions == 500)
        #expect(definition.file == "Pipelines/p.json")
        let destination = definition.destination
        #expect(destination.directory == "d")
        #expect(destination.prefix.text == "!{timestamp:yyyy/MM/dd/HH/}")
        #expect(destination.errorOutputPrefix.text == "!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH/}")
        #expect(destination.compression == .gzip(level: 6))
        #expect(destination.fileExtension == ".gz")
        #expect(destination.timeZone == "UTC")
        #expect(destination.prefixTimeZone == .utc)
        #expect(definition.configHash.count == 64)
        #expect(definition.configHash.allSatisfy { $0.isHexDigit && !$0.isUppercase })
    }

    @Test func everyKeyIsRead() throws {
        let json = """
            {
              "$schema": "./pipeline.schema.json",
              "name": "orders.v2_eu-1",
              "source": {"stream": "orders", "createIfMissing": true, "shardCount": 4, "startingPosition": "LATEST"},
              "buffering": {"sizeInMBs": 128, "intervalInSeconds": 60},
              "destination": {
                "directory": "eu/orders/",
                "prefix": "p/!{partitionKeyFromQuery:customer}/!{timestamp:yyyy}/",
                "errorOutputPrefix": "e/!{firehose:error-output-type}/",
                "compression": "gzip",
                "compressionLevel": 9,
                "fileExtension": ".json.gz",
                "timeZone": "Asia/Kolkata"
              },
              "retry": {"durationInSeconds": 7200},
              "processors": [],
              "maximumOpenPartitions": 5000
            }
            """
        let definition = try Kit.decode(json)
        #expect(definition.name == "orders.v2_eu-1")
        #expect(definition.source == .stream(name: "orders", createIfMissing: true, shardCount: 4, startingPosition: .latest))
        #expect(definition.buffering == BufferingHints(sizeInMBs: 128, intervalInSeconds: 60))
        #expect(definition.destination.directory == "eu/orders")
        #expect(definition.destination.prefix.text == "p/!{partitionKeyFromQuery:customer}/!{timestamp:yyyy}/")
        #expect(definition.destination.prefix.usesPartitionKeys == ["customer"])
        #expect(definition.destination.errorOutputPrefix.text == "e/!{firehose:error-output-type}/")
        #expect(definition.destination.compression == .gzip(level: 9))
        #expect(definition.destination.fileExtension == ".json.gz")
        #expect(definition.destination.timeZone == "Asia/Kolkata")
        #expect(definition.retryDurationSeconds == 7200)
        #expect(definition.maximumOpenPartitions == 5000)
    }

    @Test func directPutReadsItsBackingStream() throws {
        let definition = try Kit.decode(
            #"{"name":"orders","source":{"directPut":{"shardCount":3}},"destination":{"directory":"o"}}"#)
        #expect(definition.source == .directPut(shardCount: 3))
        #expect(definition.streamName == "firehose-orders")
        let defaulted = try Kit.decode(#"{"name":"orders","source":{"directPut":{}},"destination":{"directory":"o"}}"#)
        #expect(defaulted.source == .directPut(shardCount: 1))
    }

    @Test func uncompressedFilesHaveNoExtensionByDefault() throws {
        let definition = try Kit.decode(
            #"{"name":"p","source":{"stream":"s"},"destination":{"directory":"d","compression":"none"}}"#)
        #expect(definition.destination.compression == Compression.none)
        #expect(definition.destination.fileExtension == "")
        let explicit = try Kit.decode(
            #"{"name":"p","source":{"stream":"s"},"destination":{"directory":"d","compression":"none","fileExtension":".jsonl"}}"#)
        #expect(explicit.destination.fileExtension == ".jsonl")
        let empty = try Kit.decode(
            #"{"name":"p","source":{"stream":"s"},"destination":{"directory":"d","fileExtension":""}}"#)
        #expect(empty.destination.fileExtension == "")
    }

    @Test(arguments: [
        ("", "!{timestamp:yyyy/MM/dd/HH/}", "!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH/}"),
        (#","prefix":"""#, "!{timestamp:yyyy/MM/dd/HH/}", "!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH/}"),
        (#","prefix":"legacy""#, "legacy!{timestamp:yyyy/MM/dd/HH/}",
         "legacy!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH/}"),
        (#","prefix":"logs/","errorOutputPrefix":"failed/""#, "logs/!{timestamp:yyyy/MM/dd/HH/}",
         "failed/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH/}"),
        (#","prefix":"logs/","errorOutputPrefix":"""#, "logs/!{timestamp:yyyy/MM/dd/HH/}",
         "logs/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH/}"),
        (#","prefix":"r=!{firehose:random-string}/","errorOutputPrefix":"!{firehose:error-output-type}""#,
         "r=!{firehose:random-string}/", "!{firehose:error-output-type}"),
    ])
    func prefixesGetFirehosesDefaults(members: String, prefix: String, errorOutputPrefix: String) throws {
        let json = #"{"name":"p","source":{"stream":"s"},"destination":{"directory":"d""# + members + "}}"
        let definition = try Kit.decode(json)
        #expect(definition.destination.prefix.text == prefix)
        #expect(definition.destination.errorOutputPrefix.text == errorOutputPrefix)
    }

    // MARK: - Configuration hash

    @Test func theHashIgnoresLayoutKeyOrderDefaultsSpelledOutAndThePath() throws {
        let compact = try Kit.decode(Kit.minimal())
        let spread = try Kit.decode(
            """
            {
                "destination" : { "directory" : "d/", "compression": "gzip", "compressionLevel": 6, "timeZone": "UTC" },
                "source" : { "startingPosition": "TRIM_HORIZON", "stream" : "s", "createIfMissing": false },
                "buffering": {"intervalInSeconds": 300, "sizeInMBs": 5},
                "$schema": "./pipeline.schema.json",
                "processors": [],
                "name" : "p"
            }
            """, file: "elsewhere/p.json")
        #expect(spread.configHash == compact.configHash)
        #expect(spread.file != compact.file)
    }

    @Test(arguments: [
        #""buffering":{"sizeInMBs":6}"#, #""buffering":{"intervalInSeconds":301}"#, #""retry":{"durationInSeconds":0}"#,
        #""maximumOpenPartitions":499"#,
    ])
    func theHashChangesWithTheConfiguration(extra: String) throws {
        let base = try Kit.decode(Kit.minimal())
        let changed = try Kit.decode(Kit.minimal(extra))
        #expect(changed.configHash != base.configHash)
    }

    @Test func theHashChangesWithEveryDestinationSetting() throws {
        let base = try Kit.decode(Kit.minimal())
        var hashes: Set<String> = [base.configHash]
        for destination in [
            #"{"directory":"e"}"#, #"{"directory":"d","prefix":"x/"}"#, #"{"directory":"d","errorOutputPrefix":"x/"}"#,
            #"{"directory":"d","compressionLevel":1}"#, #"{"directory":"d","compression":"none"}"#,
            #"{"directory":"d","fileExtension":".gzip"}"#, #"{"directory":"d","timeZone":"Europe/Paris"}"#,
        ] {
            let definition = try Kit.decode(#"{"name":"p","source":{"stream":"s"},"destination":"# + destination + "}")
            hashes.insert(definition.configHash)
        }
        #expect(hashes.count == 8)
    }

    @Test func theCanonicalFormSpellsOutEverySetting() throws {
        let definition = try Kit.decode(
            #"{"name":"p","source":{"directPut":{}},"destination":{"directory":"d","compression":"none"}}"#)
        let canonical = String(decoding: definition.canonicalJSON(), as: UTF8.self)
        #expect(
            canonical
                == #"{"format":1,"name":"p","source":{"directPut":{"shardCount":1}},"buffering":{"sizeInMBs":5,"#
                + #""intervalInSeconds":300},"destination":{"directory":"d","prefix":"!{timestamp:yyyy/MM/dd/HH/}","#
                + #""errorOutputPrefix":"!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH/}","compression":"none","#
                + #""fileExtension":"","timeZone":"UTC"},"retry":{"durationInSeconds":300},"processors":[],"#
                + #""maximumOpenPartitions":500}"#)
    }

    @Test func aDefinitionBuiltInCodeHasTheSameHashAsTheDecodedOne() throws {
        let decoded = try Kit.decode(Kit.minimal())
        let built = PipelineDefinition(
            name: "p", source: .stream(name: "s", createIfMissing: false, shardCount: 1, startingPosition: .trimHorizon),
            destination: decoded.destination, file: "Pipelines/p.json")
        #expect(built == decoded)
    }
}
