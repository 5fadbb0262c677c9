import SluiceSupport
import Testing

@Suite struct DigestTests {
    private static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined()
    }

    // MARK: - MD5

    @Test(arguments: [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("The quick brown fox jumps over the lazy dog", "9e107d9d372bb6826bd81d3542a419d6"),
    ])
    func md5MatchesKnownDigests(text: String, expected: String) {
        #expect(Self.hex(Digest.md5(Array(text.utf8))) == expected)
    }

    // The Kinesis documentation's example: partition key "a" hashes to this 128-bit integer.
    @Test func md5AsUInt128OfAIsTheKinesisHashKey() {
        #expect(Digest.md5AsUInt128("a") == 16_955_237_001_963_240_173_058_271_559_858_726_497)
    }

    @Test func md5AsUInt128ReadsTheDigestBigEndian() {
        #expect(Digest.md5AsUInt128("") == 0xd41d_8cd9_8f00_b204_e980_0998_ecf8_427e)
    }

    @Test func md5AsUInt128OfAStringMatchesTheRawBufferOverload() {
        let key = "partition-key-ü-日本"
        let fromBytes = Array(key.utf8).withUnsafeBytes { Digest.md5AsUInt128($0) }
        #expect(Digest.md5AsUInt128(key) == fromBytes)
        let digest = Digest.md5(Array(key.utf8))
        #expect(digest.reduce(UInt128(0)) { $0 << 8 | UInt128($1) } == fromBytes)
    }

    // MARK: - HMAC-SHA256

    @Test func hmacSHA256MatchesRFC4231TestCase1() {
        let mac = Digest.hmacSHA256(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8))
        #expect(Self.hex(mac) == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    }

    @Test func hmacSHA256MatchesRFC4231TestCase2() {
        let mac = Digest.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(Self.hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func hmacSHA256WithAKeyLongerThanABlockMatchesRFC4231TestCase6() {
        let mac = Digest.hmacSHA256(
            key: [UInt8](repeating: 0xaa, count: 131),
            message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))
        #expect(Self.hex(mac) == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test func hmacSHA256OfTheQuickBrownFox() {
        let mac = Digest.hmacSHA256(
            key: Array("key".utf8), message: Array("The quick brown fox jumps over the lazy dog".utf8))
        #expect(Self.hex(mac) == "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8")
    }

    @Test func hmacSHA256WithAnEmptyMessage() {
        let mac = Digest.hmacSHA256(key: Array("key".utf8), message: [])
        #expect(Self.hex(mac) == "5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0")
    }

    @Test func hmacSHA256WithAnEmptyKeyAndMessage() {
        let mac = Digest.hmacSHA256(key: [], message: [])
        #expect(Self.hex(mac) == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    // SigV4 chains HMACs, each keyed with the previous 32-byte result.
    @Test func hmacSHA256AcceptsAPreviousMacAsKey() {
        let first = Digest.hmacSHA256(key: Array("AWS4secret".utf8), message: Array("20260101".utf8))
        let second = Digest.hmacSHA256(key: first, message: Array("us-east-1".utf8))
        #expect(second.count == 32)
        #expect(second != first)
        #expect(second == Digest.hmacSHA256(key: first, message: Array("us-east-1".utf8)))
    }

    // MARK: - SHA-256

    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
    ])
    func sha256MatchesFIPSVectors(text: String, expected: String) {
        #expect(Self.hex(Digest.sha256(Array(text.utf8))) == expected)
    }

    // MARK: - Random bytes

    @Test(arguments: [0, 1, 16, 32, 1000])
    func randomBytesHasTheRequestedLength(count: Int) {
        #expect(Digest.randomBytes(count).count == count)
    }

    @Test func randomBytesDifferBetweenCalls() {
        let first = Digest.randomBytes(32)
        let second = Digest.randomBytes(32)
        #expect(first != second)
        #expect(first != [UInt8](repeating: 0, count: 32))
    }
}
