/// A place in a shard's log: a segment number and a byte offset inside that segment file.
///
/// Positions order records: within a shard, a later record always has a greater position.
package struct ShardPosition: Hashable, Comparable, Sendable, CustomStringConvertible {
    package var segment: UInt32
    package var offset: UInt32

    package init(segment: UInt32, offset: UInt32) {
        self.segment = segment
        self.offset = offset
    }

    /// Segment and offset packed into 64 bits (segment high).
    package var packed: UInt64 { UInt64(segment) << 32 | UInt64(offset) }

    package init(packed: UInt64) {
        self.init(segment: UInt32(truncatingIfNeeded: packed >> 32), offset: UInt32(truncatingIfNeeded: packed))
    }

    package static func < (lhs: ShardPosition, rhs: ShardPosition) -> Bool { lhs.packed < rhs.packed }

    /// The position before every record of a shard.
    package static let start = ShardPosition(segment: 0, offset: 0)
    /// The position after every record a shard can ever hold (a closed shard's end).
    package static let end = ShardPosition(segment: UInt32.max, offset: UInt32.max)

    package var description: String { "\(segment):\(offset)" }
}

/// A Kinesis sequence number: a decimal string of 39 digits, compared as a big integer.
///
/// Layout of the unsigned 128-bit value, most significant bit first:
///
/// | bits | field |
/// |---|---|
/// | 127 | always 1, so every number has exactly 39 digits (and compares as a string too) |
/// | 96...126 | shard index (31 bits) |
/// | 64...95 | stream incarnation: a random 32-bit tag chosen when the stream was created |
/// | 32...63 | segment number |
/// | 0...31 | byte offset of the record's frame inside that segment file |
///
/// So a sequence number is its own index: finding its record is one `pread` at a known file and
/// offset, not a scan. Numbers increase strictly within a shard (segments only grow and every
/// process start opens a new segment, so numbers are never reused across restarts), a child
/// shard's numbers exceed its parents' (higher shard index), and a number names the shard and the
/// stream incarnation it came from, which lets errors say "it encodes shardId-000000000005".
package struct SequenceNumber: Hashable, Comparable, Sendable, CustomStringConvertible {
    package var value: UInt128

    package init(value: UInt128) {
        self.value = value
    }

    package init(shardIndex: Int, incarnation: UInt32, position: ShardPosition) {
        precondition(shardIndex >= 0 && shardIndex < 1 << 31, "shard index out of range")
        value = UInt128(1) << 127 | UInt128(shardIndex) << 96 | UInt128(incarnation) << 64 | UInt128(position.packed)
    }

    /// Parses the decimal form; nil unless it is a well-formed number of this layout.
    package init?(_ text: String) {
        guard text.utf8.count == 39, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = UInt128(text),
            value >> 127 == 1
        else { return nil }
        self.value = value
    }

    package var shardIndex: Int { Int(truncatingIfNeeded: (value >> 96) & 0x7FFF_FFFF) }
    package var incarnation: UInt32 { UInt32(truncatingIfNeeded: value >> 64) }
    package var position: ShardPosition { ShardPosition(packed: UInt64(truncatingIfNeeded: value)) }

    package static func < (lhs: SequenceNumber, rhs: SequenceNumber) -> Bool { lhs.value < rhs.value }

    /// The decimal string.
    package var description: String { String(value) }
}

/// Shard identifiers: `shardId-` and a 12-digit zero-padded index.
package enum ShardID {
    /// `shardId-000000000007` for index 7.
    package static func format(_ index: Int) -> String {
        let digits = String(index)
        return "shardId-" + String(repeating: "0", count: max(0, 12 - digits.count)) + digits
    }

    /// The index named by a shard id, normalised the way AWS does: the text after the first `-`
    /// (or the whole value) must be decimal digits within `0...2147483647`, so `shardId-5`,
    /// `shard-0` and `0` are accepted. Nil otherwise.
    package static func index(of raw: String) -> Int? {
        let digits: Substring
        if let dash = raw.firstIndex(of: "-") {
            digits = raw[raw.index(after: dash)...]
        } else {
            digits = Substring(raw)
        }
        guard !digits.isEmpty, digits.utf8.count <= 20, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
            let value = Int(digits), value <= Int(Int32.max)
        else { return nil }
        return value
    }
}
