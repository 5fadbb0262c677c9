/// How published files are compressed (`destination.compression`).
package enum Compression: Sendable, Equatable {
    /// Records are concatenated as they are (Firehose's `UNCOMPRESSED`).
    case none
    /// One gzip stream per file (zlib), at `level` 1...9 (default 6).
    case gzip(level: Int)

    package static let levelRange = 1...9
    package static let defaultLevel = 6

    /// The extension used when `fileExtension` is not set: `.gz` or nothing.
    package var defaultFileExtension: String {
        switch self {
        case .none: ""
        case .gzip: ".gz"
        }
    }
}
