import SluiceSupport

// MARK: - Destination

extension DefinitionDecoder {
    mutating func destination(_ member: Member) -> DestinationConfiguration? {
        guard let object = objectValue(member) else { return nil }
        let fields = members(of: object, at: "/destination", allowed: PipelineKeys.destination)

        var directory: String?
        if let directoryMember = fields["directory"] {
            directory = self.directory(directoryMember)
        } else {
            missing(
                "directory", in: "/destination", at: member.nameOffset,
                "the directory under the archive directory that receives this pipeline's files, such as \"clicks\"")
        }

        enum Kind { case gzip, none }
        var kind: Kind? = .gzip
        if let compressionMember = fields["compression"] {
            kind = choice(
                compressionMember, [("gzip", Kind.gzip), ("none", Kind.none)],
                aliases: ["uncompressed": "none", "gz": "gzip", "gzip": "gzip", "none": "none"])
        }
        var level: Int? = Compression.defaultLevel
        if let levelMember = fields["compressionLevel"] {
            level = integer(levelMember, in: Compression.levelRange)
            if kind == Kind.none {
                report(
                    levelMember.nameOffset, levelMember.pointer,
                    "\(levelMember.pointer) only applies to \"compression\": \"gzip\"; remove it or use gzip")
            }
        }
        var compression: Compression?
        if let kind, let level { compression = kind == .gzip ? .gzip(level: level) : Compression.none }

        var fileExtension = compression?.defaultFileExtension
        if let extensionMember = fields["fileExtension"] {
            fileExtension = self.fileExtension(extensionMember)
        }

        var timeZone: String? = "UTC"
        if let zoneMember = fields["timeZone"], let name = string(zoneMember) {
            if let problem = TimeZoneNames.problem(name) {
                report(zoneMember.valueOffset, zoneMember.pointer, "\(zoneMember.pointer) is \"\(name)\", which \(problem)")
                timeZone = nil
            } else {
                timeZone = name
            }
        }

        var prefixes: (prefix: PrefixTemplate, errorOutputPrefix: PrefixTemplate)?
        let prefixMember = fields["prefix"]
        let errorMember = fields["errorOutputPrefix"]
        let prefixText = prefixMember.map { string($0) }
        let errorText = errorMember.map { string($0) }
        // A prefix of the wrong type was reported; the other rules need both values.
        if prefixText != .some(nil), errorText != .some(nil) {
            switch PrefixRules.resolve(
                prefix: prefixText ?? nil, errorOutputPrefix: errorText ?? nil,
                names: ("/destination/prefix", "/destination/errorOutputPrefix"))
            {
            case .success(let resolved):
                prefixes = resolved
            case .failure(let failure):
                for violation in failure.violations {
                    let field = violation.field == .prefix ? prefixMember : errorMember
                    let pointer = violation.field == .prefix ? "/destination/prefix" : "/destination/errorOutputPrefix"
                    report(offset(of: violation, in: field, fallback: prefixMember ?? member), pointer, violation.message)
                }
            }
        }

        guard let directory, let compression, let fileExtension, let timeZone, let prefixes else { return nil }
        return DestinationConfiguration(
            directory: directory, prefix: prefixes.prefix, errorOutputPrefix: prefixes.errorOutputPrefix,
            compression: compression, fileExtension: fileExtension, timeZone: timeZone)
    }

    /// Where a prefix violation points: the expression inside the string when the string has no
    /// escapes (so byte offsets match), else the string; the prefix (or destination) when the
    /// field is absent.
    private func offset(of violation: PrefixRules.Violation, in member: Member?, fallback: Member) -> Int {
        guard let member else { return fallback.valueOffset }
        if let inner = violation.offset, case .string(let text) = member.value, !text.escaped {
            return text.start + inner
        }
        return member.valueOffset
    }

    // MARK: - Directory

    /// A relative path inside the archive directory, without a trailing "/".
    private mutating func directory(_ member: Member) -> String? {
        guard let value = string(member) else { return nil }
        func refuse(_ reason: String) -> String? {
            report(member.valueOffset, member.pointer, "\(member.pointer) is \"\(value)\": \(reason)")
            return nil
        }
        if value.isEmpty {
            report(
                member.valueOffset, member.pointer,
                "\(member.pointer) is empty; name a directory under the archive directory, such as \"clicks\"")
            return nil
        }
        if value.hasPrefix("/") {
            return refuse("it must be relative to the archive directory; remove the leading \"/\"")
        }
        if value.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            return refuse("control characters are not allowed in directory names")
        }
        var trimmed = Substring(value)
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        let segments = trimmed.split(separator: "/", omittingEmptySubsequences: false)
        if segments.contains("..") {
            return refuse("\"..\" would leave the archive directory; use a path inside it, such as \"clicks\"")
        }
        if segments.contains(".") {
            let cleaned = segments.filter { $0 != "." && !$0.isEmpty }.joined(separator: "/")
            return refuse("\".\" path segments are not allowed; write \"\(cleaned)\"")
        }
        if segments.contains(where: \.isEmpty) {
            let cleaned = segments.filter { !$0.isEmpty }.joined(separator: "/")
            return refuse("empty path segment (\"//\"); write \"\(cleaned)\"")
        }
        if let long = segments.first(where: { $0.utf8.count > 255 }) {
            return refuse("the segment \"\(long.prefix(20))…\" is longer than 255 bytes, the file system's limit for a name")
        }
        return String(trimmed)
    }

    // MARK: - File extension

    /// Firehose's FileExtension rule: empty, or "." and `[0-9a-z!\-_.*'()]+`, at most 128.
    private mutating func fileExtension(_ member: Member) -> String? {
        guard let value = string(member) else { return nil }
        if value.isEmpty { return value }
        let allowed = Set("0123456789abcdefghijklmnopqrstuvwxyz!-_.*'()".utf8)
        let valid = value.hasPrefix(".") && value.utf8.count > 1 && value.utf8.count <= 128
            && value.utf8.dropFirst().allSatisfy { allowed.contains($0) }
        guard valid else {
            report(
                member.valueOffset, member.pointer,
                "\(member.pointer) is \"\(value)\"; allowed an empty string, or \".\" followed by 1-127 of "
                    + "0-9 a-z ! - _ . * ' ( ), such as \".json.gz\"")
            return nil
        }
        return value
    }
}
