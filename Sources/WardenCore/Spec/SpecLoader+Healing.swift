import Foundation
import Yams

#if canImport(Glibc)
import Glibc
#endif

/// The `notify:`, `healing:` and `policies:` sections, and the `heal:` ladders of services and monitors.
extension SpecLoader {
    // MARK: - Healing

    func readHealing(_ top: YAMLReader.Fields, _ spec: inout Spec, baseDir: String, _ r: inout YAMLReader) {
        if let node = top["notify"], let entries = r.namedEntries(node, key: "notify", what: "notification targets") {
            for (name, _, value) in entries {
                let key = "notify.\(name)"
                guard let f = r.mapping(value, key: key, allowed: Self.notifyKeys, required: ["url"]) else { continue }
                var target = NotifySpec(name: name, url: "")
                if let n = f["url"],
                    let url = Self.outboundURL(n, key: "\(key).url", example: "https://hooks.example.com/T0/B0", &r)
                {
                    target.url = url
                }
                if let n = f["ca"] { target.caFile = Self.caFile(n, key: "\(key).ca", baseDir: baseDir, &r) }
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
            if let n = f["max"], let g = r.countPerWindow(n, key: "healing.max") { spec.healing.max = g }
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
                    h.policy(
                        "service:\(s.name)",
                        when: [
                            EventType.serviceExited, EventType.probeFailed, EventType.watchdogMissed,
                            EventType.serviceFailed, EventType.serviceSpawnFailed,
                        ],
                        subject: s.name,
                        conditions: [EventCondition(field: "payload.expected", op: .ne, value: "true")],
                        then: ladder
                    )
                )
            }
        }
        // `heal:` of monitors: their alerts run the ladder.
        // (The monitors themselves are a domain's section, read later: the names come from the YAML.)
        if let monitors = top["monitors"]?.mapping {
            var seen: Set<String> = []
            for (k, v) in monitors {
                guard let name = k.scalar?.string, Self.isValidName(name), seen.insert(name).inserted,
                    let node = v.mapping?["heal"]
                else { continue }
                let key = "monitors.\(name).heal"
                guard let ladder = readLadder(node, key: key, defaultTarget: nil, spec: spec, baseDir: baseDir, &r)
                else { continue }
                spec.policies.append(
                    h.policy("monitor:\(name)", when: [EventType.monitorAlert], subject: name, then: ladder)
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
                if let n = f["max"], let g = r.countPerWindow(n, key: "\(key).max") { policy.max = g }
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
        guard let known = HealAction.Verb(rawValue: verb) else {
            var message = "found '\(verb)'; an action starts with one of \(HealAction.verbs.joined(separator: ", "))"
            if let guess = DidYouMean.suggest(verb, from: HealAction.verbs) { message += " (did you mean '\(guess)'?)" }
            r.fail(node, key, message)
            return nil
        }
        switch known {
        case .restart: return target().map(HealAction.restart)
        case .stop: return target().map(HealAction.stop)
        case .start: return target().map(HealAction.start)
        case .rebuild:
            guard let name = target() else { return nil }
            if spec.service(named: name)?.rebuild.isEmpty ?? true {
                r.fail(node, key, "service '\(name)' has no rebuild steps; add 'rebuild:' to it")
                return nil
            }
            return .rebuild(name)
        case .exec:
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
        case .notify:
            guard words.count > 1 else {
                r.fail(node, key, "'notify' needs a target from the notify: section")
                return nil
            }
            guard spec.notify.contains(where: { $0.name == words[1] }) else {
                r.fail(node, key, unknown("notify target", words[1], spec.notify.map(\.name)))
                return nil
            }
            return .notify(words[1])
        }
    }

    func unknown(_ what: String, _ name: String, _ known: [String]) -> String {
        var message = "no \(what) named '\(name)'"
        if let guess = DidYouMean.suggest(name, from: known) { message += "; did you mean '\(guess)'?" }
        return message
    }
}
