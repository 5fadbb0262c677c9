// MARK: - Rendering

extension PrefixTemplate {
    /// The prefix evaluated for one batch.
    ///
    /// Every `!{timestamp:…}` expression prints `context.timestamp` in `timeZone` (all of them
    /// the same instant); the n-th `!{firehose:random-string}` prints `randomString(seed:occurrence:)`.
    /// Pure and thread-safe.
    /// - Throws: `PrefixError.missingPartitionKey`, `.missingErrorOutputType`, `.tooLong` (over
    ///   512 characters) or `.unsafePath` (the result would not stay inside the destination
    ///   directory: a leading "/", an empty, "." or ".." path segment, or a NUL character).
    package func render(_ context: PrefixContext, timeZone: PrefixTimeZone) throws(PrefixError) -> String {
        var cache = PrefixRenderCache()
        return try render(context, timeZone: timeZone, cache: &cache)
    }

    /// Like `render(_:timeZone:)`, reusing the wall-clock fields of the previous call when the
    /// second is the same. For a runner's hot path.
    package func render(
        _ context: PrefixContext, timeZone: PrefixTimeZone, cache: inout PrefixRenderCache
    ) throws(PrefixError) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count + 32)
        var time: CivilTime?
        for segment in segments {
            switch segment {
            case .literal(let bytes):
                output += bytes
            case .timestamp(let pattern):
                let fields = time ?? cache.civilTime(at: context.timestamp, in: timeZone)
                time = fields
                pattern.append(fields, to: &output)
            case .randomString(let occurrence):
                Self.appendRandomString(seed: context.randomSeed, occurrence: occurrence, to: &output)
            case .errorOutputType:
                guard let type = context.errorOutputType else { throw .missingErrorOutputType }
                output += type.utf8
            case .partitionKey(let name, _):
                guard let value = context.partitionKeys[name] else { throw .missingPartitionKey(name) }
                output += value.utf8
            }
        }
        let rendered = String(decoding: output, as: UTF8.self)
        // UTF-8 length bounds the character count, so the count is only taken when it matters.
        if output.count > Self.maximumEvaluatedLength {
            let length = rendered.count
            if length > Self.maximumEvaluatedLength { throw .tooLong(length: length, limit: Self.maximumEvaluatedLength) }
        }
        if let reason = Self.pathProblem(output) { throw .unsafePath(prefix: rendered, reason: reason) }
        return rendered
    }

    /// The value of the `occurrence`-th `!{firehose:random-string}` for `seed`: 11 characters of
    /// `[a-z0-9]` (SplitMix64 of the seed and the occurrence).
    package static func randomString(seed: UInt64, occurrence: Int) -> String {
        var bytes: [UInt8] = []
        appendRandomString(seed: seed, occurrence: occurrence, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func appendRandomString(seed: UInt64, occurrence: Int, to output: inout [UInt8]) {
        var z = seed &+ (UInt64(truncatingIfNeeded: occurrence) &+ 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        // 36^11 < 2^57: one 64-bit value gives all eleven characters.
        for _ in 0..<randomStringLength {
            let digit = UInt8(z % 36)
            output.append(digit < 10 ? 48 + digit : 87 + digit)
            z /= 36
        }
    }

    /// Why `rendered` would not name a place inside the destination directory, or nil.
    ///
    /// Only complete path segments (those followed by "/") are checked: the last segment is
    /// the start of the object's file name.
    static func pathProblem(_ rendered: [UInt8]) -> String? {
        var segmentLength = 0
        var dots = 0
        for byte in rendered {
            switch byte {
            case 0:
                return "which contains a NUL character"
            case UInt8(ascii: "/"):
                if segmentLength == 0 {
                    return "which has an empty path segment (a leading \"/\" or \"//\"); directories need names"
                }
                if dots == segmentLength && segmentLength <= 2 {
                    return "which has a \"\(String(repeating: ".", count: dots))\" path segment; "
                        + "prefixes must stay inside the destination directory"
                }
                segmentLength = 0
                dots = 0
            case UInt8(ascii: "."):
                segmentLength += 1
                dots += 1
            default:
                segmentLength += 1
            }
        }
        return nil
    }
}
