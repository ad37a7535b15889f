import Foundation

/// One fail2ban regex made ready for `NSRegularExpression` (ICU): fail2ban's tags expanded as
/// its `Regex` class expands them, Python's syntax translated (`(?P<name>`, `(?P=name)`, `\Z`,
/// `{,n}`), group names made ICU names (letters and digits: `alt_user` → `altx5Fuser`), and the
/// result compiled. What cannot be translated is refused with the reason.
public struct Fail2banRegex: Sendable {
    /// The translated pattern.
    public var pattern: String
    /// ICU group name → fail2ban's (`ip4`, `ip6`, `dns`, `user`, `fid`, …).
    public var groups: [String: String]
    public let regex: NSRegularExpression

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

    /// Expands fail2ban's tags in `regex` (`<HOST>`, `<F-NAME>…</F-NAME>`, …); refuses
    /// `<SKIPLINES>` (multi-line filters are not supported yet).
    static func expandTags(_ regex: String) throws(Failure) -> String {
        var out = ""
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
                throw Failure(description: "<SKIPLINES> (a match over several lines) is not supported yet")
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
                if chars[i + 2] == "(" {
                    throw Failure(
                        description: "a conditional group (?(…)…) has no equivalent in ICU's regular expressions"
                    )
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

    /// Prepares a failregex, ignoreregex or prefregex of a filter.
    public init(_ fail2ban: String) throws(Failure) {
        let expanded = try Self.expandTags(fail2ban)
        let (pattern, groups) = try Self.translate(expanded)
        do {
            regex = try NSRegularExpression(pattern: pattern, options: [])
        } catch {
            throw Failure(description: "ICU does not take the translated expression '\(pattern.prefix(300))'")
        }
        self.pattern = pattern
        self.groups = groups
    }
}
