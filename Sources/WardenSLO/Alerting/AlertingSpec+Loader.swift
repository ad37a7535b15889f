import Foundation
import WardenCore
import Yams

extension Spec {
    /// The spec's alerting (nil when it has no `alerting:` or the loader had no ``AlertingSection``).
    public var alerting: AlertingSpec? { sections[AlertingSection.self] }
}

/// Reads `alerting:`:
///
/// ```yaml
/// alerting:
///   receivers:
///     chat: { slack: { url: https://hooks.slack.com/services/T0/B0/XX } }
///     pager: { pagerduty: { routing_key: env:PD_KEY } }
///     hook: { webhook: { url: https://ops.example/alerts, ca: ca.pem } }
///     mail: { email: { smtp: 127.0.0.1:25, from: warden@example.com, to: [ops@example.com] } }
///   route:
///     receiver: chat
///     group_by: [alertname, service]
///     group_wait: 30s
///     group_interval: 5m
///     repeat_interval: 4h
///     routes:
///       - { match: [severity=page], receiver: pager, continue: true }
///   inhibit:
///     - { source: [alertname=NodeDown], target: [severity=~"warning|critical"], equal: [node] }
///   events: [custom.disk_alarm]
///   resolve_timeout: 5m
/// ```
public enum AlertingSection: SpecSection {
    public static let key = "alerting"
    static let keys = ["receivers", "route", "inhibit", "events", "resolve_timeout", "node"]
    static let receiverKinds = ["webhook", "slack", "pagerduty", "email"]
    static let commonKeys = ["url", "ca", "timeout", "attempts", "send_resolved"]
    static let routeKeys = [
        "receiver", "match", "group_by", "group_wait", "group_interval", "repeat_interval", "continue", "routes",
    ]
    /// PagerDuty's Events API v2 endpoint.
    public static let pagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

    public static func read(_ node: Node, _ context: SpecContext, _ r: inout YAMLReader) -> AlertingSpec? {
        guard let f = r.mapping(node, key: key, allowed: keys, required: ["receivers", "route"]) else { return nil }
        let before = r.issues.count
        var spec = AlertingSpec()
        var declared: [String] = []
        if let n = f["receivers"], let entries = r.namedEntries(n, key: "alerting.receivers", what: "receivers") {
            for (name, keyNode, value) in entries.prefix(1000) {
                declared.append(name)
                guard SpecLoader.isValidName(name) else {
                    r.fail(
                        keyNode,
                        "alerting.receivers.\(name)",
                        "receiver names are letters, digits, '-', '_' and '.'"
                    )
                    continue
                }
                if let receiver = readReceiver(name, value, context, &r) { spec.receivers[name] = receiver }
            }
        }
        if let n = f["route"] {
            var depth = 0
            spec.route = readRoute(n, key: "alerting.route", parent: nil, receivers: declared, depth: &depth, &r)
        }
        if let n = f["inhibit"] {
            if case .sequence(let items) = n {
                for (i, item) in items.prefix(1000).enumerated() {
                    let k = "alerting.inhibit[\(i)]"
                    guard
                        let rf = r.mapping(
                            item,
                            key: k,
                            allowed: ["source", "target", "equal"],
                            required: ["source", "target"]
                        )
                    else { continue }
                    // A missing source or target was reported by the mapping check.
                    guard let sn = rf["source"], let tn = rf["target"],
                        let source = matchers(sn, key: "\(k).source", &r),
                        let target = matchers(tn, key: "\(k).target", &r)
                    else { continue }
                    var equal: [String] = []
                    if let en = rf["equal"], let names = r.stringList(en, key: "\(k).equal", what: "label names") {
                        equal = names
                    }
                    spec.inhibit.append(InhibitRule(source: source, target: target, equal: equal))
                }
            } else {
                r.fail(
                    n,
                    "alerting.inhibit",
                    "expected a list of { source, target, equal }, found \(YAMLReader.describe(n))"
                )
            }
        }
        if let n = f["events"], let types = r.stringList(n, key: "alerting.events", what: "event types") {
            spec.events = Array(types.prefix(1000))
        }
        if let n = f["resolve_timeout"], let d = r.duration(n, key: "alerting.resolve_timeout", min: .seconds(1)) {
            spec.resolveTimeout = d
        }
        if let n = f["node"], let name = r.string(n, key: "alerting.node", what: "a node name") { spec.node = name }
        return r.issues.count == before ? spec : nil
    }

    static func matchers(_ n: Node, key: String, _ r: inout YAMLReader) -> [LabelMatcher]? {
        guard let texts = r.stringList(n, key: key, what: "matchers such as service=api") else { return nil }
        var result: [LabelMatcher] = []
        for (i, text) in texts.prefix(100).enumerated() {
            do {
                result.append(try LabelMatcher.parse(text))
            } catch {
                let item: Node = if case .sequence(let items) = n, i < items.count { items[i] } else { n }
                r.fail(item, key, error.message)
                return nil
            }
        }
        return result
    }

    static func readReceiver(
        _ name: String,
        _ node: Node,
        _ context: SpecContext,
        _ r: inout YAMLReader
    )
        -> ReceiverSpec?
    {
        let key = "alerting.receivers.\(name)"
        guard let f = r.mapping(node, key: key, allowed: receiverKinds) else { return nil }
        let kinds = receiverKinds.compactMap { k in f[k].map { (k, $0) } }
        // An unknown kind alone was reported already.
        if kinds.isEmpty, case .mapping(let m) = node, !m.isEmpty { return nil }
        guard kinds.count == 1, let (kindName, body) = kinds.first else {
            r.fail(node, key, "expected exactly one of \(receiverKinds.joined(separator: ", "))")
            return nil
        }
        let k = "\(key).\(kindName)"
        let allowed: [String] =
            switch kindName {
            case "pagerduty": commonKeys + ["routing_key"]
            case "email": ["smtp", "sendmail", "from", "to", "timeout", "attempts", "send_resolved"]
            default: commonKeys
            }
        let required: [String] =
            switch kindName {
            case "pagerduty": ["routing_key"]
            case "email": ["from", "to"]
            default: ["url"]
            }
        guard let b = r.mapping(body, key: k, allowed: allowed, required: required) else { return nil }
        var url = ""
        if let n = b["url"] {
            guard let u = SpecLoader.outboundURL(n, key: "\(k).url", example: "https://hooks.example.com/warden", &r)
            else {
                return nil
            }
            url = u
        }
        let kind: ReceiverSpec.Kind
        switch kindName {
        case "webhook": kind = .webhook(url: url)
        case "slack": kind = .slack(url: url)
        case "pagerduty":
            guard let rn = b["routing_key"],
                let reference = r.string(rn, key: "\(k).routing_key", what: "a secret reference such as env:PD_KEY")
            else { return nil }
            switch context.loader.resolveSecret(reference) {
            case .success(let secret): kind = .pagerDuty(url: url.isEmpty ? pagerDutyURL : url, routingKey: secret)
            case .failure(let problem):
                r.fail(rn, "\(k).routing_key", problem.message)
                return nil
            }
        default:
            var email = EmailSpec(from: "", to: [])
            switch (b["smtp"], b["sendmail"]) {
            case (let s?, nil):
                guard let text = r.string(s, key: "\(k).smtp", what: "host:port"),
                    HostPort.parse(text, defaultPort: 25) != nil
                else {
                    r.fail(s, "\(k).smtp", "expected host:port of an SMTP server, such as 127.0.0.1:25")
                    return nil
                }
                email.smtp = text
            case (nil, let s?):
                guard let path = r.string(s, key: "\(k).sendmail", what: "a program path"), path.hasPrefix("/") else {
                    r.fail(
                        s,
                        "\(k).sendmail",
                        "expected the absolute path of a sendmail program, such as /usr/sbin/sendmail"
                    )
                    return nil
                }
                email.sendmail = path
            default:
                r.fail(body, k, "expected one of smtp (host:port) or sendmail (a program)")
                return nil
            }
            // A missing from or to was reported by the mapping check.
            guard let fromNode = b["from"], let toNode = b["to"],
                let from = r.string(fromNode, key: "\(k).from", what: "an address"),
                let to = r.stringList(toNode, key: "\(k).to", what: "addresses")
            else { return nil }
            for address in [from] + to where !isAddress(address) {
                r.fail(
                    body,
                    k,
                    "'\(address.prefix(100))' is not a mail address (name@host, no spaces or angle brackets)"
                )
                return nil
            }
            guard !to.isEmpty else {
                r.fail(toNode, "\(k).to", "expected at least one address")
                return nil
            }
            email.from = from
            email.to = to
            kind = .email(email)
        }
        var receiver = ReceiverSpec(name: name, kind: kind)
        if let n = b["ca"] {
            guard let file = SpecLoader.caFile(n, key: "\(k).ca", baseDir: context.baseDir, &r) else { return nil }
            receiver.caFile = file
        }
        if let n = b["timeout"], let d = r.duration(n, key: "\(k).timeout", min: .milliseconds(100), max: .seconds(300))
        {
            receiver.timeout = d
        }
        if let n = b["attempts"], let v = r.int(n, key: "\(k).attempts", range: 1...20) { receiver.attempts = v }
        if let n = b["send_resolved"], let v = r.bool(n, key: "\(k).send_resolved") { receiver.sendResolved = v }
        return receiver
    }

    /// A plain address: something@host, printable, no spaces, brackets or line breaks (it goes
    /// into SMTP commands and headers).
    static func isAddress(_ s: String) -> Bool {
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        return s.utf8.count <= 254 && parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
            && s.unicodeScalars.allSatisfy {
                $0.value > 32 && $0.value < 127 && !"<>(),;:\"[]\\".unicodeScalars.contains($0)
            }
    }

    static func readRoute(
        _ node: Node,
        key: String,
        parent: RouteSpec?,
        receivers: [String],
        depth: inout Int,
        _ r: inout YAMLReader
    ) -> RouteSpec {
        var route = parent ?? RouteSpec(receiver: "")
        route.routes = []
        route.matchers = []
        route.continue = false
        depth += 1
        defer { depth -= 1 }
        guard depth <= 16 else {
            r.fail(node, key, "routes nest at most 16 deep")
            return route
        }
        guard let f = r.mapping(node, key: key, allowed: routeKeys, required: parent == nil ? ["receiver"] : []) else {
            return route
        }
        if let n = f["receiver"], let name = r.string(n, key: "\(key).receiver", what: "a receiver name") {
            if !receivers.contains(name) {
                var message = "no receiver named '\(name.prefix(100))'"
                if let guess = DidYouMean.suggest(name, from: receivers) { message += "; did you mean '\(guess)'?" }
                r.fail(n, "\(key).receiver", message)
            }
            route.receiver = name
        }
        if let n = f["match"], let m = matchers(n, key: "\(key).match", &r) { route.matchers = m }
        if parent == nil, !route.matchers.isEmpty, let n = f["match"] {
            r.fail(n, "\(key).match", "the root route takes every alert; put matchers on its routes")
        }
        if let n = f["group_by"], let labels = r.stringList(n, key: "\(key).group_by", what: "label names") {
            route.groupBy = Array(labels.prefix(64))
        }
        if let n = f["group_wait"], let d = r.duration(n, key: "\(key).group_wait", max: .seconds(86400)) {
            route.groupWait = d
        }
        if let n = f["group_interval"],
            let d = r.duration(n, key: "\(key).group_interval", min: .seconds(1), max: .seconds(86400))
        {
            route.groupInterval = d
        }
        if let n = f["repeat_interval"],
            let d = r.duration(n, key: "\(key).repeat_interval", min: .seconds(1), max: .seconds(30 * 86400))
        {
            route.repeatInterval = d
        }
        if let n = f["continue"], let b = r.bool(n, key: "\(key).continue") { route.continue = b }
        if let n = f["routes"] {
            if case .sequence(let items) = n {
                let parentForChildren = route
                for (i, item) in items.prefix(1000).enumerated() {
                    route.routes.append(
                        readRoute(
                            item,
                            key: "\(key).routes[\(i)]",
                            parent: parentForChildren,
                            receivers: receivers,
                            depth: &depth,
                            &r
                        )
                    )
                }
            } else {
                r.fail(n, "\(key).routes", "expected a list of routes, found \(YAMLReader.describe(n))")
            }
        }
        return route
    }
}
