import SluiceSupport

/// Firehose's rules for a prefix and its error output prefix (reference firehose.md §3.3),
/// and its defaults as observed on AWS.
///
/// Defaults:
/// - an absent or empty prefix is `!{timestamp:yyyy/MM/dd/HH/}`;
/// - a prefix without expressions gets `!{timestamp:yyyy/MM/dd/HH/}` appended by plain
///   concatenation, no `/` inserted (`legacy` → `legacy2018/08/27/10/`), as AWS does;
/// - a prefix with any expression is used as written;
/// - an absent or empty error output prefix (allowed only when the prefix has no expressions)
///   is `<prefix as written>!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH/}`, and an
///   error output prefix without expressions gets the same
///   `!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH/}` appended.
///
/// Rules: the error output prefix is required when the prefix has expressions; an error output
/// prefix with expressions must contain `!{firehose:error-output-type}`; the prefix must not;
/// partition keys are not allowed in the error output prefix; each is at most 1024 characters
/// as written and 512 after evaluation (the longest rendering is checked here, partition key
/// values aside); and, for a local directory, the evaluated prefix must stay inside the
/// destination directory (no leading `/`, no empty, `.` or `..` segment).
package enum PrefixRules {
    /// One broken rule.
    package struct Violation: Sendable, Equatable, CustomStringConvertible {
        package enum Field: Sendable, Equatable {
            case prefix, errorOutputPrefix
        }

        /// The field at fault.
        package var field: Field
        /// The message, naming the field as passed to `resolve`.
        package var message: String
        /// UTF-8 offset in the field's text where the fault starts, when known.
        package var offset: Int?

        package var description: String { message }
    }

    /// Every violation of one `resolve` call (never empty).
    package struct Failure: Error, Sendable, Equatable {
        package var violations: [Violation]
    }

    /// The effective prefix and error output prefix for the values written in a definition.
    ///
    /// - Parameters:
    ///   - prefix: the prefix as written; nil or empty for none.
    ///   - errorOutputPrefix: the error output prefix as written; nil or empty for none.
    ///   - names: how the two fields are named in messages.
    /// - Returns: both effective templates, or every violation.
    package static func resolve(
        prefix: String?, errorOutputPrefix: String?,
        names: (prefix: String, errorOutputPrefix: String) = ("prefix", "errorOutputPrefix")
    ) -> Result<(prefix: PrefixTemplate, errorOutputPrefix: PrefixTemplate), Failure> {
        var violations: [Violation] = []
        func parse(_ text: String?, _ field: Violation.Field, _ name: String) -> PrefixTemplate? {
            guard let text, !text.isEmpty else { return nil }
            let length = text.count
            if length > PrefixTemplate.maximumTextLength {
                violations.append(
                    Violation(
                        field: field,
                        message: "\(name) is \(length) characters long; allowed at most \(PrefixTemplate.maximumTextLength)"))
                return nil
            }
            do throws(PrefixError) {
                return try PrefixTemplate(parsing: text)
            } catch {
                var offset: Int?
                if case .syntax(_, let at) = error { offset = at }
                violations.append(Violation(field: field, message: "\(name): \(error)", offset: offset))
                return nil
            }
        }
        let written = parse(prefix, .prefix, names.prefix)
        let writtenError = parse(errorOutputPrefix, .errorOutputPrefix, names.errorOutputPrefix)
        guard violations.isEmpty else { return .failure(Failure(violations: violations)) }

        let defaultTime = PrefixTemplate.defaultTimePrefix
        let errorDefaultTail = "!{firehose:error-output-type}/" + defaultTime
        var effectivePrefix = defaultTime
        if let written {
            if written.usesErrorOutputType {
                violations.append(
                    Violation(
                        field: .prefix,
                        message: "\(names.prefix) must not contain !{firehose:error-output-type}; that expression belongs "
                            + "in \(names.errorOutputPrefix)"))
            }
            effectivePrefix = written.hasExpressions ? written.text : written.text + defaultTime
        }
        var effectiveError = (written?.text ?? "") + errorDefaultTail
        if let writtenError {
            if writtenError.hasExpressions {
                if !writtenError.usesErrorOutputType {
                    violations.append(
                        Violation(
                            field: .errorOutputPrefix,
                            message: "\(names.errorOutputPrefix) has expressions, so it must contain "
                                + "!{firehose:error-output-type}, for example \"errors/!{firehose:error-output-type}/"
                                + "!{timestamp:yyyy/MM/dd}/\""))
                }
                if let key = writtenError.usesPartitionKeys.sorted().first {
                    violations.append(
                        Violation(
                            field: .errorOutputPrefix,
                            message: "\(names.errorOutputPrefix) must not use partition keys (it uses \"\(key)\"); "
                                + "partition key expressions are allowed only in \(names.prefix)"))
                }
                effectiveError = writtenError.text
            } else {
                effectiveError = writtenError.text + errorDefaultTail
            }
        } else if written?.hasExpressions == true {
            violations.append(
                Violation(
                    field: .errorOutputPrefix,
                    message: "\(names.errorOutputPrefix) is required when \(names.prefix) contains expressions (Firehose: "
                        + "\"ErrorOutputPrefix cannot be null or empty when Prefix contains expressions\"); add one with "
                        + "!{firehose:error-output-type}, such as \"errors/!{firehose:error-output-type}/\""))
        }
        guard violations.isEmpty else { return .failure(Failure(violations: violations)) }

        // Both parse: the effective texts are the written ones plus well-formed defaults.
        let templates: [(PrefixTemplate, Violation.Field, String)]
        do throws(PrefixError) {
            templates = [
                (try PrefixTemplate(parsing: effectivePrefix), .prefix, names.prefix),
                (try PrefixTemplate(parsing: effectiveError), .errorOutputPrefix, names.errorOutputPrefix),
            ]
        } catch {
            return .failure(Failure(violations: [Violation(field: .prefix, message: "\(names.prefix): \(error)")]))
        }
        for (template, field, name) in templates {
            // A defaulted error output prefix repeats the prefix: report the prefix only.
            if field == .errorOutputPrefix, writtenError == nil, !violations.isEmpty { continue }
            let longest = template.maximumEvaluatedLength
            if longest > PrefixTemplate.maximumEvaluatedLength {
                let keys = template.usesPartitionKeys.isEmpty ? "" : " before partition key values"
                violations.append(
                    Violation(
                        field: field,
                        message: "\(name) can evaluate to \(longest) characters\(keys); allowed at most "
                            + "\(PrefixTemplate.maximumEvaluatedLength) after evaluation"))
                continue
            }
            // A sample rendering shows literal path problems (a leading "/", "//", "..").
            let sample = PrefixContext(
                timestamp: Timestamp(milliseconds: 1_535_365_800_000), errorOutputType: "processing-failed",
                partitionKeys: Dictionary(uniqueKeysWithValues: template.usesPartitionKeys.map { ($0, "key") }))
            do throws(PrefixError) {
                _ = try template.render(sample, timeZone: .utc)
            } catch {
                if case .unsafePath(_, let reason) = error {
                    let shown = (field == .prefix ? written?.text : writtenError?.text) ?? template.text
                    violations.append(Violation(field: field, message: "\(name) is \"\(shown)\", \(reason)"))
                }
            }
        }
        guard violations.isEmpty else { return .failure(Failure(violations: violations)) }
        return .success((templates[0].0, templates[1].0))
    }
}
