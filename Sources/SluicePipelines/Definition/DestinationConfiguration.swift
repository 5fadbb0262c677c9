/// Where and how a pipeline publishes files: Firehose's ExtendedS3 destination with a local
/// directory in place of the bucket.
package struct DestinationConfiguration: Sendable, Equatable {
    /// A relative path under the archive root: never absolute, no `.` or `..` segment, no empty
    /// segment, no trailing `/`.
    package var directory: String
    /// The effective data prefix, after Firehose's defaults (see `PrefixRules`).
    package var prefix: PrefixTemplate
    /// The effective error output prefix, after defaults.
    package var errorOutputPrefix: PrefixTemplate
    package var compression: Compression
    /// Appended to object names: `.gz` by default for gzip, empty for none.
    package var fileExtension: String
    /// The IANA time zone of prefixes and object names (default `UTC`).
    package var timeZone: String

    package init(
        directory: String, prefix: PrefixTemplate, errorOutputPrefix: PrefixTemplate, compression: Compression,
        fileExtension: String, timeZone: String
    ) {
        self.directory = directory
        self.prefix = prefix
        self.errorOutputPrefix = errorOutputPrefix
        self.compression = compression
        self.fileExtension = fileExtension
        self.timeZone = timeZone
    }

    /// `timeZone` ready for rendering (UTC if the name is unknown, which a decoded definition
    /// never has).
    package var prefixTimeZone: PrefixTimeZone {
        PrefixTimeZone(identifier: timeZone) ?? .utc
    }
}
