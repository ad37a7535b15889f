import Foundation
import Synchronization

/// The `vault:` section: where `vault:PATH#FIELD` secret references are read (HashiCorp Vault or
/// OpenBao, over their HTTP API), and how Warden logs in.
public struct VaultSpec: Sendable, Equatable {
    /// `http://host:port` or `https://host:port`.
    public var address: String
    /// A PEM file of the authorities to trust for an https address instead of the system's.
    public var caFile: String?
    public var auth: Auth
    /// How often secrets that services use are read again (`vault.refresh`).
    public var refresh: Duration = .seconds(60)

    public enum Auth: Sendable, Equatable {
        /// A token, itself a secret reference (`file:/etc/warden/vault-token`, `env:NAME`).
        case token(Secret)
        /// AppRole: a role id and a secret id (each a secret reference).
        case appRole(roleID: Secret, secretID: Secret)
    }

    public init(address: String, caFile: String? = nil, auth: Auth) {
        self.address = address
        self.caFile = caFile
        self.auth = auth
    }
}

/// One blocking HTTP exchange, for code that must wait for the answer synchronously (the spec
/// loader reading a secret). Implementations verify certificates.
public protocol BlockingHTTP: Sendable {
    /// The status and body of the answer (at most 1 MiB), or why there is none.
    func exchange(
        method: String,
        url: String,
        headers: [(String, String)],
        body: [UInt8],
        caFile: String?,
        timeout: Duration
    ) -> Result<(status: Int, body: [UInt8]), OutboundError>
}

/// Reads secrets from Vault: logs in (AppRole) when it has no token, reads each path once per
/// pass (a spec load is one pass; ``beginPass()`` starts another), renews an AppRole token when
/// half its lease is gone and logs in again when Vault no longer takes it. Every problem is said
/// without the secret: the path, the field, what Vault answered. Blocking: call it off the
/// cooperative pool.
public final class VaultSession: Sendable {
    public let spec: VaultSpec
    let http: any BlockingHTTP
    private struct State {
        var token: Secret?
        var documents: [String: JSONValue] = [:]
        /// When the AppRole token was issued or renewed, and its lease.
        var leaseStart: Instant?
        var lease: Duration?
    }
    private let state = Mutex(State())
    static let timeout = Duration.seconds(10)
    let clock: any WardenClock = SystemClock()

    /// Starts a new pass: paths are read from Vault again, and the token is renewed when half its
    /// lease is gone (or dropped, to log in again, when renewal is refused).
    public func beginPass() {
        let (token, due) = state.withLock { s -> (Secret?, Bool) in
            s.documents = [:]
            guard let start = s.leaseStart, let lease = s.lease else { return (s.token, false) }
            return (s.token, clock.now() - start >= lease / 2)
        }
        guard let token, due, case .appRole = spec.auth else { return }
        let answer = call("POST", "auth/token/renew-self", token: token, body: Array("{}".utf8))
        let lease: Int64? =
            if case .success(let (status, body)) = answer, status == 200 {
                JSONValue.parse(String(decoding: body, as: UTF8.self))?["auth"]?["lease_duration"]?.intValue
            } else { nil }
        let now = clock.now()
        state.withLock { s in
            if let lease, lease > 0 {
                s.leaseStart = now
                s.lease = .seconds(lease)
            } else {
                s.token = nil
                s.leaseStart = nil
            }
        }
    }

    public init(spec: VaultSpec, http: any BlockingHTTP) {
        self.spec = spec
        self.http = http
    }

    /// `vault:PATH#FIELD`: the field of the secret at PATH (KV version 2 paths such as
    /// `secret/data/app`, or version 1 such as `kv/app`).
    public func read(_ reference: String) -> Result<Secret, SpecLoader.SecretProblem> {
        let body = reference.dropFirst("vault:".count)
        guard let hash = body.lastIndex(of: "#") else {
            return .failure(.init(message: "expected vault:PATH#FIELD such as vault:secret/data/app#password"))
        }
        let path = String(body[..<hash])
        let field = String(body[body.index(after: hash)...])
        guard !path.isEmpty, !field.isEmpty, path.utf8.count <= 1024,
            path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy({
                !$0.isEmpty && $0 != ".." && $0 != "."
                    && $0.allSatisfy { c in c.isLetter || c.isNumber || "-_.".contains(c) }
            })
        else {
            return .failure(
                .init(message: "expected vault:PATH#FIELD with a path of letters, digits, '-', '_', '.' between '/'")
            )
        }
        let document: JSONValue
        switch self.document(path) {
        case .success(let d): document = d
        case .failure(let problem): return .failure(problem)
        }
        // KV version 2 nests the fields under data.data; version 1 under data.
        let fields = document["data"]?["data"]?.objectValue != nil ? document["data"]?["data"] : document["data"]
        guard let value = fields?[field] else {
            return .failure(.init(message: "the secret at \(path) in Vault has no field '\(field)'"))
        }
        guard let text = value.stringValue, !text.isEmpty else {
            return .failure(.init(message: "the field '\(field)' of \(path) in Vault is not a non-empty string"))
        }
        return .success(Secret(text))
    }

    private func document(_ path: String, retried: Bool = false) -> Result<JSONValue, SpecLoader.SecretProblem> {
        if let cached = state.withLock({ $0.documents[path] }) { return .success(cached) }
        let token: Secret
        switch login() {
        case .success(let t): token = t
        case .failure(let problem): return .failure(problem)
        }
        switch call("GET", path, token: token) {
        case .failure(let problem): return .failure(problem)
        case .success(let (status, body)):
            // An AppRole token Vault no longer takes (expired, revoked): log in again, once.
            if status == 403, !retried, case .appRole = spec.auth {
                state.withLock { $0.token = nil }
                return document(path, retried: true)
            }
            guard status == 200, let document = JSONValue.parse(String(decoding: body, as: UTF8.self)) else {
                return .failure(.init(message: Self.explain(status, body, "reading \(path)", spec.address)))
            }
            state.withLock { $0.documents[path] = document }
            return .success(document)
        }
    }

    private func login() -> Result<Secret, SpecLoader.SecretProblem> {
        if let token = state.withLock({ $0.token }) { return .success(token) }
        switch spec.auth {
        case .token(let token):
            state.withLock { $0.token = token }
            return .success(token)
        case .appRole(let roleID, let secretID):
            let body = JSONValue.object([
                "role_id": .string(String(decoding: roleID.bytes, as: UTF8.self)),
                "secret_id": .string(String(decoding: secretID.bytes, as: UTF8.self)),
            ])
            switch call("POST", "auth/approle/login", token: nil, body: Array(body.jsonText.utf8)) {
            case .failure(let problem): return .failure(problem)
            case .success(let (status, body)):
                let auth = JSONValue.parse(String(decoding: body, as: UTF8.self))?["auth"]
                guard status == 200, let token = auth?["client_token"]?.stringValue, !token.isEmpty else {
                    return .failure(.init(message: Self.explain(status, body, "logging in with AppRole", spec.address)))
                }
                let secret = Secret(token)
                let lease = auth?["lease_duration"]?.intValue
                let now = clock.now()
                state.withLock { s in
                    s.token = secret
                    s.leaseStart = lease.map { _ in now }
                    s.lease = lease.flatMap { $0 > 0 ? .seconds($0) : nil }
                }
                return .success(secret)
            }
        }
    }

    /// One call to Vault's HTTP API (`/v1/<path>`), with the token when given; no answer at all
    /// is the problem "cannot reach Vault".
    private func call(
        _ method: String,
        _ path: String,
        token: Secret?,
        body: [UInt8] = []
    ) -> Result<(status: Int, body: [UInt8]), SpecLoader.SecretProblem> {
        var headers: [(String, String)] = [("Content-Type", "application/json")]
        if let token { headers.append(("X-Vault-Token", String(decoding: token.bytes, as: UTF8.self))) }
        let answer = http.exchange(
            method: method,
            url: "\(spec.address)/v1/\(path)",
            headers: headers,
            body: body,
            caFile: spec.caFile,
            timeout: Self.timeout
        )
        return answer.mapError { .init(message: "cannot reach Vault at \(spec.address): \($0.message)") }
    }

    /// What Vault's refusal means, with its own error messages (which never hold a secret).
    static func explain(_ status: Int, _ body: [UInt8], _ what: String, _ address: String) -> String {
        let errors = (JSONValue.parse(String(decoding: body.prefix(4096), as: UTF8.self))?["errors"]?.arrayValue ?? [])
            .compactMap(\.stringValue).map { String($0.prefix(200)) }.joined(separator: "; ")
        let said = errors.isEmpty ? "" : " (\(errors))"
        switch status {
        case 503: return "Vault at \(address) is sealed or not ready\(said)"
        case 403: return "Vault refused \(what)\(said); check the token's or the role's policy"
        case 404: return "Vault has nothing at the path when \(what)\(said)"
        case 400: return "Vault refused \(what)\(said)"
        default: return "Vault answered HTTP \(status) when \(what)\(said)"
        }
    }
}
