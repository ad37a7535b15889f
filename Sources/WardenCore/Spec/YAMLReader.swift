import Foundation
import Yams

/// Walks a composed YAML tree, reading typed values and collecting every problem with its place.
///
/// Readers return nil after recording an issue, so that one pass reports all problems at once.
/// A domain's spec section (``SpecSection``) reads its part of the spec with one.
public struct YAMLReader {
    public let file: String
    public private(set) var issues: [SpecIssue] = []

    public init(file: String) { self.file = file }

    /// The keys of one mapping, with their nodes, in document order.
    public struct Fields {
        public let node: Node
        public let key: String
        public var entries: [(name: String, keyNode: Node, value: Node)]

        public subscript(name: String) -> Node? { entries.first { $0.name == name }?.value }

        public func path(_ name: String) -> String { key.isEmpty ? name : "\(key).\(name)" }
    }

    public mutating func fail(_ node: Node?, _ key: String, _ message: String) {
        let mark = node?.mark
        issues.append(
            SpecIssue(file: file, line: mark?.line ?? 0, column: mark?.column ?? 0, key: key, message: message)
        )
    }

    public mutating func fail(line: Int, column: Int, _ key: String, _ message: String) {
        issues.append(SpecIssue(file: file, line: line, column: column, key: key, message: message))
    }

    /// How a node looks, for "found ..." in messages.
    public static func describe(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let s):
            if isNull(node) { return "nothing (null)" }
            let text = s.string.count > 60 ? String(s.string.prefix(57)) + "..." : s.string
            return "'\(text)'"
        }
    }

    public static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let s) = node, s.style == .plain || s.style == .any else { return false }
        return s.string.isEmpty || s.string == "~" || s.string == "null" || s.string == "Null" || s.string == "NULL"
    }

    /// Reads a mapping whose keys must be among `allowed`; unknown keys are reported with a
    /// suggestion, missing `required` keys too.
    public mutating func mapping(_ node: Node, key: String, allowed: [String], required: [String] = []) -> Fields? {
        guard case .mapping(let mapping) = node else {
            fail(
                node,
                key,
                "expected a mapping with keys \(allowed.joined(separator: ", ")), found \(Self.describe(node))"
            )
            return nil
        }
        var fields = Fields(node: node, key: key, entries: [])
        for (k, v) in mapping {
            guard case .scalar(let s) = k else {
                fail(k, key, "keys must be plain words, found \(Self.describe(k))")
                continue
            }
            let name = s.string
            if !allowed.contains(name) {
                var message = "unknown key '\(name)'"
                if let guess = DidYouMean.suggest(name, from: allowed) { message += "; did you mean '\(guess)'?" }
                message += " Valid keys: \(allowed.joined(separator: ", "))"
                fail(k, fields.path(name), message)
                continue
            }
            fields.entries.append((name, k, v))
        }
        for name in required where fields[name] == nil {
            fail(node, key, "missing required key '\(name)'")
        }
        return fields
    }

    /// A mapping whose keys are free names (services, monitors), in document order.
    public mutating func namedEntries(
        _ node: Node,
        key: String,
        what: String
    ) -> [(name: String, keyNode: Node, value: Node)]? {
        if Self.isNull(node) { return [] }
        guard case .mapping(let mapping) = node else {
            fail(node, key, "expected a mapping of \(what) by name, found \(Self.describe(node))")
            return nil
        }
        var result: [(String, Node, Node)] = []
        for (k, v) in mapping {
            guard case .scalar(let s) = k, !s.string.isEmpty else {
                fail(k, key, "\(what) names must be plain words, found \(Self.describe(k))")
                continue
            }
            result.append((s.string, k, v))
        }
        return result
    }

    public mutating func string(_ node: Node, key: String, what: String = "a string") -> String? {
        guard case .scalar(let s) = node, !Self.isNull(node) else {
            fail(node, key, "expected \(what), found \(Self.describe(node))")
            return nil
        }
        return s.string
    }

    public mutating func int(_ node: Node, key: String, range: ClosedRange<Int>) -> Int? {
        guard case .scalar(let s) = node, let value = Int(s.string.replacingOccurrences(of: "_", with: "")) else {
            fail(
                node,
                key,
                "expected a whole number from \(range.lowerBound) to \(range.upperBound), found \(Self.describe(node))"
            )
            return nil
        }
        guard range.contains(value) else {
            fail(node, key, "found \(value); expected a whole number from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return value
    }

    public mutating func bool(_ node: Node, key: String) -> Bool? {
        guard case .scalar(let s) = node else {
            fail(node, key, "expected true or false, found \(Self.describe(node))")
            return nil
        }
        switch s.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            fail(node, key, "found \(Self.describe(node)); expected true or false")
            return nil
        }
    }

    public mutating func duration(_ node: Node, key: String, min: Duration = .zero, max: Duration? = nil) -> Duration? {
        guard case .scalar(let s) = node, let value = DurationFormat.parse(s.string) else {
            fail(node, key, "found \(Self.describe(node)); expected \(DurationFormat.expected)")
            return nil
        }
        if value < min {
            fail(node, key, "found \(s.string); expected at least \(DurationFormat.format(min))")
            return nil
        }
        if let max, value > max {
            fail(node, key, "found \(s.string); expected at most \(DurationFormat.format(max))")
            return nil
        }
        return value
    }

    /// A fraction written as `0.2` or `20%`.
    public mutating func fraction(_ node: Node, key: String) -> Double? {
        share(
            node,
            key: key,
            range: 0...1,
            expected: "a fraction such as 0.2 or 20%",
            inRange: "a fraction from 0 to 1 (or 0% to 100%)"
        )
    }

    /// A number written plain (`1.5`) or as a percentage (`150%`), within `range`; `expected`
    /// says what is wanted, `inRange` what the range is, for the messages.
    public mutating func share(
        _ node: Node,
        key: String,
        range: ClosedRange<Double>,
        expected: String,
        inRange: String
    ) -> Double? {
        guard case .scalar(let s) = node else {
            fail(node, key, "expected \(expected), found \(Self.describe(node))")
            return nil
        }
        var text = s.string.trimmingCharacters(in: .whitespaces)
        var scale = 1.0
        if text.hasSuffix("%") {
            text.removeLast()
            scale = 100
        }
        guard let raw = Double(text), raw.isFinite else {
            fail(node, key, "found \(Self.describe(node)); expected \(expected)")
            return nil
        }
        let value = raw / scale
        guard range.contains(value) else {
            fail(node, key, "found \(s.string); expected \(inRange)")
            return nil
        }
        return value
    }

    /// A byte size: `1048576`, `512KB`, `10MB`, `1GiB`.
    public mutating func byteSize(_ node: Node, key: String, min: Int64, max: Int64? = nil) -> Int64? {
        guard case .scalar(let s) = node, let value = ByteSize.parse(s.string) else {
            fail(node, key, "found \(Self.describe(node)); expected a size such as 512KB, 10MB or 1GB")
            return nil
        }
        guard value >= min else {
            fail(node, key, "found \(s.string); expected at least \(ByteSize.format(min))")
            return nil
        }
        if let max, value > max {
            fail(node, key, "found \(s.string); expected at most \(ByteSize.format(max))")
            return nil
        }
        return value
    }

    /// A list of strings; a single scalar counts as a one-element list.
    /// `N in WINDOW`, such as `3 in 1h`: at most N per window.
    public mutating func countPerWindow(_ n: Node, key: String) -> GiveUp? {
        let words = (n.scalar?.string ?? "").split(separator: " ").map(String.init)
        if words.count == 3, words[1] == "in", let c = Int(words[0]), c >= 1, let w = DurationFormat.parse(words[2]),
            w > .zero
        {
            return GiveUp(count: c, window: w)
        }
        fail(n, key, "found \(Self.describe(n)); expected 'N in WINDOW' such as '3 in 1h'")
        return nil
    }

    public mutating func stringList(_ node: Node, key: String, what: String) -> [String]? {
        switch node {
        case .scalar:
            if Self.isNull(node) { return [] }
            return string(node, key: key).map { [$0] }
        case .sequence(let seq):
            var result: [String] = []
            for (i, item) in seq.enumerated() {
                guard case .scalar(let s) = item, !Self.isNull(item) else {
                    fail(item, "\(key)[\(i)]", "expected \(what), found \(Self.describe(item))")
                    return nil
                }
                result.append(s.string)
            }
            return result
        default:
            fail(node, key, "expected a list of \(what), found \(Self.describe(node))")
            return nil
        }
    }

    /// A command: a list of arguments, or one string split like a shell would (quotes, backslashes;
    /// no variables, globs or pipes).
    public mutating func command(_ node: Node, key: String) -> [String]? {
        let argv: [String]?
        if case .scalar(let s) = node, !Self.isNull(node) {
            switch CommandLineSplitter.split(s.string) {
            case .success(let words): argv = words
            case .failure(let problem):
                fail(node, key, "cannot split the command: \(problem)")
                return nil
            }
        } else if case .sequence = node {
            argv = stringList(node, key: key, what: "arguments")
        } else {
            fail(
                node,
                key,
                "expected a command (a list such as [./bin/api, --port, \"9000\"] or a string), found \(Self.describe(node))"
            )
            return nil
        }
        guard let argv else { return nil }
        if argv.isEmpty || argv[0].isEmpty {
            fail(node, key, "the command is empty; give at least the program to run")
            return nil
        }
        return argv
    }
}

/// Splits a command string into words the way a POSIX shell would for a simple command.
public enum CommandLineSplitter {
    public static func split(_ text: String) -> Result<[String], CommandSplitError> {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escape = false
        for c in text {
            if escape {
                current.append(c)
                escape = false
                inWord = true
                continue
            }
            if let q = quote {
                if c == q {
                    quote = nil
                } else if c == "\\" && q == "\"" {
                    escape = true
                } else {
                    current.append(c)
                }
                continue
            }
            switch c {
            case "\\":
                escape = true
            case "\"", "'":
                quote = c
                inWord = true
            case " ", "\t", "\n":
                if inWord {
                    words.append(current)
                    current = ""
                    inWord = false
                }
            default:
                current.append(c)
                inWord = true
            }
        }
        if quote != nil { return .failure(CommandSplitError(message: "a quote is not closed")) }
        if escape { return .failure(CommandSplitError(message: "the command ends with a backslash")) }
        if inWord { words.append(current) }
        return .success(words)
    }
}

/// Why a command string could not be split.
public struct CommandSplitError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Byte sizes written for people.
public enum ByteSize {
    /// Parses `1024`, `512KB`, `10MB`, `1.5GB`, `64MiB` (KB = 1024 bytes, as most tools mean it).
    public static func parse(_ text: String) -> Int64? {
        let s = text.trimmingCharacters(in: .whitespaces).uppercased()
        let number = s.prefix { $0.isNumber || $0 == "." }
        guard let value = Double(number), value >= 0 else { return nil }
        let unit = s.dropFirst(number.count).trimmingCharacters(in: .whitespaces)
        let scale: Double
        switch unit {
        case "", "B": scale = 1
        case "K", "KB", "KIB": scale = 1024
        case "M", "MB", "MIB": scale = 1024 * 1024
        case "G", "GB", "GIB": scale = 1024 * 1024 * 1024
        default: return nil
        }
        let bytes = value * scale
        guard bytes < 9e18 else { return nil }
        return Int64(bytes)
    }

    /// Formats `bytes` as `512B`, `1.5KB`, `10MB`.
    public static func format(_ bytes: Int64) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(bytes)
        var i = 0
        while value >= 1024 && i < units.count - 1 {
            value /= 1024
            i += 1
        }
        if i == 0 { return "\(bytes)B" }
        return value >= 100 || value == value.rounded()
            ? "\(Int(value.rounded()))\(units[i])"
            : "\(Int64((value * 10).rounded()) / 10).\(Int64((value * 10).rounded()) % 10)" + units[i]
    }
}
