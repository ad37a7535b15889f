import Foundation
import Yams

#if canImport(Glibc)
import Glibc
#endif

/// The `services:` section: commands, restart policies, readiness and health probes, logs.
extension SpecLoader {
    // MARK: - Services

    func readService(
        name: String,
        node: Node,
        key: String,
        baseDir: String,
        logs: LogPolicy,
        _ r: inout YAMLReader
    ) -> ServiceSpec? {
        guard
            let f = r.mapping(node, key: key, allowed: Self.serviceKeys + entryKeys(in: "services"), required: ["run"])
        else { return nil }
        let before = r.issues.count

        var env: [String: String] = [:]
        var secretEnv: [String: String] = [:]
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
                    if case .scalar(let s) = v, s.string.hasPrefix("vault:") {
                        // A Vault reference is a secret: read when the service starts, never here.
                        if let problem = checkReference(s.string) {
                            r.fail(v, "\(key).env.\(name)", problem)
                        } else {
                            secretEnv[name] = s.string
                        }
                    } else if case .mapping = v {
                        // `{ secret: REF }`: any secret reference.
                        guard
                            let sf = r.mapping(v, key: "\(key).env.\(name)", allowed: ["secret"], required: ["secret"]),
                            let rn = sf["secret"], let reference = r.string(rn, key: "\(key).env.\(name).secret")
                        else { continue }
                        if let problem = checkReference(reference) {
                            r.fail(rn, "\(key).env.\(name).secret", problem)
                        } else {
                            secretEnv[name] = reference
                        }
                    } else if case .scalar(let s) = v {
                        env[name] = YAMLReader.isNull(v) ? "" : s.string
                    } else {
                        r.fail(
                            v,
                            "\(key).env.\(name)",
                            "expected a string value or { secret: REF }, found \(YAMLReader.describe(v))"
                        )
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
        if let n = f["ready"] { ready = readReady(n, key: "\(key).ready", cwd: cwd, env: env, baseDir: baseDir, &r) }

        var health: ProbeSpec?
        if let n = f["health"], let hf = r.mapping(n, key: "\(key).health", allowed: Self.healthKeys) {
            health = readProbe(
                hf,
                key: "\(key).health",
                cwd: cwd,
                env: env,
                baseDir: baseDir,
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
        var limits = ResourceLimits()
        if let n = f["limits"] { limits = readLimits(n, key: "\(key).limits", &r) }
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
        service.secretEnv = secretEnv
        service.limits = limits
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

    func readRestart(_ node: Node, key: String, _ r: inout YAMLReader) -> RestartSpec {
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

    func readReady(
        _ node: Node,
        key: String,
        cwd: String,
        env: [String: String],
        baseDir: String,
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
        guard let probe = readProbe(f, key: key, cwd: cwd, env: env, baseDir: baseDir, defaults: defaults, &r) else {
            return nil
        }
        return ReadySpec(kind: .probe(probe), within: within)
    }

    func readProbe(
        _ f: YAMLReader.Fields,
        key: String,
        cwd: String,
        env: [String: String],
        baseDir: String,
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
                } else if var target = HTTPTarget.parse(text) {
                    if let c = f["ca"] {
                        if target.secure {
                            target.caFile = Self.caFile(c, key: "\(key).ca", baseDir: baseDir, &r)
                            valid = valid && target.caFile != nil
                        } else {
                            r.fail(c, "\(key).ca", "a CA file is for an https:// target; this one is http://")
                            valid = false
                        }
                    }
                    probe.check = .http(target)
                } else {
                    r.fail(
                        n,
                        "\(key).http",
                        "found '\(text)'; expected a URL such as http://127.0.0.1:9000/healthz or https://host/healthz"
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

    func readLogs(_ node: Node, key: String, defaults: LogPolicy, _ r: inout YAMLReader) -> LogPolicy {
        var logs = defaults
        guard let f = r.mapping(node, key: key, allowed: Self.logKeys) else { return logs }
        if let n = f["max_size"], let v = r.byteSize(n, key: "\(key).max_size", min: 4096) { logs.maxSize = v }
        if let n = f["keep"], let v = r.int(n, key: "\(key).keep", range: 0...100) { logs.keep = v }
        return logs
    }
}
