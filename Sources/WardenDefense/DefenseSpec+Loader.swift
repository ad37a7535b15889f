import Foundation
import WardenCore
import Yams

/// The `defense:` section of the spec, read next to the types it fills: give it to the loader
/// (`SpecLoader(sections: [DefenseSection.self])`) and read it back as `spec.defense`.
public enum DefenseSection: SpecSection {
    public static let key = "defense"

    public static func read(_ node: Node, _ context: SpecContext, _ reader: inout YAMLReader) -> DefenseSpec? {
        readDefense(node, loader: context.loader, baseDir: context.baseDir, &reader)
    }

    static let defenseKeys = [
        "firewall", "allow", "ssh_ports", "watch", "parsers", "scenarios", "threshold", "half_life", "ban",
        "max_bans", "max_addresses", "analyst", "table", "fail2ban",
    ]
    static let scenarioKeys = ["on", "capacity", "leak", "above", "score"]
    static let parserKeys = ["pattern", "signal"]
    static let analystKeys = ["url", "model", "timeout", "concurrency", "token", "ca"]
    static let builtInParsers = BuiltInParser.allCases.map(\.rawValue)

    static func readDefense(_ node: Node, loader: SpecLoader, baseDir: String, _ r: inout YAMLReader) -> DefenseSpec? {
        var d = DefenseSpec()
        if YAMLReader.isNull(node) { return d }
        guard let f = r.mapping(node, key: "defense", allowed: Self.defenseKeys) else { return nil }
        if let n = f["firewall"], let text = r.string(n, key: "defense.firewall") {
            if let fw = DefenseSpec.Firewall(rawValue: text) {
                d.firewall = fw
            } else {
                r.fail(n, "defense.firewall", "found '\(text)'; expected one of nftables, iptables, dry-run")
            }
        }
        if let n = f["table"], let text = r.string(n, key: "defense.table") {
            if text.count <= 20, text.first?.isLetter == true,
                text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
            {
                d.table = text
            } else {
                r.fail(n, "defense.table", "found '\(text)'; expected a word of letters, digits and '_' (at most 20)")
            }
        }
        if let n = f["allow"], let items = r.stringList(n, key: "defense.allow", what: "addresses or CIDR blocks") {
            for (i, text) in items.enumerated() {
                if let block = CIDR(text) {
                    d.allow.append(block)
                } else {
                    r.fail(
                        Self.item(n, i),
                        "defense.allow[\(i)]",
                        "found '\(text)'; expected an address or block such as 10.0.0.0/8, 192.168.1.7 or 2001:db8::/32"
                    )
                }
            }
        }
        if let n = f["ssh_ports"], let items = r.stringList(n, key: "defense.ssh_ports", what: "port numbers") {
            d.sshPorts = []
            for (i, text) in items.enumerated() {
                if let p = Int(text), (1...65535).contains(p) {
                    d.sshPorts.append(p)
                } else {
                    r.fail(
                        Self.item(n, i),
                        "defense.ssh_ports[\(i)]",
                        "found '\(text)'; expected a port from 1 to 65535"
                    )
                }
            }
        }
        if let n = f["threshold"] {
            if let v = Double(n.scalar?.string ?? ""), v > 0, v.isFinite {
                d.threshold = v
            } else {
                r.fail(
                    n,
                    "defense.threshold",
                    "found \(YAMLReader.describe(n)); expected a positive number such as 1.0"
                )
            }
        }
        if let n = f["half_life"], let v = r.duration(n, key: "defense.half_life", min: .seconds(1)) { d.halfLife = v }
        if let n = f["max_bans"], let g = r.countPerWindow(n, key: "defense.max_bans") { d.maxBans = g }
        if let n = f["max_addresses"], let v = r.int(n, key: "defense.max_addresses", range: 100...10_000_000) {
            d.maxAddresses = v
        }
        if let n = f["ban"], let bf = r.mapping(n, key: "defense.ban", allowed: ["first", "repeat", "max"]) {
            if let v = bf["first"], let x = r.duration(v, key: "defense.ban.first", min: .seconds(1)) {
                d.ban.first = x
            }
            if let v = bf["max"],
                let x = r.duration(v, key: "defense.ban.max", min: .seconds(1), max: .seconds(365 * 86_400))
            {
                d.ban.max = x
            }
            if let v = bf["repeat"] {
                let text = (v.scalar?.string ?? "").trimmingCharacters(in: .whitespaces)
                let number = text.hasPrefix("x") ? String(text.dropFirst()) : text
                if let m = Double(number), m >= 1, m <= 1000 {
                    d.ban.multiplier = m
                } else {
                    r.fail(
                        v,
                        "defense.ban.repeat",
                        "found \(YAMLReader.describe(v)); expected a multiplier such as x4 (from x1 to x1000)"
                    )
                }
            }
            if d.ban.max < d.ban.first {
                r.fail(
                    bf["max"] ?? n,
                    "defense.ban.max",
                    "the longest ban must be at least the first (\(DurationFormat.format(d.ban.first)))"
                )
            }
        }
        if let n = f["parsers"], let entries = r.namedEntries(n, key: "defense.parsers", what: "parsers") {
            for (name, keyNode, value) in entries {
                let key = "defense.parsers.\(name)"
                if Self.builtInParsers.contains(name) {
                    r.fail(keyNode, key, "'\(name)' is a built-in parser; give yours another name")
                    continue
                }
                guard let pf = r.mapping(value, key: key, allowed: Self.parserKeys, required: ["pattern", "signal"]),
                    let pn = pf["pattern"], let pattern = r.string(pn, key: "\(key).pattern"),
                    let sn = pf["signal"], let signal = r.string(sn, key: "\(key).signal")
                else { continue }
                if let problem = Self.patternProblem(pattern) {
                    r.fail(pn, "\(key).pattern", problem)
                    continue
                }
                if !Self.isSignalName(signal) {
                    r.fail(sn, "\(key).signal", "found '\(signal)'; a signal is dotted words such as app.login_failed")
                    continue
                }
                d.parsers.append(LogPatternSpec(name: name, pattern: pattern, signal: signal))
            }
        }
        let parserNames = Self.builtInParsers + d.parsers.map(\.name)
        if let n = f["watch"] {
            if case .sequence(let items) = n {
                for (i, item) in items.enumerated() {
                    if let w = readWatch(item, key: "defense.watch[\(i)]", parsers: parserNames, baseDir: baseDir, &r) {
                        d.watches.append(w)
                    }
                }
            } else {
                r.fail(
                    n,
                    "defense.watch",
                    "expected a list such as [connections, { log: /var/log/auth.log, parser: sshd }], found \(YAMLReader.describe(n))"
                )
            }
        }
        let signals = Set(ScenarioSpec.builtInSignals + d.parsers.map(\.signal))
        if let n = f["scenarios"], let entries = r.namedEntries(n, key: "defense.scenarios", what: "scenarios") {
            for (name, _, value) in entries {
                let key = "defense.scenarios.\(name)"
                let builtIn = d.scenarios.firstIndex { $0.name == name }
                if case .scalar = value, let off = r.bool(value, key: key) {
                    if off {
                        r.fail(
                            value,
                            key,
                            "a scenario is switched on by giving its settings; 'off' (false) switches a built-in off"
                        )
                    } else if let builtIn {
                        d.scenarios.remove(at: builtIn)
                    } else {
                        r.fail(value, key, Self.unknownScenario(name, d.scenarios))
                    }
                    continue
                }
                if let s = readScenario(
                    name,
                    value,
                    key: key,
                    base: builtIn.map { d.scenarios[$0] },
                    signals: signals,
                    &r
                ) {
                    if let builtIn { d.scenarios[builtIn] = s } else { d.scenarios.append(s) }
                }
            }
            if d.scenarios.count > DefenseSpec.maxScenarios {
                r.fail(
                    n,
                    "defense.scenarios",
                    "\(d.scenarios.count) scenarios in force; at most \(DefenseSpec.maxScenarios) (switch built-ins off with 'NAME: off')"
                )
            }
        }
        if let n = f["analyst"] {
            d.analyst = readAnalyst(n, loader: loader, baseDir: baseDir, &r)
        }
        if let n = f["fail2ban"] { readFail2ban(n, baseDir: baseDir, into: &d, &r) }
        return d
    }

    /// `fail2ban: /etc/fail2ban`: its enabled jails become watches, parsers and scenarios.
    static func readFail2ban(_ n: Node, baseDir: String, into d: inout DefenseSpec, _ r: inout YAMLReader) {
        guard let text = r.string(n, key: "defense.fail2ban") else { return }
        let directory = text.hasPrefix("/") ? text : baseDir + "/" + text
        let jails: [Fail2banJail]
        do {
            jails = try Fail2banJails.load(directory: directory)
        } catch {
            r.fail(n, "defense.fail2ban", error.description)
            return
        }
        guard !jails.isEmpty else {
            r.fail(n, "defense.fail2ban", "no jail is enabled in \(directory) (enabled = true in jail.local or jail.d)")
            return
        }
        for jail in jails {
            if let taken = d.scenarios.first(where: { $0.name == jail.scenarioName }) {
                r.fail(n, "defense.fail2ban", "jail '\(jail.name)': the scenario '\(taken.name)' exists already")
                return
            }
            d.watches += jail.watches
            d.scenarios.append(jail.scenario(score: d.threshold))
        }
        d.fail2ban = directory
        d.jails = jails
        if d.scenarios.count > DefenseSpec.maxScenarios {
            r.fail(
                n,
                "defense.fail2ban",
                "\(d.scenarios.count) scenarios in force with the jails; at most \(DefenseSpec.maxScenarios)"
            )
        }
    }

    static func unknownScenario(_ name: String, _ scenarios: [ScenarioSpec]) -> String {
        var message = "no built-in scenario '\(name)' to switch off"
        if let guess = DidYouMean.suggest(name, from: scenarios.map(\.name)) { message += "; did you mean '\(guess)'?" }
        return message
    }

    static func item(_ node: Node, _ i: Int) -> Node {
        if case .sequence(let s) = node, i < s.count { return s[i] }
        return node
    }

    static func isSignalName(_ s: String) -> Bool {
        !s.isEmpty && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }

    /// Why a user pattern cannot be used, or nil.
    static func patternProblem(_ pattern: String) -> String? {
        guard pattern.contains("(?<addr>") else {
            return "the pattern needs a named group (?<addr>...) that captures the address"
        }
        do {
            _ = try NSRegularExpression(pattern: pattern)
        } catch {
            return "not a valid regular expression: \(error.localizedDescription)"
        }
        return nil
    }

    static func readWatch(
        _ node: Node,
        key: String,
        parsers: [String],
        baseDir: String,
        _ r: inout YAMLReader
    ) -> WatchSpec? {
        if case .scalar(let s) = node {
            if s.string == "connections" { return .connections(every: .seconds(1)) }
            r.fail(
                node,
                key,
                "found '\(s.string)'; expected connections, { log: PATH, parser: NAME } or { journal: UNIT, parser: NAME }"
            )
            return nil
        }
        guard
            let f = r.mapping(
                node,
                key: key,
                allowed: ["connections", "log", "journal", "parser", "from", "every", "directory"]
            )
        else {
            return nil
        }
        let kinds = ["connections", "log", "journal"].filter { f[$0] != nil }
        guard kinds.count == 1 else {
            r.fail(
                node,
                key,
                kinds.isEmpty
                    ? "expected one of connections, log or journal"
                    : "give only one of \(kinds.joined(separator: ", "))"
            )
            return nil
        }
        func parser() -> String? {
            guard let n = f["parser"] else {
                r.fail(node, key, "missing required key 'parser' (one of \(parsers.joined(separator: ", ")))")
                return nil
            }
            guard let name = r.string(n, key: "\(key).parser") else { return nil }
            guard parsers.contains(name) else {
                var message = "no parser '\(name)'"
                if let guess = DidYouMean.suggest(name, from: parsers) { message += "; did you mean '\(guess)'?" }
                r.fail(n, "\(key).parser", message + " Parsers: \(parsers.joined(separator: ", "))")
                return nil
            }
            return name
        }
        if f["connections"] != nil {
            var every = Duration.seconds(1)
            if let n = f["every"], let v = r.duration(n, key: "\(key).every", min: .milliseconds(50)) { every = v }
            return .connections(every: every)
        }
        if let n = f["log"] {
            guard let path = r.string(n, key: "\(key).log", what: "a file path"), let p = parser() else { return nil }
            var fromStart = false
            if let fn = f["from"], let text = r.string(fn, key: "\(key).from") {
                switch text {
                case "start": fromStart = true
                case "end": fromStart = false
                default: r.fail(fn, "\(key).from", "found '\(text)'; expected start or end")
                }
            }
            return .log(path: SpecLoader.absolute(path, base: baseDir), parser: p, fromStart: fromStart)
        }
        if let n = f["journal"] {
            var unit = YAMLReader.isNull(n) ? nil : r.string(n, key: "\(key).journal", what: "a systemd unit")
            if unit == "*" { unit = nil }
            var directory: String?
            if let dn = f["directory"],
                let d = r.string(dn, key: "\(key).directory", what: "a directory of journal files")
            {
                directory = SpecLoader.absolute(d, base: baseDir)
            }
            guard let p = parser() else { return nil }
            return .journal(unit: unit, parser: p, directory: directory)
        }
        return nil
    }

    static func readScenario(
        _ name: String,
        _ node: Node,
        key: String,
        base: ScenarioSpec?,
        signals: Set<String>,
        _ r: inout YAMLReader
    ) -> ScenarioSpec? {
        guard let f = r.mapping(node, key: key, allowed: Self.scenarioKeys, required: base == nil ? ["on"] : []) else {
            return nil
        }
        var s = base ?? ScenarioSpec(name: name, on: [], kind: .bucket(capacity: 5, leakPerSecond: 5.0 / 600), score: 1)
        let before = r.issues.count
        if let n = f["on"], let list = r.stringList(n, key: "\(key).on", what: "signals") {
            for signal in list where !signals.contains(signal) {
                var message = "no signal '\(signal)'"
                if let guess = DidYouMean.suggest(signal, from: Array(signals)) {
                    message += "; did you mean '\(guess)'?"
                }
                r.fail(n, "\(key).on", message + " Signals: \(signals.sorted().joined(separator: ", "))")
            }
            s.on = list
        }
        if let n = f["score"] {
            if let v = Double(n.scalar?.string ?? ""), v >= 0, v <= 1000 {
                s.score = v
            } else {
                r.fail(n, "\(key).score", "found \(YAMLReader.describe(n)); expected a number from 0 to 1000")
            }
        }
        if f["above"] != nil && (f["capacity"] != nil || f["leak"] != nil) {
            r.fail(node, key, "a scenario is a bucket (capacity, leak) or a gauge (above), not both")
            return nil
        }
        if let n = f["above"] {
            if let v = Double(n.scalar?.string ?? ""), v > 0, v.isFinite {
                s.kind = .gauge(above: v)
            } else {
                r.fail(n, "\(key).above", "found \(YAMLReader.describe(n)); expected a positive number")
            }
        } else if f["capacity"] != nil || f["leak"] != nil {
            var (capacity, leak) = (5.0, 5.0 / 600)
            if case .bucket(let c, let l) = s.kind { (capacity, leak) = (c, l) }
            if let n = f["capacity"] {
                if let v = Double(n.scalar?.string ?? ""), v >= 1, v <= 1_000_000 {
                    capacity = v
                } else {
                    r.fail(n, "\(key).capacity", "found \(YAMLReader.describe(n)); expected a number from 1 to 1000000")
                }
            }
            if let n = f["leak"] {
                if let v = Self.rate(n.scalar?.string ?? "") {
                    leak = v
                } else {
                    r.fail(n, "\(key).leak", "found \(YAMLReader.describe(n)); expected a rate such as 5/10m or 1/s")
                }
            }
            s.kind = .bucket(capacity: capacity, leakPerSecond: leak)
        }
        return r.issues.count == before ? s : nil
    }

    /// `N/DURATION` (or `N/s`): per second.
    static func rate(_ text: String) -> Double? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let n = Double(parts[0].trimmingCharacters(in: .whitespaces)), n > 0, n.isFinite else {
            return nil
        }
        var unit = parts[1].trimmingCharacters(in: .whitespaces)
        if let first = unit.first, first.isLetter { unit = "1" + unit }
        guard let d = DurationFormat.parse(unit), d > .zero else { return nil }
        return n / d.seconds
    }

    static func readAnalyst(_ node: Node, loader: SpecLoader, baseDir: String, _ r: inout YAMLReader) -> AnalystSpec? {
        guard let f = r.mapping(node, key: "defense.analyst", allowed: Self.analystKeys, required: ["url", "model"]),
            let un = f["url"],
            let url = SpecLoader.outboundURL(un, key: "defense.analyst.url", example: "http://127.0.0.1:11434/v1", &r),
            let mn = f["model"], let model = r.string(mn, key: "defense.analyst.model")
        else { return nil }
        var a = AnalystSpec(url: url, model: model)
        if let n = f["ca"] { a.caFile = SpecLoader.caFile(n, key: "defense.analyst.ca", baseDir: baseDir, &r) }
        if let n = f["timeout"],
            let v = r.duration(n, key: "defense.analyst.timeout", min: .milliseconds(10), max: .seconds(60))
        {
            a.timeout = v
        }
        if let n = f["concurrency"], let v = r.int(n, key: "defense.analyst.concurrency", range: 1...64) {
            a.concurrency = v
        }
        if let n = f["token"], let reference = r.string(n, key: "defense.analyst.token") {
            switch loader.resolveSecret(reference) {
            case .success(let secret): a.token = secret
            case .failure(let problem): r.fail(n, "defense.analyst.token", problem.message)
            }
        }
        return a
    }
}

extension Spec {
    /// Active defense; nil when the spec has no `defense:` section (or was not read with
    /// ``DefenseSection``).
    public var defense: DefenseSpec? {
        get { sections[DefenseSection.self] }
        set { sections[DefenseSection.self] = newValue }
    }
}
