/// "Did you mean ...?" for misspelt keys and values.
///
/// A typo in a topology key (`partitons`) would otherwise be silently ignored
/// or rejected with no hint; the decoder rejects it and names the closest
/// allowed word when it is within a small edit distance, which is almost
/// always the word the user meant.
enum KeySuggestion {
    /// The largest edit distance at which a suggestion is still offered.
    static let maximumDistance = 2

    /// The candidate closest to `word` (case-insensitively), when it is at most
    /// `maximumDistance` edits away; ties go to the earlier candidate.
    static func closest(to word: String, among candidates: [String]) -> String? {
        let lowered = word.lowercased()
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(lowered, candidate.lowercased())
            guard distance <= maximumDistance else { continue }
            if best == nil || distance < best!.distance {
                best = (candidate, distance)
            }
        }
        return best?.candidate
    }

    /// `; did you mean 'x'?` or the empty string.
    static func hint(for word: String, among candidates: [String]) -> String {
        guard let suggestion = closest(to: word, among: candidates) else { return "" }
        return "; did you mean '\(suggestion)'?"
    }

    /// The Levenshtein distance between two strings, counted in Unicode scalars:
    /// the fewest insertions, deletions and substitutions that turn one into the other.
    static func editDistance(_ lhs: String, _ rhs: String) -> Int {
        let a = Array(lhs.unicodeScalars)
        let b = Array(rhs.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        // Two rows of the dynamic-programming table are enough.
        var previous = Array(0...b.count)
        var current = Array(repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
