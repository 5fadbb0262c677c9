internal import CCrypto

/// Message digests and MACs from libcrypto's EVP interface.
///
/// MD5 is a broken hash. Sluice uses it only where the Kinesis protocol defines it (the hash key
/// of a partition key is the MD5 of its UTF-8 bytes) and never for security.
package enum Digest {
    // EVP_MD_fetch is costly; fetch each algorithm once per process. The fetched objects are
    // immutable and documented as safe to share between threads.
    nonisolated(unsafe) private static let md5Algorithm: OpaquePointer? = EVP_MD_fetch(nil, "MD5", nil)

    /// The MD5 digest of `bytes` (16 bytes), read as a big-endian unsigned 128-bit integer.
    ///
    /// Used for Kinesis partition-key routing only.
    package static func md5AsUInt128(_ bytes: UnsafeRawBufferPointer) -> UInt128 {
        var digest = (UInt64(0), UInt64(0))
        var length: UInt32 = 0
        let ok = withUnsafeMutableBytes(of: &digest) { out in
            EVP_Digest(
                bytes.baseAddress, bytes.count,
                out.baseAddress!.assumingMemoryBound(to: UInt8.self), &length, md5Algorithm, nil)
        }
        precondition(ok == 1 && length == 16, "libcrypto MD5 failed: \(drainErrors())")
        // The 16 bytes in memory order are the big-endian number.
        return UInt128(UInt64(bigEndian: digest.0)) << 64 | UInt128(UInt64(bigEndian: digest.1))
    }

    /// The MD5 digest of a string's UTF-8 bytes as a big-endian unsigned 128-bit integer.
    package static func md5AsUInt128(_ text: String) -> UInt128 {
        var text = text
        return text.withUTF8 { md5AsUInt128(UnsafeRawBufferPointer($0)) }
    }

    /// The MD5 digest of `bytes` (16 bytes).
    package static func md5(_ bytes: [UInt8]) -> [UInt8] {
        let value = bytes.withUnsafeBytes { md5AsUInt128($0) }
        return (0..<16).map { UInt8(truncatingIfNeeded: value >> (8 * (15 - $0))) }
    }

    /// HMAC-SHA256 of `message` under `key` (32 bytes). The corresponding C function is `EVP_Q_mac`.
    package static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length = 0
        let result = key.withUnsafeBytes { keyBytes in
            message.withUnsafeBytes { messageBytes in
                out.withUnsafeMutableBytes { outBytes in
                    EVP_Q_mac(
                        nil, "HMAC", nil, "SHA256", nil,
                        keyBytes.baseAddress, keyBytes.count,
                        messageBytes.baseAddress?.assumingMemoryBound(to: UInt8.self), messageBytes.count,
                        outBytes.baseAddress?.assumingMemoryBound(to: UInt8.self), 32, &length)
                }
            }
        }
        precondition(result != nil && length == 32, "libcrypto HMAC-SHA256 failed: \(drainErrors())")
        return out
    }

    /// SHA-256 of `bytes` (32 bytes).
    package static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBytes { output in
                EVP_Digest(
                    input.baseAddress, input.count, output.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    &length, EVP_sha256(), nil)
            }
        }
        precondition(ok == 1 && length == 32, "libcrypto SHA-256 failed: \(drainErrors())")
        return out
    }

    /// `count` cryptographically random bytes (`RAND_bytes`).
    package static func randomBytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBytes { RAND_bytes($0.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(count)) }
        precondition(ok == 1, "libcrypto RAND_bytes failed: \(drainErrors())")
        return out
    }

    /// Every pending libcrypto error as readable text (the swift-nio-ssl pattern).
    private static func drainErrors() -> String {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return messages.isEmpty ? "no error queued" : messages.joined(separator: "; ")
    }
}
