#if canImport(Glibc)
internal import Glibc
#endif

/// A point in wall-clock time, in milliseconds since the Unix epoch (UTC).
///
/// Kinesis arrival times and iterator ages are milliseconds, so this is the unit of the core.
package struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    package var milliseconds: Int64

    package init(milliseconds: Int64) {
        self.milliseconds = milliseconds
    }

    /// Seconds since the epoch, with millisecond precision (the Kinesis JSON form).
    package var seconds: Double { Double(milliseconds) / 1000 }

    package static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.milliseconds < rhs.milliseconds }

    /// This time plus `milliseconds`.
    package func adding(milliseconds delta: Int64) -> Timestamp {
        Timestamp(milliseconds: milliseconds + delta)
    }

    /// ISO 8601 in UTC with milliseconds, for example `2026-11-21T22:53:36.123Z`.
    package var description: String { UTCDate.iso8601(self) }
}

/// Where the time comes from. Everything in Sluice that depends on time (arrival timestamps,
/// iterator expiry, retention, buffer ages, retries) asks a `TimeSource`, so tests can use a
/// manual clock and never sleep.
package protocol TimeSource: Sendable {
    /// The current wall-clock time.
    func now() -> Timestamp
}

/// The system's real-time clock (`clock_gettime(CLOCK_REALTIME)`).
package struct SystemTimeSource: TimeSource {
    package init() {}

    package func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(milliseconds: Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
    }
}

/// UTC calendar formatting without Foundation's formatters (civil-from-days, Howard Hinnant).
package enum UTCDate {
    /// The UTC calendar fields of `timestamp`.
    package static func components(_ timestamp: Timestamp) -> (
        year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, millisecond: Int
    ) {
        let ms = timestamp.milliseconds
        let days = Int((ms >= 0 ? ms : ms - 86_399_999) / 86_400_000)
        let dayMs = Int(ms - Int64(days) * 86_400_000)
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day, dayMs / 3_600_000, dayMs / 60_000 % 60, dayMs / 1000 % 60, dayMs % 1000)
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    package static func iso8601(_ timestamp: Timestamp) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        appendISO8601(timestamp, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `iso8601(timestamp)` as UTF-8, without making a `String`.
    package static func appendISO8601(_ timestamp: Timestamp, into out: inout [UInt8]) {
        let c = components(timestamp)
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var rest = value
            if value < 0 || value >= divisor * 10 {  // wider than `width`: all of it, as `pad` did
                out.append(contentsOf: String(value).utf8)
                return
            }
            while divisor > 0 {
                out.append(UInt8(48 + rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(c.year, 4)
        out.append(UInt8(ascii: "-"))
        digits(c.month, 2)
        out.append(UInt8(ascii: "-"))
        digits(c.day, 2)
        out.append(UInt8(ascii: "T"))
        digits(c.hour, 2)
        out.append(UInt8(ascii: ":"))
        digits(c.minute, 2)
        out.append(UInt8(ascii: ":"))
        digits(c.second, 2)
        out.append(UInt8(ascii: "."))
        digits(c.millisecond, 3)
        out.append(UInt8(ascii: "Z"))
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (also with `+00:00`), or `nil`.
    package static func parseISO8601(_ text: String) -> Timestamp? {
        let bytes = Array(text.utf8)
        func number(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[start..<start + count] {
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard bytes.count >= 19, bytes[4] == 45, bytes[7] == 45, bytes[10] == 84 || bytes[10] == 32,
            bytes[13] == 58, bytes[16] == 58,
            let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
            let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard day <= monthDays[month - 1], second < 60 else { return nil }
        var index = 19
        var millisecond = 0
        if index < bytes.count, bytes[index] == 46 {
            index += 1
            var digits = 0
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                if digits < 3 { millisecond = millisecond * 10 + Int(bytes[index] - 48) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 3) { millisecond *= 10 }
        }
        let rest = String(decoding: bytes[index...], as: UTF8.self)
        guard rest == "Z" || rest == "+00:00" || rest.isEmpty else { return nil }
        // days-from-civil
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let ms = ((Int64(days) * 24 + Int64(hour)) * 60 + Int64(minute)) * 60_000 + Int64(second) * 1000
            + Int64(millisecond)
        return Timestamp(milliseconds: ms)
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
