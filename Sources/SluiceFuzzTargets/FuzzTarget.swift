/// The fuzz targets: each takes arbitrary bytes, drives one parser or decoder of Sluice the way
/// real input reaches it, and checks cheap invariants of the outcome.
///
/// A target throws `FuzzFailure` when an invariant breaks; a crash in the code under test (a
/// trap, an AddressSanitizer report) is a failure too. The libFuzzer executables in
/// `Tests/Fuzz` call `libFuzzerInput(_:_:)`, which turns a `FuzzFailure` into a crash so libFuzzer
/// saves the input; `SluiceFuzzTargetsTests` replays `Fixtures/fuzz/<name>/` through `run(_:)`.
///
/// Targets keep no state between inputs except the scratch stores of `apiRequests` and
/// `segmentRecovery` (set up once per process, rebuilt from time to time), so an input fails or
/// passes on its own. Thread-safe: targets that share a store serialise on it.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `HTTPParser`: whole input at once versus split at input-derived points (see `HTTPParserFuzz`).
    case httpParser = "http-parser"
    /// Kinesis PutRecords, Firehose PutRecordBatch and Kinesis GetRecords through `ServiceRouter`.
    case apiRequests = "api-requests"
    /// `PipelineLoader.decode`: a pipeline file, decoded, validated and re-encoded.
    case pipelineFile = "pipeline-file"
    /// `PrefixRules.resolve`, `PrefixTemplate(parsing:)` and rendering.
    case prefix = "prefix"
    /// A segment file of random bytes, recovered by opening a `StreamStore` on it.
    case segmentRecovery = "segment-recovery"
    /// `KPLDeaggregateProcessor`: aggregated records as produced by the KPL, or damaged.
    case kpl = "kpl"

    /// Runs one input.
    /// - Throws: `FuzzFailure` naming the invariant the input broke.
    public func run(_ bytes: [UInt8]) throws(FuzzFailure) {
        switch self {
        case .httpParser: try HTTPParserFuzz.run(bytes)
        case .apiRequests: try APIRequestFuzz.run(bytes)
        case .pipelineFile: try PipelineFileFuzz.run(bytes)
        case .prefix: try PrefixFuzz.run(bytes)
        case .segmentRecovery: try SegmentRecoveryFuzz.run(bytes)
        case .kpl: try KPLFuzz.run(bytes)
        }
    }

    /// Runs one input.
    /// - Throws: `FuzzFailure` naming the invariant the input broke.
    public func run(_ input: UnsafeRawBufferPointer) throws(FuzzFailure) {
        try run([UInt8](input))
    }

    /// Closes the target's scratch store, if it has one, and removes its directory; the next
    /// input builds a new one. For callers that run inputs and then go on (tests).
    public func releaseScratch() {
        switch self {
        case .apiRequests: APIFuzzEnvironment.tearDown()
        case .segmentRecovery: SegmentFuzzEnvironment.tearDown()
        case .httpParser, .pipelineFile, .prefix, .kpl: break
        }
    }

    /// The body of `LLVMFuzzerTestOneInput`: runs the input and traps with the failure's
    /// description when an invariant breaks, so libFuzzer records the input as a crash.
    public func libFuzzerInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        let input = UnsafeRawBufferPointer(start: size > 0 ? data : nil, count: size)
        do throws(FuzzFailure) {
            try run(input)
        } catch {
            fatalError(error.description)
        }
        return 0
    }
}

/// An invariant that one input broke.
public struct FuzzFailure: Error, Sendable, CustomStringConvertible {
    /// The target's name (`http-parser`, …).
    public var target: String
    /// What was expected and what happened.
    public var message: String

    init(_ target: FuzzTarget, _ message: String) {
        self.target = target.rawValue
        self.message = message
    }

    public var description: String { "fuzz target \(target): invariant broken: \(message)" }
}
