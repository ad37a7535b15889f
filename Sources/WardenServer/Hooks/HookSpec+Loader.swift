import WardenCore
import Yams

extension Spec {
    /// The spec's webhooks, by name (none when the loader had no ``HooksSection``).
    public var hooks: [String: HookSpec] { sections[HooksSection.self] ?? [:] }
}

/// Reads `hooks:`:
///
/// ```yaml
/// hooks:
///   alertmanager:
///     format: alertmanager                       # alertmanager, grafana, github or json
///     verify: { token: env:AM_HOOK_TOKEN }       # Authorization: Bearer <token>
///   github:
///     format: github
///     verify: { github: env:GITHUB_HOOK_SECRET } # X-Hub-Signature-256
///   billing:
///     format: json
///     verify: { timestamped: { header: Stripe-Signature, secret: env:BILLING_SECRET, tolerance: 5m } }
///     event: billing.paid                        # the event type (format json)
///     subject: data.object.id                    # the field whose value is the subject
///     max_body: 256KB
/// ```
public enum HooksSection: SpecSection {
    public static let key = "hooks"
    static let hookKeys = ["format", "verify", "event", "subject", "max_body"]

    public static func read(_ node: Node, _ context: SpecContext, _ r: inout YAMLReader) -> [String: HookSpec]? {
        guard let entries = r.namedEntries(node, key: "hooks", what: "webhooks") else { return nil }
        var hooks: [String: HookSpec] = [:]
        for (name, keyNode, value) in entries.prefix(200) {
            let key = "hooks.\(name)"
            guard name.utf8.count <= 64,
                name.utf8.allSatisfy({
                    ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F
                })
            else {
                r.fail(
                    keyNode,
                    key,
                    "hook names are 1 to 64 lowercase letters, digits, '-' or '_' (they are URL paths)"
                )
                continue
            }
            guard let f = r.mapping(value, key: key, allowed: hookKeys, required: ["format", "verify"]) else {
                continue
            }
            var format = HookSpec.Format.json
            if let n = f["format"], let text = r.string(n, key: "\(key).format") {
                guard let parsed = HookSpec.Format(rawValue: text) else {
                    r.fail(
                        n,
                        "\(key).format",
                        "found '\(text.prefix(50))'; expected one of \(HookSpec.Format.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                    continue
                }
                format = parsed
            }
            guard let v = f["verify"], let verification = readVerification(v, key: "\(key).verify", context, &r) else {
                continue
            }
            var hook = HookSpec(name: name, verify: verification, format: format)
            if let n = f["max_body"], let size = r.byteSize(n, key: "\(key).max_body", min: 1024, max: 16 << 20) {
                hook.maxBody = Int(size)
            }
            if let n = f["event"], let text = r.string(n, key: "\(key).event") {
                if format != .json {
                    r.fail(
                        n,
                        "\(key).event",
                        "only a json hook names its event type; \(format.rawValue) bodies say theirs"
                    )
                }
                if let problem = PublishedType.problem(text) { r.fail(n, "\(key).event", problem) }
                hook.eventType = text
            }
            if let n = f["subject"], let text = r.string(n, key: "\(key).subject") {
                if format != .json { r.fail(n, "\(key).subject", "only a json hook takes its subject from a field") }
                guard !text.isEmpty, text.utf8.count <= 256 else {
                    r.fail(n, "\(key).subject", "expected a dotted field path such as data.object.id")
                    continue
                }
                hook.subjectPath = text
            }
            hooks[name] = hook
        }
        return hooks
    }

    static func readVerification(
        _ node: Node,
        key: String,
        _ context: SpecContext,
        _ r: inout YAMLReader
    ) -> HookSpec.Verification? {
        guard let f = r.mapping(node, key: key, allowed: ["token", "github", "timestamped"]) else { return nil }
        func secret(_ n: Node, _ key: String) -> Secret? {
            guard let reference = r.string(n, key: key, what: "a secret reference") else { return nil }
            switch context.loader.resolveSecret(reference) {
            case .success(let s): return s
            case .failure(let problem):
                r.fail(n, key, problem.message)
                return nil
            }
        }
        let given = ["token", "github", "timestamped"].filter { f[$0] != nil }
        guard given.count == 1 else {
            r.fail(node, key, "give one way to verify callers: token, github or timestamped")
            return nil
        }
        switch given[0] {
        case "token":
            let n = f["token"]!
            if case .mapping = n {
                guard let t = r.mapping(n, key: "\(key).token", allowed: ["header", "secret"], required: ["secret"]),
                    let sn = t["secret"], let s = secret(sn, "\(key).token.secret")
                else { return nil }
                var header = "Authorization"
                if let h = t["header"], let text = r.string(h, key: "\(key).token.header") {
                    guard isHeaderName(text) else {
                        r.fail(h, "\(key).token.header", "expected a header name such as X-Hook-Token")
                        return nil
                    }
                    header = text
                }
                return .token(header: header, secret: s)
            }
            return secret(n, "\(key).token").map { .token(header: "Authorization", secret: $0) }
        case "github":
            return secret(f["github"]!, "\(key).github").map { .github(secret: $0) }
        default:
            let n = f["timestamped"]!
            guard
                let t = r.mapping(
                    n,
                    key: "\(key).timestamped",
                    allowed: ["header", "secret", "tolerance"],
                    required: ["secret"]
                ),
                let sn = t["secret"], let s = secret(sn, "\(key).timestamped.secret")
            else { return nil }
            var header = "Stripe-Signature"
            if let h = t["header"], let text = r.string(h, key: "\(key).timestamped.header") {
                guard isHeaderName(text) else {
                    r.fail(h, "\(key).timestamped.header", "expected a header name such as X-Signature")
                    return nil
                }
                header = text
            }
            var tolerance = Duration.seconds(300)
            if let d = t["tolerance"],
                let parsed = r.duration(d, key: "\(key).timestamped.tolerance", min: .seconds(1), max: .seconds(3600))
            {
                tolerance = parsed
            }
            return .timestamped(header: header, secret: s, tolerance: tolerance)
        }
    }

    static func isHeaderName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64
            && text.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }
    }
}
