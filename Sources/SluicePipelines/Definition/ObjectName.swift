package import SluiceSupport

/// The file name part of a published object, Firehose's fixed suffix:
/// `<pipeline>-<version>-<yyyy>-<MM>-<dd>-<HH>-<mm>-<ss>-<id><extension>`
/// (reference firehose.md §3.1), for example `clicks-1-2018-08-27-10-30-00-3f2a….gz`.
package enum ObjectName {
    /// - Parameters:
    ///   - pipeline: the pipeline name.
    ///   - version: the pipeline's configuration version, from 1.
    ///   - timestamp: printed in `timeZone`, to the second.
    ///   - id: the unique part (Firehose uses a UUID).
    ///   - fileExtension: appended as is (`".gz"`, or empty).
    package static func make(
        pipeline: String, version: Int, timestamp: Timestamp, timeZone: PrefixTimeZone, id: String, fileExtension: String
    ) -> String {
        let time = timeZone.civilTime(at: timestamp)
        var name = Array(pipeline.utf8)
        name.reserveCapacity(name.count + id.utf8.count + fileExtension.utf8.count + 28)
        name.append(UInt8(ascii: "-"))
        TimestampPattern.appendNumber(version, width: 1, to: &name)
        for (value, width) in [
            (time.year > 0 ? time.year : 1 - time.year, 4), (time.month, 2), (time.day, 2), (time.hour, 2), (time.minute, 2),
            (time.second, 2),
        ] {
            name.append(UInt8(ascii: "-"))
            TimestampPattern.appendNumber(value, width: width, to: &name)
        }
        name.append(UInt8(ascii: "-"))
        name += id.utf8
        name += fileExtension.utf8
        return String(decoding: name, as: UTF8.self)
    }
}
