import Foundation

/// One condition on an alert's labels, as Alertmanager writes them: `name=value`, `name!=value`,
/// `name=~regex`, `name!~regex` (the regex anchored at both ends). A label an alert does not have
/// counts as the empty string.
public struct LabelMatcher: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        case equal = "="
        case notEqual = "!="
        case regex = "=~"
        case notRegex = "!~"
    }

    public let name: String
    public let kind: Kind
    public let value: String
    private let compiled: CompiledPattern?

    /// The longest value or pattern accepted (a matcher is written by a person, not a program).
    public static let maxLength = 256

    public init(name: String, kind: Kind, value: String) throws(AlertSpecError) {
        guard Self.isLabelName(name) else {
            throw AlertSpecError("'\(name)' is not a label name (letters, digits and '_', not starting with a digit)")
        }
        guard value.utf8.count <= Self.maxLength else {
            throw AlertSpecError("the value of '\(name)' is longer than \(Self.maxLength) bytes")
        }
        self.name = name
        self.kind = kind
        self.value = value
        if kind == .regex || kind == .notRegex {
            if let problem = RegexCost.problem(value) { throw AlertSpecError("'\(value)': \(problem)") }
            do {
                compiled = CompiledPattern(try NSRegularExpression(pattern: "^(?:" + value + ")$"))
            } catch {
                throw AlertSpecError("'\(value)' is not a valid regular expression")
            }
        } else {
            compiled = nil
        }
    }

    /// Parses `name=value`, `name!=value`, `name=~regex` or `name!~regex`; the value may be quoted.
    public static func parse(_ text: String) throws(AlertSpecError) -> LabelMatcher {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for kind in [Kind.notEqual, .regex, .notRegex, .equal] {
            guard let range = trimmed.range(of: kind.rawValue) else { continue }
            // `a!=b` contains `=` too: take the operator that starts where the name ends.
            let name = String(trimmed[..<range.lowerBound])
            guard isLabelName(name) else { continue }
            var value = String(trimmed[range.upperBound...])
            // Unquoted by bytes: a quote may share its character with what precedes it (U+0600
            // and its kind join the character that follows them).
            let bytes = Array(value.utf8)
            if bytes.count >= 2, bytes.first == UInt8(ascii: "\""), bytes.last == UInt8(ascii: "\"") {
                value = String(decoding: bytes.dropFirst().dropLast(), as: UTF8.self)
            }
            return try LabelMatcher(name: name, kind: kind, value: value)
        }
        throw AlertSpecError(
            "found '\(text)'; expected a matcher such as service=api, severity!=info, service=~\"api|web\""
        )
    }

    public func matches(_ labels: [String: String]) -> Bool {
        let actual = labels[name] ?? ""
        switch kind {
        case .equal: return actual == value
        case .notEqual: return actual != value
        case .regex: return compiled?.matches(actual) ?? false
        case .notRegex: return !(compiled?.matches(actual) ?? false)
        }
    }

    /// `name=value`, the value quoted unless it is a plain word (so that it reads back as the same
    /// matcher: `a="~b"` is not `a=~b`).
    public var description: String {
        let plain =
            !value.isEmpty && !value.hasPrefix("~") && !value.hasPrefix("\"")
            && value.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                    || "_.:/-@".unicodeScalars.contains($0)
            }
        return name + kind.rawValue + (plain ? value : "\"" + value + "\"")
    }

    public static func == (a: LabelMatcher, b: LabelMatcher) -> Bool {
        a.name == b.name && a.kind == b.kind && a.value == b.value
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(kind)
        hasher.combine(value)
    }

    enum CodingKeys: String, CodingKey { case name, kind, value }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        do {
            try self.init(
                name: c.decode(String.self, forKey: .name),
                kind: c.decode(Kind.self, forKey: .kind),
                value: c.decode(String.self, forKey: .value)
            )
        } catch let error as AlertSpecError {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(kind, forKey: .kind)
        try c.encode(value, forKey: .value)
    }

    static func isLabelName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, s.utf8.count <= 128 else { return false }
        if ("0"..."9").contains(first) { return false }
        return s.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_"
        }
    }
}

extension Array where Element == LabelMatcher {
    /// Whether every matcher matches (an empty list matches everything).
    public func matches(_ labels: [String: String]) -> Bool { allSatisfy { $0.matches(labels) } }
}

/// A compiled regular expression (NSRegularExpression is immutable once made, so it can be shared).
final class CompiledPattern: @unchecked Sendable {
    let regex: NSRegularExpression
    init(_ regex: NSRegularExpression) { self.regex = regex }

    /// The longest value a pattern is tried on (a longer one does not match): with the limits of
    /// ``RegexCost``, a match costs at most some millions of steps.
    static let maxInput = 256

    func matches(_ s: String) -> Bool {
        guard s.utf8.count <= Self.maxInput else { return false }
        return regex.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }
}

/// What keeps a pattern from taking exponential time in a backtracking engine (NSRegularExpression
/// is one; Alertmanager's RE2 is not, and its matchers rarely need more): no repeated group that
/// itself repeats or alternates (`(a+)+`, `(a|aa)*`), no back-references, at most three unbounded
/// repetitions in all.
enum RegexCost {
    static func problem(_ pattern: String) -> String? {
        let chars = Array(pattern)
        var groups: [Bool] = []  // per open group: whether it holds a repetition or an alternation
        var unbounded = 0
        var quantifiers = 0
        var i = 0
        func isUnbounded(_ j: Int) -> Bool {
            guard j < chars.count else { return false }
            if chars[j] == "*" || chars[j] == "+" { return true }
            if chars[j] == "{", let close = chars[j...].firstIndex(of: "}") { return chars[j..<close].last == "," }
            return false
        }
        while i < chars.count {
            let c = chars[i]
            switch c {
            case "\\":
                if i + 1 < chars.count, chars[i + 1].isNumber || chars[i + 1] == "k" {
                    return "back-references are not allowed"
                }
                i += 2
                continue
            case "[":
                // A class is one token: skip to its end.
                var j = i + 1
                if j < chars.count, chars[j] == "^" { j += 1 }
                if j < chars.count, chars[j] == "]" { j += 1 }
                while j < chars.count, chars[j] != "]" { j += chars[j] == "\\" ? 2 : 1 }
                i = j
            case "(":
                groups.append(false)
                // `(?:`, `(?=`, `(?<name>`: the `?` opens a kind of group, it repeats nothing.
                if i + 1 < chars.count, chars[i + 1] == "?" {
                    i += 3
                    continue
                }
            case "|":
                if !groups.isEmpty { groups[groups.count - 1] = true }
            case ")":
                let inner = groups.popLast() ?? false
                if inner, i + 1 < chars.count, "*+{".contains(chars[i + 1]) {
                    return "a repeated group may not itself repeat or alternate (it can take exponential time)"
                }
                if inner, !groups.isEmpty { groups[groups.count - 1] = true }
            case "*", "+", "?", "{":
                if !groups.isEmpty { groups[groups.count - 1] = true }
            default:
                break
            }
            if isUnbounded(i + 1) {
                unbounded += 1
                if unbounded > 3 { return "at most three unbounded repetitions (*, +, {n,}) are allowed" }
            }
            if i + 1 < chars.count, "*+?{".contains(chars[i + 1]) {
                quantifiers += 1
                if quantifiers > 10 { return "at most ten repetitions and optional parts (*, +, ?, {…}) are allowed" }
            }
            i += 1
        }
        return nil
    }
}

/// A problem with an alerting spec, a matcher or a silence: what is wrong, for a person.
public struct AlertSpecError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
