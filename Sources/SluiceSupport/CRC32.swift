internal import CZlib

/// CRC-32 (IEEE 802.3, the gzip and zlib polynomial), computed by zlib's `crc32`.
package enum CRC32 {
    /// The checksum of `bytes`, continuing from `initial` (0 to start).
    @inline(__always)
    package static func checksum(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return initial }
        var crc = UInt(initial)
        var pointer = base.assumingMemoryBound(to: UInt8.self)
        var remaining = bytes.count
        // zlib's length parameter is a 32-bit uInt; feed larger buffers in slices.
        while remaining > 0 {
            let chunk = min(remaining, 1 << 30)
            crc = crc32(crc, pointer, UInt32(chunk))
            pointer += chunk
            remaining -= chunk
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    /// The checksum of `bytes`.
    package static func checksum(_ bytes: [UInt8], initial: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, initial: initial) }
    }
}
