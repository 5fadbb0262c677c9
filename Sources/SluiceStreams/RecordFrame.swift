package import SluiceSupport

/// A record as stored and as read back.
package struct StoredRecord: Sendable, Equatable {
    package var sequenceNumber: SequenceNumber
    /// When the record was appended (ApproximateArrivalTimestamp), never earlier than the record
    /// before it in the shard.
    package var arrival: Timestamp
    package var partitionKey: String
    package var data: [UInt8]

    package init(sequenceNumber: SequenceNumber, arrival: Timestamp, partitionKey: String, data: [UInt8]) {
        self.sequenceNumber = sequenceNumber
        self.arrival = arrival
        self.partitionKey = partitionKey
        self.data = data
    }
}

/// The on-disk frame of one record. All integers little-endian.
///
/// ```
/// offset  size  field
/// 0       4     body length L (bytes after the CRC field)
/// 4       4     CRC-32 (zlib) of the body: payload part first, then header part (see below)
/// 8       16    sequence number (UInt128)
/// 24      8     arrival time, ms since the epoch (Int64)
/// 32      2     partition key length K (UTF-8 bytes)
/// 34      K     partition key
/// 34+K    L-26-K data
/// ```
///
/// The CRC is computed over body bytes `[24, L)` (key length, key, data) and then continued over
/// body bytes `[0, 24)` (sequence number, arrival). An appender checksums the payload, the
/// expensive part, before it takes the shard lock, and finishes the CRC over 24 bytes once its
/// sequence number is known. Sequence number and arrival are still covered.
package enum RecordFrame {
    /// Length and CRC fields.
    package static let prefixSize = 8
    /// Sequence number, arrival and key length.
    package static let bodyHeaderSize = 26
    /// Bytes a frame adds to its key and data.
    package static let overhead = prefixSize + bodyHeaderSize

    /// The frame size for a key and data of these byte counts.
    @inline(__always)
    package static func size(keyBytes: Int, dataBytes: Int) -> Int {
        overhead + keyBytes + dataBytes
    }

    /// Writes key length, key and data at `frameStart` and returns the payload CRC.
    /// Sequence number, arrival and the final CRC are filled in by `seal`.
    package static func writePayload(
        into buffer: UnsafeMutableRawBufferPointer, at frameStart: Int, key: UnsafeRawBufferPointer,
        data: UnsafeRawBufferPointer
    ) -> UInt32 {
        let bodyLength = bodyHeaderSize + key.count + data.count
        buffer.storeBytes(of: UInt32(bodyLength).littleEndian, toByteOffset: frameStart, as: UInt32.self)
        buffer.storeBytes(of: UInt16(key.count).littleEndian, toByteOffset: frameStart + 32, as: UInt16.self)
        let keyStart = frameStart + overhead
        if key.count > 0 {
            (buffer.baseAddress! + keyStart).copyMemory(from: key.baseAddress!, byteCount: key.count)
        }
        if data.count > 0 {
            (buffer.baseAddress! + keyStart + key.count).copyMemory(from: data.baseAddress!, byteCount: data.count)
        }
        return CRC32.checksum(UnsafeRawBufferPointer(rebasing: buffer[(frameStart + 32)..<(keyStart + key.count + data.count)]))
    }

    /// Fills in sequence number, arrival and the CRC of a frame written by `writePayload`.
    package static func seal(
        _ buffer: UnsafeMutableRawBufferPointer, at frameStart: Int, sequence: SequenceNumber, arrival: Timestamp,
        payloadCRC: UInt32
    ) {
        buffer.storeBytes(of: UInt64(truncatingIfNeeded: sequence.value).littleEndian, toByteOffset: frameStart + 8, as: UInt64.self)
        buffer.storeBytes(of: UInt64(truncatingIfNeeded: sequence.value >> 64).littleEndian, toByteOffset: frameStart + 16, as: UInt64.self)
        buffer.storeBytes(of: arrival.milliseconds.littleEndian, toByteOffset: frameStart + 24, as: Int64.self)
        let crc = CRC32.checksum(UnsafeRawBufferPointer(rebasing: buffer[(frameStart + 8)..<(frameStart + 32)]), initial: payloadCRC)
        buffer.storeBytes(of: crc.littleEndian, toByteOffset: frameStart + 4, as: UInt32.self)
    }

    /// Encodes a complete frame (used by tests and tools; appenders use `writePayload`/`seal`).
    package static func encode(sequence: SequenceNumber, arrival: Timestamp, partitionKey: String, data: [UInt8]) -> [UInt8] {
        let key = Array(partitionKey.utf8)
        var frame = [UInt8](repeating: 0, count: size(keyBytes: key.count, dataBytes: data.count))
        frame.withUnsafeMutableBytes { buffer in
            key.withUnsafeBytes { keyBytes in
                data.withUnsafeBytes { dataBytes in
                    let crc = writePayload(into: buffer, at: 0, key: keyBytes, data: dataBytes)
                    seal(buffer, at: 0, sequence: sequence, arrival: arrival, payloadCRC: crc)
                }
            }
        }
        return frame
    }

    /// The outcome of looking at the bytes where a frame should start.
    package enum Decoded {
        /// A valid frame of `size` bytes.
        case frame(size: Int, sequence: SequenceNumber, arrival: Timestamp)
        /// The bytes end before the frame does; `size` is the full frame size claimed by the length
        /// field (or 0 when even the length field is missing).
        case incomplete(size: Int)
        /// Not a valid frame: bad length, CRC mismatch.
        case corrupt(String)
    }

    /// Checks the frame at `start` without copying key or data.
    ///
    /// - Parameter maximumSize: frames claiming to be larger are corrupt.
    package static func inspect(_ bytes: UnsafeRawBufferPointer, at start: Int, maximumSize: Int) -> Decoded {
        let available = bytes.count - start
        guard available >= prefixSize else { return .incomplete(size: 0) }
        let bodyLength = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: start, as: UInt32.self)))
        let size = prefixSize + bodyLength
        guard bodyLength >= bodyHeaderSize, size <= maximumSize else {
            return .corrupt("frame length \(bodyLength) is outside \(bodyHeaderSize)...\(maximumSize - prefixSize)")
        }
        guard available >= size else { return .incomplete(size: size) }
        let keyLength = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: start + 32, as: UInt16.self)))
        guard bodyHeaderSize + keyLength <= bodyLength else {
            return .corrupt("partition key length \(keyLength) exceeds the frame")
        }
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: start + 4, as: UInt32.self))
        let payloadCRC = CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[(start + 32)..<(start + size)]))
        let crc = CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[(start + 8)..<(start + 32)]), initial: payloadCRC)
        guard crc == stored else { return .corrupt("CRC mismatch (stored \(stored), computed \(crc))") }
        let low = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: start + 8, as: UInt64.self))
        let high = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: start + 16, as: UInt64.self))
        let arrival = Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: start + 24, as: Int64.self))
        return .frame(
            size: size, sequence: SequenceNumber(value: UInt128(high) << 64 | UInt128(low)),
            arrival: Timestamp(milliseconds: arrival))
    }

    /// Copies the record out of a frame that `inspect` accepted.
    package static func record(
        _ bytes: UnsafeRawBufferPointer, at start: Int, size: Int, sequence: SequenceNumber, arrival: Timestamp
    ) -> StoredRecord {
        let keyLength = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: start + 32, as: UInt16.self)))
        let keyStart = start + overhead
        let key = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[keyStart..<(keyStart + keyLength)]), as: UTF8.self)
        let data = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[(keyStart + keyLength)..<(start + size)]))
        return StoredRecord(sequenceNumber: sequence, arrival: arrival, partitionKey: key, data: data)
    }
}
