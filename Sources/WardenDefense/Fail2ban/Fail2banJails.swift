import Foundation
import WardenCore

/// One enabled fail2ban jail, as Warden carries it out: a filter on some logs, a count of
/// failures within a time, and a ban.
public struct Fail2banJail: Sendable, Hashable {
    public var name: String
    /// The filter's file (in `filter.d`) and the options `filter = NAME[k=v]` gives it.
    public var filterPath: String
    public var filterOptions: [String: String]
    /// Log files (globs expanded when the jail was read; a path that does not exist yet is
    /// followed until it does).
    public var logPaths: [String]
    /// `systemd`: the journal instead of files, narrowed by the filter's `journalmatch`.
    public var backend: String
    /// The unit of the filter's `_SYSTEMD_UNIT=` journal match, for the `systemd` backend.
    public var journalUnit: String?
    /// Bans an address on its `maxRetry`-th failure within `findTime`.
    public var maxRetry: Int
    public var findTime: Duration
    /// The first ban's length (fail2ban's `bantime`; a permanent ban, -1, is Warden's longest).
    public var banTime: Duration
    /// Addresses and blocks the jail never bans.
    public var ignoreIP: [CIDR]

    /// The signal its filter's matches emit, and the scenario that counts them.
    public var signal: String { "f2b." + name }
    public var parserName: String { "fail2ban:" + name }
    public var scenarioName: String { "fail2ban-" + name }

    /// The watches that feed it.
    public var watches: [WatchSpec] {
        if backend.hasPrefix("systemd") { return [.journal(unit: journalUnit, parser: parserName, directory: nil)] }
        return logPaths.map { .log(path: $0, parser: parserName, fromStart: false) }
    }

    /// Its count, as fail2ban counts: the `maxRetry`-th failure within `findTime` triggers it.
    public func scenario(score: Double) -> ScenarioSpec {
        ScenarioSpec(
            name: scenarioName,
            on: [signal],
            kind: .window(count: maxRetry, within: findTime.seconds),
            score: score
        )
    }
}

/// fail2ban's jail configuration read as fail2ban reads it: `jail.conf` (and what it includes:
/// `paths-*.conf`), then `jail.d/*.conf` by name, `jail.local`, `jail.d/*.local`; each section
/// with `enabled = true` is a jail, its values interpolated with `__name__` set to its name.
public enum Fail2banJails {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// At most this many jails (each is a scenario, and the threat engine numbers them in a byte).
    public static let maxJails = 128
    /// At most this many files in `jail.d`, and log files for one jail (a glob such as
    /// `/var/log/**` would otherwise start a watch per file it finds).
    public static let maxFiles = 1000

    /// The enabled jails of the configuration in `directory`, each with its filter loaded and
    /// compiled; the first jail that cannot be carried out is the error, naming it and why.
    public static func load(directory: String) throws(Failure) -> [Fail2banJail] {
        let base = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        var config = Fail2banConfig()
        let jailD = base + "/jail.d"
        let dropIns = ((try? FileManager.default.contentsOfDirectory(atPath: jailD)) ?? []).sorted()
        do {
            guard dropIns.count <= maxFiles else {
                throw Failure(description: "\(jailD) holds \(dropIns.count) files; at most \(maxFiles) are read")
            }
            guard FileManager.default.fileExists(atPath: base + "/jail.conf") else {
                throw Failure(description: "\(base)/jail.conf does not exist (is this fail2ban's directory?)")
            }
            try config.add(base + "/jail.conf")
            for f in dropIns where f.hasSuffix(".conf") { try config.add(jailD + "/" + f) }
            if FileManager.default.fileExists(atPath: base + "/jail.local") { try config.add(base + "/jail.local") }
            for f in dropIns where f.hasSuffix(".local") { try config.add(jailD + "/" + f) }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "\(error)")
        }
        var jails: [Fail2banJail] = []
        for name in config.sections.keys.sorted() where name != "INCLUDES" && name != "Definition" {
            do {
                let vars = ["__name__": name]
                let enabled = try config.get(name, "enabled", vars: vars)?.lowercased() ?? "false"
                guard ["true", "yes", "1", "on"].contains(enabled.trimmingCharacters(in: .whitespaces)) else {
                    continue
                }
                jails.append(try jail(name, config, vars: vars, base: base))
            } catch let failure as Failure {
                throw failure
            } catch {
                throw Failure(description: "jail '\(name)': \(error)")
            }
            guard jails.count <= maxJails else {
                throw Failure(description: "more than \(maxJails) jails are enabled")
            }
        }
        return jails
    }

    static func jail(
        _ name: String,
        _ config: Fail2banConfig,
        vars: [String: String],
        base: String
    ) throws(Failure)
        -> Fail2banJail
    {
        func value(_ key: String) throws(Failure) -> String? {
            do {
                return try config.get(name, key, vars: vars)?.trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw Failure(description: "jail '\(name)': \(key): \(error)")
            }
        }
        func fail(_ why: String) -> Failure { Failure(description: "jail '\(name)': \(why)") }
        let (filterName, options) = try filterReference(try value("filter") ?? name, jail: name)
        guard !filterName.isEmpty, !filterName.contains("/"), !filterName.hasPrefix(".") else {
            throw fail("filter '\(filterName.prefix(80))' is not a name in filter.d")
        }
        let filterPath = base + "/filter.d/" + filterName + ".conf"
        let filter: Fail2banFilter
        do {
            filter = try Fail2banFilter.load(filterPath, initOptions: options)
            _ = try Fail2banMatcher(filter)
        } catch let e as Fail2banFilter.Failure {
            throw fail("filter.d/\(filterName).conf: \(e.description)")
        } catch let e as Fail2banRegex.Failure {
            throw fail("filter.d/\(filterName).conf: \(e.description)")
        } catch {
            throw fail("filter.d/\(filterName).conf: \(error)")
        }
        let backend = (try value("backend") ?? "auto").lowercased()
        var unit: String?
        var paths: [String] = []
        if backend.hasPrefix("systemd") {
            unit = filter.journalmatch.joined(separator: " ").split(separator: " ")
                .first { $0.hasPrefix("_SYSTEMD_UNIT=") }.map { String($0.dropFirst("_SYSTEMD_UNIT=".count)) }
        } else {
            for word in (try value("logpath") ?? "").split(whereSeparator: { $0 == "\n" || $0 == " " || $0 == "\t" }) {
                let path = String(word)
                if path == "head" || path == "tail" { continue }
                guard path.hasPrefix("/") else { throw fail("logpath '\(path.prefix(200))' is not an absolute path") }
                if path.contains(where: { "*?[".contains($0) }) {
                    let found = glob(path)
                    guard !found.isEmpty else { throw fail("logpath '\(path.prefix(200))' matches no file") }
                    paths += found
                } else {
                    paths.append(path)
                }
            }
            guard !paths.isEmpty else { throw fail("no logpath (and backend '\(backend)' is not systemd)") }
            guard paths.count <= maxFiles else {
                throw fail("logpath names \(paths.count) files; at most \(maxFiles) are followed per jail")
            }
        }
        let maxRetry = try value("maxretry") ?? "5"
        guard let retries = Int(maxRetry), (1...10_000).contains(retries) else {
            throw fail("maxretry '\(maxRetry.prefix(40))' is not a count from 1 to 10000")
        }
        let findTime = try time(try value("findtime") ?? "10m", key: "findtime", jail: name)
        let banText = try value("bantime") ?? "10m"
        let banTime =
            banText.hasPrefix("-") ? Duration.seconds(365 * 86_400) : try time(banText, key: "bantime", jail: name)
        var ignore: [CIDR] = []
        for word in (try value("ignoreip") ?? "").split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\n" }) {
            guard let block = CIDR(String(word)) else {
                throw fail("ignoreip '\(word.prefix(80))' is not an address or block (host names are not resolved)")
            }
            ignore.append(block)
        }
        return Fail2banJail(
            name: name,
            filterPath: filterPath,
            filterOptions: options,
            logPaths: paths,
            backend: backend,
            journalUnit: unit,
            maxRetry: retries,
            findTime: findTime,
            banTime: banTime,
            ignoreIP: ignore
        )
    }

    /// `NAME` or `NAME[key=value, key="value"]`.
    static func filterReference(_ text: String, jail: String) throws(Failure) -> (String, [String: String]) {
        guard let open = text.firstIndex(of: "[") else { return (text, [:]) }
        guard text.hasSuffix("]") else {
            throw Failure(description: "jail '\(jail)': filter '\(text.prefix(80))' has a '[' without its ']'")
        }
        let name = text[..<open].trimmingCharacters(in: .whitespaces)
        var options: [String: String] = [:]
        for part in text[text.index(after: open)..<text.index(before: text.endIndex)].split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { continue }
            var v = kv[1].trimmingCharacters(in: .whitespaces)
            if v.count >= 2, let q = v.first, q == "\"" || q == "'", v.last == q {
                v = String(v.dropFirst().dropLast())
            }
            options[kv[0].trimmingCharacters(in: .whitespaces).lowercased()] = v
        }
        return (name, options)
    }

    /// fail2ban's times: seconds, or numbers with units (`10m`, `1h 30m`, `2d`, `1w`, `1mo`, `1y`).
    static func time(_ text: String, key: String, jail: String) throws(Failure) -> Duration {
        let units: [(String, Double)] = [
            ("seconds", 1), ("second", 1), ("sec", 1), ("s", 1), ("minutes", 60), ("minute", 60), ("min", 60),
            ("months", 2_629_800), ("month", 2_629_800), ("mo", 2_629_800), ("m", 60), ("hours", 3600),
            ("hour", 3600), ("h", 3600), ("days", 86_400), ("day", 86_400), ("d", 86_400), ("weeks", 604_800),
            ("week", 604_800), ("w", 604_800), ("years", 31_557_600), ("year", 31_557_600), ("y", 31_557_600),
        ]
        let bad = Failure(
            description: "jail '\(jail)': \(key) '\(text.prefix(40))' is not a time such as 600, 10m, 1h 30m or 2d"
        )
        var rest = Substring(text.lowercased().trimmingCharacters(in: .whitespaces))
        var total = 0.0
        guard !rest.isEmpty else { throw bad }
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " }
            let digits = rest.prefix { $0.isNumber || $0 == "." }
            guard let n = Double(digits) else { throw bad }
            rest = rest.dropFirst(digits.count).drop { $0 == " " }
            let unit = units.first { rest.hasPrefix($0.0) && !(rest.dropFirst($0.0.count).first?.isLetter ?? false) }
            total += n * (unit?.1 ?? 1)
            rest = rest.dropFirst(unit?.0.count ?? 0)
            if unit == nil, let c = rest.first, !c.isNumber, c != " " { throw bad }
        }
        guard total > 0, total <= 10 * 31_557_600 else { throw bad }
        return .milliseconds(Int64(total * 1000))
    }

    /// The files matching a glob pattern, sorted.
    static func glob(_ pattern: String) -> [String] {
        var g = glob_t()
        defer { globfree(&g) }
        guard Glibc.glob(pattern, 0, nil, &g) == 0 else { return [] }
        return (0..<Int(g.gl_pathc)).compactMap { g.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }
}

#if canImport(Glibc)
import Glibc
#endif
