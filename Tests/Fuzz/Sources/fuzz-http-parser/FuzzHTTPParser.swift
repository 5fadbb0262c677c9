import SluiceFuzzTargets

/// libFuzzer's entry point for the `http-parser` target (see `FuzzTarget.httpParser`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPParser(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTarget.httpParser.libFuzzerInput(data, size)
}
