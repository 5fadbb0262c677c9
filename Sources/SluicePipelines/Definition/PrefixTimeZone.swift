import Foundation
package import SluiceSupport

/// The time zone prefixes and object names are rendered in (`destination.timeZone`).
///
/// UTC, the default, is computed without Foundation. Any other zone asks Foundation's
/// `TimeZone` for its UTC offset at the instant (a table lookup, no `Calendar`) and then uses
/// the same arithmetic, so daylight-saving changes are followed exactly.
package struct PrefixTimeZone: Sendable, Equatable, CustomStringConvertible {
    /// The IANA name, such as `"UTC"` or `"America/New_York"`.
    package let identifier: String
    /// `nil` for UTC.
    private let zone: TimeZone?

    /// Coordinated Universal Time.
    package static let utc = PrefixTimeZone(utcNamed: "UTC")

    private init(utcNamed identifier: String) {
        self.init(identifier: identifier, zone: nil)
    }

    private init(identifier: String, zone: TimeZone?) {
        self.identifier = identifier
        self.zone = zone
    }

    /// The zone named `identifier`, or nil when Foundation does not know it.
    ///
    /// Accepts whatever `TimeZone(identifier:)` accepts; the stricter rule for pipeline files
    /// (an IANA `Area/Location` name or `UTC`) is applied by the definition decoder.
    package init?(identifier: String) {
        if identifier == "UTC" || identifier == "Etc/UTC" {
            self.init(utcNamed: identifier)
            return
        }
        guard let zone = TimeZone(identifier: identifier) else { return nil }
        self.init(identifier: identifier, zone: zone)
    }

    /// Whether this is UTC (no offset ever).
    package var isUTC: Bool { zone == nil }

    /// The offset from UTC at `timestamp`, in seconds (east positive).
    package func utcOffsetSeconds(at timestamp: Timestamp) -> Int {
        guard let zone else { return 0 }
        // Whole seconds: zone offsets never have a fractional second.
        let seconds = timestamp.milliseconds >= 0 ? timestamp.milliseconds / 1000 : (timestamp.milliseconds - 999) / 1000
        return zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    /// The wall-clock fields of `timestamp` in this zone.
    package func civilTime(at timestamp: Timestamp) -> CivilTime {
        CivilTime(timestamp, utcOffsetSeconds: utcOffsetSeconds(at: timestamp))
    }

    package var description: String { identifier }

    package static func == (lhs: PrefixTimeZone, rhs: PrefixTimeZone) -> Bool {
        lhs.identifier == rhs.identifier
    }
}
