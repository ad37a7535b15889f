import Foundation

/// One fail2ban regex made ready for `NSRegularExpression` (ICU): fail2ban's tags expanded as
/// its `Regex` class expands them, Python's syntax translated (`(?P<name>`, `(?P=name)`, `\Z`,
/// `{,n}`), group names made ICU names (letters and digits: `alt_user` → `altx5Fuser`), and the
/// result compiled. What cannot be translated is refused with the reason.
///
/// ICU has no conditional groups (`(?(name)yes|no)`, which sshd's filter uses): a regex with
/// some is compiled once per combination of its conditions (at most five conditions), each
/// variant with the branch its assumption picks, and a match of a variant counts only when the
/// groups it assumed took part did and the others did not (see ``firstMatch(in:)``).
public struct Fail2banRegex: Sendable {
    /// One compiled combination of the conditions.
    struct Variant: @unchecked Sendable {
        // NSRegularExpression is immutable and documented as safe to use from several threads.
        let regex: NSRegularExpression
        /// ICU group name → fail2ban's.
        let groups: [String: String]
        /// Conditions (ICU group names, or group numbers) assumed to have taken part, and not.
        let present: [String]
        let absent: [String]
    }

    /// A match, and the names its groups can be asked by.
    public struct Match {
        public let result: NSTextCheckingResult
        let groups: [String: String]

        /// The range of the group fail2ban calls `name` (`ip4`, `user`, `content`), if it took part.
        public func range(of name: String) -> NSRange? {
            guard let icu = groups.first(where: { $0.value == name })?.key else { return nil }
            let r = result.range(withName: icu)
            return r.location == NSNotFound ? nil : r
        }

        func tookPart(_ condition: String) -> Bool {
            if let n = Int(condition) {
                guard n >= 0, n < result.numberOfRanges else { return false }
                return result.range(at: n).location != NSNotFound
            }
            guard groups[condition] != nil else { return false }
            return result.range(withName: condition).location != NSNotFound
        }
    }

    /// The translated pattern (of the first variant).
    public var pattern: String
    /// ICU group name → fail2ban's (`ip4`, `ip6`, `dns`, `user`, `fid`, …), over every variant.
    public var groups: [String: String]
    let variants: [Variant]

    /// The search ran past its deadline (a regex that backtracks catastrophically on the line).
    public struct TimedOut: Error, Sendable {}

    /// The leftmost match whose conditions hold, or nil.
    ///
    /// - Throws: ``TimedOut`` when `deadline` passes first: ICU reports progress during a long
    ///   search and the search is stopped there, so a hostile line costs at most the budget.
    public func firstMatch(in text: String, deadline: ContinuousClock.Instant? = nil) throws(TimedOut) -> Match? {
        let all = NSRange(location: 0, length: (text as NSString).length)
        let options: NSRegularExpression.MatchingOptions = deadline == nil ? [] : [.reportProgress]
        var best: Match?
        var late = false
        for v in variants {
            v.regex.enumerateMatches(in: text, options: options, range: all) { r, _, stop in
                if let deadline, ContinuousClock.now > deadline {
                    late = true
                    stop.pointee = true
                    return
                }
                guard let r else { return }
                let m = Match(result: r, groups: v.groups)
                guard v.present.allSatisfy(m.tookPart), !v.absent.contains(where: m.tookPart) else { return }
                if best == nil || r.range.location < best!.result.range.location { best = m }
                stop.pointee = true
            }
            if late { throw TimedOut() }
            if variants.count == 1 { break }
        }
        return best
    }

    /// Whether some part of `text` matches (no deadline).
    public func matches(_ text: String) -> Bool { ((try? firstMatch(in: text)) ?? nil) != nil }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    // fail2ban's host expressions (server/failregex.py, server/ipdns.py).
    static let ip4 = #"(?:\d{1,3}\.){3}\d{1,3}"#
    static let ip6 = #"(?:[0-9a-fA-F]{1,4}::?|:){1,7}(?:[0-9a-fA-F]{1,4}|(?<=:):)"#
    static let hostIP4 = "(?:::f{4,6}:)?(?P<ip4>\(ip4))"
    static let hostIP6 = "(?P<ip6>\(ip6))"
    static let hostDNS = #"(?P<dns>[\w\-.^_]*\w)"#
    static let addr = #"\[?(?:"# + hostIP4 + "|" + hostIP6 + #")\]?"#
    static let host = "(?:" + addr + "|" + hostDNS + ")"
    static let cidr = #"(?P<cidr>\d+)"#
    static let subnet = #"\[?(?:"# + hostIP4 + "|" + hostIP6 + ")(?:/" + cidr + #")?\]?"#

    static let tags: [String: String] = [
        "HOST": host, "ADDR": addr, "F-ADDR/": addr, "IP4": hostIP4, "F-IP4/": hostIP4, "IP6": hostIP6,
        "F-IP6/": hostIP6, "DNS": hostDNS, "F-DNS/": hostDNS, "CIDR": cidr, "F-CIDR/": cidr, "SUBNET": subnet,
        "F-SUBNET/": subnet, "F-ID/": #"(?P<fid>\S+)"#, "F-PORT/": #"(?P<fport>\w+)"#,
    ]

    /// Expands fail2ban's tags in `regex` (`<HOST>`, `<F-NAME>…</F-NAME>`, …); `<SKIPLINES>`
    /// becomes what fail2ban makes of it: a line break, then any lines (the fewest), captured as
    /// `skiplinesN` so that the lines skipped stay in a multi-line filter's buffer.
    static func expandTags(_ regex: String) throws(Failure) -> String {
        var out = ""
        var skips = 0
        var open: Set<String> = []
        var rest = Substring(regex)
        while let lt = rest.firstIndex(of: "<") {
            out += rest[..<lt]
            let after = rest[rest.index(after: lt)...]
            let body = after.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "/" }
            let close = body.endIndex
            guard !body.isEmpty, close < after.endIndex, after[close] == ">" else {
                out += "<"
                rest = after
                continue
            }
            let tag = String(body)
            rest = after[after.index(after: close)...]
            if tag == "SKIPLINES" {
                out += #"\n(?P<skiplines\#(skips)>(?:(?:.*\n)*?))"#
                skips += 1
                continue
            }
            if let replacement = tags[tag] {
                out += replacement
                continue
            }
            let closing = tag.hasPrefix("/")
            let name = closing ? String(tag.dropFirst()) : tag
            if name.hasPrefix("F-"), !name.hasSuffix("/"),
                name.dropFirst(2).allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" || $0 == "-" })
            {
                let custom = String(name.dropFirst(2))
                if closing {
                    out += open.contains(custom) ? ")" : "<\(tag)>"
                } else {
                    open.insert(custom)
                    let lower = custom.lowercased()
                    out += "(?P<\(["id": "fid", "port": "fport"][lower] ?? lower)>"
                }
                continue
            }
            out += "<\(tag)>"
        }
        out += rest
        return out
    }

    /// Translates Python's regex syntax into ICU's; returns the pattern and the group names.
    static func translate(_ python: String) throws(Failure) -> (String, [String: String]) {
        var out = ""
        var groups: [String: String] = [:]
        var chars = Array(python)
        var i = 0
        var inClass = false
        func icuName(_ name: String) -> String {
            var n = ""
            for c in name.unicodeScalars {
                if (c.value >= 0x30 && c.value <= 0x39) || (c.value >= 0x41 && c.value <= 0x5A)
                    || (c.value >= 0x61 && c.value <= 0x7A)
                {
                    n.unicodeScalars.append(c)
                } else {
                    n += "x" + String(c.value, radix: 16, uppercase: true)
                }
            }
            if let first = n.unicodeScalars.first, first.value < 0x41 { n = "g" + n }
            return n
        }
        while i < chars.count {
            let c = chars[i]
            if c == "\\", i + 1 < chars.count {
                let next = chars[i + 1]
                if !inClass, next == "Z" {
                    out += "\\z"
                } else {
                    out.append(c)
                    out.append(next)
                }
                i += 2
                continue
            }
            if inClass {
                // In Python a '[' in a class is itself; in ICU it opens a nested set (and '&&',
                // '--' are set operations).
                if c == "]" { inClass = false }
                if c == "[" {
                    out += "\\["
                } else if c == "&" || c == "-" || c == "~", i + 1 < chars.count, chars[i + 1] == c {
                    out += "\\\(c)"
                } else {
                    out.append(c)
                }
                i += 1
                continue
            }
            if c == "[" {
                inClass = true
                out.append(c)
                i += 1
                // A ']' first in a class (or after '^') is a literal.
                if i < chars.count, chars[i] == "^" {
                    out.append("^")
                    i += 1
                }
                if i < chars.count, chars[i] == "]" {
                    out += "\\]"
                    i += 1
                }
                continue
            }
            if c == "(", i + 2 < chars.count, chars[i + 1] == "?" {
                if chars[i + 2] == "P", i + 3 < chars.count, chars[i + 3] == "<" {
                    guard let close = chars[(i + 4)...].firstIndex(of: ">") else {
                        throw Failure(description: "a (?P< group without a closing '>'")
                    }
                    let name = String(chars[(i + 4)..<close])
                    let icu = icuName(name)
                    if groups[icu] != nil {
                        throw Failure(description: "the group name '\(name)' is used twice")
                    }
                    groups[icu] = name
                    out += "(?<\(icu)>"
                    i = close + 1
                    continue
                }
                if chars[i + 2] == "P", i + 3 < chars.count, chars[i + 3] == "=" {
                    guard let close = chars[(i + 4)...].firstIndex(of: ")") else {
                        throw Failure(description: "a (?P= back-reference without ')'")
                    }
                    out += "\\k<\(icuName(String(chars[(i + 4)..<close])))>"
                    i = close + 1
                    continue
                }
            }
            if c == "{" {
                // A quantifier ({n}, {n,}, {n,m}, {,m}); otherwise Python reads a literal brace,
                // which ICU wants escaped.
                var j = i + 1
                var digits = 0
                var comma = false
                while j < chars.count, chars[j].isASCII, chars[j].isNumber || (chars[j] == "," && !comma) {
                    if chars[j] == "," { comma = true } else { digits += 1 }
                    j += 1
                }
                if j < chars.count, chars[j] == "}", digits > 0 {
                    if chars[i + 1] == "," { out += "{0" } else { out += "{" }
                    out += String(chars[(chars[i + 1] == "," ? i + 1 : i + 1)..<(j + 1)])
                    i = j + 1
                } else {
                    out += "\\{"
                    i += 1
                }
                continue
            }
            if c == "}" {
                out += "\\}"
                i += 1
                continue
            }
            out.append(c)
            i += 1
        }
        chars = []
        return (out, groups)
    }

    /// Prepares a failregex, ignoreregex or prefregex of a filter; `multiline` (a filter whose
    /// `maxlines` is over 1) lets `^` and `$` match at each line of the buffer, as fail2ban's
    /// `re.MULTILINE` does.
    public init(_ fail2ban: String, multiline: Bool = false) throws(Failure) {
        let expanded = try Self.expandTags(fail2ban)
        var variants: [Variant] = []
        var union: [String: String] = [:]
        for (variant, present, absent) in try Self.conditionals(expanded) {
            // A group assumed not to take part is made unable to match, so that the engine
            // backtracks to a path without it (as Python's would, its condition then failing).
            var python = variant
            for name in absent where Int(name) == nil {
                python = python.replacingOccurrences(of: "(?P<\(name)>", with: "(?P<\(name)>(?!)")
            }
            let (pattern, groups) = try Self.translate(python)
            let regex: NSRegularExpression
            do {
                regex = try NSRegularExpression(pattern: pattern, options: multiline ? [.anchorsMatchLines] : [])
            } catch {
                throw Failure(description: "ICU does not take the translated expression '\(pattern.prefix(300))'")
            }
            let icu = Dictionary(groups.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a })
            func name(_ condition: String) -> String { Int(condition) != nil ? condition : icu[condition] ?? condition }
            variants.append(
                Variant(regex: regex, groups: groups, present: present.map(name), absent: absent.map(name))
            )
            union.merge(groups) { a, _ in a }
        }
        self.variants = variants
        self.pattern = variants.first.map(\.regex.pattern) ?? ""
        self.groups = union
    }

    /// Walks a Python regex from `start`, past escapes and character classes, calling `visit`
    /// with the position of each other character until it returns false; returns where it
    /// stopped (the end when it never did).
    @discardableResult
    static func walk(_ chars: [Character], from start: Int, _ visit: (Int) -> Bool) -> Int {
        let n = chars.count
        var i = start
        var inClass = false
        while i < n {
            let c = chars[i]
            if c == "\\" {
                i += 2
                continue
            }
            if inClass {
                if c == "]" { inClass = false }
                i += 1
                continue
            }
            if c == "[" {
                inClass = true
                i += 1
                if i < n, chars[i] == "^" { i += 1 }
                if i < n, chars[i] == "]" { i += 1 }
                continue
            }
            if !visit(i) { return i }
            i += 1
        }
        return n
    }

    /// The most conditional groups one regex may have (each doubles the variants compiled).
    static let maxConditions = 5

    /// `python` with each conditional group `(?(cond)yes|no)` replaced by one of its branches, for
    /// every combination: the pattern, the conditions assumed to have taken part, and those not.
    static func conditionals(_ python: String) throws(Failure) -> [(String, [String], [String])] {
        let chars = Array(python)
        let n = chars.count
        var conditions = 0
        var first: Int?
        walk(chars, from: 0) { i in
            if chars[i] == "(", i + 2 < n, chars[i + 1] == "?", chars[i + 2] == "(" {
                conditions += 1
                if first == nil { first = i }
            }
            return true
        }
        guard let start = first else { return [(python, [], [])] }
        guard conditions <= maxConditions else {
            throw Failure(description: "more than \(maxConditions) conditional groups (?(…)…) in one expression")
        }
        guard let nameEnd = chars[(start + 3)...].firstIndex(of: ")") else {
            throw Failure(description: "a conditional group (?( without its ')'")
        }
        let condition = String(chars[(start + 3)..<nameEnd])
        guard !condition.isEmpty, condition.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
            throw Failure(description: "a conditional group (?(\(condition.prefix(40)))…) names no group")
        }
        // The branches run to the ')' that closes the group; the first '|' at its level divides them.
        var depth = 0
        var bar: Int?
        var branches = 1
        let j = walk(chars, from: nameEnd + 1) { k in
            switch chars[k] {
            case "(": depth += 1
            case ")":
                if depth == 0 { return false }
                depth -= 1
            case "|" where depth == 0:
                branches += 1
                bar = bar ?? k
            default: break
            }
            return true
        }
        guard branches <= 2 else { throw Failure(description: "a conditional group with more than two branches") }
        guard j < n else { throw Failure(description: "a conditional group (?(\(condition))… without its ')'") }
        let yes = String(chars[(nameEnd + 1)..<(bar ?? j)])
        let no = bar.map { String(chars[($0 + 1)..<j]) } ?? ""
        let before = String(chars[..<start])
        let after = j + 1 < n ? String(chars[(j + 1)...]) : ""
        var out: [(String, [String], [String])] = []
        for (branch, taken) in [(yes, true), (no, false)] {
            for (p, present, absent) in try conditionals(before + "(?:" + branch + ")" + after) {
                let v = (p, taken ? present + [condition] : present, taken ? absent : absent + [condition])
                if Set(v.1).isDisjoint(with: v.2) { out.append(v) }
            }
        }
        return out
    }
}
