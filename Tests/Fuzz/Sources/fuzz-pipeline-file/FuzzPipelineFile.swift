import SluiceFuzzTargets

/// libFuzzer's entry point for the `pipeline-file` target (see `FuzzTarget.pipelineFile`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPipelineFile(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTarget.pipelineFile.libFuzzerInput(data, size)
}
