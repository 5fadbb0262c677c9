import Foundation
import SluicePipelines
import SluiceSupport
import SluiceTestSupport
import Testing

/// Loading directories of pipeline files, the checks across files, the checked-in examples and
/// the JSON schema.
@Suite struct DefinitionLoaderTests {
    private typealias Kit = DefinitionTestKit

    private func write(_ json: String, to path: String) throws {
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
    }

    private func pipeline(_ name: String, directory: String, source: String? = nil) -> String {
        let source = source ?? #"{"stream":"\#(name)"}"#
        return #"{"name":"\#(name)","source":\#(source),"destination":{"directory":"\#(directory)"}}"#
    }

    private func definition(_ name: String, directory: String, source: String? = nil, file: String) throws -> PipelineDefinition {
        try Kit.decode(pipeline(name, directory: directory, source: source), file: file)
    }

    // MARK: - The checked-in pipelines

    @Test func everyPipelineInThePipelinesDirectoryIsValid() throws {
        let loaded = PipelineLoader.loadDirectory(packageRoot + "/Pipelines", fileSystem: .live)
        #expect(loaded.errors.map(\.description) == [])
        #expect(loaded.definitions.count == loaded.files.count)
        #expect(Set(loaded.definitions.map(\.name)).isSuperset(of: ["clickstream", "app-logs", "orders-direct"]))
        #expect(!loaded.files.contains { $0.hasSuffix(".schema.json") })
        for definition in loaded.definitions {
            let text = try String(contentsOfFile: definition.file, encoding: .utf8)
            #expect(text.contains(#""$schema": "./pipeline.schema.json""#), "\(definition.file) names the schema")
        }
    }

    @Test func theExamplesSayWhatTheReadmeSays() throws {
        let loaded = PipelineLoader.loadDirectory(packageRoot + "/Pipelines", fileSystem: .live)
        let byName = Dictionary(uniqueKeysWithValues: loaded.definitions.map { ($0.name, $0) })
        let clickstream = try #require(byName["clickstream"])
        #expect(clickstream.source == .stream(name: "clickstream", createIfMissing: true, shardCount: 2, startingPosition: .trimHorizon))
        #expect(clickstream.destination.directory == "clickstream")
        #expect(clickstream.destination.prefix.text == PrefixTemplate.defaultTimePrefix)
        #expect(clickstream.destination.compression == .gzip(level: 6))
        let logs = try #require(byName["app-logs"])
        #expect(logs.destination.prefix.text == "logs/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/")
        #expect(
            logs.destination.errorOutputPrefix.text
                == "errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/")
        #expect(try logs.destination.prefix.render(PrefixContext(timestamp: Kit.exampleInstant), timeZone: .utc)
            == "logs/year=2018/month=08/day=27/")
        let orders = try #require(byName["orders-direct"])
        #expect(orders.source == .directPut(shardCount: 2))
        #expect(orders.streamName == "firehose-orders-direct")
        #expect(orders.destination.directory == "orders")
        #expect(orders.destination.fileExtension == ".json.gz")
        #expect(try orders.destination.prefix.render(PrefixContext(timestamp: Kit.exampleInstant), timeZone: .utc) == "raw/2018/08/27/10/")
    }

    /// The schema is for editors; Sluice does not validate against it. This keeps its keys and
    /// the decoder's in step: every key the decoder accepts is in the schema, and no other.
    @Test func theSchemaListsExactlyTheKeysTheDecoderAccepts() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: packageRoot + "/Pipelines/pipeline.schema.json"))
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(schema["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        var found: [String: [String]] = [:]
        func walk(_ node: [String: Any], at pointer: String) {
            if let properties = node["properties"] as? [String: Any] {
                found[pointer] = properties.keys.sorted()
                #expect(node["additionalProperties"] as? Bool == false, "\(pointer) allows unknown keys")
                for (key, value) in properties {
                    guard let child = value as? [String: Any] else { continue }
                    #expect(child["description"] is String, "\(pointer)/\(key) has no description")
                    walk(child, at: pointer + "/" + key)
                }
            }
            if let items = node["items"] as? [String: Any] { walk(items, at: pointer + "/*") }
        }
        walk(schema, at: "")
        #expect(found == PipelineKeys.byPointer.mapValues { $0.sorted() })
        #expect((schema["required"] as? [String])?.sorted() == ["destination", "name", "source"])
        // The processor types the schema offers are the registry's.
        let processors = (schema["properties"] as? [String: Any])?["processors"] as? [String: Any]
        let type = ((processors?["items"] as? [String: Any])?["properties"] as? [String: Any])?["type"] as? [String: Any]
        #expect((type?["enum"] as? [String])?.sorted() == ProcessorRegistry.names.sorted())
    }

    // MARK: - Directories

    @Test func aDirectoryIsLoadedInNameOrderSkippingSchemasHiddenFilesAndSubdirectories() throws {
        try withTemporaryDirectory { directory in
            try write(pipeline("b", directory: "b"), to: directory + "/b.json")
            try write(pipeline("a", directory: "a"), to: directory + "/a.json")
            try write("{ not json", to: directory + "/c.json")
            try write("{}", to: directory + "/pipeline.schema.json")
            try write("{}", to: directory + "/.#a.json")
            try write("notes", to: directory + "/README.txt")
            try FileManager.default.createDirectory(atPath: directory + "/nested.json", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: directory + "/sub", withIntermediateDirectories: true)
            try write(pipeline("d", directory: "d"), to: directory + "/sub/d.json")

            let loaded = PipelineLoader.loadDirectory(directory + "/", fileSystem: .live)
            #expect(loaded.files == [directory + "/a.json", directory + "/b.json", directory + "/c.json"])
            #expect(loaded.definitions.map(\.name) == ["a", "b"])
            #expect(loaded.errors.map(\.description) == ["\(directory)/c.json:1:3: not valid JSON: expected a member name"])
            #expect(loaded.invalidFileCount == 1)
        }
    }

    @Test func aMissingDirectoryIsOneError() throws {
        try withTemporaryDirectory { directory in
            let loaded = PipelineLoader.loadDirectory(directory + "/nope", fileSystem: .live)
            #expect(loaded.files.isEmpty)
            #expect(loaded.errors.count == 1)
            #expect(loaded.errors.first?.file == directory + "/nope")
            #expect(loaded.errors.first?.description.hasPrefix("\(directory)/nope: cannot list the pipeline directory: opendir") == true)
        }
    }

    @Test func anUnreadableFileIsAnError() {
        let loaded = PipelineLoader.load(files: ["/nonexistent/p.json"], fileSystem: .live)
        #expect(loaded.errors.count == 1)
        #expect(loaded.errors.first?.description.hasPrefix("/nonexistent/p.json: cannot read the file: open") == true)
    }

    // MARK: - Across files

    @Test func duplicateNamesAreReportedOnTheLaterFile() throws {
        let first = try definition("clicks", directory: "a", file: "Pipelines/a.json")
        let second = try definition("clicks", directory: "b", file: "Pipelines/b.json")
        #expect(
            PipelineLoader.checkConflicts([first, second]).map(\.description) == [
                "Pipelines/b.json: /name: pipeline name \"clicks\" is also used by Pipelines/a.json; every pipeline needs "
                    + "its own name"
            ])
    }

    @Test func destinationsMustNotOverlap() throws {
        let clicks = try definition("clicks", directory: "data/clicks", file: "Pipelines/clicks.json")
        let same = try definition("same", directory: "data/clicks/", file: "Pipelines/same.json")
        let inside = try definition("inside", directory: "data/clicks/eu", file: "Pipelines/inside.json")
        let outside = try definition("outside", directory: "data", file: "Pipelines/outside.json")
        let sibling = try definition("sibling", directory: "data/clicks2", file: "Pipelines/sibling.json")
        #expect(PipelineLoader.checkConflicts([clicks, sibling]).isEmpty)
        #expect(
            PipelineLoader.checkConflicts([clicks, same]).map(\.description) == [
                "Pipelines/same.json: /destination/directory: \"data/clicks\" is also the destination of "
                    + "Pipelines/clicks.json; give each pipeline its own directory"
            ])
        #expect(
            PipelineLoader.checkConflicts([clicks, inside]).map(\.description) == [
                "Pipelines/inside.json: /destination/directory: \"data/clicks/eu\" is inside \"data/clicks\", the "
                    + "destination of Pipelines/clicks.json; give each pipeline its own directory, not one inside another's"
            ])
        #expect(
            PipelineLoader.checkConflicts([clicks, outside]).map(\.description) == [
                "Pipelines/outside.json: /destination/directory: \"data\" contains \"data/clicks\", the destination of "
                    + "Pipelines/clicks.json; give each pipeline its own directory, not one inside another's"
            ])
        #expect(PipelineLoader.checkConflicts([clicks, inside, outside]).count == 3)
    }

    @Test func streamsThatTwoPipelinesWouldCreateMustAgree() throws {
        let direct = try definition("orders", directory: "a", source: #"{"directPut":{"shardCount":2}}"#, file: "P/a.json")
        let reader = try definition(
            "reader", directory: "b", source: #"{"stream":"firehose-orders","createIfMissing":true,"shardCount":2}"#,
            file: "P/b.json")
        let plainReader = try definition("plain", directory: "c", source: #"{"stream":"firehose-orders"}"#, file: "P/c.json")
        #expect(PipelineLoader.checkConflicts([direct, plainReader]).isEmpty)  // reading another pipeline's stream is fine
        #expect(
            PipelineLoader.checkConflicts([direct, reader]).map(\.description) == [
                "P/b.json: /source/stream: stream \"firehose-orders\" is the direct PUT backing stream of P/a.json and is "
                    + "also created by P/b.json; read it with \"createIfMissing\": false or choose another stream name"
            ])
        let one = try definition("one", directory: "d", source: #"{"stream":"s","createIfMissing":true,"shardCount":1}"#, file: "P/d.json")
        let four = try definition("four", directory: "e", source: #"{"stream":"s","createIfMissing":true,"shardCount":4}"#, file: "P/e.json")
        let alsoOne = try definition("also", directory: "f", source: #"{"stream":"s","createIfMissing":true}"#, file: "P/f.json")
        #expect(PipelineLoader.checkConflicts([one, alsoOne]).isEmpty)
        #expect(
            PipelineLoader.checkConflicts([one, four]).map(\.description) == [
                "P/e.json: /source/shardCount: stream \"s\" is created with 4 shards here and with 1 by P/d.json; use the "
                    + "same shardCount in both"
            ])
    }

    @Test func twoDirectPutPipelinesOfOneNameReportTheNameOnce() throws {
        let first = try definition("orders", directory: "a", source: #"{"directPut":{}}"#, file: "P/a.json")
        let second = try definition("orders", directory: "b", source: #"{"directPut":{}}"#, file: "P/b.json")
        #expect(PipelineLoader.checkConflicts([first, second]).map(\.pointer) == ["/name"])
    }

    @Test func loadingADirectoryRunsTheChecksAcrossFiles() throws {
        try withTemporaryDirectory { directory in
            try write(pipeline("a", directory: "shared"), to: directory + "/a.json")
            try write(pipeline("b", directory: "shared/b"), to: directory + "/b.json")
            let loaded = PipelineLoader.loadDirectory(directory, fileSystem: .live)
            #expect(loaded.definitions.count == 2)
            #expect(loaded.errors.map(\.file) == [directory + "/b.json"])
            #expect(loaded.invalidFileCount == 1)
        }
    }

    // MARK: - Against the stream store

    @Test func sourceStreamsMustExistUnlessThePipelineCreatesThem() throws {
        let missing = try definition("clicks", directory: "a", file: "Pipelines/x.json")
        let created = try definition("made", directory: "b", source: #"{"stream":"new","createIfMissing":true}"#, file: "Pipelines/y.json")
        let direct = try definition("direct", directory: "c", source: #"{"directPut":{}}"#, file: "Pipelines/z.json")
        let present = try definition("present", directory: "d", source: #"{"stream":"here"}"#, file: "Pipelines/w.json")
        let errors = PipelineLoader.checkSourceStreams([missing, created, direct, present]) { $0 == "here" }
        #expect(
            errors.map(\.description) == [
                "Pipelines/x.json: /source/stream: stream \"clicks\" does not exist; create it with \"sluice streams create "
                    + "clicks\" or set \"createIfMissing\": true"
            ])
        #expect(errors.first?.pointer == "/source/stream")
        #expect(errors.first?.line == nil)
    }
}
