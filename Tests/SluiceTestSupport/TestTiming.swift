#if canImport(Glibc)
import Glibc
#endif

/// How many times longer than usual a test's bounds should be: 10 when the test process runs
/// under ThreadSanitizer (`swift test --sanitize=thread` makes the debug build 5-15 times slower;
/// its runtime exports `__tsan_init`), otherwise 1.
///
/// Scale a wait that bounds how long legitimate work may take (a reply, a file appearing), and a
/// suite's `.timeLimit`: Swift Testing runs synchronous tests on the cooperative pool (one thread
/// per core), so while the slow interop tests block those threads a test that has started waits
/// for one, and its time limit runs meanwhile. A wait that checks that something does *not*
/// happen within a time is not a bound and stays as it is.
package let testTimeScale: Int = dlsym(nil, "__tsan_init") != nil ? 10 : 1

/// `milliseconds` times `testTimeScale`.
package func scaledMilliseconds(_ milliseconds: Int) -> Int {
    milliseconds * testTimeScale
}
