import SluiceFuzzTargets

/// libFuzzer's entry point for the `prefix` target (see `FuzzTarget.prefix`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPrefix(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTarget.prefix.libFuzzerInput(data, size)
}
