import Foundation
import SluiceSupport

/// Shard iterator tokens: opaque, tamper-evident, and bound to one data directory.
///
/// A token is base64url of `version(1) | incarnation(4) | shard index(4) | position(8) |
/// issued ms(8) | stream name` followed by the first 16 bytes of HMAC-SHA256 of all that, under a
/// 32-byte key kept in `<data-dir>/iterator.key`. Changing any byte, or presenting a token from
/// another data directory, fails the MAC.
struct ShardIteratorToken: Equatable {
    var streamName: String
    var incarnation: UInt32
    var shardIndex: Int
    var position: ShardPosition
    var issued: Timestamp

    private static let version: UInt8 = 1
    private static let macLength = 16

    func encode(key: [UInt8]) -> String {
        var payload: [UInt8] = [Self.version]
        SegmentFile.append(&payload, incarnation)
        SegmentFile.append(&payload, UInt32(shardIndex))
        SegmentFile.append(&payload, position.packed)
        SegmentFile.append(&payload, UInt64(bitPattern: issued.milliseconds))
        payload.append(contentsOf: streamName.utf8)
        payload.append(contentsOf: Digest.hmacSHA256(key: key, message: payload).prefix(Self.macLength))
        return Data(payload).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Decodes and authenticates a token; nil if it is malformed or its MAC does not match.
    static func decode(_ text: String, key: [UInt8]) -> ShardIteratorToken? {
        var token = text
        // AWS accepts an iterator wrapped in literal double quotes.
        if token.count >= 2, token.hasPrefix("\""), token.hasSuffix("\"") { token = String(token.dropFirst().dropLast()) }
        guard token.count <= 512, token.utf8.allSatisfy({ isBase64URL($0) }) else { return nil }
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64) else { return nil }
        let bytes = [UInt8](data)
        let fixed = 1 + 4 + 4 + 8 + 8
        guard bytes.count > fixed + macLength, bytes[0] == version else { return nil }
        let payload = Array(bytes[0..<(bytes.count - macLength)])
        let mac = Array(bytes[(bytes.count - macLength)...])
        let expected = Array(Digest.hmacSHA256(key: key, message: payload).prefix(macLength))
        // Constant-time comparison.
        var difference: UInt8 = 0
        for (a, b) in zip(mac, expected) { difference |= a ^ b }
        guard difference == 0 else { return nil }
        return payload.withUnsafeBytes { raw in
            func load<T: FixedWidthInteger>(_ offset: Int, _ type: T.Type) -> T {
                T(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: T.self))
            }
            let name = String(decoding: payload[fixed...], as: UTF8.self)
            return ShardIteratorToken(
                streamName: name, incarnation: load(1, UInt32.self), shardIndex: Int(load(5, UInt32.self)),
                position: ShardPosition(packed: load(9, UInt64.self)),
                issued: Timestamp(milliseconds: Int64(bitPattern: load(17, UInt64.self))))
        }
    }

    private static func isBase64URL(_ byte: UInt8) -> Bool {
        (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57) || byte == 45 || byte == 95
    }
}
