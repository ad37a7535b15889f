import Foundation
import Synchronization
import Yams

/// Secret references: what the spec writes instead of a secret.
extension SpecLoader {
    /// Resolves `env:NAME` or `file:PATH`; a literal secret in the spec is refused. During a
    /// parse, a reference read is noted (never its value) for the audit trail.
    public func resolveSecret(_ reference: String) -> Result<Secret, SecretProblem> {
        let result = readSecret(reference)
        if case .success = result { secretReads?.note(reference) }
        return result
    }

    private func readSecret(_ reference: String) -> Result<Secret, SecretProblem> {
        Self.read(reference, environment: environment, vault: secretReads?.vault)
    }

    /// Reads one secret reference (`vault:PATH#FIELD` with `vault`, `env:NAME` from
    /// `environment`, `file:PATH`). Blocking for a Vault read.
    public static func read(
        _ reference: String,
        environment: [String: String],
        vault: VaultSession?
    ) -> Result<Secret, SecretProblem> {
        if reference.hasPrefix("vault:") {
            guard let vault else {
                return .failure(
                    SecretProblem(message: "a vault: reference needs the spec's vault: section (address and auth)")
                )
            }
            return vault.read(reference)
        }
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
            SecretProblem(
                message:
                    "secrets are referenced, never written in the spec: use env:NAME, file:PATH or vault:PATH#FIELD"
            )
        )
    }

    /// Why a secret reference could not be resolved (never contains the secret).
    public struct SecretProblem: Error {
        public var message: String
    }
}

/// The secret references a parse read, in order, each once; and the parse's Vault session.
final class SecretReads: Sendable {
    private let references = Mutex<[String]>([])
    private let session = Mutex<VaultSession?>(nil)

    var vault: VaultSession? {
        get { session.withLock { $0 } }
        set { session.withLock { $0 = newValue } }
    }

    func note(_ reference: String) {
        references.withLock { if !$0.contains(reference) { $0.append(reference) } }
    }

    var all: [String] { references.withLock { $0 } }
}

extension SpecLoader {
    static let vaultKeys = ["address", "ca", "token", "approle", "refresh"]

    /// `vault: { address, ca, token | approle: { role_id, secret_id } }`: the session the rest of
    /// the parse reads `vault:` references with.
    func readVault(_ node: Node, baseDir: String, _ r: inout YAMLReader) -> VaultSession? {
        guard let f = r.mapping(node, key: "vault", allowed: Self.vaultKeys, required: ["address"]) else { return nil }
        guard let n = f["address"], let address = r.string(n, key: "vault.address", what: "http(s)://host:port") else {
            return nil
        }
        let trimmed = address.hasSuffix("/") ? String(address.dropLast()) : address
        let rest = trimmed.hasPrefix("https://") ? trimmed.dropFirst(8) : trimmed.dropFirst(7)
        guard trimmed.hasPrefix("http://") || trimmed.hasPrefix("https://"), !rest.contains("/"),
            HostPort.parse(String(rest), defaultPort: 8200) != nil
        else {
            r.fail(
                n,
                "vault.address",
                "found '\(address.prefix(200))'; expected http(s)://host:port such as https://vault:8200"
            )
            return nil
        }
        var caFile: String?
        if let c = f["ca"] {
            caFile = Self.caFile(c, key: "vault.ca", baseDir: baseDir, &r)
            if caFile == nil { return nil }
        }
        func secret(_ node: Node, _ key: String) -> Secret? {
            guard let reference = r.string(node, key: key, what: "env:NAME or file:PATH") else { return nil }
            guard !reference.hasPrefix("vault:") else {
                r.fail(node, key, "Warden's own Vault credential cannot come from Vault; use env:NAME or file:PATH")
                return nil
            }
            switch resolveSecret(reference) {
            case .success(let s): return s
            case .failure(let problem):
                r.fail(node, key, problem.message)
                return nil
            }
        }
        let auth: VaultSpec.Auth
        switch (f["token"], f["approle"]) {
        case (let t?, nil):
            guard let token = secret(t, "vault.token") else { return nil }
            auth = .token(token)
        case (nil, let a?):
            guard
                let af = r.mapping(
                    a,
                    key: "vault.approle",
                    allowed: ["role_id", "secret_id"],
                    required: ["role_id", "secret_id"]
                ),
                let roleNode = af["role_id"], let secretNode = af["secret_id"],
                let role = secret(roleNode, "vault.approle.role_id"),
                let secretID = secret(secretNode, "vault.approle.secret_id")
            else { return nil }
            auth = .appRole(roleID: role, secretID: secretID)
        default:
            r.fail(node, "vault", "give one way to log in: token (env:NAME or file:PATH) or approle")
            return nil
        }
        guard let http = vaultHTTP else {
            r.fail(node, "vault", "this program cannot reach Vault (no HTTP client was given to the spec loader)")
            return nil
        }
        var vault = VaultSpec(address: trimmed, caFile: caFile, auth: auth)
        if let n = f["refresh"], let d = r.duration(n, key: "vault.refresh", min: .seconds(1), max: .seconds(86400)) {
            vault.refresh = d
        }
        return VaultSession(spec: vault, http: http)
    }
}

extension SpecLoader {
    /// Whether `reference` is a well-formed secret reference, and what is wrong when it is not
    /// (nothing is read: a service's secrets are read when it starts).
    func checkReference(_ reference: String) -> String? {
        if reference.hasPrefix("vault:") {
            guard secretReads?.vault != nil else {
                return "a vault: reference needs the spec's vault: section (address and auth)"
            }
            let body = reference.dropFirst(6)
            guard let hash = body.lastIndex(of: "#"), hash != body.startIndex, body.index(after: hash) != body.endIndex,
                body.utf8.count <= 1100
            else { return "expected vault:PATH#FIELD such as vault:secret/data/app#password" }
            return nil
        }
        if reference.hasPrefix("env:") { return reference.count > 4 ? nil : "expected env:NAME" }
        if reference.hasPrefix("file:") { return reference.count > 5 ? nil : "expected file:PATH" }
        return "expected a secret reference: vault:PATH#FIELD, env:NAME or file:PATH"
    }
}
