import Foundation

/// A fail2ban filter (`filter.d/NAME.conf`) resolved as fail2ban resolves it: the `[Definition]`
/// options interpolated with the `[Init]` values (and a jail's, such as `mode`), then fail2ban's
/// recursive `<tag>` substitution (`<mdre-<mode>>`, `<lt_file/__prefix_line>`), then each regex
/// translated from Python's syntax and fail2ban's tags (`<HOST>`, `<ADDR>`, `<F-USER>…</F-USER>`)
/// into one that `NSRegularExpression` compiles, or refused with the reason.
public struct Fail2banFilter: Sendable {
    public var name: String
    public var failregex: [String] = []
    public var ignoreregex: [String] = []
    public var prefregex: String?
    public var datepattern: String?
    public var maxlines = 1
    public var journalmatch: [String] = []

    /// A filter made in code (tests, the fuzzer); files are read with ``load(_:initOptions:)``.
    public init(
        name: String,
        failregex: [String],
        ignoreregex: [String] = [],
        prefregex: String? = nil,
        datepattern: String? = nil,
        maxlines: Int = 1
    ) {
        self.name = name
        self.failregex = failregex
        self.ignoreregex = ignoreregex
        self.prefregex = prefregex
        self.datepattern = datepattern
        self.maxlines = maxlines
    }

    /// A filter that cannot be used, and why (with the file).
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    static let options = ["prefregex", "ignoreregex", "failregex", "maxlines", "datepattern", "journalmatch", "usedns"]

    /// Loads and resolves the filter at `path`; `initOptions` are a jail's `filter = NAME[k=v]`.
    public static func load(_ path: String, initOptions: [String: String] = [:]) throws(Failure) -> Fail2banFilter {
        let config: Fail2banConfig
        do {
            config = try Fail2banConfig.load(path)
        } catch {
            throw Failure(description: error.description)
        }
        let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        do {
            var initial = initOptions
            for key in config.keys("Init") where !key.hasPrefix("known/") {
                let value = try config.get("Init", key) ?? ""
                initial["known/" + key] = value
                if initial[key] == nil { initial[key] = value }
            }
            var combined: [String: String] = [:]
            for key in options {
                if let value = try config.get("Definition", key, vars: initial) { combined[key] = value }
            }
            for (k, v) in initial { combined[k] = v }
            let resolved = try substituteTags(combined) { tag throws(Fail2banConfig.Failure) in
                try Self.option(config, tag, vars: initial)
            }
            var filter = Fail2banFilter(name: name, failregex: [])
            func lines(_ key: String) -> [String] {
                (resolved[key] ?? "").split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty }
            }
            filter.failregex = lines("failregex")
            filter.ignoreregex = lines("ignoreregex")
            filter.prefregex = resolved["prefregex"].flatMap { $0.isEmpty ? nil : $0 }
            filter.datepattern = resolved["datepattern"].flatMap { $0.isEmpty ? nil : $0 }
            filter.journalmatch = lines("journalmatch")
            if let m = resolved["maxlines"], !m.isEmpty {
                guard let n = Int(m.trimmingCharacters(in: .whitespaces)), (1...1000).contains(n) else {
                    throw Failure(description: "\(path): maxlines '\(m.prefix(20))' is not 1 to 1000")
                }
                filter.maxlines = n
            }
            if filter.failregex.isEmpty { throw Failure(description: "\(path): no failregex") }
            return filter
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "\(path): \(error)")
        }
    }

    /// A tag's value that is not among the combined options: `sec/opt` from that section (or
    /// `known/`), else the `[Definition]` option (keys are lowercase, as Python's parser makes them).
    static func option(
        _ config: Fail2banConfig,
        _ tag: String,
        vars: [String: String]
    ) throws(Fail2banConfig.Failure)
        -> String?
    {
        let lower = tag.lowercased()
        if let slash = lower.firstIndex(of: "/") {
            let (sec, key) = (String(lower[..<slash]), String(lower[lower.index(after: slash)...]))
            if sec == "known" {
                if let v = vars[lower] { return v }
                return try config.get("Definition", key, vars: vars)
            }
            if sec == "default" { return config.defaults[key] }
            if let owner = config.sections.keys.first(where: { $0.lowercased() == sec }), config.has(owner, key) {
                return try config.get(owner, key)
            }
        }
        guard config.has("Definition", lower) || config.defaults[lower] != nil else { return nil }
        return try config.get("Definition", lower, vars: vars)
    }

    /// fail2ban's `substituteRecursiveTags`: `<name>` in each value replaced by the value of
    /// `name` (among `tags`, else `lookup`), innermost first, until nothing changes; tags with
    /// no value (`<HOST>`) stay. Refuses self-reference and runaway expansion.
    public static func substituteTags(
        _ tags: [String: String],
        lookup: (String) throws(Fail2banConfig.Failure) -> String?
    ) throws(Fail2banConfig.Failure) -> [String: String] {
        var tags = tags
        for _ in 0..<50 {
            var changed = false
            for key in tags.keys.sorted() {
                var value = tags[key]!
                var searchFrom = value.startIndex
                var replacements = 0
                while let (range, name) = Self.nextTag(in: value, from: searchFrom) {
                    if name == key {
                        throw Fail2banConfig.Failure(description: "the tag <\(name)> refers to itself")
                    }
                    var found = tags[name]
                    if found == nil { found = try lookup(name) }
                    guard let replacement = found else {
                        searchFrom = range.upperBound
                        continue
                    }
                    replacements += 1
                    guard replacements <= 200, value.utf8.count <= 1 << 20 else {
                        throw Fail2banConfig.Failure(description: "the tags of '\(key)' expand without end")
                    }
                    let start = value.distance(from: value.startIndex, to: range.lowerBound)
                    value = value.replacingOccurrences(of: "<\(name)>", with: replacement)
                    searchFrom = value.index(value.startIndex, offsetBy: min(start, value.count))
                }
                if value != tags[key] {
                    tags[key] = value
                    changed = true
                }
            }
            if !changed { return tags }
        }
        throw Fail2banConfig.Failure(description: "the tags do not settle (recursive definitions)")
    }

    /// The next `<name>` (no spaces or angle brackets inside) at or after `from`.
    static func nextTag(in value: String, from: String.Index) -> (Range<String.Index>, String)? {
        var i = from
        while let open = value[i...].firstIndex(of: "<") {
            let after = value.index(after: open)
            guard let close = value[after...].firstIndex(where: { $0 == ">" || $0 == "<" || $0 == " " }) else {
                return nil
            }
            if value[close] == ">", close > after {
                return (open..<value.index(after: close), String(value[after..<close]))
            }
            i = close == after ? after : close
            if value[close] != "<" { i = value.index(after: close) }
        }
        return nil
    }
}
