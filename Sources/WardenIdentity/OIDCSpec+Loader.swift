import Foundation
import WardenCore
import Yams

/// Reads `api.oidc`:
///
/// ```yaml
/// oidc:
///   issuers:
///     - url: https://id.example.com/realms/ops
///       audience: warden                 # or a list
///       ca: /etc/warden/id-ca.pem        # optional
///       roles: { claim: groups, viewer: [ops-read], operator: [ops], admin: [ops-admin] }
///       mfa: { claim: amr, methods: [otp, hwk], required_for: operator }   # the default
///       username_claim: preferred_username
///       refresh: 1h
///       keys_max_age: 24h
///       leeway: 60s
///   login:
///     issuer: https://id.example.com/realms/ops
///     client_id: warden
///     client_secret: env:WARDEN_OIDC_SECRET
///     redirect: https://warden.example.com:7070/auth/callback
///     session: 8h
/// ```
public enum OIDCSpecReader {
    static let keys = ["issuers", "login"]
    static let issuerKeys = [
        "url", "audience", "ca", "roles", "mfa", "username_claim", "refresh", "keys_max_age", "leeway",
    ]
    static let roleKeys = ["claim", "viewer", "operator", "admin"]
    static let mfaKeys = ["claim", "methods", "required_for"]
    static let loginKeys = ["issuer", "client_id", "client_secret", "redirect", "scopes", "session"]

    /// `hasTLS`: whether the API listens with TLS (a login needs it: its cookie is Secure).
    public static func read(_ node: Node, _ context: SpecContext, hasTLS: Bool, _ r: inout YAMLReader) -> OIDCSpec? {
        guard let f = r.mapping(node, key: "api.oidc", allowed: keys, required: ["issuers"]) else { return nil }
        var spec = OIDCSpec(issuers: [])
        if let n = f["issuers"] {
            guard case .sequence(let items) = n, !items.isEmpty, items.count <= 20 else {
                r.fail(
                    n,
                    "api.oidc.issuers",
                    "expected a list of 1 to 20 issuers like { url: https://…, audience: warden, roles: {…} }"
                )
                return nil
            }
            for (i, item) in items.enumerated() {
                guard let issuer = readIssuer(item, key: "api.oidc.issuers[\(i)]", context, &r) else { continue }
                if spec.issuers.contains(where: { $0.issuer == issuer.issuer }) {
                    r.fail(item, "api.oidc.issuers[\(i)].url", "the issuer \(issuer.issuer) is listed twice")
                }
                spec.issuers.append(issuer)
            }
        }
        if let n = f["login"] {
            spec.login = readLogin(n, context, issuers: spec.issuers, hasTLS: hasTLS, &r)
        }
        return spec
    }

    static func readIssuer(_ node: Node, key: String, _ context: SpecContext, _ r: inout YAMLReader) -> OIDCIssuerSpec?
    {
        guard let f = r.mapping(node, key: key, allowed: issuerKeys, required: ["url", "audience", "roles"]) else {
            return nil
        }
        guard let urlNode = f["url"], let url = httpsURL(urlNode, key: "\(key).url", &r) else { return nil }
        var spec = OIDCIssuerSpec(issuer: url, audiences: [])
        if let n = f["audience"], let list = r.stringList(n, key: "\(key).audience", what: "client ids") {
            guard !list.isEmpty, list.count <= 20, list.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 256 }) else {
                r.fail(n, "\(key).audience", "expected 1 to 20 client ids (what the provider writes in aud)")
                return nil
            }
            spec.audiences = list
        }
        if let n = f["ca"] {
            guard let path = SpecLoader.caFile(n, key: "\(key).ca", baseDir: context.baseDir, &r) else { return nil }
            spec.caFile = path
        }
        if let n = f["roles"], let roles = r.mapping(n, key: "\(key).roles", allowed: roleKeys) {
            if let c = roles["claim"], let path = claimPath(c, key: "\(key).roles.claim", &r) {
                spec.roles.claim = path
            }
            for role in Role.allCases {
                guard let v = roles[role.rawValue],
                    let values = r.stringList(v, key: "\(key).roles.\(role.rawValue)", what: "claim values")
                else { continue }
                spec.roles.values[role] = values
            }
            if spec.roles.values.values.allSatisfy(\.isEmpty) {
                r.fail(
                    n,
                    "\(key).roles",
                    "map at least one claim value to a role, e.g. { claim: groups, operator: [ops] }"
                )
            }
        }
        if let n = f["mfa"], let m = r.mapping(n, key: "\(key).mfa", allowed: mfaKeys) {
            if let c = m["claim"], let path = claimPath(c, key: "\(key).mfa.claim", &r) { spec.mfa.claim = path }
            if let v = m["methods"], let methods = r.stringList(v, key: "\(key).mfa.methods", what: "amr values") {
                if methods.isEmpty { r.fail(v, "\(key).mfa.methods", "name at least one method, such as otp or hwk") }
                spec.mfa.methods = methods
            }
            if let v = m["required_for"], let text = r.string(v, key: "\(key).mfa.required_for") {
                if text == "none" {
                    spec.mfa.requiredFrom = nil
                } else if let role = Role(rawValue: text) {
                    spec.mfa.requiredFrom = role
                } else {
                    r.fail(
                        v,
                        "\(key).mfa.required_for",
                        "found '\(text)'; expected viewer, operator, admin or none (the lowest role that needs a second factor)"
                    )
                }
            }
        }
        if let n = f["username_claim"], let path = claimPath(n, key: "\(key).username_claim", &r) {
            spec.usernameClaim = path
        }
        if let n = f["refresh"],
            let d = r.duration(n, key: "\(key).refresh", min: .seconds(10), max: .seconds(7 * 86400))
        {
            spec.refresh = d
        }
        if let n = f["keys_max_age"],
            let d = r.duration(n, key: "\(key).keys_max_age", min: .seconds(1), max: .seconds(30 * 86400))
        {
            spec.keysMaxAge = d
        }
        if let n = f["leeway"], let d = r.duration(n, key: "\(key).leeway", min: .zero, max: .seconds(600)) {
            spec.leeway = d
        }
        return spec
    }

    static func readLogin(
        _ node: Node,
        _ context: SpecContext,
        issuers: [OIDCIssuerSpec],
        hasTLS: Bool,
        _ r: inout YAMLReader
    ) -> OIDCLoginSpec? {
        let key = "api.oidc.login"
        guard
            let f = r.mapping(
                node,
                key: key,
                allowed: loginKeys,
                required: ["issuer", "client_id", "client_secret", "redirect"]
            )
        else { return nil }
        guard hasTLS else {
            r.fail(node, key, "the dashboard's sign-in needs api.tls: its session cookie is only sent over HTTPS")
            return nil
        }
        guard let issuerNode = f["issuer"], let issuer = r.string(issuerNode, key: "\(key).issuer") else { return nil }
        guard issuers.contains(where: { $0.issuer == issuer }) else {
            r.fail(
                issuerNode,
                "\(key).issuer",
                "found '\(issuer)'; expected one of the issuers' urls: \(issuers.map(\.issuer).joined(separator: ", "))"
            )
            return nil
        }
        guard let idNode = f["client_id"], let clientID = r.string(idNode, key: "\(key).client_id"),
            !clientID.isEmpty, clientID.utf8.count <= 256
        else { return nil }
        guard let secretNode = f["client_secret"], let reference = r.string(secretNode, key: "\(key).client_secret")
        else { return nil }
        let secret: Secret
        switch context.loader.resolveSecret(reference) {
        case .success(let s): secret = s
        case .failure(let problem):
            r.fail(secretNode, "\(key).client_secret", problem.message)
            return nil
        }
        guard let redirectNode = f["redirect"], let redirect = httpsURL(redirectNode, key: "\(key).redirect", &r) else {
            return nil
        }
        guard redirect.hasSuffix("/auth/callback") else {
            r.fail(
                redirectNode,
                "\(key).redirect",
                "found '\(redirect)'; expected Warden's callback as the browser reaches it, ending in /auth/callback"
            )
            return nil
        }
        var login = OIDCLoginSpec(issuer: issuer, clientID: clientID, clientSecret: secret, redirect: redirect)
        if let n = f["scopes"], let scopes = r.stringList(n, key: "\(key).scopes", what: "scopes") {
            guard scopes.count <= 20,
                scopes.allSatisfy({
                    $0.utf8.count <= 64 && $0.allSatisfy { $0.isLetter || $0.isNumber || "_-.:".contains($0) }
                })
            else {
                r.fail(n, "\(key).scopes", "expected up to 20 scope names (letters, digits, _ - . :)")
                return nil
            }
            login.scopes = scopes.filter { $0 != "openid" }
        }
        if let n = f["session"],
            let d = r.duration(n, key: "\(key).session", min: .seconds(60), max: .seconds(30 * 86400))
        {
            login.session = d
        }
        return login
    }

    static func httpsURL(_ node: Node, key: String, _ r: inout YAMLReader) -> String? {
        guard let text = r.string(node, key: key, what: "an https:// URL") else { return nil }
        guard text.hasPrefix("https://"), text.utf8.count > 8, text.utf8.count <= 2048,
            !text.contains(where: { $0.isWhitespace || $0 == "\0" || $0 == "#" || $0 == "?" })
        else {
            r.fail(
                node,
                key,
                "found '\(text.prefix(100))'; expected an https:// URL without query or fragment (tokens and keys are only taken over HTTPS)"
            )
            return nil
        }
        return text
    }

    static func claimPath(_ node: Node, key: String, _ r: inout YAMLReader) -> String? {
        guard let text = r.string(node, key: key, what: "a claim name") else { return nil }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard !text.isEmpty, text.utf8.count <= 256, parts.count <= 8, parts.allSatisfy({ !$0.isEmpty }) else {
            r.fail(
                node,
                key,
                "found '\(text.prefix(100))'; expected a claim name or a dotted path such as realm_access.roles"
            )
            return nil
        }
        return text
    }
}
