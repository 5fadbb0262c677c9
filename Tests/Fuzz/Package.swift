// swift-tools-version:5.4
// Tools version 5.4 on purpose: from 5.5 on, SwiftPM compiles an executable's entry point as
// `<module>_main` and links it with `--defsym main=<module>_main` (so tests can link executables).
// A libFuzzer executable has no entry point of its own (`-parse-as-library`: libFuzzer's runtime
// brings `main`), so that renaming leaves an undefined symbol, and a `main.swift` collides with
// libFuzzer's `main`. 5.4 manifests do neither. The Swift 6 language mode and warnings as errors
// are set below instead.
import PackageDescription

// libFuzzer executables over the root package's SluiceFuzzTargets, one per target, each only an
// `LLVMFuzzerTestOneInput`. Build them one product at a time (the root package's own executables
// must not get the fuzzer runtime), with the sanitizers on; fuzz.sh does this:
//
//   swift build --package-path Tests/Fuzz --scratch-path .build-fuzz --product fuzz-kpl \
//       -Xswiftc -sanitize=fuzzer,address
//
// A separate package because `-sanitize=fuzzer` must not reach the normal build. The targets
// themselves live in the root package, so they are compiled (with warnings as errors) and
// replayed over Fixtures/fuzz by every `swift test`.
let targets = [
    "fuzz-http-parser", "fuzz-api-requests", "fuzz-pipeline-file", "fuzz-prefix", "fuzz-segment-recovery", "fuzz-kpl",
]

let package = Package(
    name: "sluice-fuzz",
    dependencies: [.package(name: "sluice", path: "../..")],
    targets: targets.map { name in
        .executableTarget(
            name: name, dependencies: [.product(name: "SluiceFuzzTargets", package: "sluice")], path: "Sources/" + name,
            swiftSettings: [.unsafeFlags(["-swift-version", "6", "-warnings-as-errors", "-parse-as-library"])])
    }
)
