import SluiceStreams
import SluiceSupport

/// What recovery must find in a segment file, worked out independently of `SegmentFile.scan`
/// from the formats documented in `Segment.swift` and `RecordFrame.swift`: a 32-byte header
/// (magic `SLUICSEG`, version 1, shard index, segment number, incarnation), then frames
/// (length, CRC, sequence number, arrival, key length, key, data). Also seals frames the way a
/// writer does, for the target's second mode.
struct SegmentOracle: Sendable {
    /// The header of the segment a real store wrote: the one the fuzz segment replaces.
    let header: [UInt8]
    let segment: UInt32
    let incarnation: UInt32
    /// The largest frame the store accepts (`RecordFrame.overhead + maximumRecordSize + 1024`).
    let maximumFrame: Int
    /// The arrival time of sealed frames starts here.
    let firstArrival: Int64

    private static func load<T: FixedWidthInteger>(_ bytes: [UInt8], _ offset: Int, _ type: T.Type) -> T {
        var value: T = 0
        for index in 0..<MemoryLayout<T>.size { value |= T(bytes[offset + index]) << (8 * index) }
        return value
    }

    private static func store<T: FixedWidthInteger>(_ value: T, into bytes: inout [UInt8], at offset: Int) {
        for index in 0..<MemoryLayout<T>.size { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }

    private func expectedSequence(atFileOffset offset: Int) -> SequenceNumber {
        SequenceNumber(shardIndex: 0, incarnation: incarnation, position: ShardPosition(segment: segment, offset: UInt32(offset)))
    }

    /// The frames of the file's valid prefix, as the store must read them back.
    func records(in file: [UInt8]) -> [StoredRecord] {
        guard file.count >= 32, file[0..<8].elementsEqual("SLUICSEG".utf8), Self.load(file, 8, UInt16.self) == 1,
            Self.load(file, 12, UInt32.self) == 0, Self.load(file, 16, UInt32.self) == segment,
            Self.load(file, 20, UInt32.self) == incarnation
        else { return [] }
        var records: [StoredRecord] = []
        var offset = 32
        while file.count - offset >= 8 {
            let bodyLength = Int(Self.load(file, offset, UInt32.self))
            let size = 8 + bodyLength
            guard bodyLength >= 26, size <= maximumFrame, file.count - offset >= size else { break }
            let keyLength = Int(Self.load(file, offset + 32, UInt16.self))
            guard 26 + keyLength <= bodyLength else { break }
            let payloadCRC = CRC32.checksum(Array(file[(offset + 32)..<(offset + size)]))
            let crc = CRC32.checksum(Array(file[(offset + 8)..<(offset + 32)]), initial: payloadCRC)
            guard crc == Self.load(file, offset + 4, UInt32.self) else { break }
            let sequence = SequenceNumber(
                value: UInt128(Self.load(file, offset + 16, UInt64.self)) << 64 | UInt128(Self.load(file, offset + 8, UInt64.self)))
            guard sequence == expectedSequence(atFileOffset: offset) else { break }
            records.append(
                StoredRecord(
                    sequenceNumber: sequence, arrival: Timestamp(milliseconds: Self.load(file, offset + 24, Int64.self)),
                    partitionKey: String(decoding: file[(offset + 34)..<(offset + 34 + keyLength)], as: UTF8.self),
                    data: Array(file[(offset + 34 + keyLength)..<(offset + size)])))
            offset += size
        }
        return records
    }

    /// `frames` (the bytes after the header) with every frame whose length fields fit sealed as a
    /// writer seals it: sequence number of its position (unless its first byte is `FF`), arrival
    /// times from `firstArrival` that advance by the frame's first arrival byte in milliseconds,
    /// CRC (unless its first byte is `FF`). Stops at the first frame whose lengths do not fit.
    func seal(_ frames: [UInt8]) -> [UInt8] {
        var out = frames
        var offset = 0
        var arrival = firstArrival
        while out.count - offset >= 34 {
            let bodyLength = Int(Self.load(out, offset, UInt32.self))
            let size = 8 + bodyLength
            guard bodyLength >= 26, size <= maximumFrame, out.count - offset >= size else { break }
            let keyLength = Int(Self.load(out, offset + 32, UInt16.self))
            guard 26 + keyLength <= bodyLength else { break }
            if out[offset + 8] != 0xFF {
                let sequence = expectedSequence(atFileOffset: 32 + offset).value
                Self.store(UInt64(truncatingIfNeeded: sequence), into: &out, at: offset + 8)
                Self.store(UInt64(truncatingIfNeeded: sequence >> 64), into: &out, at: offset + 16)
            }
            arrival += Int64(out[offset + 24])
            Self.store(arrival, into: &out, at: offset + 24)
            if out[offset + 4] != 0xFF {
                let payloadCRC = CRC32.checksum(Array(out[(offset + 32)..<(offset + size)]))
                let crc = CRC32.checksum(Array(out[(offset + 8)..<(offset + 32)]), initial: payloadCRC)
                Self.store(crc, into: &out, at: offset + 4)
            }
            offset += size
        }
        return out
    }
}
