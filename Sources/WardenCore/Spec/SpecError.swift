/// One problem in a spec file, located precisely enough to fix without searching.
///
/// Printed as `file:line:column: key: message`, where the message says what was found and what
/// would be valid, with a "did you mean" suggestion for misspelt keys and names.
public struct SpecIssue: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    /// 1-based; 0 when the problem has no single place (for example a missing file).
    public var line: Int
    public var column: Int
    /// The dotted key path of the value at fault: `services.api.restart.policy`.
    public var key: String
    public var message: String

    public init(file: String, line: Int, column: Int, key: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.message = message
    }

    public var description: String {
        let place = line > 0 ? "\(file):\(line):\(column)" : file
        return key.isEmpty ? "\(place): \(message)" : "\(place): \(key): \(message)"
    }
}

/// Every problem found in a spec; thrown by ``SpecLoader`` when there is at least one.
public struct SpecErrors: Error, Sendable, CustomStringConvertible {
    public var issues: [SpecIssue]

    public init(_ issues: [SpecIssue]) { self.issues = issues }

    public var description: String { issues.map(\.description).joined(separator: "\n") }
}

/// Suggestions for misspelt words.
public enum DidYouMean {
    /// The candidate closest to `word` when it is close enough to be a likely typo.
    public static func suggest(_ word: String, from candidates: [String]) -> String? {
        let lower = word.lowercased()
        var best: (String, Int)?
        for candidate in candidates {
            let d = distance(lower, candidate.lowercased())
            let limit = max(1, min(3, candidate.count / 3))
            if d <= limit, best == nil || d < best!.1 { best = (candidate, d) }
        }
        if best == nil {
            best = candidates.first {
                $0.count >= 3 && (lower.hasPrefix($0.lowercased()) || $0.lowercased().hasPrefix(lower))
                    && lower.count >= 3
            }.map { ($0, 0) }
        }
        return best?.0
    }

    /// Damerau-Levenshtein (optimal string alignment) distance.
    public static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[a.count][b.count]
    }
}
