import Foundation
import Yams

#if canImport(Glibc)
import Glibc
#endif

/// Cross-checks between sections, reading the file, and the small rules every section shares.
extension SpecLoader {
    // MARK: - Cross-checks

    func checkDependencies(_ declared: [(name: String, after: [String], node: Node?)], _ r: inout YAMLReader) {
        let names = declared.map(\.name)
        let known = Set(names)
        var valid: [(name: String, after: [String])] = []
        for s in declared {
            var ok = true
            for d in s.after where !known.contains(d) || d == s.name {
                ok = false
                if d == s.name {
                    r.fail(s.node, "services.\(s.name).after", "a service cannot start after itself")
                } else {
                    var message = "no service named '\(d)'"
                    if let guess = DidYouMean.suggest(d, from: names) { message += "; did you mean '\(guess)'?" }
                    r.fail(s.node, "services.\(s.name).after", message)
                }
            }
            if ok { valid.append((s.name, s.after)) }
        }
        if let cycle = DependencyGraph(services: valid).findCycle() {
            let node = declared.first { $0.name == cycle[0] }?.node
            r.fail(
                node,
                "services.\(cycle[0]).after",
                "dependency cycle \(cycle.joined(separator: " → ")); remove one of these 'after' entries"
            )
        }
    }

    // MARK: - Helpers

    /// Refuses a spec text that sets any of `keys` at its top level, each place located, with
    /// `why` as the message (a spec from a repository may not set the node's own keys).
    public static func refuseTopKeys(_ keys: [String], in text: String, file: String, why: String) throws(SpecErrors) {
        guard let root = try compose(text, file: file), case .mapping(let mapping) = root else { return }
        var issues: [SpecIssue] = []
        for (key, _) in mapping {
            guard let name = key.string, keys.contains(name) else { continue }
            let mark = key.mark
            issues.append(
                SpecIssue(file: file, line: mark?.line ?? 0, column: mark?.column ?? 0, key: name, message: why)
            )
        }
        if !issues.isEmpty { throw SpecErrors(issues) }
    }

    /// Composes the YAML tree, after refusing a text whose aliases expand it past
    /// ``YAMLExpansionGuard/maxExpandedNodes`` nodes (see ``YAMLExpansionGuard``).
    static func compose(_ text: String, file: String) throws(SpecErrors) -> Node? {
        if let excess = YAMLExpansionGuard.excess(in: text) {
            throw SpecErrors([
                SpecIssue(
                    file: file,
                    line: excess.line,
                    column: excess.column,
                    key: "",
                    message: "aliases expand this spec past \(YAMLExpansionGuard.maxExpandedNodes) nodes here; "
                        + "write the repeated settings out, or alias smaller pieces"
                )
            ])
        }
        do {
            return try Yams.compose(yaml: text, .basic)
        } catch {
            throw SpecErrors([syntaxIssue(error, file: file)])
        }
    }

    /// The spec file's bytes: it must exist, be readable and hold at most ``maxFileSize`` bytes.
    static func readBytes(_ path: String) throws(SpecErrors) -> [UInt8] {
        func problem(_ message: String, line: Int = 0, column: Int = 0) -> SpecErrors {
            SpecErrors([SpecIssue(file: path, line: line, column: column, key: "", message: message)])
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw problem("the spec file does not exist; pass the path of a warden.yaml")
        }
        let bytes: [UInt8]
        switch BoundedFile.read(path, limit: maxFileSize) {
        case .whole(let b)?: bytes = b
        case .truncated?:
            throw problem(
                "the spec file is larger than \(ByteSize.format(Int64(maxFileSize))); at most that much is read"
            )
        case nil: throw problem("the spec file cannot be read; check its permissions")
        }
        return bytes
    }

    /// The offset of the first byte that does not belong to a well-formed UTF-8 sequence, or nil.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            let length: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch b {
            case 0x00...0x7F:
                i += 1
                continue
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                high = 0x9F
            case 0xF0:
                length = 4
                low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                high = 0x8F
            default: return i
            }
            guard i + length <= bytes.count else { return i }
            guard (low...high).contains(bytes[i + 1]) else { return i }
            for k in 2..<length where !(0x80...0xBF).contains(bytes[i + k]) { return i }
            i += length
        }
        return nil
    }

    /// The values of a mapping by their (scalar) keys; the first of a repeated key wins.
    public static func byName(_ mapping: Node.Mapping) -> [String: Node] {
        var result: [String: Node] = [:]
        for (k, v) in mapping { if let name = k.scalar?.string, result[name] == nil { result[name] = v } }
        return result
    }

    static func syntaxIssue(_ error: any Error, file: String) -> SpecIssue {
        if let y = error as? YamlError {
            switch y {
            case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
                .composer(let context, let problem, let mark, _):
                let ctx = context.map { " (\($0.text))" } ?? ""
                return SpecIssue(
                    file: file,
                    line: mark.line,
                    column: mark.column,
                    key: "",
                    message: "invalid YAML: \(problem)\(ctx)"
                )
            case .duplicatedKeysInMapping(let duplicates, let context):
                return SpecIssue(
                    file: file,
                    line: context.mark.line,
                    column: context.mark.column,
                    key: duplicates.joined(separator: ", "),
                    message: "the key appears more than once in the same mapping; keep one"
                )
            case .reader(let problem, _, _, _):
                return SpecIssue(
                    file: file,
                    line: 0,
                    column: 0,
                    key: "",
                    message: "invalid YAML: \(problem) (is the file UTF-8 text?)"
                )
            default:
                return SpecIssue(file: file, line: 0, column: 0, key: "", message: "invalid YAML: \(y)")
            }
        }
        return SpecIssue(file: file, line: 0, column: 0, key: "", message: "invalid YAML: \(error)")
    }

    /// The URL of an outbound call (http or https, a host, no credentials), or nil after saying
    /// what is wrong with it.
    public static func outboundURL(_ n: Node, key: String, example: String, _ r: inout YAMLReader) -> String? {
        guard let url = r.string(n, key: key, what: "an http(s):// URL") else { return nil }
        if let problem = OutboundURL.problem(url) {
            r.fail(n, key, "found '\(url.prefix(80))': \(problem); expected a URL such as \(example)")
            return nil
        }
        return url
    }

    /// A readable file of certificate authorities (its absolute path), or nil after saying why not.
    public static func caFile(_ n: Node, key: String, baseDir: String, _ r: inout YAMLReader) -> String? {
        guard let path = r.string(n, key: key, what: "a PEM file of certificate authorities") else { return nil }
        let file = absolute(path, base: baseDir)
        guard FileManager.default.isReadableFile(atPath: file) else {
            r.fail(n, key, "cannot read the CA file \(file)")
            return nil
        }
        return file
    }

    public static func absolute(_ path: String, base: String) -> String {
        var p = path
        if p.hasPrefix("~/"), let home = ProcessEnvironment.value("HOME") { p = home + p.dropFirst(1) }
        let full = p.hasPrefix("/") ? p : (base as NSString).appendingPathComponent(p)
        return (full as NSString).standardizingPath
    }

    static func defaultStateDir(environment: [String: String]) -> String {
        if getuid() == 0 { return "/var/lib/warden" }
        if let xdg = environment["XDG_STATE_HOME"], !xdg.isEmpty { return xdg + "/warden" }
        return (environment["HOME"] ?? "/tmp") + "/.local/state/warden"
    }

    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.count <= 64 else { return false }
        guard isASCIIAlphanumeric(first) else { return false }
        return name.unicodeScalars.allSatisfy {
            isASCIIAlphanumeric($0) || "-_.".unicodeScalars.contains($0)
        }
    }

    static func isValidEnvName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { isASCIIAlphanumeric($0) || $0 == "_" }
    }

    static func isASCIIAlphanumeric(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c)
    }
}
