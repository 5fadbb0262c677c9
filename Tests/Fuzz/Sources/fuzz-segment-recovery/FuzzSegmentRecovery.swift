import SluiceFuzzTargets

/// libFuzzer's entry point for the `segment-recovery` target (see `FuzzTarget.segmentRecovery`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSegmentRecovery(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTarget.segmentRecovery.libFuzzerInput(data, size)
}
