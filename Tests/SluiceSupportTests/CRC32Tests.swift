import SluiceSupport
import SluiceTestSupport
import Testing

@Suite struct CRC32Tests {
    @Test(arguments: [
        ("123456789", 0xCBF4_3926 as UInt32),
        ("The quick brown fox jumps over the lazy dog", 0x414F_A339),
        ("a", 0xE8B7_BE43),
        ("", 0),
    ])
    func checksumMatchesTheStandardCheckValue(text: String, expected: UInt32) {
        #expect(CRC32.checksum(Array(text.utf8)) == expected)
    }

    @Test func checksumOfNoBytesReturnsTheInitialValue() {
        #expect(CRC32.checksum([], initial: 0x1234_5678) == 0x1234_5678)
    }

    @Test func incrementalChecksumEqualsOneShotAtEverySplit() {
        var random = SeededRandom(seed: 1)
        let bytes = random.bytes(257)
        let whole = CRC32.checksum(bytes)
        for split in 0...bytes.count {
            let first = CRC32.checksum(Array(bytes[..<split]))
            #expect(CRC32.checksum(Array(bytes[split...]), initial: first) == whole, "split at \(split)")
        }
    }

    @Test func incrementalChecksumOverManyRandomChunksEqualsOneShot() {
        var random = SeededRandom(seed: 2)
        let bytes = random.bytes(100_000)
        var crc: UInt32 = 0
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + Int.random(in: 1...5000, using: &random))
            crc = bytes[offset..<end].withUnsafeBytes { CRC32.checksum($0, initial: crc) }
            offset = end
        }
        #expect(crc == CRC32.checksum(bytes))
    }

    @Test func rawBufferAndArrayOverloadsAgree() {
        let bytes = Array("123456789".utf8)
        #expect(bytes.withUnsafeBytes { CRC32.checksum($0) } == 0xCBF4_3926)
    }

    @Test func flippingAnyBitChangesTheChecksum() {
        var random = SeededRandom(seed: 3)
        let bytes = random.bytes(64)
        let original = CRC32.checksum(bytes)
        for bit in 0..<(bytes.count * 8) {
            var flipped = bytes
            flipped[bit / 8] ^= 1 << UInt8(bit % 8)
            #expect(CRC32.checksum(flipped) != original, "bit \(bit)")
        }
    }
}
