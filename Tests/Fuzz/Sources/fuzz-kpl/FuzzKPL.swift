import SluiceFuzzTargets

/// libFuzzer's entry point for the `kpl` target (see `FuzzTarget.kpl`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKPL(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTarget.kpl.libFuzzerInput(data, size)
}
