import SluiceSupport

/// `decompress`: inflates gzip-compressed records, such as the ones a CloudWatch Logs
/// subscription sends (Firehose's `Decompression` processor with `CompressionFormat` `GZIP`).
///
/// Parameters:
/// - `format` (optional, default `gzip`): the only format is gzip (`GZIP` is accepted too, as
///   Firehose spells it). Concatenated gzip members are read one after another, as `zcat` does.
/// - `maximumBytes` (optional, default 16777216 = 16 MiB, at most 1073741824 = 1 GiB): the most
///   bytes one record may decompress to, a guard against decompression bombs.
///
/// Verdicts: `.ok` with the decompressed bytes and no partition keys, or `.processingFailed` with
/// - `Decompression.InvalidGzip` when the record is not gzip, is truncated, is corrupt, or has
///   non-gzip bytes after a gzip member (the message says which, and at which offset);
/// - `Decompression.OutputLimitExceeded` when it decompresses to more than `maximumBytes`.
///
/// Firehose files such records under the error-output type `decompression-failed`; in Sluice they
/// are `processing-failed` with the codes above, and the raw (still compressed) bytes are kept.
///
/// Pure and thread-safe: each record is inflated by its own zlib stream.
package struct DecompressProcessor: RecordProcessor {
    /// The registry entry.
    package static let processorType = ProcessorType(
        name: "decompress",
        summary: "Inflates gzip records (CloudWatch Logs subscriptions, multi-member aware); `maximumBytes` "
            + "(default 16 MiB) caps each record's decompressed size.",
        parameters: ["format", "maximumBytes"]
    ) { parameters throws(ProcessorConfigurationError) in try DecompressProcessor(parameters: parameters) }

    /// The failure code of a record that is not valid gzip.
    package static let invalidGzipCode = "Decompression.InvalidGzip"
    /// The failure code of a record that decompresses to more than `maximumBytes`.
    package static let outputLimitExceededCode = "Decompression.OutputLimitExceeded"
    /// `maximumBytes` when the parameter is absent: 16 MiB.
    package static let defaultMaximumBytes = 16 << 20
    /// The largest `maximumBytes` accepted: 1 GiB (a record is held in memory while it is inflated).
    package static let maximumBytesLimit = 1 << 30

    /// The most bytes one record may decompress to.
    package let maximumBytes: Int

    /// Builds the processor.
    ///
    /// - Parameter maximumBytes: 1 through `maximumBytesLimit`; other values are a programmer error.
    package init(maximumBytes: Int = DecompressProcessor.defaultMaximumBytes) {
        precondition(
            (1...Self.maximumBytesLimit).contains(maximumBytes),
            "maximumBytes must be 1...\(Self.maximumBytesLimit), got \(maximumBytes)")
        self.maximumBytes = maximumBytes
    }

    /// Builds the processor from a pipeline file's parameters.
    ///
    /// - Throws: `ProcessorConfigurationError` naming `format` (not gzip) or `maximumBytes` (not a
    ///   whole number of bytes in range).
    package init(parameters: [String: String]) throws(ProcessorConfigurationError) {
        if let format = parameters["format"], format.lowercased() != "gzip" {
            throw ProcessorConfigurationError(
                parameter: "format",
                "the parameter format is \"\(format)\", but decompress supports only gzip; set it to \"gzip\" or "
                    + "leave it out")
        }
        var maximumBytes = Self.defaultMaximumBytes
        if let text = parameters["maximumBytes"] {
            guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let value = Int(text),
                (1...Self.maximumBytesLimit).contains(value)
            else {
                throw ProcessorConfigurationError(
                    parameter: "maximumBytes",
                    "the parameter maximumBytes is \"\(text)\"; it must be a whole number of bytes from 1 to "
                        + "\(Self.maximumBytesLimit) (1 GiB), written in digits, for example \"16777216\" for 16 MiB")
            }
            maximumBytes = value
        }
        self.init(maximumBytes: maximumBytes)
    }

    /// One output per record: it never splits.
    package var maySplit: Bool { false }

    /// Each verdict depends on its record alone.
    package var isPure: Bool { true }

    package func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        batch.map { ProcessorResult(recordID: $0.recordID, verdict: verdict(for: $0.data)) }
    }

    /// The verdict for one record's bytes.
    package func verdict(for data: [UInt8]) -> ProcessorVerdict {
        do throws(GzipError) {
            return .ok(data: try Gzip.decompress(data, maximumOutput: maximumBytes), partitionKeys: [:])
        } catch {
            if case .outputLimitExceeded(let limit) = error {
                return .processingFailed(
                    code: Self.outputLimitExceededCode,
                    message: "the record decompresses to more than \(limit) bytes, the decompress processor's "
                        + "maximumBytes; raise maximumBytes (up to \(Self.maximumBytesLimit)) if records are "
                        + "legitimately that large")
            }
            return .processingFailed(code: Self.invalidGzipCode, message: Self.message(for: error, data))
        }
    }

    /// A message for a record that is not valid gzip.
    static func message(for error: GzipError, _ data: [UInt8]) -> String {
        switch error {
        case .notGzip(let offset) where offset == 0:
            let start = data.prefix(4).map { hex($0) }.joined(separator: " ")
            return "the record is not gzip: it starts with \(start), not the gzip magic bytes 1f 8b (it may "
                + "already be decompressed, or compressed with another format)"
        case .notGzip(let offset):
            return "the record has \(data.count - offset) bytes that are not gzip at offset \(offset), after a "
                + "complete gzip member; the record was extended after compression"
        case .truncated(let inputBytes, _) where inputBytes == 0:
            return "the record is empty, so it is not gzip data (a gzip member is at least 20 bytes)"
        case .truncated(let inputBytes, let memberOffset):
            return "the gzip data is truncated: the record ends after \(inputBytes) bytes, inside the gzip member "
                + "that starts at offset \(memberOffset), before its trailer; the record was cut short"
        case .checksumMismatch(let member, let crc32):
            return "the gzip data is corrupt: the \(crc32 ? "CRC-32" : "length") in the trailer of member \(member) "
                + "does not match the decompressed bytes"
        case .corrupt(let offset, let reason):
            return "the gzip data is corrupt near offset \(offset): \(reason)"
        case .outputLimitExceeded(let limit):
            return "the record decompresses to more than \(limit) bytes"
        }
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16)
        return digits.count == 1 ? "0" + digits : digits
    }
}
