package import SluiceSupport

/// The wall-clock fields of one instant in one time zone, as prefix expressions and object
/// names print them.
package struct CivilTime: Sendable, Equatable {
    package var year: Int
    /// 1...12.
    package var month: Int
    /// 1...31.
    package var day: Int
    /// 0...23.
    package var hour: Int
    package var minute: Int
    package var second: Int
    package var millisecond: Int
    /// 1...366.
    package var dayOfYear: Int
    /// ISO numbering: 1 is Monday, 7 is Sunday.
    package var weekday: Int
    /// The zone's offset from UTC at this instant, in seconds (east positive).
    package var utcOffsetSeconds: Int

    /// The fields of `timestamp` shifted by `utcOffsetSeconds`, computed without Foundation
    /// (civil-from-days arithmetic of `UTCDate`).
    package init(_ timestamp: Timestamp, utcOffsetSeconds: Int) {
        let local = timestamp.milliseconds + Int64(utcOffsetSeconds) * 1000
        let fields = UTCDate.components(Timestamp(milliseconds: local))
        year = fields.year
        month = fields.month
        day = fields.day
        hour = fields.hour
        minute = fields.minute
        second = fields.second
        millisecond = fields.millisecond
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        dayOfYear = CivilTime.daysBeforeMonth[month - 1] + day + (leap && month > 2 ? 1 : 0)
        // Day 0 of the epoch, 1970-01-01, was a Thursday (ISO 4).
        let days = local >= 0 ? local / 86_400_000 : (local - 86_399_999) / 86_400_000
        weekday = Int(((days % 7) + 7 + 3) % 7) + 1
        self.utcOffsetSeconds = utcOffsetSeconds
    }

    private static let daysBeforeMonth = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334]
}
