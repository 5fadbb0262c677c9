import SluiceSupport

/// One entry of a segment's sparse index: the first record at or after a byte boundary.
package struct IndexEntry: Sendable, Equatable {
    package var offset: UInt32
    package var arrival: Int64
}

/// What the shard knows about one segment file.
struct Segment: Sendable {
    let number: UInt32
    let path: String
    /// End of the bytes written so far (this process), or the recovered end.
    var writtenEnd: UInt32
    /// End of the bytes known to be on the device.
    var durableEnd: UInt32
    var recordCount: Int
    var firstArrival: Int64?
    var lastArrival: Int64?
    /// Sparse index, ascending by offset; the first record always has an entry.
    var index: [IndexEntry]
    /// No more appends go here (rolled, failed, or recovered from a previous run).
    var sealed: Bool
    /// The `.idx` summary has been written (only ever after the data was durable).
    var indexPersisted: Bool

    var isEmpty: Bool { recordCount == 0 }

    /// A sealed segment found on open, described by its summary file or by a scan.
    init(recovered number: UInt32, path: String, summary: SegmentFile.ScanResult, summarised: Bool) {
        self.init(
            number: number, path: path, writtenEnd: summary.validEnd, durableEnd: summary.validEnd,
            recordCount: summary.recordCount, firstArrival: summary.firstArrival, lastArrival: summary.lastArrival,
            index: summary.index, sealed: true, indexPersisted: summarised)
    }

    init(
        number: UInt32, path: String, writtenEnd: UInt32, durableEnd: UInt32, recordCount: Int, firstArrival: Int64?,
        lastArrival: Int64?, index: [IndexEntry], sealed: Bool, indexPersisted: Bool
    ) {
        self.number = number
        self.path = path
        self.writtenEnd = writtenEnd
        self.durableEnd = durableEnd
        self.recordCount = recordCount
        self.firstArrival = firstArrival
        self.lastArrival = lastArrival
        self.index = index
        self.sealed = sealed
        self.indexPersisted = indexPersisted
    }

    /// Records `count` frames ending at `end`, the first one at `firstOffset`.
    mutating func noteAppended(frameOffsets: some Sequence<UInt32>, end: UInt32, arrival: Int64, interval: UInt32) {
        for offset in frameOffsets {
            if let last = index.last {
                if offset / interval > last.offset / interval {
                    index.append(IndexEntry(offset: offset, arrival: arrival))
                }
            } else {
                index.append(IndexEntry(offset: offset, arrival: arrival))
            }
            recordCount += 1
        }
        if firstArrival == nil { firstArrival = arrival }
        lastArrival = arrival
        writtenEnd = end
    }
}

/// The segment file format: a 32-byte header followed by record frames (`RecordFrame`).
///
/// ```
/// 0   8  magic "SLUICSEG"
/// 8   2  format version (1)
/// 10  2  reserved (0)
/// 12  4  shard index
/// 16  4  segment number
/// 20  4  stream incarnation
/// 24  8  creation time, ms since the epoch
/// ```
///
/// Beside a segment that is sealed and durable sits `NNNNNNNNNN.idx`: its end offset, record
/// count, arrival range and sparse index, protected by a CRC. A segment with a valid `.idx` is
/// trusted on open; any other is scanned frame by frame and cut at the first invalid frame.
enum SegmentFile {
    static let headerSize: UInt32 = 32
    static let magic: [UInt8] = Array("SLUICSEG".utf8)
    static let indexMagic: [UInt8] = Array("SLUICIDX".utf8)

    static func name(_ number: UInt32) -> String { pad(number) + ".seg" }
    static func indexName(_ number: UInt32) -> String { pad(number) + ".idx" }

    /// The segment number of a file name like `0000000042.seg`.
    static func number(ofSegmentFile name: String) -> UInt32? {
        guard name.hasSuffix(".seg"), name.utf8.count == 14 else { return nil }
        return UInt32(name.prefix(10))
    }

    /// The segment number of a summary file name like `0000000042.idx`.
    static func number(ofIndexFile name: String) -> UInt32? {
        guard name.hasSuffix(".idx"), name.utf8.count == 14 else { return nil }
        return UInt32(name.prefix(10))
    }

    private static func pad(_ number: UInt32) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 10 - digits.count)) + digits
    }

    static func header(shardIndex: Int, segment: UInt32, incarnation: UInt32, created: Timestamp) -> [UInt8] {
        var bytes = magic
        bytes.reserveCapacity(Int(headerSize))
        append(&bytes, UInt16(1))
        append(&bytes, UInt16(0))
        append(&bytes, UInt32(shardIndex))
        append(&bytes, segment)
        append(&bytes, incarnation)
        append(&bytes, UInt64(bitPattern: created.milliseconds))
        return bytes
    }

    static func isValidHeader(_ bytes: [UInt8], shardIndex: Int, segment: UInt32, incarnation: UInt32) -> Bool {
        guard bytes.count >= Int(headerSize), Array(bytes[0..<8]) == magic else { return false }
        return bytes.withUnsafeBytes { raw in
            UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt16.self)) == 1
                && UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 12, as: UInt32.self)) == UInt32(shardIndex)
                && UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt32.self)) == segment
                && UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 20, as: UInt32.self)) == incarnation
        }
    }

    static func append<T: FixedWidthInteger>(_ bytes: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    // MARK: - Scanning

    struct ScanResult {
        var validEnd: UInt32
        var recordCount = 0
        var firstArrival: Int64?
        var lastArrival: Int64?
        var index: [IndexEntry] = []
        /// Why scanning stopped before the end of the file, if it did.
        var problem: String?
        /// Scanning stopped at zeros: space allocated ahead of appends that were never made (or
        /// whose bytes never reached the device), rather than damaged bytes.
        var stoppedAtZeros = false
    }

    /// Reads every frame of a segment from its header to the end of the file and stops at the
    /// first one that is torn, fails its CRC, or does not carry the sequence number of its own
    /// position.
    static func scan(
        _ handle: FileHandle, shardIndex: Int, incarnation: UInt32, segment: UInt32, maximumFrame: Int,
        indexInterval: UInt32
    ) throws(SystemError) -> ScanResult {
        let fileSize = try handle.size()
        var result = ScanResult(validEnd: headerSize)
        var offset = Int64(headerSize)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while offset < fileSize {
            let want = Int(min(Int64(buffer.count), fileSize - offset))
            var got = 0
            var failure: SystemError?
            buffer.withUnsafeMutableBytes { raw in
                do throws(SystemError) {
                    got = try handle.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<want]), at: offset)
                } catch { failure = error }
            }
            if let failure { throw failure }
            var cursor = 0
            var needMore = 0
            var stop: String?
            buffer.withUnsafeBytes { raw in
                let view = UnsafeRawBufferPointer(rebasing: raw[0..<got])
                while cursor < got {
                    let frameOffset = UInt32(offset) + UInt32(cursor)
                    switch RecordFrame.inspect(view, at: cursor, maximumSize: maximumFrame) {
                    case .frame(let size, let sequence, let arrival):
                        let expected = SequenceNumber(
                            shardIndex: shardIndex, incarnation: incarnation,
                            position: ShardPosition(segment: segment, offset: frameOffset))
                        guard sequence == expected else {
                            stop = "frame at offset \(frameOffset) carries sequence number \(sequence), expected \(expected)"
                            return
                        }
                        if let last = result.index.last {
                            if frameOffset / indexInterval > last.offset / indexInterval {
                                result.index.append(IndexEntry(offset: frameOffset, arrival: arrival.milliseconds))
                            }
                        } else {
                            result.index.append(IndexEntry(offset: frameOffset, arrival: arrival.milliseconds))
                        }
                        if result.firstArrival == nil { result.firstArrival = arrival.milliseconds }
                        result.lastArrival = arrival.milliseconds
                        result.recordCount += 1
                        cursor += size
                        result.validEnd = frameOffset + UInt32(size)
                    case .incomplete(let size):
                        needMore = size
                        return
                    case .corrupt(let reason):
                        if got - cursor >= RecordFrame.prefixSize,
                            view[cursor..<(cursor + RecordFrame.prefixSize)].allSatisfy({ $0 == 0 })
                        {
                            result.stoppedAtZeros = true
                            stop = "zeros from offset \(frameOffset): space allocated ahead of appends that never reached it"
                        } else {
                            stop = "frame at offset \(frameOffset): \(reason)"
                        }
                        return
                    }
                }
            }
            if let stop {
                result.problem = stop
                return result
            }
            offset += Int64(cursor)
            if needMore > 0 || cursor < got {
                if offset + Int64(max(needMore, RecordFrame.prefixSize)) > fileSize {
                    result.problem = "torn frame at offset \(offset): the file ends \(fileSize - offset) bytes into it"
                    return result
                }
                if needMore > buffer.count { buffer = [UInt8](repeating: 0, count: needMore) }
            }
        }
        return result
    }

    // MARK: - Index files

    /// Serialises a sealed, durable segment's summary and sparse index.
    static func encodeIndex(_ segment: Segment) -> [UInt8] {
        var bytes = indexMagic
        append(&bytes, UInt32(1))
        append(&bytes, segment.writtenEnd)
        append(&bytes, UInt64(segment.recordCount))
        append(&bytes, segment.firstArrival ?? 0)
        append(&bytes, segment.lastArrival ?? 0)
        append(&bytes, UInt32(segment.index.count))
        for entry in segment.index {
            append(&bytes, entry.offset)
            append(&bytes, entry.arrival)
        }
        append(&bytes, CRC32.checksum(bytes))
        return bytes
    }

    /// Parses an index file; nil if it is torn, corrupt or of another version.
    static func decodeIndex(_ bytes: [UInt8]) -> ScanResult? {
        let fixed = 8 + 4 + 4 + 8 + 8 + 8 + 4
        guard bytes.count >= fixed + 4, Array(bytes[0..<8]) == indexMagic else { return nil }
        return bytes.withUnsafeBytes { raw -> ScanResult? in
            func load<T: FixedWidthInteger>(_ offset: Int, _ type: T.Type) -> T {
                T(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: T.self))
            }
            guard load(8, UInt32.self) == 1 else { return nil }
            let entryCount = Int(load(40, UInt32.self))
            guard bytes.count == fixed + entryCount * 12 + 4 else { return nil }
            let stored = load(bytes.count - 4, UInt32.self)
            guard CRC32.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<(bytes.count - 4)])) == stored else { return nil }
            var result = ScanResult(validEnd: load(12, UInt32.self))
            result.recordCount = Int(load(16, UInt64.self))
            if result.recordCount > 0 {
                result.firstArrival = load(24, Int64.self)
                result.lastArrival = load(32, Int64.self)
            }
            result.index.reserveCapacity(entryCount)
            for i in 0..<entryCount {
                result.index.append(IndexEntry(offset: load(fixed + i * 12, UInt32.self), arrival: load(fixed + i * 12 + 4, Int64.self)))
            }
            return result
        }
    }
}
