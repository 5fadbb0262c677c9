import SluicePipelines
import SluiceSupport

/// The `prefix` target: `destination.prefix` and `destination.errorOutputPrefix` as a user writes
/// them. The input's first line is the prefix; the rest, after the first newline, is the error
/// output prefix (none when there is no newline).
///
/// Each text is parsed alone (`PrefixTemplate(parsing:)`) and the pair is resolved the way the
/// pipeline decoder does it (`PrefixRules.resolve`). Rendering uses instants from 1970 to 9999
/// derived from the input, in UTC and two other zones. Invariants:
/// - a syntax error points at the `!{` that starts the offending expression;
/// - a parsed template renders (partition keys empty, error output type set) to at most
///   `maximumEvaluatedLength` characters, so the limit `resolve` checks is a true bound;
/// - a pair that resolves renders at any instant without an unsafe path, and over the length
///   limit only through partition key values;
/// - rendering with the hot-path cache equals rendering without it.
enum PrefixFuzz {
    static let zones: [PrefixTimeZone] = [.utc] + ["America/New_York", "Asia/Kolkata"].compactMap(PrefixTimeZone.init(identifier:))
    /// 9999-12-31T23:59:59.999Z.
    static let latestInstant: UInt64 = 253_402_300_799_999

    static func run(_ bytes: [UInt8]) throws(FuzzFailure) {
        let text = String(decoding: bytes, as: UTF8.self)
        let prefix: String
        let errorOutputPrefix: String?
        if let newline = text.firstIndex(of: "\n") {
            prefix = String(text[..<newline])
            errorOutputPrefix = String(text[text.index(after: newline)...])
        } else {
            prefix = text
            errorOutputPrefix = nil
        }
        var generator = SplitMix(seed: FuzzHash.fnv1a(bytes))
        let instants = (0..<3).map { _ in Timestamp(milliseconds: Int64(generator.next() % (latestInstant + 1))) }

        for written in [prefix, errorOutputPrefix].compactMap({ $0 }) {
            let template: PrefixTemplate
            do throws(PrefixError) {
                template = try PrefixTemplate(parsing: written)
            } catch {
                try checkParseError(error, written)
                continue
            }
            try checkBound(template, instants)
        }

        switch PrefixRules.resolve(prefix: prefix, errorOutputPrefix: errorOutputPrefix) {
        case .failure(let failure):
            guard !failure.violations.isEmpty, failure.violations.allSatisfy({ !$0.message.isEmpty }) else {
                throw FuzzFailure(.prefix, "resolve failed without a message: \(failure.violations)")
            }
        case .success(let templates):
            try checkResolved(templates.prefix, errorOutputType: nil, instants)
            try checkResolved(templates.errorOutputPrefix, errorOutputType: "processing-failed", instants)
        }
    }

    private static func checkParseError(_ error: PrefixError, _ written: String) throws(FuzzFailure) {
        guard case .syntax(let message, let offset) = error else {
            throw FuzzFailure(.prefix, "parsing \"\(written)\" threw \(error), which is not a syntax error")
        }
        let utf8 = Array(written.utf8)
        guard !message.isEmpty, offset >= 0, offset + 1 < utf8.count, utf8[offset] == UInt8(ascii: "!"),
            utf8[offset + 1] == UInt8(ascii: "{")
        else {
            throw FuzzFailure(.prefix, "syntax error at offset \(offset) of \"\(written)\" does not point at \"!{\": \(message)")
        }
    }

    /// Renders with empty partition keys: the character count must stay within the template's bound.
    private static func checkBound(_ template: PrefixTemplate, _ instants: [Timestamp]) throws(FuzzFailure) {
        let bound = template.maximumEvaluatedLength
        let keys = Dictionary(uniqueKeysWithValues: template.usesPartitionKeys.map { ($0, "") })
        for zone in zones {
            var cache = PrefixRenderCache()
            for instant in instants {
                let context = PrefixContext(
                    timestamp: instant, errorOutputType: "processing-failed", partitionKeys: keys, randomSeed: UInt64(bound))
                let rendered: String
                do throws(PrefixError) {
                    rendered = try template.render(context, timeZone: zone, cache: &cache)
                } catch {
                    switch error {
                    case .unsafePath: continue  // empty key values make empty segments
                    case .tooLong where bound > PrefixTemplate.maximumEvaluatedLength: continue
                    default:
                        throw FuzzFailure(
                            .prefix, "\"\(template.text)\" at \(instant) in \(zone) threw \(error); its bound is \(bound)")
                    }
                }
                guard rendered.count <= bound else {
                    throw FuzzFailure(
                        .prefix,
                        "\"\(template.text)\" at \(instant) in \(zone) renders \(rendered.count) characters, over its bound "
                            + "\(bound): \"\(rendered)\"")
                }
                let uncached = Result { () throws(PrefixError) in try template.render(context, timeZone: zone) }
                guard uncached == .success(rendered) else {
                    throw FuzzFailure(
                        .prefix, "\"\(template.text)\" at \(instant) in \(zone): \"\(rendered)\" with the cache, \(uncached) without")
                }
            }
        }
    }

    /// A resolved template renders at every instant, with partition key values that are safe.
    private static func checkResolved(
        _ template: PrefixTemplate, errorOutputType: String?, _ instants: [Timestamp]
    ) throws(FuzzFailure) {
        let keys = Dictionary(uniqueKeysWithValues: template.usesPartitionKeys.map { ($0, "key") })
        for zone in zones {
            for instant in instants {
                let context = PrefixContext(timestamp: instant, errorOutputType: errorOutputType, partitionKeys: keys)
                let rendered: String
                do throws(PrefixError) {
                    rendered = try template.render(context, timeZone: zone)
                } catch {
                    if case .tooLong = error, !keys.isEmpty { continue }
                    throw FuzzFailure(
                        .prefix, "resolved \"\(template.text)\" at \(instant) in \(zone) cannot render: \(error)")
                }
                guard !rendered.hasPrefix("/"), !rendered.utf8.contains(0) else {
                    throw FuzzFailure(.prefix, "resolved \"\(template.text)\" rendered \"\(rendered)\"")
                }
            }
        }
    }
}
