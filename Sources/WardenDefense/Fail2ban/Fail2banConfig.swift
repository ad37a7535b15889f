import Foundation

/// fail2ban's configuration files as fail2ban reads them: Python's ConfigParser (sections,
/// `key = value` or `key: value`, indented continuation lines, `#`/`;` comments, ` ;` inline
/// comments, lowercase keys), `[INCLUDES]` with `before`/`after`, a `.local` beside each `.conf`,
/// later files overriding earlier ones key by key (the value a key had before is kept as
/// `known/KEY` of its section), and `%(name)s` interpolation (`%(section/name)s`,
/// `%(known/name)s`, `%%`).
public struct Fail2banConfig: Sendable {
    public private(set) var defaults: [String: String] = [:]
    public private(set) var sections: [String: [String: String]] = [:]
    /// Values overridden by a later file, by section: what `%(known/KEY)s` reads.
    private var known: [String: [String: String]] = [:]
    /// The files read, in order.
    public private(set) var files: [String] = []

    /// A problem with a file (it names the file and line).
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The largest file read, and how deep includes may nest.
    static let maxFileSize = 1 << 20
    static let maxIncludeDepth = 8

    public init() {}

    /// Reads `path` (a `.conf` file), its includes and its `.local`.
    public static func load(_ path: String) throws(Failure) -> Fail2banConfig {
        var config = Fail2banConfig()
        try config.read(path, depth: 0)
        let local = (path as NSString).deletingPathExtension + ".local"
        if FileManager.default.fileExists(atPath: local) { try config.read(local, depth: 0) }
        return config
    }

    /// Reads one more file over what was read (jail.d's files, jail.local), with its includes.
    public mutating func add(_ path: String) throws(Failure) {
        try read(path, depth: 0)
    }

    private mutating func read(_ path: String, depth: Int) throws(Failure) {
        guard depth <= Self.maxIncludeDepth else {
            throw Failure(description: "\(path): includes nest deeper than \(Self.maxIncludeDepth)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(description: "\(path): cannot be read")
        }
        guard data.count <= Self.maxFileSize else {
            throw Failure(description: "\(path): larger than \(Self.maxFileSize) bytes")
        }
        let parsed = try Self.parse(String(decoding: data, as: UTF8.self), file: path)
        let directory = (path as NSString).deletingLastPathComponent
        func includes(_ key: String) -> [String] {
            (parsed.first { $0.name == "INCLUDES" }?.values.first { $0.key == key }?.value ?? "")
                .split(whereSeparator: { $0 == "\n" || $0 == " " }).map {
                    $0.hasPrefix("/") ? String($0) : directory + "/" + $0
                }
        }
        for file in includes("before") where FileManager.default.fileExists(atPath: file) {
            try read(file, depth: depth + 1)
        }
        files.append(path)
        for section in parsed where section.name != "INCLUDES" {
            if section.name == "DEFAULT" {
                for (k, v) in section.values { defaults[k] = v }
                continue
            }
            var existing = sections[section.name] ?? [:]
            for (k, v) in section.values {
                if let before = existing[k] { known[section.name, default: [:]][k] = before }
                existing[k] = v
            }
            sections[section.name] = existing
        }
        for file in includes("after") where FileManager.default.fileExists(atPath: file) {
            try read(file, depth: depth + 1)
        }
    }

    /// One `[section]` of a file, its keys in order.
    public struct Section: Sendable {
        public var name: String
        public var values: [(key: String, value: String)]
    }

    /// Parses one file's text into its sections, in order.
    public static func parse(_ text: String, file: String) throws(Failure) -> [Section] {
        var sections: [Section] = []
        var lineNumber = 0
        var lastKeyIndent = -1
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = raw.hasSuffix("\r") ? String(raw.dropLast()) : String(raw)
            let stripped = line.trimmingCharacters(in: .whitespaces)
            if stripped.hasPrefix("#") || stripped.hasPrefix(";") { continue }
            let indent = line.prefix { $0 == " " || $0 == "\t" }.count
            if stripped.isEmpty {
                // An empty line inside a value is kept (split away later); it does not end it.
                if lastKeyIndent >= 0, var section = sections.popLast(), !section.values.isEmpty {
                    section.values[section.values.count - 1].value += "\n"
                    sections.append(section)
                }
                continue
            }
            if indent > 0, lastKeyIndent >= 0, indent > lastKeyIndent, var section = sections.popLast(),
                !section.values.isEmpty
            {
                // A continuation line.
                section.values[section.values.count - 1].value += "\n" + Self.uncommented(stripped)
                sections.append(section)
                continue
            }
            if stripped.hasPrefix("[") {
                guard let close = stripped.firstIndex(of: "]") else {
                    throw Failure(description: "\(file):\(lineNumber): a section header without ']'")
                }
                sections.append(
                    Section(name: String(stripped[stripped.index(after: stripped.startIndex)..<close]), values: [])
                )
                lastKeyIndent = -1
                continue
            }
            guard let separator = stripped.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                throw Failure(
                    description: "\(file):\(lineNumber): expected 'key = value', found '\(stripped.prefix(80))'"
                )
            }
            guard !sections.isEmpty else {
                throw Failure(description: "\(file):\(lineNumber): a value before any [section]")
            }
            let key = stripped[..<separator].trimmingCharacters(in: .whitespaces).lowercased()
            let value = Self.uncommented(
                stripped[stripped.index(after: separator)...].trimmingCharacters(in: .whitespaces)
            )
            sections[sections.count - 1].values.append((key, value))
            lastKeyIndent = indent
        }
        // Trailing empty lines of values go.
        for i in sections.indices {
            for j in sections[i].values.indices {
                while sections[i].values[j].value.hasSuffix("\n") { sections[i].values[j].value.removeLast() }
            }
        }
        return sections
    }

    /// A value without its inline comment (` ;` and what follows, as fail2ban's parser does).
    static func uncommented(_ value: String) -> String {
        guard let r = value.range(of: " ;") ?? value.range(of: "\t;") else { return value }
        return String(value[..<r.lowerBound]).trimmingCharacters(in: .whitespaces)
    }

    // MARK: - Values

    /// The raw value of `key` in `section` (or `[DEFAULT]`), uninterpolated.
    public func raw(_ section: String, _ key: String) -> String? {
        sections[section]?[key] ?? defaults[key]
    }

    /// Whether `section` has `key` itself (not from `[DEFAULT]`).
    public func has(_ section: String, _ key: String) -> Bool { sections[section]?[key] != nil }

    /// The keys of `section` (without `[DEFAULT]`'s).
    public func keys(_ section: String) -> [String] { sections[section].map { Array($0.keys).sorted() } ?? [] }

    /// `key` of `section` with `%(…)s` references replaced, `vars` first; nil when absent.
    public func get(_ section: String, _ key: String, vars: [String: String] = [:]) throws(Failure) -> String? {
        // A value from `vars` (the [Init] options, already interpolated) is taken as it is.
        if let value = vars[key] { return value }
        guard let value = raw(section, key) else { return nil }
        return try interpolate(value, section: section, vars: vars, depth: 0)
    }

    static let maxDepth = 10

    func interpolate(_ value: String, section: String, vars: [String: String], depth: Int) throws(Failure) -> String {
        guard value.contains("%") else { return value }
        guard depth < Self.maxDepth else {
            throw Failure(
                description:
                    "[\(section)]: interpolation nests deeper than \(Self.maxDepth) (a value refers to itself?)"
            )
        }
        var out = ""
        var rest = Substring(value)
        while let percent = rest.firstIndex(of: "%") {
            out += rest[..<percent]
            let after = rest[rest.index(after: percent)...]
            if after.hasPrefix("%") {
                out += "%"
                rest = after.dropFirst()
                continue
            }
            guard after.hasPrefix("("), let close = after.firstIndex(of: ")"),
                after[after.index(after: close)...].hasPrefix("s")
            else {
                throw Failure(description: "[\(section)]: a '%' that is not %% or %(name)s in '\(value.prefix(80))'")
            }
            let name = String(after[after.index(after: after.startIndex)..<close]).lowercased()
            let found: String?
            if let slash = name.firstIndex(of: "/") {
                let (sec, key) = (String(name[..<slash]), String(name[name.index(after: slash)...]))
                switch sec {
                case "known": found = known[section]?[key] ?? defaults[key]
                case "default": found = defaults[key]
                default:
                    let owner = sections.keys.first { $0.lowercased() == sec }
                    found = owner.flatMap { sections[$0]?[key] } ?? defaults[key]
                }
                if let found {
                    out += try interpolate(
                        found,
                        section: found == defaults[key]
                            ? section : (sections.keys.first { $0.lowercased() == sec } ?? section),
                        vars: vars,
                        depth: depth + 1
                    )
                } else {
                    throw Failure(description: "[\(section)]: %(\(name))s names nothing")
                }
            } else {
                if let given = vars[name] {
                    out += given
                } else {
                    guard let found = raw(section, name) else {
                        throw Failure(description: "[\(section)]: %(\(name))s names nothing")
                    }
                    out += try interpolate(found, section: section, vars: vars, depth: depth + 1)
                }
            }
            rest = after[after.index(close, offsetBy: 2)...]
        }
        out += rest
        return out
    }
}
