import SluiceSupport

/// The opaque `NextToken` of ListStreams and ListShards.
///
/// A token is base64url (no padding) of a small JSON object: what was listed, the last item
/// returned, when the token was issued, and for ListShards the stream (with its creation time,
/// so a token never continues into a re-created stream of the same name) and the filters of
/// the first request, which later pages apply again. Tokens expire after 300 seconds on the
/// store's clock, as AWS's do (`ExpiredNextTokenException`). They are not secret: a hand-edited
/// token can only list a different page of what the caller may list anyway.
struct PageToken: Equatable {
    enum Kind: String {
        case streams = "ListStreams"
        case shards = "ListShards"
    }

    /// How long a token stays valid.
    static let lifetimeMilliseconds: Int64 = 300_000

    var kind: Kind
    /// ms since the epoch.
    var issued: Int64
    /// The last stream name or shard id already returned.
    var after: String
    /// ListShards: the stream and its creation time (ms).
    var stream: String?
    var streamCreated: Int64?
    /// ListShards: the first request's ExclusiveStartShardId and ShardFilter, kept so a client
    /// that repeats them with the token (boto3's paginator does) can be recognised.
    var exclusiveStartShardID: String?
    var filter: ShardFilter?

    /// A ListShards `ShardFilter`.
    struct ShardFilter: Equatable {
        var type: String
        var shardID: String?
        /// ms since the epoch.
        var timestamp: Int64?
    }

    // MARK: - Encoding

    func encoded() -> String {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("k")
        writer.string(kind.rawValue)
        writer.key("i")
        writer.number(issued)
        writer.key("a")
        writer.string(after)
        if let stream {
            writer.key("s")
            writer.string(stream)
        }
        if let streamCreated {
            writer.key("c")
            writer.number(streamCreated)
        }
        if let exclusiveStartShardID {
            writer.key("x")
            writer.string(exclusiveStartShardID)
        }
        if let filter {
            writer.key("f")
            writer.string(filter.type)
            if let shardID = filter.shardID {
                writer.key("fs")
                writer.string(shardID)
            }
            if let timestamp = filter.timestamp {
                writer.key("ft")
                writer.number(timestamp)
            }
        }
        writer.endObject()
        var base64: [UInt8] = []
        Base64.encode(writer.bytes, into: &base64)
        var text = ""
        text.unicodeScalars.reserveCapacity(base64.count)
        for byte in base64 {
            switch byte {
            case UInt8(ascii: "+"): text.append("-")
            case UInt8(ascii: "/"): text.append("_")
            case UInt8(ascii: "="): continue
            default: text.unicodeScalars.append(UnicodeScalar(byte))
            }
        }
        return text
    }

    /// Decodes a token of `kind`; nil for anything this server did not issue.
    static func decode(_ text: String, kind: Kind) -> PageToken? {
        var bytes: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "-"): bytes.append(UInt8(ascii: "+"))
            case UInt8(ascii: "_"): bytes.append(UInt8(ascii: "/"))
            default: bytes.append(byte)
            }
        }
        while bytes.count % 4 != 0 { bytes.append(UInt8(ascii: "=")) }
        guard case .success(let json) = bytes.withUnsafeBufferPointer({ Base64.decode($0) }) else { return nil }
        let value: JSONValue
        do { value = try JSONParser.parse(json) } catch { return nil }  // not a token of ours
        guard case .object(let object) = value else { return nil }
        let fields = RequestFields(object)
        func member(_ name: StaticString) -> String? {
            do { return try fields.string(name) } catch { return nil }  // a malformed token is refused below
        }
        func number(_ name: StaticString) -> Int64? {
            guard case .number(let digits)? = object[name], let string = digits.string else { return nil }
            return Int64(string)
        }
        guard member("k") == kind.rawValue, let issued = number("i"), let after = member("a") else { return nil }
        var token = PageToken(kind: kind, issued: issued, after: after)
        token.stream = member("s")
        token.streamCreated = number("c")
        token.exclusiveStartShardID = member("x")
        if let type = member("f") {
            token.filter = ShardFilter(type: type, shardID: member("fs"), timestamp: number("ft"))
        }
        if kind == .shards && (token.stream == nil || token.streamCreated == nil) { return nil }
        return token
    }

    /// Throws `ExpiredNextTokenException` once the token is older than its lifetime.
    func checkNotExpired(now: Timestamp) throws(APIError) {
        let age = now.milliseconds - issued
        guard age > PageToken.lifetimeMilliseconds else { return }
        throw APIError(
            .expiredNextToken,
            "The NextToken expired: it was issued at \(Timestamp(milliseconds: issued)) and is valid for "
                + "\(PageToken.lifetimeMilliseconds / 1000) seconds. Call \(kind.rawValue) again without NextToken.")
    }

    /// The error for a token that does not decode.
    static func invalid(_ text: String, kind: Kind) -> APIError {
        let shown = text.count > 64 ? String(text.prefix(64)) + "..." : text
        return APIError(
            .invalidArgument,
            "Invalid NextToken '\(shown)': it is not a \(kind.rawValue) token issued by this server. "
                + "Pass the NextToken of the previous \(kind.rawValue) response unchanged, or leave it out to start over."
        )
    }
}
