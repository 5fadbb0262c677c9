import Foundation
import SluicePipelines
import SluiceStreams
import SluiceSupport
import SluiceTestSupport
import Testing

@Suite("Verify")
struct VerifyTests {
    /// A pipeline that delivered 40 records over two shards in several files, one record failing
    /// into error output.
    private func delivered(_ body: (PipelineHarness, PipelineDefinition) throws -> Void) throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 2)
            let definition = try PipelineHarness.simple(
                interval: 60, extra: #", "processors": [{"type": "jsonParse"}]"#)
            let runner = try h.runner(definition)
            for round in 0..<2 {
                try h.put((0..<20).map { #"{"n":\#(round * 20 + $0)}"# + "\n" } + (round == 1 ? ["not json\n"] : []))
                runner.step()
                h.clock.advance(seconds: 61)
                runner.step()
            }
            #expect(runner.flushAll(reason: .shutdown))
            try body(h, definition)
        }
    }

    private func verify(_ h: PipelineHarness, _ definition: PipelineDefinition) -> VerifyReport {
        Verifier(definition: definition, store: h.store, archiveRoot: h.archive, stateRoot: h.root + "/data/pipelines", fileSystem: .live).run()
    }

    @Test func aHealthyPipelineHolds() throws {
        try delivered { h, definition in
            let report = verify(h, definition)
            #expect(report.holds, "\(report)")
            #expect(report.checkedOutputs == 41)
            #expect(report.filesChecked >= 3)
            #expect(report.gaps.isEmpty && report.duplicates.isEmpty && report.fileProblems.isEmpty)
        }
    }

    @Test func aMissingOrChangedFileIsReported() throws {
        try delivered { h, definition in
            let files = try h.archiveFiles(gzip: false).keys.filter { !$0.contains("failed") }.sorted()
            try FileSystem.live.removeFile(h.archive + "/" + files[0])
            let changed = h.archive + "/" + files[1]
            try FileSystem.live.writeAtomically(Gzip.compress(Array("{\"n\":1}\n".utf8)), to: changed)
            let report = verify(h, definition)
            #expect(!report.holds)
            #expect(report.fileProblems.contains { $0.hasPrefix(files[0] + ": missing") })
            #expect(report.fileProblems.contains { $0.hasPrefix(files[1] + ": 8 bytes when decompressed") })
        }
    }

    @Test func recordsInNoFileAndInTwoFilesAreListedWithTheirShardAndSequenceNumber() throws {
        try delivered { h, definition in
            let manifest = h.root + "/data/pipelines/clicks/manifest"
            var lines = try String(contentsOfFile: manifest, encoding: .utf8).split(separator: "\n").map(String.init)
            // Forget one batch (its records become gaps) and claim another twice.
            let forgotten = lines.removeFirst()
            lines.append(
                lines[0].replacingOccurrences(of: #""object":""#, with: #""object":"copy/"#).replacingOccurrences(of: #""id":""#, with: #""id":"copy-"#))
            try (lines.joined(separator: "\n") + "\n").write(toFile: manifest, atomically: true, encoding: .utf8)
            let copied = try #require(lines[0].range(of: #""object":""#)).upperBound
            let object = String(lines[0][copied...].prefix { $0 != "\"" })
            try FileSystem.live.createDirectory(FileSystem.parent(of: h.archive + "/copy/" + object))
            try FileSystem.live.writeAtomically(try FileSystem.live.readFile(h.archive + "/" + object), to: h.archive + "/copy/" + object)
            let report = verify(h, definition)
            #expect(!report.holds)
            #expect(!report.gaps.isEmpty)
            #expect(report.gaps.allSatisfy { $0.hasPrefix("shardId-00000000000") && $0.contains("sequence number") })
            #expect(!report.duplicates.isEmpty)
            #expect(report.duplicates.allSatisfy { $0.contains(object) && $0.contains("copy/" + object) })
            _ = forgotten
        }
    }

    /// A failure (or crash) after the journal's sealed line and before the manifest's: the next
    /// start adds the batch to the manifest.
    @Test func startUpAddsJournaledBatchesTheManifestLacks() throws {
        try delivered { h, definition in
            let runner = try h.runner(definition)
            try h.put([#"{"n":99}"# + "\n"])
            runner.step()
            h.faults.inject(.open, pathContains: "/manifest", fault: Fault(errno: EIO), times: 1)
            _ = runner.flushAll(reason: .onDemand)  // sealed in the journal; the manifest write fails
            #expect(runner.status.problem != nil)
            runner.step()  // the runner starts over from its journal: the manifest is completed
            #expect(runner.flushAll(reason: .onDemand))
            let report = verify(h, definition)
            #expect(report.holds, "\(report)")
            #expect(report.checkedOutputs == 42)
        }
    }

    @Test func aPipelineThatNeverRanOrUsesExecSaysWhatItCannotCheck() throws {
        try withTemporaryDirectory { root in
            let h = try PipelineHarness(root: root)
            try h.store.createStream(name: "clicks", shardCount: 1)
            let never = verify(h, try PipelineHarness.simple())
            #expect(never.cannotCheck.first?.contains("never ran") == true)
            let exec = try PipelineHarness.simple(extra: #", "processors": [{"type": "exec", "parameters": {"command": "cat"}}]"#)
            _ = try h.runner(exec)
            let report = verify(h, exec)
            #expect(report.cannotCheck.contains { $0.contains("exec") })
        }
    }
}
