/// "Did you mean …?" hints: the closest candidates by edit distance, ignoring case.
enum Suggestions {
    /// The Levenshtein distance between `a` and `b`, ignoring case.
    static func distance(_ a: String, _ b: String) -> Int {
        let left = Array(a.lowercased().unicodeScalars)
        let right = Array(b.lowercased().unicodeScalars)
        if left.isEmpty { return right.count }
        if right.isEmpty { return left.count }
        var previous = Array(0...right.count)
        var current = [Int](repeating: 0, count: right.count + 1)
        for i in 1...left.count {
            current[0] = i
            for j in 1...right.count {
                let substitution = previous[j - 1] + (left[i - 1] == right[j - 1] ? 0 : 1)
                current[j] = min(substitution, previous[j] + 1, current[j - 1] + 1)
            }
            swap(&previous, &current)
        }
        return previous[right.count]
    }

    /// Up to `limit` candidates close to `word`, closest first.
    ///
    /// A candidate is close when its edit distance (ignoring case) is at most
    /// `max(2, word.count / 3)`, or when one contains the other and `word` has 4 or more
    /// characters. `aliases` maps other spellings (lowercased, such as Firehose's API names)
    /// straight to a candidate.
    static func closest(_ word: String, among candidates: [String], aliases: [String: String] = [:], limit: Int = 1)
        -> [String]
    {
        if let alias = aliases[word.lowercased()] { return [alias] }
        let lowered = word.lowercased()
        let threshold = max(2, word.count / 3)
        var scored: [(distance: Int, order: Int, candidate: String)] = []
        for (order, candidate) in candidates.enumerated() where candidate != word {
            let candidateLowered = candidate.lowercased()
            var score = distance(lowered, candidateLowered)
            if score > threshold, word.count >= 4,
                candidateLowered.contains(lowered) || lowered.contains(candidateLowered)
            {
                score = threshold
            }
            if score <= threshold { scored.append((score, order, candidate)) }
        }
        scored.sort { ($0.distance, $0.order) < ($1.distance, $1.order) }
        return scored.prefix(limit).map(\.candidate)
    }

    /// ` (did you mean "X"?)`, or an empty string when nothing is close.
    static func didYouMean(
        _ word: String, among candidates: [String], aliases: [String: String] = [:], limit: Int = 1,
        format: (String) -> String = { $0 }
    ) -> String {
        let found = closest(word, among: candidates, aliases: aliases, limit: limit)
        guard !found.isEmpty else { return "" }
        return " (did you mean \(list(found.map { "\"\(format($0))\"" }))?)"
    }

    /// `a`, `a or b`, `a, b or c`.
    static func list(_ items: [String], conjunction: String = "or") -> String {
        switch items.count {
        case 0: ""
        case 1: items[0]
        default: items.dropLast().joined(separator: ", ") + " \(conjunction) " + items[items.count - 1]
        }
    }
}
