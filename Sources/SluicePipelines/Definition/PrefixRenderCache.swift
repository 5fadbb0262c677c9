package import SluiceSupport

/// Remembers the wall-clock fields of the last second rendered, so a runner that renders many
/// records of the same second pays for the time-zone lookup once.
///
/// A value type: keep one per thread (a runner's loop) and pass it `inout` to
/// `PrefixTemplate.render(_:timeZone:cache:)`. The result never depends on the cache.
package struct PrefixRenderCache: Sendable {
    private var zoneIdentifier = ""
    private var second = Int64.min
    private var fields: CivilTime?

    package init() {}

    /// The fields of `timestamp` in `zone`, from the cache when the second and zone match.
    package mutating func civilTime(at timestamp: Timestamp, in zone: PrefixTimeZone) -> CivilTime {
        let ms = timestamp.milliseconds
        let second = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let millisecond = Int(ms - second * 1000)
        if var cached = fields, second == self.second, zone.identifier == zoneIdentifier {
            cached.millisecond = millisecond
            return cached
        }
        let computed = zone.civilTime(at: timestamp)
        fields = computed
        self.second = second
        zoneIdentifier = zone.identifier
        return computed
    }
}
