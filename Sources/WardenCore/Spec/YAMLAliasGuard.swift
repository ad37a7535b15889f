/// Finds aliases used as mapping keys (`*name: value`, `? *name`), before the YAML is composed.
///
/// The YAML library compares mapping keys to find duplicates by hashing them whole; an alias key
/// that names a node built of aliases ("billion laughs") is expanded into trillions of nodes
/// there, and nothing after it could stop that. A spec has no use for a key that is a whole node,
/// so such a key is refused up front. Aliases as values are harmless (they are shared, never
/// expanded) and stay allowed.
///
/// The scan is lexical and linear: it skips comments and quoted scalars (a quote opens one only
/// where a scalar may start), and recognises an alias where a node may start. A block scalar
/// (`|`, `>`) whose text happens to read `*name:` is refused too; that is the price of not
/// parsing twice.
enum YAMLAliasGuard {
    /// The line and column (1-based) of the first alias used as a key, or nil.
    static func aliasKey(in text: String) -> (line: Int, column: Int)? {
        let b = Array(text.utf8)
        var i = 0
        var line = 1
        var lineStart = 0
        // The last character that is not a space on this line (0: none yet).
        var previous: UInt8 = 0
        func nodeMayStart() -> Bool {
            previous == 0 || previous == UInt8(ascii: ":") || previous == UInt8(ascii: "-")
                || previous == UInt8(ascii: "[") || previous == UInt8(ascii: "{") || previous == UInt8(ascii: ",")
                || previous == UInt8(ascii: "?")
        }
        func isAnchorByte(_ c: UInt8) -> Bool {
            (48...57).contains(c) || (65...90).contains(c) || (97...122).contains(c) || c == 45 || c == 95
        }
        while i < b.count {
            let c = b[i]
            switch c {
            case 10:
                line += 1
                lineStart = i + 1
                previous = 0
                i += 1
            case 32, 9, 13:
                i += 1
            case UInt8(ascii: "#") where i == lineStart || b[i - 1] == 32 || b[i - 1] == 9:
                while i < b.count && b[i] != 10 { i += 1 }
            case UInt8(ascii: "'") where nodeMayStart():
                i += 1
                while i < b.count {
                    if b[i] == UInt8(ascii: "'") {
                        if i + 1 < b.count && b[i + 1] == UInt8(ascii: "'") {
                            i += 2
                            continue
                        }
                        break
                    }
                    if b[i] == 10 {
                        line += 1
                        lineStart = i + 1
                    }
                    i += 1
                }
                i += 1
                previous = UInt8(ascii: "'")
            case UInt8(ascii: "\"") where nodeMayStart():
                i += 1
                while i < b.count && b[i] != UInt8(ascii: "\"") {
                    if b[i] == UInt8(ascii: "\\") { i += 1 }
                    if i < b.count && b[i] == 10 {
                        line += 1
                        lineStart = i + 1
                    }
                    i += 1
                }
                i += 1
                previous = UInt8(ascii: "\"")
            case UInt8(ascii: "*") where nodeMayStart():
                let start = i
                let isExplicitKey = previous == UInt8(ascii: "?")
                i += 1
                while i < b.count && isAnchorByte(b[i]) { i += 1 }
                guard i > start + 1 else {
                    previous = c
                    continue
                }
                // A key if a ':' that ends a key follows on its line before the entry ends (the
                // parser may take the alias and what follows it as one key: `*a  s: v`).
                var j = i
                while j < b.count && b[j] != 10 && b[j] != UInt8(ascii: ",") && b[j] != UInt8(ascii: "]")
                    && b[j] != UInt8(ascii: "}") && !(b[j] == UInt8(ascii: "#") && (b[j - 1] == 32 || b[j - 1] == 9))
                {
                    if b[j] == UInt8(ascii: ":") {
                        let next = j + 1 < b.count ? b[j + 1] : 10
                        if next == 32 || next == 9 || next == 10 || next == 13 || next == UInt8(ascii: ",")
                            || next == UInt8(ascii: "]") || next == UInt8(ascii: "}")
                        {
                            return (line, start - lineStart + 1)
                        }
                    }
                    j += 1
                }
                if isExplicitKey { return (line, start - lineStart + 1) }
                previous = b[i - 1]
            default:
                previous = c
                i += 1
            }
        }
        return nil
    }
}
