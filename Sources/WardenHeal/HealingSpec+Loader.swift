import Foundation
import WardenCore
import Yams

/// The healing part of a spec: the `healing:` defaults, the `notify:` targets, and the policies of
/// `policies:` and of every `heal:` ladder written in a service or monitor.
public struct HealingConfig: Sendable, Equatable {
    public var healing = HealingSpec()
    public var notify: [NotifySpec] = []
    /// The `policies:` section, plus one for each `heal:` of a service or monitor.
    public var policies: [PolicySpec] = []
    /// The `heal:` ladders of services, by service.
    public var serviceLadders: [String: [HealAction]] = [:]

    public init() {}
}

extension Spec {
    /// Healing defaults and limits (the defaults when the loader had no ``HealingSection``).
    public var healing: HealingSpec { sections[HealingSection.self]?.healing ?? HealingSpec() }
    /// Notification targets by name.
    public var notify: [NotifySpec] { sections[HealingSection.self]?.notify ?? [] }
    /// Healing policies: the `policies:` section, plus one for each `heal:` of a service or monitor.
    public var policies: [PolicySpec] { sections[HealingSection.self]?.policies ?? [] }
}

/// The `healing:`, `notify:` and `policies:` sections, and the `heal:` ladders written inside
/// `services:` and `monitors:` entries: give it to the loader (`SpecLoader(sections:)`) and read
/// it back as `spec.healing`, `spec.notify` and `spec.policies`.
public enum HealingSection: SpecSection {
    public static let key = "healing"
    public static let otherKeys = ["notify", "policies"]
    public static let entryKeys = ["services": ["heal"], "monitors": ["heal"]]

    static let notifyKeys = ["url", "timeout", "attempts", "ca"]
    static let policyKeys = [
        "when", "subject", "if", "then", "verify", "settle", "cooldown", "max", "dry_run", "approve",
    ]
    static let healingKeys = ["concurrency", "dry_run", "verify", "settle", "cooldown", "max", "escalate"]

    public static func read(
        top: YAMLReader.Fields,
        _ context: SpecContext,
        _ reader: inout YAMLReader
    ) -> HealingConfig? {
        var config = HealingConfig()
        readHealing(top, &config, context, &reader)
        return config
    }

    static func readHealing(
        _ top: YAMLReader.Fields,
        _ config: inout HealingConfig,
        _ context: SpecContext,
        _ r: inout YAMLReader
    ) {
        let (spec, baseDir) = (context.spec, context.baseDir)
        if let node = top["notify"], let entries = r.namedEntries(node, key: "notify", what: "notification targets") {
            for (name, _, value) in entries {
                let key = "notify.\(name)"
                guard let f = r.mapping(value, key: key, allowed: Self.notifyKeys, required: ["url"]) else { continue }
                var target = NotifySpec(name: name, url: "")
                if let n = f["url"],
                    let url = SpecLoader.outboundURL(
                        n,
                        key: "\(key).url",
                        example: "https://hooks.example.com/T0/B0",
                        &r
                    )
                {
                    target.url = url
                }
                if let n = f["ca"] { target.caFile = SpecLoader.caFile(n, key: "\(key).ca", baseDir: baseDir, &r) }
                if let n = f["timeout"], let d = r.duration(n, key: "\(key).timeout", min: .milliseconds(1)) {
                    target.timeout = d
                }
                if let n = f["attempts"], let v = r.int(n, key: "\(key).attempts", range: 1...100) {
                    target.attempts = v
                }
                config.notify.append(target)
            }
        }
        if let node = top["healing"], let f = r.mapping(node, key: "healing", allowed: Self.healingKeys) {
            if let n = f["concurrency"], let v = r.int(n, key: "healing.concurrency", range: 1...1000) {
                config.healing.concurrency = v
            }
            if let n = f["dry_run"], let b = r.bool(n, key: "healing.dry_run") { config.healing.dryRun = b }
            if let n = f["verify"], let d = r.duration(n, key: "healing.verify", min: .milliseconds(1)) {
                config.healing.verify = d
            }
            if let n = f["settle"], let d = r.duration(n, key: "healing.settle") { config.healing.settle = d }
            if let n = f["cooldown"], let d = r.duration(n, key: "healing.cooldown") { config.healing.cooldown = d }
            if let n = f["max"], let g = r.countPerWindow(n, key: "healing.max") { config.healing.max = g }
            if let n = f["escalate"], let name = r.string(n, key: "healing.escalate", what: "a notify target") {
                if config.notify.contains(where: { $0.name == name }) {
                    config.healing.escalate = name
                } else {
                    r.fail(n, "healing.escalate", unknown("notify target", name, config.notify.map(\.name)))
                }
            }
        }
        let h = config.healing
        let ladders = LadderContext(
            spec: spec,
            notify: config.notify.map(\.name),
            environment: context.loader.environment
        )
        // `heal:` of services: their failures run the ladder.
        if let services = top["services"]?.mapping {
            // By name once: a mapping's own lookup is a scan, and this runs per service.
            let byName = SpecLoader.byName(services)
            for s in spec.services {
                guard let node = byName[s.name]?.mapping?["heal"] else { continue }
                let key = "services.\(s.name).heal"
                guard let ladder = readLadder(node, key: key, defaultTarget: s.name, in: ladders, baseDir: s.cwd, &r)
                else { continue }
                config.serviceLadders[s.name] = ladder
                config.policies.append(
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
                guard let name = k.scalar?.string, SpecLoader.isValidName(name), seen.insert(name).inserted,
                    let node = v.mapping?["heal"]
                else { continue }
                let key = "monitors.\(name).heal"
                guard let ladder = readLadder(node, key: key, defaultTarget: nil, in: ladders, baseDir: baseDir, &r)
                else { continue }
                config.policies.append(
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
                        in: ladders,
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
                if !policy.then.isEmpty { config.policies.append(policy) }
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

    /// What the actions of a ladder may name: the spec's services and the `notify:` targets.
    struct LadderContext {
        var spec: Spec
        var notify: [String]
        var environment: [String: String]
    }

    /// A ladder: one action or a list of them.
    static func readLadder(
        _ node: Node,
        key: String,
        defaultTarget: String?,
        in context: LadderContext,
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
                in: context,
                baseDir: baseDir,
                &r
            ) {
                ladder.append(action)
            }
        }
        return r.issues.count == before ? ladder : nil
    }

    static func parseAction(
        _ text: String,
        key: String,
        node: Node,
        defaultTarget: String?,
        in context: LadderContext,
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
        let spec = context.spec
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
                case .failure(let e) = Executables.resolve(argv[0], cwd: baseDir, path: context.environment["PATH"])
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
            guard context.notify.contains(words[1]) else {
                r.fail(node, key, unknown("notify target", words[1], context.notify))
                return nil
            }
            return .notify(words[1])
        }
    }

    static func unknown(_ what: String, _ name: String, _ known: [String]) -> String {
        var message = "no \(what) named '\(name)'"
        if let guess = DidYouMean.suggest(name, from: known) { message += "; did you mean '\(guess)'?" }
        return message
    }
}
