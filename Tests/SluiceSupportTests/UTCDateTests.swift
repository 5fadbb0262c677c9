import Foundation
import SluiceSupport
import SluiceTestSupport
import Testing

@Suite struct UTCDateTests {
    // MARK: - Formatting

    @Test(arguments: [
        (0 as Int64, "1970-01-01T00:00:00.000Z"),
        (1, "1970-01-01T00:00:00.001Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (-1000, "1969-12-31T23:59:59.000Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (1_709_210_096_789, "2024-02-29T12:34:56.789Z"),
        (1_767_225_600_000, "2026-01-01T00:00:00.000Z"),
        (1_795_301_616_123, "2026-11-21T22:53:36.123Z"),
        (4_107_542_399_000, "2100-02-28T23:59:59.000Z"),
        (-2_203_891_200_000, "1900-03-01T00:00:00.000Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    ])
    func iso8601FormatsKnownTimestamps(milliseconds: Int64, expected: String) {
        #expect(UTCDate.iso8601(Timestamp(milliseconds: milliseconds)) == expected)
    }

    @Test func timestampDescriptionIsISO8601() {
        let timestamp = Timestamp(milliseconds: 1_795_301_616_123)
        #expect(timestamp.description == "2026-11-21T22:53:36.123Z")
        #expect("\(timestamp)" == "2026-11-21T22:53:36.123Z")
    }

    // MARK: - Components

    @Test func componentsOfALeapDay() {
        let c = UTCDate.components(Timestamp(milliseconds: 1_709_210_096_789))
        #expect(c.year == 2024)
        #expect(c.month == 2)
        #expect(c.day == 29)
        #expect(c.hour == 12)
        #expect(c.minute == 34)
        #expect(c.second == 56)
        #expect(c.millisecond == 789)
    }

    @Test func theDayAfterALeapDayIsTheFirstOfMarch() {
        let c = UTCDate.components(Timestamp(milliseconds: 1_709_210_096_789 + 86_400_000))
        #expect((c.year, c.month, c.day) == (2024, 3, 1))
    }

    @Test func twentyOneHundredIsNotALeapYear() {
        let c = UTCDate.components(Timestamp(milliseconds: 4_107_542_399_000 + 1000))
        #expect((c.year, c.month, c.day, c.hour, c.minute, c.second) == (2100, 3, 1, 0, 0, 0))
    }

    @Test func componentsAgreeWithFoundationsGregorianCalendar() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var random = SeededRandom(seed: 1900)
        // 1900-01-01 to 2400-01-01, whole seconds (Date is a Double; milliseconds are checked elsewhere).
        let range: ClosedRange<Int64> = -2_208_988_800...13_569_465_600
        for _ in 0..<2000 {
            let seconds = Int64.random(in: range, using: &random)
            let c = UTCDate.components(Timestamp(milliseconds: seconds * 1000))
            let expected = calendar.dateComponents(
                [.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: Double(seconds)))
            #expect(
                [c.year, c.month, c.day, c.hour, c.minute, c.second]
                    == [expected.year, expected.month, expected.day, expected.hour, expected.minute, expected.second],
                "\(seconds)")
        }
    }

    @Test func consecutiveDaysAdvanceTheCalendarByOneDay() {
        // Every day from 1960 to 2040: day 1 follows the last day of the previous month.
        var previous = UTCDate.components(Timestamp(milliseconds: -315_619_200_000))  // 1960-01-01
        #expect((previous.year, previous.month, previous.day) == (1960, 1, 1))
        for day in 1..<(80 * 366) {
            let c = UTCDate.components(Timestamp(milliseconds: -315_619_200_000 + Int64(day) * 86_400_000))
            if c.day == 1 {
                #expect(c.month == previous.month % 12 + 1)
                #expect(c.year == previous.year + (previous.month == 12 ? 1 : 0))
                #expect(previous.day >= 28)
            } else {
                #expect((c.year, c.month, c.day) == (previous.year, previous.month, previous.day + 1))
            }
            previous = c
        }
    }

    // MARK: - Parsing

    @Test(arguments: [
        0 as Int64, 1, -1, 999, 951_782_400_000, 1_709_210_096_789, 1_795_301_616_123, 253_402_300_799_999,
    ])
    func parseISO8601RoundTripsIso8601(milliseconds: Int64) {
        let timestamp = Timestamp(milliseconds: milliseconds)
        #expect(UTCDate.parseISO8601(UTCDate.iso8601(timestamp)) == timestamp)
    }

    @Test func parseISO8601RoundTripsRandomTimestamps() {
        var random = SeededRandom(seed: 8601)
        for _ in 0..<1000 {
            let timestamp = Timestamp(milliseconds: Int64.random(in: 0...253_402_300_799_999, using: &random))
            #expect(UTCDate.parseISO8601(UTCDate.iso8601(timestamp)) == timestamp)
        }
    }

    @Test(arguments: [
        ("2024-02-29T12:34:56Z", 1_709_210_096_000 as Int64),
        ("2024-02-29T12:34:56.789Z", 1_709_210_096_789),
        ("2024-02-29T12:34:56+00:00", 1_709_210_096_000),
        ("2024-02-29T12:34:56.789+00:00", 1_709_210_096_789),
        ("2024-02-29 12:34:56Z", 1_709_210_096_000),
        ("2024-02-29T12:34:56", 1_709_210_096_000),
        ("2024-02-29T12:34:56.7Z", 1_709_210_096_700),
        ("2024-02-29T12:34:56.78Z", 1_709_210_096_780),
        ("2024-02-29T12:34:56.789999Z", 1_709_210_096_789),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999Z", -1),
    ])
    func parseISO8601AcceptsTheSupportedForms(text: String, milliseconds: Int64) {
        #expect(UTCDate.parseISO8601(text) == Timestamp(milliseconds: milliseconds))
    }

    @Test(arguments: [
        "",
        "garbage",
        "2024-02-29",
        "2024-02-29T12:34",
        "2024-02-29T12:34:5Z",
        "2024-13-01T00:00:00Z",
        "2024-00-10T00:00:00Z",
        "2024-01-00T00:00:00Z",
        "2024-01-32T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:60:00Z",
        "2024-01-01T00:00:61Z",
        "2024-01-01T00:00:00.Z",
        "2024-01-01T00:00:00.12aZ",
        "2024-01-01T00:00:00+01:00",
        "2024-01-01T00:00:00-00:00",
        "2024-01-01T00:00:00ZZ",
        "2024-01-01T00:00:00 Z",
        "2024/01/01T00:00:00Z",
        "2024-01-01X00:00:00Z",
        "20x4-01-01T00:00:00Z",
        "2024-01-01T00-00-00Z",
        " 2024-01-01T00:00:00Z",
        "１２３４-01-01T00:00:00Z",
    ])
    func parseISO8601RejectsGarbage(text: String) {
        #expect(UTCDate.parseISO8601(text) == nil)
    }
}

@Suite struct UTCDateCalendarValidationTests {
    @Test(arguments: ["2023-02-29T00:00:00Z", "2023-02-31T00:00:00Z", "2024-04-31T12:00:00Z", "2100-02-29T00:00:00Z"])
    func parseRejectsDaysTheMonthDoesNotHave(text: String) {
        #expect(UTCDate.parseISO8601(text) == nil)
    }

    @Test func parseAcceptsLeapDayOfALeapYear() {
        #expect(UTCDate.parseISO8601("2024-02-29T00:00:00Z") != nil)
        #expect(UTCDate.parseISO8601("2000-02-29T00:00:00Z") != nil)
    }
}
