// swift-tools-version:6.2
import PackageDescription

// Every Swift target: Swift 6 language mode (the tools-version default), warnings are errors,
// and the strict upcoming features STYLE.md asks for.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .treatAllWarnings(as: .error),
]

// Module line (shared/DESIGN.md §3): a module imports only modules to its left.
//   CZlib, CCrypto, CSluiceLinux ─▶ SluiceSupport ─▶ SluiceStreams ─▶ SluicePipelines ─▶ SluiceServer ─▶ SluiceCLI ─▶ sluice
let package = Package(
    name: "sluice",
    platforms: [.macOS(.v15)],  // only matters off Linux: Synchronization.Mutex needs macOS 15
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
        .executable(name: "sluice-bench", targets: ["sluice-bench"]),
        // For the libFuzzer package in Tests/Fuzz, which builds one fuzzer per target over it.
        .library(name: "SluiceFuzzTargets", targets: ["SluiceFuzzTargets"]),
    ],
    targets: [
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // epoll, eventfd and accept4: Linux headers the Glibc module does not export (no library).
        .systemLibrary(name: "CSluiceLinux"),

        .target(name: "SluiceSupport", dependencies: ["CZlib", "CCrypto", "CSluiceLinux"], swiftSettings: swiftSettings),
        .target(name: "SluiceStreams", dependencies: ["SluiceSupport"], swiftSettings: swiftSettings),
        .target(name: "SluicePipelines", dependencies: ["SluiceStreams"], swiftSettings: swiftSettings),
        .target(name: "SluiceServer", dependencies: ["SluicePipelines"], swiftSettings: swiftSettings),
        .target(name: "SluiceCLI", dependencies: ["SluiceServer"], swiftSettings: swiftSettings),
        .executableTarget(name: "sluice", dependencies: ["SluiceCLI"], swiftSettings: swiftSettings),
        .executableTarget(name: "sluice-bench", dependencies: ["SluiceServer", "SluicePipelines"], swiftSettings: swiftSettings),
        // The fuzz targets (run by Tests/Fuzz/fuzz.sh): built in every build so they never rot,
        // replayed over Fixtures/fuzz by SluiceFuzzTargetsTests.
        .target(
            name: "SluiceFuzzTargets", dependencies: ["SluiceServer", "SluicePipelines", "SluiceStreams", "SluiceSupport"],
            swiftSettings: swiftSettings),

        .target(
            name: "SluiceTestSupport", dependencies: ["SluiceSupport"],
            path: "Tests/SluiceTestSupport", swiftSettings: swiftSettings),
        .testTarget(
            name: "SluiceSupportTests", dependencies: ["SluiceSupport", "SluiceTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "SluiceStreamsTests", dependencies: ["SluiceStreams", "SluiceTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "SluicePipelinesTests", dependencies: ["SluicePipelines", "SluiceStreams", "SluiceTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "SluiceServerTests", dependencies: ["SluiceServer", "SluicePipelines", "SluiceStreams", "SluiceTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "SluiceCLITests", dependencies: ["SluiceCLI", "SluicePipelines", "SluiceServer", "SluiceStreams", "SluiceTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "SluiceFuzzTargetsTests", dependencies: ["SluiceFuzzTargets", "SluiceTestSupport"],
            swiftSettings: swiftSettings),
    ]
)
