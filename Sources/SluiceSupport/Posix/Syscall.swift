#if canImport(Glibc)
internal import Glibc
#endif

/// Runs a "-1 and errno" system call, retrying on `EINTR`, and throws `SystemError` otherwise.
///
/// The single loop through which every file syscall in `SluiceSupport` goes (the swift-nio
/// `System.swift` pattern).
@inline(__always)
func retryingSyscall<T: FixedWidthInteger>(
    _ call: String, path: String?, _ body: () -> T
) throws(SystemError) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = errno
        if code == EINTR { continue }
        throw SystemError(call: call, errno: code, path: path)
    }
}
