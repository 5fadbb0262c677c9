import Foundation

/// Which `destination.timeZone` values are accepted: `UTC` or an IANA `Area/Location` name the
/// system's time zone database knows. Abbreviations (`EST`) and offsets (`GMT+5`) are refused,
/// as Firehose refuses them.
enum TimeZoneNames {
    private static let known: [String] = ["UTC"] + TimeZone.knownTimeZoneIdentifiers.filter { $0.contains("/") }
    private static let areas = [
        "Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific",
    ]

    /// Why `name` is not accepted (a clause to follow the value), or nil when it is.
    static func problem(_ name: String) -> String? {
        if name == "UTC" { return nil }
        if name.contains("/"), !name.hasPrefix("/"), PrefixTimeZone(identifier: name) != nil { return nil }
        var candidates = Suggestions.closest(name, among: known, limit: 3)
        // "New York" or "kolkata": match on the location part, in the system's list (which has
        // some old names, such as Asia/Calcutta) and as Area/Location names Foundation knows.
        let location = String(name.split(separator: "/").last ?? "").replacingOccurrences(of: " ", with: "_")
        let lowered = location.lowercased()
        for identifier in known where identifier.lowercased().hasSuffix("/" + lowered) && !candidates.contains(identifier) {
            candidates.insert(identifier, at: 0)
        }
        let capitalized = location.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst().lowercased() }
            .joined(separator: "_")
        for area in areas where !capitalized.isEmpty {
            let identifier = area + "/" + capitalized
            if identifier != name, !candidates.contains(identifier), TimeZone(identifier: identifier) != nil {
                candidates.insert(identifier, at: 0)
            }
        }
        let hint = candidates.isEmpty ? "" : " (did you mean \(Suggestions.list(candidates.prefix(3).map { "\"\($0)\"" }))?)"
        return "is not an IANA time zone name\(hint); use \"UTC\" or an Area/Location name such as \"America/New_York\""
    }
}
