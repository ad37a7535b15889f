import Foundation
import WardenCore
import WardenIdentity
import Yams

extension Spec {
    /// The HTTP API (the defaults when the loader had no ``APISection``, or the spec no `api:`).
    public var api: APISpec { sections[APISection.self] ?? APISpec() }
}

/// The `api:` section of the spec, read next to the server it configures: give it to the loader
/// (`SpecLoader(sections: [APISection.self])`) and read it back as `spec.api`.
public enum APISection: SpecSection {
    public static let key = "api"

    static let apiKeys = [
        "listen", "anonymous_read", "tokens", "max_body", "rate", "burst", "idle_timeout", "query_timeout",
        "max_query_series", "max_query_points", "auth_failures", "tls", "oidc",
    ]
    static let tokenKeys = ["name", "role", "secret"]

    public static func read(_ node: Node, _ context: SpecContext, _ r: inout YAMLReader) -> APISpec? {
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
                switch context.loader.resolveSecret(reference) {
                case .success(let secret):
                    api.tokens.append(TokenSpec(name: name, role: role, reference: reference, secret: secret))
                case .failure(let problem): r.fail(secretNode, "\(key).secret", problem.message)
                }
            }
        }
        if let n = f["tls"] { api.tls = readTLS(n, context, &r) }
        if let n = f["oidc"] { api.oidc = OIDCSpecReader.read(n, context, hasTLS: f["tls"] != nil, &r) }
        return api
    }

    /// `tls: { cert: PATH, key: PATH, ca: PATH }`: the pair must load and go together.
    static func readTLS(_ node: Node, _ context: SpecContext, _ r: inout YAMLReader) -> APITLS? {
        guard let f = r.mapping(node, key: "api.tls", allowed: ["cert", "key", "ca"], required: ["cert", "key"])
        else { return nil }
        func path(_ name: String) -> String? {
            guard let n = f[name], let text = r.string(n, key: "api.tls.\(name)", what: "a file path") else {
                return nil
            }
            guard !text.isEmpty, text.utf8.count <= 4096, !text.contains("\0") else {
                r.fail(n, "api.tls.\(name)", "expected a file path of 1 to 4096 bytes")
                return nil
            }
            let absolute = text.hasPrefix("/") ? text : context.baseDir + "/" + text
            guard FileManager.default.isReadableFile(atPath: absolute) else {
                r.fail(n, "api.tls.\(name)", "cannot read \(absolute); check that it exists and Warden may read it")
                return nil
            }
            return absolute
        }
        let cert = path("cert")
        let key = path("key")
        let ca = f["ca"] == nil ? nil : path("ca")
        guard let cert, let key, f["ca"] == nil || ca != nil else { return nil }
        do {
            _ = try TLSCertificates.context(cert: cert, key: key)
        } catch {
            r.fail(f["cert"], "api.tls.cert", error.message)
            return nil
        }
        return APITLS(cert: cert, key: key, ca: ca)
    }

    /// `10 in 1m` or `{ allow: 10, per: 1m, max_penalty: 15m }`.
    static func readAuthFailures(_ node: Node, into limit: inout AuthFailureLimit, _ r: inout YAMLReader) {
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
}
