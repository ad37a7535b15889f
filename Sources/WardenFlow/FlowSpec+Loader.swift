import Foundation
import WardenCore
import Yams

extension Spec {
    /// The spec's workflows and model endpoints (empty when the loader had no ``FlowSection``).
    public var flow: FlowSpec { sections[FlowSection.self] ?? FlowSpec() }
}

/// Reads `workflows:`, `models:` and `flow:`:
///
/// ```yaml
/// models:
///   triage-model:
///     url: http://127.0.0.1:11434/v1
///     model: llama3.2
///     timeout: 20s            # one request
///     concurrency: 8          # in flight at most
///     hedge_after: 4s         # no answer yet: ask the fallback too
///     fallback: backup-model
///
/// workflows:
///   triage:
///     on: [{ hook: alertmanager }]          # or an event type: [alert.firing, { event: incident.opened, subject: api }]
///     timeout: 10m
///     steps:
///       classify:
///         llm:
///           model: triage-model
///           prompt: "Alert {{event.payload.alertname}} on {{event.subject}}: restart or notify?"
///           schema: { type: object, required: [action], properties: { action: { enum: [restart, notify] } } }
///         timeout: 30s
///         retries: 2
///         fallback: { action: notify }
///       restart:
///         needs: [classify]
///         when: "steps.classify.output.action == 'restart'"
///         heal: { restart: "{{event.subject}}" }
///       record:
///         needs: [restart]
///         store: { record: { alert: "{{event.payload.alertname}}", action: "{{steps.classify.output.action}}" } }
/// ```
public enum FlowSection: SpecSection {
    public static let key = "workflows"
    public static var otherKeys: [String] { ["models", "flow"] }

    static let workflowKeys = ["on", "steps", "timeout", "priority"]
    static let stepCommon = ["needs", "when", "timeout", "retries", "backoff", "fallback"]
    static let stepKinds = ["llm", "http", "exec", "heal", "store", "publish", "approve", "wait"]
    static let modelKeys = [
        "url", "model", "token", "timeout", "concurrency", "hedge_after", "fallback", "breaker", "ca",
    ]

    public static func read(top: YAMLReader.Fields, _ context: SpecContext, _ r: inout YAMLReader) -> FlowSpec? {
        var flow = FlowSpec()
        if let n = top["flow"], let f = r.mapping(n, key: "flow", allowed: ["workers"]) {
            if let w = f["workers"], let v = r.int(w, key: "flow.workers", range: 1...256) { flow.workers = v }
        }
        if let n = top["models"] { flow.models = readModels(n, context, &r) }
        if let n = top["workflows"], let entries = r.namedEntries(n, key: "workflows", what: "workflows") {
            if entries.count > 200 { r.fail(n, "workflows", "at most 200 workflows") }
            for (name, keyNode, value) in entries.prefix(200) {
                guard isName(name) else {
                    r.fail(keyNode, "workflows", "workflow names are 1 to 64 lowercase letters, digits, '-' or '_'")
                    continue
                }
                if let w = readWorkflow(name, value, flow.models, context, &r) { flow.workflows[name] = w }
            }
        }
        return flow
    }

    static func isName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.utf8.allSatisfy {
                ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F
            }
    }

    static func readModels(_ node: Node, _ context: SpecContext, _ r: inout YAMLReader) -> [String: ModelEndpointSpec] {
        guard let entries = r.namedEntries(node, key: "models", what: "model endpoints") else { return [:] }
        var models: [String: ModelEndpointSpec] = [:]
        for (name, keyNode, value) in entries.prefix(100) {
            let key = "models.\(name)"
            guard isName(name) else {
                r.fail(keyNode, "models", "model names are 1 to 64 lowercase letters, digits, '-' or '_'")
                continue
            }
            guard let f = r.mapping(value, key: key, allowed: modelKeys, required: ["url", "model"]),
                let url = f["url"].flatMap({ r.string($0, key: "\(key).url") }),
                let model = f["model"].flatMap({ r.string($0, key: "\(key).model") })
            else { continue }
            if let problem = OutboundURL.problem(url) {
                r.fail(f["url"], "\(key).url", "'\(url.prefix(80))' is not a usable URL: \(problem)")
                continue
            }
            var m = ModelEndpointSpec(name: name, url: url, model: model)
            if let n = f["token"], let reference = r.string(n, key: "\(key).token", what: "a secret reference") {
                switch context.loader.resolveSecret(reference) {
                case .success(let s): m.token = s
                case .failure(let problem): r.fail(n, "\(key).token", problem.message)
                }
            }
            if let n = f["timeout"],
                let d = r.duration(n, key: "\(key).timeout", min: .milliseconds(10), max: .seconds(600))
            {
                m.timeout = d
            }
            if let n = f["concurrency"], let v = r.int(n, key: "\(key).concurrency", range: 1...1024) {
                m.concurrency = v
            }
            if let n = f["hedge_after"],
                let d = r.duration(n, key: "\(key).hedge_after", min: .milliseconds(10), max: .seconds(600))
            {
                m.hedgeAfter = d
            }
            if let n = f["fallback"], let text = r.string(n, key: "\(key).fallback") { m.fallback = text }
            if let n = f["breaker"],
                let b = r.mapping(n, key: "\(key).breaker", allowed: ["failures", "cooldown"])
            {
                if let v = b["failures"], let i = r.int(v, key: "\(key).breaker.failures", range: 1...1000) {
                    m.breakerFailures = i
                }
                if let v = b["cooldown"],
                    let d = r.duration(v, key: "\(key).breaker.cooldown", min: .milliseconds(10), max: .seconds(86400))
                {
                    m.breakerCooldown = d
                }
            }
            if let n = f["ca"] { m.caFile = SpecLoader.caFile(n, key: "\(key).ca", baseDir: context.baseDir, &r) }
            models[name] = m
        }
        for (name, m) in models {
            if let fb = m.fallback {
                if models[fb] == nil || fb == name {
                    r.fail(
                        nil,
                        "models.\(name).fallback",
                        "'\(fb.prefix(64))' is not another model endpoint; expected one of \(models.keys.filter { $0 != name }.sorted().joined(separator: ", "))"
                    )
                }
            }
        }
        return models
    }

    static func readWorkflow(
        _ name: String,
        _ node: Node,
        _ models: [String: ModelEndpointSpec],
        _ context: SpecContext,
        _ r: inout YAMLReader
    ) -> WorkflowSpec? {
        let key = "workflows.\(name)"
        guard let f = r.mapping(node, key: key, allowed: workflowKeys, required: ["on", "steps"]) else { return nil }
        var triggers: [WorkflowSpec.Trigger] = []
        if let n = f["on"] {
            let items: [Node] = if case .sequence(let s) = n { Array(s) } else { [n] }
            for (i, item) in items.prefix(50).enumerated() {
                let k = "\(key).on[\(i)]"
                if case .scalar(let s) = item {
                    triggers.append(.event(type: s.string, subject: nil))
                    continue
                }
                guard let t = r.mapping(item, key: k, allowed: ["event", "subject", "hook"]) else { continue }
                if let h = t["hook"], let hook = r.string(h, key: "\(k).hook") {
                    if t["event"] != nil || t["subject"] != nil {
                        r.fail(item, k, "a trigger is a hook or an event type, not both")
                    }
                    triggers.append(.hook(hook))
                } else if let e = t["event"], let type = r.string(e, key: "\(k).event") {
                    let subject = t["subject"].flatMap { r.string($0, key: "\(k).subject") }
                    triggers.append(.event(type: type, subject: subject))
                } else {
                    r.fail(item, k, "expected { hook: NAME } or { event: TYPE, subject: NAME }")
                }
            }
            for (i, t) in triggers.enumerated() {
                if case .event(let type, _) = t, type.isEmpty || type.utf8.count > 100 {
                    r.fail(n, "\(key).on[\(i)]", "expected an event type such as alert.firing or incident.*")
                }
            }
            if triggers.isEmpty {
                r.fail(n, "\(key).on", "expected at least one trigger: an event type or { hook: NAME }")
            }
        }
        var workflow = WorkflowSpec(name: name, triggers: triggers, steps: [])
        if let n = f["timeout"],
            let d = r.duration(n, key: "\(key).timeout", min: .seconds(1), max: .seconds(7 * 86400))
        {
            workflow.timeout = d
        }
        if let n = f["priority"], let p = r.int(n, key: "\(key).priority", range: -100...100) { workflow.priority = p }
        guard let stepsNode = f["steps"],
            let entries = r.namedEntries(stepsNode, key: "\(key).steps", what: "steps")
        else { return nil }
        if entries.isEmpty { r.fail(stepsNode, "\(key).steps", "a workflow needs at least one step") }
        if entries.count > 100 { r.fail(stepsNode, "\(key).steps", "at most 100 steps") }
        var steps: [StepSpec] = []
        var bad = false
        for (stepName, keyNode, value) in entries.prefix(100) {
            guard isName(stepName) else {
                r.fail(keyNode, "\(key).steps", "step names are 1 to 64 lowercase letters, digits, '-' or '_'")
                bad = true
                continue
            }
            if let s = readStep(stepName, value, key: "\(key).steps.\(stepName)", models, context, &r) {
                steps.append(s)
            } else {
                bad = true
            }
        }
        if bad { return nil }
        guard let ordered = order(steps, key: "\(key).steps", stepsNode, &r) else { return nil }
        workflow.steps = ordered
        // Paths into steps must name steps that come before.
        for s in ordered {
            for path in paths(of: s) where path.parts.first == "steps" {
                guard path.parts.count >= 2, let other = workflow.step(path.parts[1]), other.name != s.name,
                    isUpstream(other.name, of: s, in: workflow)
                else {
                    r.fail(
                        stepsNode,
                        "\(key).steps.\(s.name)",
                        "'\(path)' reads a step that is not among this step's needs (directly or through them)"
                    )
                    return nil
                }
            }
        }
        return workflow
    }

    static func isUpstream(_ name: String, of step: StepSpec, in w: WorkflowSpec) -> Bool {
        var seen: Set<String> = []
        var stack = step.needs
        while let n = stack.popLast() {
            if n == name { return true }
            if seen.insert(n).inserted, let s = w.step(n) { stack += s.needs }
        }
        return false
    }

    static func paths(of s: StepSpec) -> [FlowPath] {
        var result = s.when?.paths ?? []
        func json(_ v: JSONValue) {
            switch v {
            case .string(let text):
                if case .success(let t) = FlowTemplate.parse(text) { result += t.paths }
            case .array(let a): a.forEach(json)
            case .object(let o): o.values.forEach(json)
            default: break
            }
        }
        switch s.action {
        case .llm(let c): result += c.prompt.paths + (c.system?.paths ?? [])
        case .http(let c):
            result += c.url.paths + c.headers.values.flatMap(\.paths)
            if let b = c.body { json(b) }
        case .exec(let step):
            for arg in step.run { json(.string(arg)) }
        case .heal(_, let service): result += service.paths
        case .store(.sample(_, _, let value)): result += value.paths
        case .store(.record(let v)): json(v)
        case .publish(_, let subject, let payload):
            result += subject.paths
            json(payload)
        case .approve(let message): result += message.paths
        case .wait: break
        }
        return result
    }

    /// The steps with every one after those it needs; nil (with the problem) on a cycle or an unknown need.
    static func order(_ steps: [StepSpec], key: String, _ node: Node, _ r: inout YAMLReader) -> [StepSpec]? {
        let names = Set(steps.map(\.name))
        for s in steps {
            for n in s.needs where !names.contains(n) {
                r.fail(
                    node,
                    "\(key).\(s.name).needs",
                    "'\(n.prefix(64))' is not a step of this workflow; expected one of \(names.sorted().joined(separator: ", "))"
                )
                return nil
            }
        }
        var done: Set<String> = []
        var result: [StepSpec] = []
        while result.count < steps.count {
            guard let next = steps.first(where: { !done.contains($0.name) && $0.needs.allSatisfy(done.contains) })
            else {
                let stuck = steps.filter { !done.contains($0.name) }.map(\.name).sorted()
                r.fail(node, key, "the steps \(stuck.joined(separator: ", ")) need each other in a cycle")
                return nil
            }
            done.insert(next.name)
            result.append(next)
        }
        return result
    }

    static func template(_ n: Node, key: String, _ r: inout YAMLReader) -> FlowTemplate? {
        guard let text = r.string(n, key: key) else { return nil }
        switch FlowTemplate.parse(text) {
        case .success(let t): return t
        case .failure(let e):
            r.fail(n, key, e.message)
            return nil
        }
    }

    /// A JSON template: every string that is a template must parse.
    static func jsonTemplate(_ n: Node, key: String, _ r: inout YAMLReader) -> JSONValue? {
        guard let v = json(n, key: key, &r) else { return nil }
        var problem: String?
        func check(_ v: JSONValue) {
            switch v {
            case .string(let s):
                if problem == nil, s.contains("{{"), case .failure(let e) = FlowTemplate.parse(s) {
                    problem = e.message
                }
            case .array(let a): a.forEach(check)
            case .object(let o): o.values.forEach(check)
            default: break
            }
        }
        check(v)
        if let problem {
            r.fail(n, key, problem)
            return nil
        }
        return v
    }

    /// A YAML node as JSON: plain scalars that read as numbers, booleans or null become those.
    /// At most 16 levels deep and 10,000 nodes.
    static func json(_ n: Node, key: String, _ r: inout YAMLReader) -> JSONValue? {
        var budget = 10_000
        func convert(_ n: Node, depth: Int) -> JSONValue? {
            budget -= 1
            guard budget > 0, depth < 16 else { return nil }
            switch n {
            case .scalar(let s):
                if s.style == .plain || s.style == .any {
                    if YAMLReader.isNull(n) { return .null }
                    switch s.string {
                    case "true": return .bool(true)
                    case "false": return .bool(false)
                    default: break
                    }
                    if let i = Int64(s.string) { return .int(i) }
                    if let d = Double(s.string), d.isFinite, s.string.contains(where: { $0 == "." || $0 == "e" }) {
                        return .double(d)
                    }
                }
                return .string(s.string)
            case .sequence(let seq):
                var out: [JSONValue] = []
                for item in seq {
                    guard let v = convert(item, depth: depth + 1) else { return nil }
                    out.append(v)
                }
                return .array(out)
            case .mapping(let m):
                var out: [String: JSONValue] = [:]
                for (k, v) in m {
                    guard let name = k.scalar?.string, let value = convert(v, depth: depth + 1) else { return nil }
                    out[name] = value
                }
                return .object(out)
            case .alias: return nil
            }
        }
        guard let v = convert(n, depth: 0) else {
            r.fail(n, key, "expected JSON-like data at most 16 levels deep and 10,000 values, with string keys")
            return nil
        }
        return v
    }

    static func readStep(
        _ name: String,
        _ node: Node,
        key: String,
        _ models: [String: ModelEndpointSpec],
        _ context: SpecContext,
        _ r: inout YAMLReader
    ) -> StepSpec? {
        guard let f = r.mapping(node, key: key, allowed: stepCommon + stepKinds) else { return nil }
        let kinds = stepKinds.filter { f[$0] != nil }
        guard kinds.count == 1 else {
            r.fail(
                node,
                key,
                kinds.isEmpty
                    ? "a step does one thing: give one of \(stepKinds.joined(separator: ", "))"
                    : "a step does one thing; found \(kinds.joined(separator: " and "))"
            )
            return nil
        }
        let kind = kinds[0]
        let an = f[kind]!
        let ak = "\(key).\(kind)"
        var action: StepAction?
        switch kind {
        case "llm":
            guard
                let m = r.mapping(
                    an,
                    key: ak,
                    allowed: ["model", "system", "prompt", "schema", "max_tokens"],
                    required: ["model", "prompt"]
                ),
                let model = m["model"].flatMap({ r.string($0, key: "\(ak).model") }),
                let prompt = m["prompt"].flatMap({ template($0, key: "\(ak).prompt", &r) })
            else { return nil }
            guard models[model] != nil else {
                r.fail(
                    m["model"],
                    "\(ak).model",
                    "'\(model.prefix(64))' is not in models:; expected one of \(models.keys.sorted().joined(separator: ", "))"
                )
                return nil
            }
            var call = LLMCall(model: model, prompt: prompt)
            if let s = m["system"] { call.system = template(s, key: "\(ak).system", &r) }
            if let s = m["schema"] {
                guard let schema = json(s, key: "\(ak).schema", &r) else { return nil }
                if let problem = JSONSchemaCheck.unsupported(schema) {
                    r.fail(s, "\(ak).schema", problem)
                    return nil
                }
                call.schema = schema
            }
            if let t = m["max_tokens"] { call.maxTokens = r.int(t, key: "\(ak).max_tokens", range: 1...1_000_000) }
            action = .llm(call)
        case "http":
            guard
                let m = r.mapping(
                    an,
                    key: ak,
                    allowed: ["url", "method", "headers", "body", "expect", "ca"],
                    required: ["url"]
                ),
                let url = m["url"].flatMap({ template($0, key: "\(ak).url", &r) })
            else { return nil }
            if url.paths.isEmpty, let problem = OutboundURL.problem(url.source) {
                r.fail(m["url"], "\(ak).url", "'\(url.source.prefix(80))' is not a usable URL: \(problem)")
                return nil
            }
            var call = HTTPCall(url: url)
            if let n = m["method"], let method = r.string(n, key: "\(ak).method") {
                guard ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(method.uppercased()) else {
                    r.fail(n, "\(ak).method", "expected GET, POST, PUT, PATCH or DELETE")
                    return nil
                }
                call.method = method.uppercased()
            }
            if let n = m["headers"], let entries = r.namedEntries(n, key: "\(ak).headers", what: "headers") {
                for (h, _, v) in entries.prefix(50) {
                    guard h.utf8.count <= 64, h.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
                        r.fail(n, "\(ak).headers", "'\(h.prefix(64))' is not a header name")
                        return nil
                    }
                    if let t = template(v, key: "\(ak).headers.\(h)", &r) { call.headers[h] = t }
                }
            }
            if let n = m["body"] { call.body = jsonTemplate(n, key: "\(ak).body", &r) }
            if let n = m["expect"] {
                let items: [Node] = if case .sequence(let s) = n { Array(s) } else { [n] }
                call.expect = items.prefix(20).compactMap { r.int($0, key: "\(ak).expect", range: 100...599) }
            }
            if let n = m["ca"] { call.caFile = SpecLoader.caFile(n, key: "\(ak).ca", baseDir: context.baseDir, &r) }
            action = .http(call)
        case "exec":
            guard let argv = r.command(an, key: ak) else { return nil }
            for (i, a) in argv.enumerated() where a.contains("{{") {
                if case .failure(let e) = FlowTemplate.parse(a) {
                    r.fail(an, "\(ak)[\(i)]", e.message)
                    return nil
                }
            }
            action = .exec(CommandStep(run: argv, timeout: .seconds(3600), cwd: context.baseDir))
        case "heal":
            guard let m = r.mapping(an, key: ak, allowed: HealKind.allCases.map(\.rawValue)) else { return nil }
            guard m.entries.count == 1, let how = HealKind(rawValue: m.entries[0].name),
                let service = template(m.entries[0].value, key: "\(ak).\(m.entries[0].name)", &r)
            else {
                r.fail(
                    an,
                    ak,
                    "expected one action on a service, such as { restart: api } or { rebuild: \"{{event.subject}}\" }"
                )
                return nil
            }
            if service.paths.isEmpty, !context.spec.services.contains(where: { $0.name == service.source }) {
                r.fail(
                    m.entries[0].value,
                    "\(ak).\(how.rawValue)",
                    "'\(service.source.prefix(64))' is not a service; expected one of \(context.spec.services.map(\.name).sorted().joined(separator: ", "))"
                )
                return nil
            }
            action = .heal(how, service: service)
        case "store":
            guard let m = r.mapping(an, key: ak, allowed: ["record", "sample", "value", "labels"]) else { return nil }
            if let rec = m["record"] {
                guard m["sample"] == nil, let v = jsonTemplate(rec, key: "\(ak).record", &r) else {
                    r.fail(an, ak, "a store step writes a record or a sample, not both")
                    return nil
                }
                action = .store(.record(v))
            } else if let s = m["sample"], let series = r.string(s, key: "\(ak).sample") {
                guard series.utf8.count <= 200, !series.isEmpty,
                    series.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-" })
                else {
                    r.fail(s, "\(ak).sample", "expected a series name such as triage.severity")
                    return nil
                }
                guard let vn = m["value"], let value = template(vn, key: "\(ak).value", &r) else {
                    r.fail(an, "\(ak).value", "a sample needs a value, such as \"{{steps.classify.output.score}}\"")
                    return nil
                }
                var labels: [String: String] = [:]
                if let ln = m["labels"], let entries = r.namedEntries(ln, key: "\(ak).labels", what: "labels") {
                    for (l, _, v) in entries.prefix(16) { labels[l] = r.string(v, key: "\(ak).labels.\(l)") }
                }
                action = .store(.sample(series: series, labels: labels, value: value))
            } else {
                r.fail(an, ak, "expected { record: {...} } or { sample: NAME, value: TEMPLATE }")
                return nil
            }
        case "publish":
            guard let m = r.mapping(an, key: ak, allowed: ["type", "subject", "payload"], required: ["type"]),
                let type = m["type"].flatMap({ r.string($0, key: "\(ak).type") })
            else { return nil }
            if let problem = PublishedType.problem(type) {
                r.fail(m["type"], "\(ak).type", problem)
                return nil
            }
            let subject = m["subject"].flatMap { template($0, key: "\(ak).subject", &r) }
            let payload = m["payload"].flatMap { jsonTemplate($0, key: "\(ak).payload", &r) } ?? .object([:])
            action = .publish(
                type: type,
                subject: subject ?? (try! FlowTemplate.parse("{{event.subject}}").get()),
                payload: payload
            )
        case "approve":
            if case .scalar = an, let t = template(an, key: ak, &r) {
                action = .approve(message: t)
            } else if let m = r.mapping(an, key: ak, allowed: ["message"], required: ["message"]),
                let t = m["message"].flatMap({ template($0, key: "\(ak).message", &r) })
            {
                action = .approve(message: t)
            } else {
                return nil
            }
        default:  // wait
            guard let d = r.duration(an, key: ak, min: .milliseconds(1), max: .seconds(7 * 86400)) else { return nil }
            action = .wait(d)
        }
        guard let action else { return nil }
        var step = StepSpec(name: name, action: action)
        if let n = f["needs"], let needs = r.stringList(n, key: "\(key).needs", what: "step names") {
            step.needs = Array(needs.prefix(100))
        }
        if let n = f["when"], let text = r.string(n, key: "\(key).when") {
            switch FlowCondition.parse(text) {
            case .success(let c): step.when = c
            case .failure(let e):
                r.fail(
                    n,
                    "\(key).when",
                    "\(e.message); expected a condition such as steps.triage.output.action == 'restart'"
                )
                return nil
            }
        }
        if let n = f["timeout"],
            let d = r.duration(n, key: "\(key).timeout", min: .milliseconds(1), max: .seconds(86400))
        {
            step.timeout = d
        }
        if let n = f["retries"], let v = r.int(n, key: "\(key).retries", range: 0...20) { step.retries = v }
        if let n = f["backoff"], let d = r.duration(n, key: "\(key).backoff", min: .zero, max: .seconds(3600)) {
            step.backoff = d
        }
        if let n = f["fallback"] { step.fallback = json(n, key: "\(key).fallback", &r) }
        return step
    }
}
