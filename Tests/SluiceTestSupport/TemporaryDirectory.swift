package import Foundation
import SluiceSupport

/// Runs `body` with a fresh, uniquely named directory and removes it afterwards.
package func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
    let path = NSTemporaryDirectory() + "sluice-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }  // best-effort cleanup of test scratch space
    return try body(path)
}

/// The package root (the directory holding Package.swift), found from this file's path.
package let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
    }
    return FileManager.default.currentDirectoryPath
}()

/// The bytes of `Fixtures/<name>`.
package func fixture(_ name: String) throws -> Data {
    try Data(contentsOf: URL(fileURLWithPath: packageRoot + "/Fixtures/" + name))
}

/// The directory that holds the built products (`sluice`, `sluice-bench`) next to the test bundle.
package let productsDirectory: String = {
    let candidates = [Bundle.main.bundlePath, CommandLine.arguments.first ?? ""]
    for candidate in candidates where !candidate.isEmpty {
        var url = URL(fileURLWithPath: candidate)
        for _ in 0..<4 {
            url.deleteLastPathComponent()
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("sluice").path) { return url.path }
        }
    }
    return packageRoot + "/.build/debug"
}()

/// Compares `actual` with `Fixtures/golden/<name>`; with `RECORD_GOLDEN=1` rewrites the file and
/// reports a mismatch so the run cannot pass while recording.
package func goldenMismatch(_ actual: String, named name: String) -> String? {
    let path = packageRoot + "/Fixtures/golden/" + name
    if ProcessInfo.processInfo.environment["RECORD_GOLDEN"] == "1" {
        try? FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try? actual.write(toFile: path, atomically: true, encoding: .utf8)
        return "recorded golden file \(name); run again without RECORD_GOLDEN"
    }
    guard let expected = try? String(contentsOfFile: path, encoding: .utf8) else {
        return "golden file \(name) is missing; run with RECORD_GOLDEN=1 to create it"
    }
    return expected == actual ? nil : "output differs from golden file \(name):\n--- expected\n\(expected)\n--- actual\n\(actual)"
}
