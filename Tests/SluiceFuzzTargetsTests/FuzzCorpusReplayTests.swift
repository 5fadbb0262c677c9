import Foundation
import SluiceFuzzTargets
import SluiceTestSupport
import Testing

/// Replays every seed in `Fixtures/fuzz/<target>/` and every saved crash in
/// `Fixtures/fuzz/regressions/<target>/` through the fuzz targets, so the seeds stay valid and
/// each crash a fuzzer found stays fixed (Tests/Fuzz/fuzz.sh runs the fuzzers themselves).
@Suite("Fuzz corpus replay")
struct FuzzCorpusReplayTests {
    /// The files of `Fixtures/<directory>`, sorted; none when the directory does not exist.
    private static func files(in directory: String) throws -> [String] {
        let path = packageRoot + "/Fixtures/" + directory
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: path)
            .filter { !$0.hasPrefix(".") }
            .sorted()
            .map { path + "/" + $0 }
    }

    @Test("every seed and regression input passes its target's invariants", arguments: FuzzTarget.allCases)
    func replay(_ target: FuzzTarget) throws {
        defer { target.releaseScratch() }
        let seeds = try Self.files(in: "fuzz/" + target.rawValue)
        #expect(seeds.count >= 5, "Fixtures/fuzz/\(target.rawValue) should hold a seed corpus")
        for path in try seeds + Self.files(in: "fuzz/regressions/" + target.rawValue) {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            do throws(FuzzFailure) {
                try target.run(bytes)
            } catch {
                Issue.record("\(path): \(error)")
            }
        }
    }

    @Test("every target has a seed directory, and nothing else is in Fixtures/fuzz")
    func corpusDirectoriesMatchTargets() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: packageRoot + "/Fixtures/fuzz")
            .filter { !$0.hasPrefix(".") && $0 != "regressions" }
        #expect(Set(names) == Set(FuzzTarget.allCases.map(\.rawValue)))
        let regressions = try Self.files(in: "fuzz/regressions").map { ($0 as NSString).lastPathComponent }
        #expect(Set(regressions).isSubset(of: Set(FuzzTarget.allCases.map(\.rawValue))))
    }
}
