import Foundation
import SluiceSupport

/// The records of `pipeline-e2e`: clickstream events, one JSON line each, every record one line
/// including its "\n". Held as one byte array plus the end offset of every line.
struct ClickstreamData {
    var bytes: [UInt8]
    /// Exclusive end offset (just past the "\n") of each line.
    var lineEnds: [Int]
    /// Where the lines came from, for the result line.
    var source: String

    var count: Int { lineEnds.count }

    func range(of line: Int) -> Range<Int> {
        (line == 0 ? 0 : lineEnds[line - 1])..<lineEnds[line]
    }

    /// The lines of a file such as `gen_data.py`'s `clickstream.jsonl`. A last line without "\n"
    /// gets one, so every record ends with a newline.
    static func read(path: String) throws -> ClickstreamData {
        var bytes = try FileSystem.live.readFile(path)
        if let last = bytes.last, last != 0x0A { bytes.append(0x0A) }
        var ends: [Int] = []
        ends.reserveCapacity(bytes.count / 400)
        bytes.withUnsafeBufferPointer { buffer in
            for index in buffer.indices where buffer[index] == 0x0A { ends.append(index + 1) }
        }
        guard !ends.isEmpty else {
            throw BenchmarkError("\(path) holds no lines; write one with: python3 /work/shared/bench/gen_data.py DIR MB (DIR/clickstream.jsonl)")
        }
        return ClickstreamData(bytes: bytes, lineEnds: ends, source: "file \(path)")
    }

    /// About `megabytes` × 10^6 bytes of clickstream lines with the fields and value
    /// distributions of `gen_data.py`'s `click_event` (seed 42, events 50 ms apart from
    /// 2024-05-10T00:00:00Z). Python's Mersenne Twister is not reproduced, so the lines are not
    /// byte-identical to the script's output; their shape and compressibility are the same kind.
    static func generate(megabytes: Int) -> ClickstreamData {
        var generator = ClickstreamGenerator(seed: 42)
        let target = megabytes * 1_000_000
        var bytes: [UInt8] = []
        bytes.reserveCapacity(target + 4096)
        var ends: [Int] = []
        ends.reserveCapacity(target / 400)
        var index = 0
        while bytes.count < target {
            generator.appendEvent(index, to: &bytes)
            bytes.append(0x0A)
            ends.append(bytes.count)
            index += 1
        }
        return ClickstreamData(
            bytes: bytes, lineEnds: ends,
            source: "generated in Swift (seed 42, gen_data.py click_event shape; not byte-identical to Python's random)")
    }
}

/// An error of the benchmark itself, printed as its message.
struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// SplitMix64: small, fast and deterministic for a given seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// `click_event` of /work/shared/bench/gen_data.py, field for field.
struct ClickstreamGenerator {
    private var random: SplitMix64
    private let users: [String]

    private static let userAgents = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67",
        "Mozilla/5.0 (iPad; CPU OS 16_7_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.6312.118 Mobile Safari/537.36",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "okhttp/4.12.0", "MyShopApp/5.3.1 (iPhone; iOS 17.4; Scale/3.00)",
    ]
    private static let paths = [
        "/", "/search", "/product/{id}", "/category/{cat}", "/cart", "/checkout", "/checkout/payment",
        "/account", "/account/orders/{oid}", "/blog/{slug}", "/api/v2/recommendations", "/help/{slug}",
    ]
    private static let categories = ["shoes", "electronics", "books", "garden", "toys", "kitchen", "sports", "beauty", "music", "outdoor"]
    private static let slugs = [
        "how-to-choose-running-shoes", "spring-sale-2024", "returns-policy", "shipping-times",
        "best-laptops-for-students", "gift-guide", "privacy", "size-chart",
    ]
    private static let events =
        Array(repeating: "page_view", count: 6) + Array(repeating: "click", count: 3)
        + ["add_to_cart", "remove_from_cart", "search", "purchase", "scroll", "video_play", "login"]
    private static let referrers = [
        "https://www.google.com/", "https://www.bing.com/", "", "https://t.co/", "https://www.facebook.com/",
        "https://news.ycombinator.com/", "https://duckduckgo.com/", "https://example-shop.com/",
    ]
    private static let countries = ["US", "DE", "GB", "FR", "IN", "BR", "JP", "CA", "AU", "NL", "ES", "IT", "PL", "SE", "MX"]
    private static let terms = ["red shoes", "usb c cable", "laptop stand", "garden hose", "lego", "coffee grinder", "yoga mat", "headphones"]
    private static let deviceTypes = ["desktop", "mobile", "tablet"]
    private static let screens = ["1920x1080", "390x844", "1440x900", "412x915", "2560x1440", "820x1180"]
    private static let utmSources = ["google", "newsletter", "facebook", "affiliate"]
    private static let utmMediums = ["cpc", "email", "social"]
    private static let utmCampaigns = ["spring24", "brand", "retarget", "bf23"]
    /// 2024-05-10T00:00:00Z.
    private static let startMilliseconds: Int64 = 1_715_299_200_000

    init(seed: UInt64) {
        var random = SplitMix64(state: seed)
        users = (0..<50_000).map { _ in "u_" + hex(random.next() & 0xFFFF_FFFF, digits: 8) }
        self.random = random
    }

    private mutating func int(_ low: Int, _ high: Int) -> Int {
        low + Int(random.next() % UInt64(high - low + 1))
    }

    private mutating func choice<T>(_ values: [T]) -> T {
        values[Int(random.next() % UInt64(values.count))]
    }

    private mutating func unit() -> Double {
        Double(random.next() >> 11) * 0x1p-53
    }

    private mutating func path() -> String {
        var path = choice(Self.paths)
        if path.contains("{") {
            if path.contains("{id}") { path = path.replacingOccurrences(of: "{id}", with: String(int(10_000, 999_999))) }
            if path.contains("{cat}") { path = path.replacingOccurrences(of: "{cat}", with: choice(Self.categories)) }
            if path.contains("{oid}") { path = path.replacingOccurrences(of: "{oid}", with: "ORD-\(int(1_000_000, 9_999_999))") }
            if path.contains("{slug}") { path = path.replacingOccurrences(of: "{slug}", with: choice(Self.slugs)) }
        }
        if unit() < 0.3 {
            path += "?utm_source=\(choice(Self.utmSources))&utm_medium=\(choice(Self.utmMediums))&utm_campaign=\(choice(Self.utmCampaigns))"
        }
        return path
    }

    /// Appends event `index` as compact JSON (the key order and separators of `json.dumps(d, separators=(",", ":"))`).
    mutating func appendEvent(_ index: Int, to out: inout [UInt8]) {
        func raw(_ text: String) { out.append(contentsOf: text.utf8) }
        func field(_ key: String, _ value: String, first: Bool = false) {
            raw((first ? "\"" : ",\"") + key + "\":\"" + value + "\"")
        }
        func number(_ key: String, _ value: String) { raw(",\"" + key + "\":" + value) }

        let event = choice(Self.events)
        let high = random.next()
        let low = random.next()
        // uuid.UUID(int=..., version=4): version nibble 4, variant 10xx.
        let uuidHigh = (high & ~(UInt64(0xF000))) | 0x4000
        let uuidLow = (low & ~(UInt64(0xC000) << 48)) | (UInt64(0x8000) << 48)
        let uuid =
            hex(uuidHigh >> 32, digits: 8) + "-" + hex((uuidHigh >> 16) & 0xFFFF, digits: 4) + "-" + hex(uuidHigh & 0xFFFF, digits: 4) + "-"
            + hex(uuidLow >> 48, digits: 4) + "-" + hex(uuidLow & 0xFFFF_FFFF_FFFF, digits: 12)
        let c = UTCDate.components(Timestamp(milliseconds: Self.startMilliseconds + Int64(index) * 50))
        let ts = "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))T\(pad(c.hour, 2)):\(pad(c.minute, 2)):\(pad(c.second, 2)).\(pad(int(0, 999), 3))Z"

        raw("{")
        field("event_id", uuid, first: true)
        field("event_type", event)
        field("ts", ts)
        field("user_id", choice(users))
        field("session_id", "s_" + hex(random.next() & 0xFFFF_FFFF_FFFF, digits: 12))
        field("url", "https://example-shop.com" + path())
        field("referrer", choice(Self.referrers))
        field("user_agent", choice(Self.userAgents))
        field("ip", "\(int(1, 223)).\(int(0, 255)).\(int(0, 255)).\(int(1, 254))")
        raw(",\"geo\":{\"country\":\"\(choice(Self.countries))\",\"city_id\":\(int(1, 40_000))}")
        raw(",\"device\":{\"type\":\"\(choice(Self.deviceTypes))\",\"screen\":\"\(choice(Self.screens))\"}")
        number("page_load_ms", String(int(80, 4000)))
        if event == "search" { field("query", choice(Self.terms)) }
        if event == "add_to_cart" || event == "purchase" || event == "remove_from_cart" {
            let price = ((1 + unit() * 499) * 100).rounded() / 100  // round(uniform(1, 500), 2), printed as Python's repr
            raw(",\"product\":{\"sku\":\"SKU-\(pad(int(1, 200_000), 6))\",\"price\":\(price),\"qty\":\(int(1, 4))}")
        }
        if event == "purchase" { field("order_id", "ORD-\(int(1_000_000, 9_999_999))") }
        raw("}")
    }
}

private func hex(_ value: UInt64, digits: Int) -> String {
    let text = String(value, radix: 16)
    return text.count >= digits ? text : String(repeating: "0", count: digits - text.count) + text
}

private func pad(_ value: Int, _ width: Int) -> String {
    let text = String(value)
    return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
}
