import Foundation
import Yams

#if canImport(Glibc)
import Glibc
#endif

/// Reads and validates `warden.yaml`.
///
/// All problems are collected in one pass and thrown together as ``SpecErrors``: YAML syntax,
/// wrong types, unknown keys (with suggestions), out-of-range values, unknown or cyclic
/// dependencies, missing or non-executable programs, and unknown users or groups.
public struct SpecLoader: Sendable {
    /// The environment used to find programs (`PATH`) when a service does not set its own.
    public var environment: [String: String]

    public init(environment: [String: String] = ProcessEnvironment.current()) {
        self.environment = environment
    }

    static let topKeys = [
        "state_dir", "logs", "retention", "stats", "api", "samples", "services", "monitors", "notify", "policies",
        "healing", "defense", "store",
    ]
    static let monitorKeys = [
        "series", "model", "train", "retrain", "threshold", "for", "nu", "standardize", "smoothing", "align", "heal",
    ]

    static let apiKeys = [
        "listen", "anonymous_read", "tokens", "max_body", "rate", "burst", "idle_timeout", "query_timeout",
        "max_query_series", "max_query_points", "auth_failures",
    ]
    static let tokenKeys = ["name", "role", "secret"]
    static let samplesKeys = ["raw", "retention", "max_future", "max_series", "max_labels", "max_label_value"]
    static let serviceKeys = [
        "run", "env", "cwd", "user", "group", "after", "restart", "ready", "health", "watchdog", "stop", "logs",
        "rebuild", "heal",
    ]
    static let stepKeys = ["run", "timeout", "env", "cwd"]
    static let notifyKeys = ["url", "timeout", "attempts"]
    static let policyKeys = [
        "when", "subject", "if", "then", "verify", "settle", "cooldown", "max", "dry_run", "approve",
    ]
    static let healingKeys = ["concurrency", "dry_run", "verify", "settle", "cooldown", "max", "escalate"]
    static let restartKeys = ["policy", "backoff", "jitter", "reset", "give_up"]
    static let probeKinds = ["http", "tcp", "exec"]
    static let healthKeys = probeKinds + ["every", "timeout", "failures", "successes", "grace"]
    static let readyKeys = probeKinds + ["notify", "every", "timeout", "within"]
    static let stopKeys = ["signal", "timeout"]
    static let logKeys = ["max_size", "keep"]

    /// The largest spec file read (a spec for thousands of services is a few megabytes).
    public static let maxFileSize = 16 << 20

    /// Loads the spec at `path`.
    public func load(path: String) throws(SpecErrors) -> Spec {
        let bytes = try Self.readBytes(path)
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let baseDir = ((absolute as NSString).deletingLastPathComponent as NSString).standardizingPath
        return try parse(bytes: bytes, file: path, baseDir: baseDir)
    }

    /// Where a Warden keeps its state and serves its API.
    public struct Location: Sendable, Hashable {
        public var stateDir: String
        public var host: String
        public var port: Int

        public init(stateDir: String, host: String, port: Int) {
            self.stateDir = stateDir
            self.host = host
            self.port = port
        }
    }

    /// Reads only `state_dir` and `api.listen` from the spec at `path`, without validating the rest:
    /// the read commands use it to find a Warden even when the spec has other problems.
    public func locate(path: String) throws(SpecErrors) -> Location {
        let text = String(decoding: try Self.readBytes(path), as: UTF8.self)
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let baseDir = ((absolute as NSString).deletingLastPathComponent as NSString).standardizingPath
        let root = try Self.compose(text, file: path)
        var location = Location(stateDir: Self.defaultStateDir(environment: environment), host: "127.0.0.1", port: 7070)
        if let dir = root?.mapping?["state_dir"]?.scalar?.string {
            location.stateDir = Self.absolute(dir, base: baseDir)
        }
        if let listen = root?.mapping?["api"]?.mapping?["listen"]?.scalar?.string,
            let (host, port) = HostPort.parse(listen)
        {
            location.host = host == "0.0.0.0" ? "127.0.0.1" : (host == "::" ? "::1" : host)
            location.port = port
        }
        return location
    }

    /// Parses the bytes of a spec file (checked to be UTF-8 first, as ``load(path:)`` does).
    public func parse(bytes: [UInt8], file: String, baseDir: String) throws(SpecErrors) -> Spec {
        if let bad = Self.firstInvalidUTF8(bytes) {
            let before = bytes[..<bad]
            throw SpecErrors([
                SpecIssue(
                    file: file,
                    line: before.reduce(1) { $0 + ($1 == 10 ? 1 : 0) },
                    column: bad - (before.lastIndex(of: 10).map { $0 + 1 } ?? 0) + 1,
                    key: "",
                    message:
                        "the byte 0x\(String(bytes[bad], radix: 16, uppercase: true)) is not UTF-8; save the spec as UTF-8"
                )
            ])
        }
        return try parse(String(decoding: bytes, as: UTF8.self), file: file, baseDir: baseDir)
    }

    /// Parses spec text; relative paths resolve against `baseDir`.
    public func parse(_ text: String, file: String, baseDir: String) throws(SpecErrors) -> Spec {
        var reader = YAMLReader(file: file)
        let root = try Self.compose(text, file: file)
        guard let root, !YAMLReader.isNull(root) else {
            throw SpecErrors([
                SpecIssue(
                    file: file,
                    line: 0,
                    column: 0,
                    key: "",
                    message: "the spec is empty; it needs at least a 'services' mapping"
                )
            ])
        }
        guard let top = reader.mapping(root, key: "", allowed: Self.topKeys) else { throw SpecErrors(reader.issues) }

        var spec = Spec(path: file, stateDir: Self.defaultStateDir(environment: environment))
        if let node = top["state_dir"], let dir = reader.string(node, key: "state_dir", what: "a directory path") {
            spec.stateDir = Self.absolute(dir, base: baseDir)
        }
        if let node = top["logs"] { spec.logs = readLogs(node, key: "logs", defaults: spec.logs, &reader) }
        if let node = top["retention"], let f = reader.mapping(node, key: "retention", allowed: ["events"]) {
            if let n = f["events"], let d = reader.duration(n, key: "retention.events", min: .seconds(60)) {
                spec.retention.events = d
            }
        }
        if let node = top["stats"], let f = reader.mapping(node, key: "stats", allowed: ["every"]) {
            if let n = f["every"], let d = reader.duration(n, key: "stats.every", min: .milliseconds(100)) {
                spec.statsEvery = d
            }
        }
        if let node = top["api"] { spec.api = readAPI(node, &reader) }
        if let node = top["store"], let f = reader.mapping(node, key: "store", allowed: ["durability"]),
            let n = f["durability"], let text = reader.string(n, key: "store.durability")
        {
            if let d = Spec.Durability(rawValue: text) {
                spec.durability = d
            } else {
                reader.fail(n, "store.durability", "found '\(text)'; expected normal or full")
            }
        }
        if let node = top["samples"], let f = reader.mapping(node, key: "samples", allowed: Self.samplesKeys) {
            if let n = f["raw"], let d = reader.duration(n, key: "samples.raw", min: .seconds(60)) {
                spec.samples.raw = d
            }
            if let n = f["retention"], let d = reader.duration(n, key: "samples.retention", min: .seconds(60)) {
                spec.samples.retention = d
            }
            if let n = f["max_future"], let d = reader.duration(n, key: "samples.max_future") {
                spec.samples.maxFuture = d
            }
            if let n = f["max_series"], let v = reader.int(n, key: "samples.max_series", range: 1...100_000_000) {
                spec.samples.maxSeries = v
            }
            if let n = f["max_labels"], let v = reader.int(n, key: "samples.max_labels", range: 0...256) {
                spec.samples.maxLabels = v
            }
            if let n = f["max_label_value"],
                let v = reader.byteSize(n, key: "samples.max_label_value", min: 1, max: 65536)
            {
                spec.samples.maxLabelValue = Int(v)
            }
            if spec.samples.retention < spec.samples.raw {
                reader.fail(
                    f["retention"] ?? node,
                    "samples.retention",
                    "rollups must be kept at least as long as raw samples (\(DurationFormat.format(spec.samples.raw)))"
                )
            }
        }
        var serviceKeyNodes: [String: Node] = [:]
        var declared: [(name: String, after: [String], node: Node?)] = []
        if let node = top["services"], let entries = reader.namedEntries(node, key: "services", what: "services") {
            for (name, keyNode, value) in entries {
                let key = "services.\(name)"
                if !Self.isValidName(name) {
                    reader.fail(
                        keyNode,
                        key,
                        "'\(name)' is not a valid service name; use letters, digits, '-', '_' and '.' (at most 64), starting with a letter or digit"
                    )
                    continue
                }
                serviceKeyNodes[name] = keyNode
                var probe = YAMLReader(file: file)
                let afterNode = value.mapping?["after"]
                declared.append((name, afterNode.flatMap { probe.stringList($0, key: "", what: "") } ?? [], afterNode))
                if let service = readService(
                    name: name,
                    node: value,
                    key: key,
                    baseDir: baseDir,
                    logs: spec.logs,
                    &reader
                ) {
                    spec.services.append(service)
                }
            }
        }
        checkDependencies(declared, &reader)
        if let node = top["monitors"], let entries = reader.namedEntries(node, key: "monitors", what: "monitors") {
            for (name, keyNode, value) in entries {
                guard Self.isValidName(name) else {
                    reader.fail(
                        keyNode,
                        "monitors.\(name)",
                        "'\(name)' is not a valid monitor name; use letters, digits, '-', '_' and '.'"
                    )
                    continue
                }
                if let monitor = readMonitor(name: name, node: value, services: declared.map(\.name), &reader) {
                    spec.monitors.append(monitor)
                }
            }
        }
        readHealing(top, &spec, baseDir: baseDir, &reader)
        if let node = top["defense"] { spec.defense = readDefense(node, baseDir: baseDir, &reader) }

        if !reader.issues.isEmpty {
            throw SpecErrors(reader.issues.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
        }
        return spec
    }

    // MARK: - Services

    private func readService(
        name: String,
        node: Node,
        key: String,
        baseDir: String,
        logs: LogPolicy,
        _ r: inout YAMLReader
    ) -> ServiceSpec? {
        guard let f = r.mapping(node, key: key, allowed: Self.serviceKeys, required: ["run"]) else { return nil }
        let before = r.issues.count

        var env: [String: String] = [:]
        if let n = f["env"] {
            if case .mapping(let m) = n {
                for (k, v) in m {
                    guard let name = k.scalar?.string, Self.isValidEnvName(name) else {
                        r.fail(
                            k,
                            "\(key).env",
                            "found \(YAMLReader.describe(k)); environment names are letters, digits and '_', not starting with a digit"
                        )
                        continue
                    }
                    if case .scalar(let s) = v {
                        env[name] = YAMLReader.isNull(v) ? "" : s.string
                    } else {
                        r.fail(v, "\(key).env.\(name)", "expected a string value, found \(YAMLReader.describe(v))")
                    }
                }
            } else if !YAMLReader.isNull(n) {
                r.fail(n, "\(key).env", "expected a mapping of NAME: value, found \(YAMLReader.describe(n))")
            }
        }

        var cwd = baseDir
        if let n = f["cwd"], let dir = r.string(n, key: "\(key).cwd", what: "a directory path") {
            cwd = Self.absolute(dir, base: baseDir)
            var isDir: ObjCBool = false
            if !FileManager.default.fileExists(atPath: cwd, isDirectory: &isDir) || !isDir.boolValue {
                r.fail(n, "\(key).cwd", "directory '\(cwd)' does not exist; create it or fix the path")
            }
        }

        var run: [String] = []
        var executable = ""
        if let n = f["run"], let argv = r.command(n, key: "\(key).run") {
            run = argv
            if argv[0].contains("${outputs.") {
                executable = argv[0]  // resolved after the rebuild that defines it
            } else {
                switch Executables.resolve(argv[0], cwd: cwd, path: env["PATH"] ?? environment["PATH"]) {
                case .success(let path): executable = path
                case .failure(let e): r.fail(n, "\(key).run", e.message)
                }
            }
        }

        var user: String?
        var group: String?
        if let n = f["user"], let u = r.string(n, key: "\(key).user", what: "a user name or uid") {
            if Accounts.user(u) == nil {
                r.fail(n, "\(key).user", "no user named '\(u)' on this host")
            } else if getuid() != 0, Accounts.user(u)?.uid != getuid() {
                r.fail(n, "\(key).user", "running as '\(u)' needs Warden to run as root (it runs as uid \(getuid()))")
            }
            user = u
        }
        if let n = f["group"], let g = r.string(n, key: "\(key).group", what: "a group name or gid") {
            if Accounts.group(g) == nil {
                r.fail(n, "\(key).group", "no group named '\(g)' on this host")
            } else if getuid() != 0, Accounts.group(g) != getgid() {
                r.fail(n, "\(key).group", "running as group '\(g)' needs Warden to run as root")
            }
            group = g
        }

        var after: [String] = []
        if let n = f["after"], let names = r.stringList(n, key: "\(key).after", what: "service names") {
            after = names
        }

        var restart = RestartSpec()
        if let n = f["restart"] { restart = readRestart(n, key: "\(key).restart", &r) }

        var ready: ReadySpec?
        if let n = f["ready"] { ready = readReady(n, key: "\(key).ready", cwd: cwd, env: env, &r) }

        var health: ProbeSpec?
        if let n = f["health"], let hf = r.mapping(n, key: "\(key).health", allowed: Self.healthKeys) {
            health = readProbe(
                hf,
                key: "\(key).health",
                cwd: cwd,
                env: env,
                defaults: ProbeSpec(check: .tcp(host: "", port: 1)),
                &r
            )
        }

        var watchdog: Duration?
        if let n = f["watchdog"] {
            watchdog = r.duration(n, key: "\(key).watchdog", min: .milliseconds(10))
        }

        var stop = StopSpec()
        if let n = f["stop"], let sf = r.mapping(n, key: "\(key).stop", allowed: Self.stopKeys) {
            if let s = sf["signal"] {
                if let text = r.string(s, key: "\(key).stop.signal", what: "a signal name"),
                    let sig = Signals.parse(text)
                {
                    stop.signal = sig
                } else if case .scalar = s {
                    r.fail(
                        s,
                        "\(key).stop.signal",
                        "found \(YAMLReader.describe(s)); expected a signal such as SIGTERM, SIGINT, SIGQUIT or SIGHUP"
                    )
                }
            }
            if let t = sf["timeout"], let d = r.duration(t, key: "\(key).stop.timeout", max: .seconds(3600)) {
                stop.timeout = d
            }
        }

        var serviceLogs = logs
        if let n = f["logs"] { serviceLogs = readLogs(n, key: "\(key).logs", defaults: logs, &r) }

        var rebuild: [CommandStep] = []
        if let n = f["rebuild"] {
            if case .sequence(let items) = n {
                for (i, item) in items.enumerated() {
                    if let step = readStep(item, key: "\(key).rebuild[\(i)]", cwd: cwd, env: env, &r) {
                        rebuild.append(step)
                    }
                }
            } else {
                r.fail(n, "\(key).rebuild", "expected a list of commands, found \(YAMLReader.describe(n))")
            }
        }
        guard r.issues.count == before else { return nil }
        var service = ServiceSpec(
            name: name,
            run: run,
            executable: executable,
            env: env,
            cwd: cwd,
            user: user,
            group: group,
            after: after,
            restart: restart,
            ready: ready,
            health: health,
            watchdog: watchdog,
            stop: stop,
            logs: serviceLogs
        )
        service.rebuild = rebuild
        return service
    }

    /// A command step: a command (list or string), or a mapping with run, timeout, env and cwd.
    func readStep(_ node: Node, key: String, cwd: String, env: [String: String], _ r: inout YAMLReader) -> CommandStep?
    {
        var step = CommandStep(run: [], cwd: cwd)
        var commandNode = node
        if case .mapping = node {
            // A missing `run` is reported by `mapping`, which still returns what there is.
            guard let f = r.mapping(node, key: key, allowed: Self.stepKeys, required: ["run"]), let run = f["run"]
            else { return nil }
            commandNode = run
            if let n = f["timeout"], let d = r.duration(n, key: "\(key).timeout", min: .milliseconds(1)) {
                step.timeout = d
            }
            if let n = f["cwd"], let dir = r.string(n, key: "\(key).cwd", what: "a directory path") {
                step.cwd = Self.absolute(dir, base: cwd)
            }
            if let n = f["env"], case .mapping(let m) = n {
                for (k, v) in m {
                    if let name = k.scalar?.string, let value = v.scalar?.string { step.env[name] = value }
                }
            }
        }
        guard let argv = r.command(commandNode, key: key) else { return nil }
        step.run = argv
        if !argv[0].contains("${") {
            if case .failure(let e) = Executables.resolve(
                argv[0],
                cwd: step.cwd,
                path: step.env["PATH"] ?? env["PATH"] ?? environment["PATH"]
            ) {
                r.fail(commandNode, key, e.message)
                return nil
            }
        }
        return step
    }

    private func readRestart(_ node: Node, key: String, _ r: inout YAMLReader) -> RestartSpec {
        var spec = RestartSpec()
        let policies = RestartSpec.Policy.allCases.map(\.rawValue)
        func policy(_ n: Node, _ k: String) {
            guard let text = r.string(n, key: k, what: "one of \(policies.joined(separator: ", "))") else { return }
            if let p = RestartSpec.Policy(rawValue: text) {
                spec.policy = p
            } else {
                var message = "found '\(text)'; expected one of \(policies.joined(separator: ", "))"
                if let guess = DidYouMean.suggest(text, from: policies) { message += " (did you mean '\(guess)'?)" }
                r.fail(n, k, message)
            }
        }
        if case .scalar = node {
            policy(node, key)
            return spec
        }
        guard let f = r.mapping(node, key: key, allowed: Self.restartKeys) else { return spec }
        if let n = f["policy"] { policy(n, "\(key).policy") }
        if let n = f["backoff"] {
            let text = n.scalar?.string ?? ""
            let parts = text.components(separatedBy: "..")
            let expected = "a range such as 200ms..30s (first delay..longest delay) or one duration"
            if case .scalar = n, parts.count <= 2, let lo = DurationFormat.parse(parts[0]),
                let hi = parts.count == 2 ? DurationFormat.parse(parts[1]) : lo
            {
                if hi < lo {
                    r.fail(n, "\(key).backoff", "found \(text); the longest delay must not be shorter than the first")
                } else {
                    spec.backoffMin = lo
                    spec.backoffMax = hi
                }
            } else {
                r.fail(n, "\(key).backoff", "found \(YAMLReader.describe(n)); expected \(expected)")
            }
        }
        if let n = f["jitter"], let j = r.fraction(n, key: "\(key).jitter") { spec.jitter = j }
        if let n = f["reset"], let d = r.duration(n, key: "\(key).reset") { spec.resetAfter = d }
        if let n = f["give_up"] {
            let text = (n.scalar?.string ?? "").trimmingCharacters(in: .whitespaces)
            let words = text.split(separator: " ").map(String.init)
            if text == "never" || YAMLReader.isNull(n) {
                spec.giveUp = nil
            } else if case .scalar = n, words.count == 3, words[1] == "in", let count = Int(words[0]), count >= 1,
                let window = DurationFormat.parse(words[2]), window > .zero
            {
                spec.giveUp = GiveUp(count: count, window: window)
            } else {
                r.fail(
                    n,
                    "\(key).give_up",
                    "found \(YAMLReader.describe(n)); expected 'N in WINDOW' such as '5 in 60s', or 'never'"
                )
            }
        }
        return spec
    }

    private func readReady(
        _ node: Node,
        key: String,
        cwd: String,
        env: [String: String],
        _ r: inout YAMLReader
    ) -> ReadySpec? {
        if case .scalar(let s) = node {
            if s.string == "notify" { return ReadySpec(kind: .notify) }
            r.fail(
                node,
                key,
                "found \(YAMLReader.describe(node)); expected 'notify' or a mapping with one of notify, http, tcp, exec"
            )
            return nil
        }
        guard let f = r.mapping(node, key: key, allowed: Self.readyKeys) else { return nil }
        var within = Duration.seconds(60)
        if let n = f["within"], let d = r.duration(n, key: "\(key).within", min: .milliseconds(1)) { within = d }
        if let n = f["notify"] {
            if r.bool(n, key: "\(key).notify") == true {
                if let other = Self.probeKinds.first(where: { f[$0] != nil }) {
                    r.fail(n, key, "use either notify or \(other), not both")
                    return nil
                }
                return ReadySpec(kind: .notify, within: within)
            }
        }
        let defaults = ProbeSpec(
            check: .tcp(host: "", port: 1),
            every: .milliseconds(100),
            timeout: .seconds(1),
            failures: 1,
            successes: 1
        )
        guard let probe = readProbe(f, key: key, cwd: cwd, env: env, defaults: defaults, &r) else { return nil }
        return ReadySpec(kind: .probe(probe), within: within)
    }

    private func readProbe(
        _ f: YAMLReader.Fields,
        key: String,
        cwd: String,
        env: [String: String],
        defaults: ProbeSpec,
        _ r: inout YAMLReader
    ) -> ProbeSpec? {
        let kinds = Self.probeKinds.filter { f[$0] != nil }
        guard kinds.count == 1 else {
            r.fail(
                f.node,
                key,
                kinds.isEmpty
                    ? "missing the check: give one of http, tcp or exec"
                    : "give one check, not \(kinds.joined(separator: " and "))"
            )
            return nil
        }
        var probe = defaults
        let kind = kinds[0]
        guard let n = f[kind] else { return nil }
        var valid = true
        switch kind {
        case "http":
            if let text = r.string(n, key: "\(key).http", what: "a URL") {
                if text.contains("${outputs.") {
                    probe.template = ("http", text)
                } else if let target = HTTPTarget.parse(text) {
                    probe.check = .http(target)
                } else {
                    r.fail(
                        n,
                        "\(key).http",
                        "found '\(text)'; expected a URL such as http://127.0.0.1:9000/healthz (https is not supported)"
                    )
                    valid = false
                }
            } else {
                valid = false
            }
        case "tcp":
            if let text = r.string(n, key: "\(key).tcp", what: "host:port") {
                if text.contains("${outputs.") {
                    probe.template = ("tcp", text)
                } else if let (host, port) = HostPort.parse(text) {
                    probe.check = .tcp(host: host, port: port)
                } else {
                    r.fail(n, "\(key).tcp", "found '\(text)'; expected host:port such as 127.0.0.1:5432 or [::1]:5432")
                    valid = false
                }
            } else {
                valid = false
            }
        default:
            if let argv = r.command(n, key: "\(key).exec") {
                switch Executables.resolve(argv[0], cwd: cwd, path: env["PATH"] ?? environment["PATH"]) {
                case .success(let path): probe.check = .exec(command: argv, executable: path)
                case .failure(let e):
                    r.fail(n, "\(key).exec", e.message)
                    valid = false
                }
            } else {
                valid = false
            }
        }
        if let n = f["every"], let d = r.duration(n, key: "\(key).every", min: .milliseconds(10)) { probe.every = d }
        if let n = f["timeout"], let d = r.duration(n, key: "\(key).timeout", min: .milliseconds(1)) {
            probe.timeout = d
        }
        if let n = f["failures"], let v = r.int(n, key: "\(key).failures", range: 1...1000) { probe.failures = v }
        if let n = f["successes"], let v = r.int(n, key: "\(key).successes", range: 1...1000) { probe.successes = v }
        if let n = f["grace"], let d = r.duration(n, key: "\(key).grace") {
            probe.grace = d
            probe.graceEndsOnPass = false
        }
        return valid ? probe : nil
    }

    private func readLogs(_ node: Node, key: String, defaults: LogPolicy, _ r: inout YAMLReader) -> LogPolicy {
        var logs = defaults
        guard let f = r.mapping(node, key: key, allowed: Self.logKeys) else { return logs }
        if let n = f["max_size"], let v = r.byteSize(n, key: "\(key).max_size", min: 4096) { logs.maxSize = v }
        if let n = f["keep"], let v = r.int(n, key: "\(key).keep", range: 0...100) { logs.keep = v }
        return logs
    }

    // MARK: - Healing

    func readHealing(_ top: YAMLReader.Fields, _ spec: inout Spec, baseDir: String, _ r: inout YAMLReader) {
        if let node = top["notify"], let entries = r.namedEntries(node, key: "notify", what: "notification targets") {
            for (name, _, value) in entries {
                let key = "notify.\(name)"
                guard let f = r.mapping(value, key: key, allowed: Self.notifyKeys, required: ["url"]) else { continue }
                var target = NotifySpec(name: name, url: "")
                if let n = f["url"], let url = r.string(n, key: "\(key).url", what: "an http:// URL") {
                    if HTTPTarget.parse(url) == nil {
                        r.fail(
                            n,
                            "\(key).url",
                            "found '\(url)'; expected an http:// URL such as http://127.0.0.1:9999/hook"
                        )
                    }
                    target.url = url
                }
                if let n = f["timeout"], let d = r.duration(n, key: "\(key).timeout", min: .milliseconds(1)) {
                    target.timeout = d
                }
                if let n = f["attempts"], let v = r.int(n, key: "\(key).attempts", range: 1...100) {
                    target.attempts = v
                }
                spec.notify.append(target)
            }
        }
        if let node = top["healing"], let f = r.mapping(node, key: "healing", allowed: Self.healingKeys) {
            if let n = f["concurrency"], let v = r.int(n, key: "healing.concurrency", range: 1...1000) {
                spec.healing.concurrency = v
            }
            if let n = f["dry_run"], let b = r.bool(n, key: "healing.dry_run") { spec.healing.dryRun = b }
            if let n = f["verify"], let d = r.duration(n, key: "healing.verify", min: .milliseconds(1)) {
                spec.healing.verify = d
            }
            if let n = f["settle"], let d = r.duration(n, key: "healing.settle") { spec.healing.settle = d }
            if let n = f["cooldown"], let d = r.duration(n, key: "healing.cooldown") { spec.healing.cooldown = d }
            if let n = f["max"], let g = readCount(n, key: "healing.max", &r) { spec.healing.max = g }
            if let n = f["escalate"], let name = r.string(n, key: "healing.escalate", what: "a notify target") {
                if spec.notify.contains(where: { $0.name == name }) {
                    spec.healing.escalate = name
                } else {
                    r.fail(n, "healing.escalate", unknown("notify target", name, spec.notify.map(\.name)))
                }
            }
        }
        let h = spec.healing
        // `heal:` of services: their failures run the ladder.
        if let services = top["services"]?.mapping {
            // By name once: a mapping's own lookup is a scan, and this runs per service.
            let byName = Self.byName(services)
            for (i, s) in spec.services.enumerated() {
                guard let node = byName[s.name]?.mapping?["heal"] else { continue }
                let key = "services.\(s.name).heal"
                guard let ladder = readLadder(node, key: key, defaultTarget: s.name, spec: spec, baseDir: s.cwd, &r)
                else { continue }
                spec.services[i].heal = ladder
                spec.policies.append(
                    PolicySpec(
                        name: "service:\(s.name)",
                        when: [
                            EventType.serviceExited, EventType.probeFailed, EventType.watchdogMissed,
                            EventType.serviceFailed,
                            EventType.serviceSpawnFailed,
                        ],
                        subject: s.name,
                        conditions: [EventCondition(field: "payload.expected", op: .ne, value: "true")],
                        then: ladder,
                        verify: h.verify,
                        settle: h.settle,
                        cooldown: h.cooldown,
                        max: h.max,
                        dryRun: h.dryRun
                    )
                )
            }
        }
        // `heal:` of monitors: their alerts run the ladder.
        if let monitors = top["monitors"]?.mapping {
            let byName = Self.byName(monitors)
            for m in spec.monitors {
                guard let node = byName[m.name]?.mapping?["heal"] else { continue }
                let key = "monitors.\(m.name).heal"
                guard let ladder = readLadder(node, key: key, defaultTarget: nil, spec: spec, baseDir: baseDir, &r)
                else { continue }
                spec.policies.append(
                    PolicySpec(
                        name: "monitor:\(m.name)",
                        when: ["monitor.alert"],
                        subject: m.name,
                        then: ladder,
                        verify: h.verify,
                        settle: h.settle,
                        cooldown: h.cooldown,
                        max: h.max,
                        dryRun: h.dryRun
                    )
                )
            }
        }
        // The `policies:` section.
        if let node = top["policies"], let entries = r.namedEntries(node, key: "policies", what: "policies") {
            for (name, _, value) in entries {
                let key = "policies.\(name)"
                guard let f = r.mapping(value, key: key, allowed: Self.policyKeys, required: ["when", "then"]) else {
                    continue
                }
                var policy = PolicySpec(
                    name: name,
                    when: [],
                    then: [],
                    verify: h.verify,
                    settle: h.settle,
                    cooldown: h.cooldown,
                    max: h.max,
                    dryRun: h.dryRun
                )
                if let n = f["when"], let types = r.stringList(n, key: "\(key).when", what: "event types") {
                    for t in types
                    where t.isEmpty || !t.allSatisfy({ $0.isLetter || $0.isNumber || "._-*".contains($0) }) {
                        r.fail(
                            n,
                            "\(key).when",
                            "found '\(t)'; an event type is dotted words such as service.failed or probe.*"
                        )
                    }
                    policy.when = types
                }
                if let n = f["subject"], let s = r.string(n, key: "\(key).subject") { policy.subject = s }
                if let n = f["if"] {
                    if case .mapping(let m) = n {
                        for (k, v) in m {
                            guard let field = k.scalar?.string, let text = v.scalar?.string else {
                                r.fail(
                                    k,
                                    "\(key).if",
                                    "expected FIELD: \"OP VALUE\" such as payload.failures: \">= 3\""
                                )
                                continue
                            }
                            if !(["type", "subject", "source"].contains(field) || field.hasPrefix("payload.")) {
                                r.fail(
                                    k,
                                    "\(key).if.\(field)",
                                    "conditions are on type, subject, source or payload.FIELD"
                                )
                                continue
                            }
                            policy.conditions.append(Self.condition(field: field, text: text))
                        }
                    } else {
                        r.fail(
                            n,
                            "\(key).if",
                            "expected a mapping of FIELD: \"OP VALUE\", found \(YAMLReader.describe(n))"
                        )
                    }
                }
                if let n = f["then"],
                    let ladder = readLadder(
                        n,
                        key: "\(key).then",
                        defaultTarget: policy.subject,
                        spec: spec,
                        baseDir: baseDir,
                        &r
                    )
                {
                    policy.then = ladder
                }
                if let n = f["verify"], let d = r.duration(n, key: "\(key).verify", min: .milliseconds(1)) {
                    policy.verify = d
                }
                if let n = f["settle"], let d = r.duration(n, key: "\(key).settle") { policy.settle = d }
                if let n = f["cooldown"], let d = r.duration(n, key: "\(key).cooldown") { policy.cooldown = d }
                if let n = f["max"], let g = readCount(n, key: "\(key).max", &r) { policy.max = g }
                if let n = f["dry_run"], let b = r.bool(n, key: "\(key).dry_run") { policy.dryRun = b || h.dryRun }
                if let n = f["approve"], let b = r.bool(n, key: "\(key).approve") { policy.approve = b }
                if !policy.then.isEmpty { spec.policies.append(policy) }
            }
        }
    }

    /// `OP VALUE` (or a bare value meaning equality).
    static func condition(field: String, text: String) -> EventCondition {
        let t = text.trimmingCharacters(in: .whitespaces)
        for op in [EventCondition.Op.ge, .le, .ne, .eq, .gt, .lt, .contains] where t.hasPrefix(op.rawValue) {
            let value = String(t.dropFirst(op.rawValue.count)).trimmingCharacters(in: .whitespaces)
            return EventCondition(field: field, op: op, value: value)
        }
        return EventCondition(field: field, op: .eq, value: t)
    }

    /// "N in WINDOW".
    func readCount(_ n: Node, key: String, _ r: inout YAMLReader) -> GiveUp? {
        let words = (n.scalar?.string ?? "").split(separator: " ").map(String.init)
        if words.count == 3, words[1] == "in", let c = Int(words[0]), c >= 1, let w = DurationFormat.parse(words[2]),
            w > .zero
        {
            return GiveUp(count: c, window: w)
        }
        r.fail(n, key, "found \(YAMLReader.describe(n)); expected 'N in WINDOW' such as '3 in 1h'")
        return nil
    }

    /// A ladder: one action or a list of them.
    func readLadder(
        _ node: Node,
        key: String,
        defaultTarget: String?,
        spec: Spec,
        baseDir: String,
        _ r: inout YAMLReader
    ) -> [HealAction]? {
        guard let texts = r.stringList(node, key: key, what: "actions such as 'restart api'") else { return nil }
        if texts.isEmpty {
            r.fail(node, key, "the ladder is empty; give at least one action such as 'restart api'")
            return nil
        }
        var ladder: [HealAction] = []
        let before = r.issues.count
        for (i, text) in texts.enumerated() {
            let k = texts.count == 1 ? key : "\(key)[\(i)]"
            if let action = parseAction(
                text,
                key: k,
                node: node,
                defaultTarget: defaultTarget,
                spec: spec,
                baseDir: baseDir,
                &r
            ) {
                ladder.append(action)
            }
        }
        return r.issues.count == before ? ladder : nil
    }

    func parseAction(
        _ text: String,
        key: String,
        node: Node,
        defaultTarget: String?,
        spec: Spec,
        baseDir: String,
        _ r: inout YAMLReader
    ) -> HealAction? {
        guard case .success(let words) = CommandLineSplitter.split(text), let verb = words.first else {
            r.fail(
                node,
                key,
                "found '\(text)'; expected an action such as 'restart api', 'rebuild api', 'exec ./runbook.sh' or 'notify ops'"
            )
            return nil
        }
        let services = spec.services.map(\.name)
        func target() -> String? {
            guard let name = words.count > 1 ? words[1] : defaultTarget else {
                r.fail(node, key, "'\(verb)' needs a service: '\(verb) NAME'")
                return nil
            }
            guard services.contains(name) else {
                r.fail(node, key, unknown("service", name, services))
                return nil
            }
            return name
        }
        switch verb {
        case "restart": return target().map(HealAction.restart)
        case "stop": return target().map(HealAction.stop)
        case "start": return target().map(HealAction.start)
        case "rebuild":
            guard let name = target() else { return nil }
            if spec.service(named: name)?.rebuild.isEmpty ?? true {
                r.fail(node, key, "service '\(name)' has no rebuild steps; add 'rebuild:' to it")
                return nil
            }
            return .rebuild(name)
        case "exec":
            guard words.count > 1 else {
                r.fail(node, key, "'exec' needs a command: 'exec ./runbook.sh ARGS'")
                return nil
            }
            let argv = Array(words.dropFirst())
            if !argv[0].contains("${"),
                case .failure(let e) = Executables.resolve(argv[0], cwd: baseDir, path: environment["PATH"])
            {
                r.fail(node, key, e.message)
                return nil
            }
            return .exec(CommandStep(run: argv, timeout: .seconds(300), cwd: baseDir))
        case "notify":
            guard words.count > 1 else {
                r.fail(node, key, "'notify' needs a target from the notify: section")
                return nil
            }
            guard spec.notify.contains(where: { $0.name == words[1] }) else {
                r.fail(node, key, unknown("notify target", words[1], spec.notify.map(\.name)))
                return nil
            }
            return .notify(words[1])
        default:
            var message = "found '\(verb)'; an action starts with one of \(HealAction.verbs.joined(separator: ", "))"
            if let guess = DidYouMean.suggest(verb, from: HealAction.verbs) { message += " (did you mean '\(guess)'?)" }
            r.fail(node, key, message)
            return nil
        }
    }

    func unknown(_ what: String, _ name: String, _ known: [String]) -> String {
        var message = "no \(what) named '\(name)'"
        if let guess = DidYouMean.suggest(name, from: known) { message += "; did you mean '\(guess)'?" }
        return message
    }

    // MARK: - Monitors

    private func readMonitor(name: String, node: Node, services: [String], _ r: inout YAMLReader) -> MonitorSpec? {
        let key = "monitors.\(name)"
        guard let f = r.mapping(node, key: key, allowed: Self.monitorKeys, required: ["series"]) else { return nil }
        let before = r.issues.count
        var monitor = MonitorSpec(name: name, series: [])
        if let n = f["series"], let list = r.stringList(n, key: "\(key).series", what: "series names") {
            if list.isEmpty { r.fail(n, "\(key).series", "a monitor needs at least one series") }
            for (i, text) in list.enumerated() {
                if let selector = SeriesSelector.parse(text) {
                    monitor.series.append(selector)
                } else {
                    r.fail(
                        n,
                        "\(key).series[\(i)]",
                        "found '\(text)'; expected a series name such as vitals.spo2 or vitals.spo2{crew=\"a\"}"
                    )
                }
            }
        }
        if let n = f["model"], let model = r.string(n, key: "\(key).model", what: "a model name") {
            if MonitorSpec.models.contains(model) {
                monitor.model = model
            } else {
                var message = "found '\(model)'; expected one of \(MonitorSpec.models.joined(separator: ", "))"
                if let guess = DidYouMean.suggest(model, from: MonitorSpec.models) {
                    message += " (did you mean '\(guess)'?)"
                }
                r.fail(n, "\(key).model", message)
            }
        }
        if let n = f["train"], let d = r.duration(n, key: "\(key).train") { monitor.train = d }
        if let n = f["retrain"], let d = r.duration(n, key: "\(key).retrain", min: .seconds(1)) { monitor.retrain = d }
        if let n = f["threshold"], let v = r.fraction(n, key: "\(key).threshold") { monitor.threshold = v }
        if let n = f["for"], let d = r.duration(n, key: "\(key).for") { monitor.holdFor = d }
        if let n = f["nu"], let v = r.fraction(n, key: "\(key).nu") {
            if v > 0 { monitor.nu = v } else { r.fail(n, "\(key).nu", "found 0; nu must be above 0 and at most 1") }
        }
        if let n = f["standardize"], let b = r.bool(n, key: "\(key).standardize") { monitor.standardize = b }
        if let n = f["smoothing"], let v = r.int(n, key: "\(key).smoothing", range: 1...1000) { monitor.smoothing = v }
        if let n = f["align"], let d = r.duration(n, key: "\(key).align", min: .milliseconds(1)) { monitor.align = d }
        if let n = f["heal"], let list = r.stringList(n, key: "\(key).heal", what: "actions such as 'rebuild api'") {
            monitor.heal = list.joined(separator: ", ")
        }
        return r.issues.count == before ? monitor : nil
    }

    // MARK: - API

    private func readAPI(_ node: Node, _ r: inout YAMLReader) -> APISpec {
        var api = APISpec()
        guard let f = r.mapping(node, key: "api", allowed: Self.apiKeys) else { return api }
        if let n = f["listen"], let text = r.string(n, key: "api.listen", what: "host:port") {
            if let (host, port) = HostPort.parse(text) {
                api.host = host
                api.port = port
            } else {
                r.fail(n, "api.listen", "found '\(text)'; expected host:port such as 127.0.0.1:7070")
            }
        }
        if let n = f["anonymous_read"], let b = r.bool(n, key: "api.anonymous_read") { api.anonymousRead = b }
        if let n = f["max_body"], let v = r.byteSize(n, key: "api.max_body", min: 1024) { api.maxBody = Int(v) }
        if let n = f["rate"] {
            let text = (n.scalar?.string ?? "").replacingOccurrences(of: "/s", with: "")
            if let v = Double(text), v > 0, v.isFinite {
                api.rate = v
            } else {
                r.fail(n, "api.rate", "found \(YAMLReader.describe(n)); expected requests per second such as 100/s")
            }
        }
        if let n = f["burst"], let v = r.int(n, key: "api.burst", range: 1...1_000_000) { api.burst = v }
        if let n = f["idle_timeout"], let d = r.duration(n, key: "api.idle_timeout", min: .seconds(1)) {
            api.idleTimeout = d
        }
        if let n = f["query_timeout"],
            let d = r.duration(n, key: "api.query_timeout", min: .milliseconds(100), max: .seconds(3600))
        {
            api.queryTimeout = d
        }
        if let n = f["max_query_series"], let v = r.int(n, key: "api.max_query_series", range: 1...1_000_000) {
            api.maxQuerySeries = v
        }
        if let n = f["max_query_points"], let v = r.int(n, key: "api.max_query_points", range: 100...100_000_000) {
            api.maxQueryPoints = v
        }
        if let n = f["auth_failures"] { readAuthFailures(n, into: &api.authFailures, &r) }
        if let n = f["tokens"] {
            guard case .sequence(let items) = n else {
                r.fail(
                    n,
                    "api.tokens",
                    "expected a list of tokens like { name: ops, role: operator, secret: env:WARDEN_OPS_TOKEN }, found \(YAMLReader.describe(n))"
                )
                return api
            }
            var names = Set<String>()
            for (i, item) in items.enumerated() {
                let key = "api.tokens[\(i)]"
                guard let t = r.mapping(item, key: key, allowed: Self.tokenKeys, required: ["name", "role", "secret"])
                else { continue }
                guard let nameNode = t["name"], let name = r.string(nameNode, key: "\(key).name") else { continue }
                if !names.insert(name).inserted {
                    r.fail(nameNode, "\(key).name", "the token name '\(name)' is used twice")
                }
                var role = Role.viewer
                if let roleNode = t["role"], let text = r.string(roleNode, key: "\(key).role") {
                    if let parsed = Role(rawValue: text) {
                        role = parsed
                    } else {
                        var message = "found '\(text)'; expected one of viewer, operator, admin"
                        if let guess = DidYouMean.suggest(text, from: Role.allCases.map(\.rawValue)) {
                            message += " (did you mean '\(guess)'?)"
                        }
                        r.fail(roleNode, "\(key).role", message)
                        continue
                    }
                }
                guard let secretNode = t["secret"], let reference = r.string(secretNode, key: "\(key).secret") else {
                    continue
                }
                switch resolveSecret(reference) {
                case .success(let secret):
                    api.tokens.append(TokenSpec(name: name, role: role, reference: reference, secret: secret))
                case .failure(let problem): r.fail(secretNode, "\(key).secret", problem.message)
                }
            }
        }
        return api
    }

    /// `10 in 1m` or `{ allow: 10, per: 1m, max_penalty: 15m }`.
    private func readAuthFailures(_ node: Node, into limit: inout AuthFailureLimit, _ r: inout YAMLReader) {
        let key = "api.auth_failures"
        if case .scalar(let s) = node {
            let parts = s.string.split(separator: " ").map(String.init)
            if parts.count == 3, parts[1] == "in", let n = Int(parts[0]), (1...1_000_000).contains(n),
                let d = DurationFormat.parse(parts[2]), d >= .seconds(1)
            {
                limit.allow = n
                limit.per = d
            } else {
                r.fail(node, key, "found \(YAMLReader.describe(node)); expected N in DURATION, such as 10 in 1m")
            }
            return
        }
        guard let f = r.mapping(node, key: key, allowed: ["allow", "per", "max_penalty"]) else { return }
        if let n = f["allow"], let v = r.int(n, key: "\(key).allow", range: 1...1_000_000) { limit.allow = v }
        if let n = f["per"], let d = r.duration(n, key: "\(key).per", min: .seconds(1)) { limit.per = d }
        if let n = f["max_penalty"],
            let d = r.duration(n, key: "\(key).max_penalty", min: .seconds(1), max: .seconds(86400))
        {
            limit.maxPenalty = d
        }
    }

    /// Resolves `env:NAME` or `file:PATH`; a literal secret in the spec is refused.
    func resolveSecret(_ reference: String) -> Result<Secret, SecretProblem> {
        if reference.hasPrefix("env:") {
            let name = String(reference.dropFirst(4))
            guard let value = environment[name], !value.isEmpty else {
                return .failure(
                    SecretProblem(
                        message:
                            "the environment variable \(name) is not set (or empty); export it before starting Warden"
                    )
                )
            }
            return .success(Secret(value))
        }
        if reference.hasPrefix("file:") {
            let path = String(reference.dropFirst(5))
            guard let contents = BoundedFile.read(path, limit: 65536) else {
                return .failure(SecretProblem(message: "cannot read the secret file \(path)"))
            }
            guard case .whole(let bytes) = contents else {
                return .failure(
                    SecretProblem(message: "the secret file \(path) is larger than 64KB; it must hold one secret")
                )
            }
            let value = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !value.isEmpty else { return .failure(SecretProblem(message: "the secret file \(path) is empty")) }
            return .success(Secret(value))
        }
        return .failure(
            SecretProblem(message: "secrets are referenced, never written in the spec: use env:NAME or file:PATH")
        )
    }

    /// Why a secret reference could not be resolved (never contains the secret).
    struct SecretProblem: Error {
        var message: String
    }

    // MARK: - Cross-checks

    private func checkDependencies(_ declared: [(name: String, after: [String], node: Node?)], _ r: inout YAMLReader) {
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

    /// Composes the YAML tree, after refusing aliases used as keys (see ``YAMLAliasGuard``).
    static func compose(_ text: String, file: String) throws(SpecErrors) -> Node? {
        if let (line, column) = YAMLAliasGuard.aliasKey(in: text) {
            throw SpecErrors([
                SpecIssue(
                    file: file,
                    line: line,
                    column: column,
                    key: "",
                    message: "an alias may not be used as a key; write the key out (aliases are fine as values)"
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
    static func byName(_ mapping: Node.Mapping) -> [String: Node] {
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

    static func absolute(_ path: String, base: String) -> String {
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

    static func isValidName(_ name: String) -> Bool {
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
