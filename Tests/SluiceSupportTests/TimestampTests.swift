import Foundation
import SluiceSupport
import SluiceTestSupport
import Testing

@Suite struct TimestampTests {
    @Test func secondsKeepMillisecondPrecision() {
        #expect(Timestamp(milliseconds: 1_795_301_616_123).seconds == 1_795_301_616.123)
        #expect(Timestamp(milliseconds: -1500).seconds == -1.5)
    }

    @Test func addingMillisecondsMovesTheTimestamp() {
        let start = Timestamp(milliseconds: 1000)
        #expect(start.adding(milliseconds: 500) == Timestamp(milliseconds: 1500))
        #expect(start.adding(milliseconds: -2000) == Timestamp(milliseconds: -1000))
        #expect(start == Timestamp(milliseconds: 1000))
    }

    @Test func timestampsOrderByMilliseconds() {
        let values = [5, -3, 0, 1_000_000, 2].map { Timestamp(milliseconds: $0) }
        #expect(values.sorted().map(\.milliseconds) == [-3, 0, 2, 5, 1_000_000])
        #expect(Timestamp(milliseconds: 1) < Timestamp(milliseconds: 2))
        #expect(!(Timestamp(milliseconds: 2) < Timestamp(milliseconds: 2)))
    }

    @Test func systemTimeSourceReadsTheWallClock() {
        let before = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        let now = SystemTimeSource().now().milliseconds
        let after = Int64((Date().timeIntervalSince1970 * 1000).rounded(.up))
        // One millisecond of slack each side for Double rounding in Date.
        #expect(now >= before - 1)
        #expect(now <= after + 1)
    }

}
