import SluiceFuzzTargets

/// libFuzzer's entry point for the `api-requests` target (see `FuzzTarget.apiRequests`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAPIRequests(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTarget.apiRequests.libFuzzerInput(data, size)
}
