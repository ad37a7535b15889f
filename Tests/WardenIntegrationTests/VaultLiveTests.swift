import Foundation
import Testing
import WardenCore
import WardenHTTP
import WardenSupervisor
import WardenTestSupport

/// `vault:PATH#FIELD` secret references read from a real OpenBao server: with a token file and
/// with AppRole; what Vault refuses (a wrong secret id, a missing field, a sealed or unreachable
/// server) is a located spec error that names the reference, never the secret.
@Suite("Secrets from OpenBao, live", .timeLimit(.minutes(2)))
struct VaultLiveTests {
    /// A spec whose API token is `vault:secret/data/warden#api`, logging in with `auth`.
    func spec(_ f: Fixture, _ bao: OpenBao, auth: String, reference: String = "vault:secret/data/warden#api") -> String
    {
        """
        state_dir: \(f.stateDir)
        vault: { address: \(bao.address), \(auth) }
        api: { listen: 127.0.0.1:\(f.port), tokens: [{ name: ops, role: operator, secret: "\(reference)" }] }
        services:
          s:
            run: [\(Binaries.sample)]
        """
    }

    @Test func anAPITokenFromOpenBaoWorksAndItsValueIsNowhere() async throws {
        let bao = try await OpenBao()
        let planted = "from-openbao-Z8k2Lq9Wv3Nx"
        try await bao.put("warden", ["api": planted])
        let f = Fixture("services: {}\n")
        let tokenFile = f.dir.write("vault-token", bao.rootToken + "\n")
        try spec(f, bao, auth: "token: file:\(tokenFile)").write(toFile: f.config, atomically: true, encoding: .utf8)
        let valid = try await warden("validate", f.config)
        #expect(valid.exitCode == 0, "\(valid.stdout)\(valid.stderr)")
        let w = try f.start()
        _ = try await f.waitRunning(["s"])
        let ops = WardenAPIClient(host: "127.0.0.1", port: f.port, token: planted)
        #expect(try await ops.send("POST", "/v1/services/s/restart").status == 202)
        let reads = try await f.waitFor("audit.secret.read", "vault:secret/data/warden#api")
        #expect(reads.first?.payload["when"]?.stringValue == "start")
        #expect(try await w.stop() == .exited(0))
        let events = try await warden("events", "-c", f.config, "--json", "--limit", "10000")
        var places: [(String, [UInt8])] = [
            ("the log", Array(w.output.utf8)), ("the events", Array(events.stdout.utf8)),
        ]
        for name in try FileManager.default.contentsOfDirectory(atPath: f.stateDir) where name.hasPrefix("warden.db") {
            places.append((name, Array(try Data(contentsOf: URL(fileURLWithPath: f.stateDir + "/" + name)))))
        }
        for (place, bytes) in places {
            #expect(bytes.firstRange(of: Array(planted.utf8)) == nil, "the secret is in \(place)")
        }
    }

    /// `env: { DB_PASSWORD: vault:… }`: the service waits (saying why) while Vault cannot be
    /// reached and the rest start; it starts with the secret once Vault answers, and is restarted
    /// with the new value when the secret changes. The values are nowhere Warden writes.
    @Test func aServiceGetsItsSecretFromOpenBaoWaitsWhileItIsAwayAndRestartsWhenItRotates() async throws {
        let f = Fixture("services: {}\n")
        let port = freePort()
        let tokenFile = f.dir.write("vault-token", "warden-test-root-token\n")
        let out = f.dir.file("seen-password")
        try """
        state_dir: \(f.stateDir)
        vault: { address: http://127.0.0.1:\(port), token: file:\(tokenFile), refresh: 1s }
        api: { listen: 127.0.0.1:\(f.port) }
        services:
          client:
            run: [/bin/sh, -c, 'printf %s "$DB_PASSWORD" > \(out).tmp && mv \(out).tmp \(out) && exec sleep 1000']
            env: { DB_PASSWORD: "vault:secret/data/db#password", MODE: plain }
          other:
            run: [\(Binaries.sample)]
        """.write(toFile: f.config, atomically: true, encoding: .utf8)
        let w = try f.start()
        _ = try await f.waitRunning(["other"])
        // Vault is not there yet: the client waits and says for what; nothing was started.
        var waiting: ServiceStatus?
        try await eventually("the client waits for its secret") {
            waiting = try await f.status().first { $0.name == "client" }
            return waiting?.state == "waiting" && waiting?.waitingFor.first?.contains("cannot reach") == true
        }
        #expect(
            waiting?.waitingFor.count == 1
                && waiting?.waitingFor[0].hasPrefix(
                    "secret vault:secret/data/db#password: cannot reach Vault at http://127.0.0.1:\(port)"
                ) == true && waiting?.waitingFor[0].lowercased().contains("refused") == true,
            "\(String(describing: waiting))"
        )
        #expect(!FileManager.default.fileExists(atPath: out))

        let bao = try await OpenBao(port: port)
        let first = "db-pass-one-Q7w2Ze"
        try await bao.put("db", ["password": first])
        let pids = try await f.waitRunning(["client"])
        try await eventually("the client saw its password") {
            (try? String(contentsOfFile: out, encoding: .utf8)) == first
        }
        let second = "db-pass-two-K4r9Xm"
        try await bao.put("db", ["password": second])
        let rotated = try await f.waitFor("secret.rotated", "client")
        #expect(rotated.first?.payload["reference"]?.stringValue == "vault:secret/data/db#password")
        try await eventually("the client was restarted with the new password") {
            (try? String(contentsOfFile: out, encoding: .utf8)) == second
        }
        #expect(try await f.waitRunning(["client"])["client"] != pids["client"])

        // Neither value is anywhere Warden writes or answers.
        let status = try await warden("status", "-c", f.config, "--json")
        let api = try await f.client().send("GET", "/v1/services/client")
        #expect(try await w.stop() == .exited(0))
        let events = try await warden("events", "-c", f.config, "--json", "--limit", "10000")
        var places: [(String, [UInt8])] = [
            ("warden's output", Array(w.output.utf8)), ("the events", Array(events.stdout.utf8)),
            ("warden status", Array(status.stdout.utf8)), ("the API", Array(api.body)),
        ]
        let files = FileManager.default.enumerator(atPath: f.stateDir)?.compactMap { $0 as? String } ?? []
        for name in files {
            let path = f.stateDir + "/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                let data = FileManager.default.contents(atPath: path)
            else { continue }
            places.append((name, Array(data)))
        }
        #expect(places.count > 5)
        for (place, bytes) in places {
            for planted in [first, second] {
                #expect(bytes.firstRange(of: Array(planted.utf8)) == nil, "a secret is in \(place)")
            }
        }
    }

    /// A Vault sealed when Warden starts: the service that needs a secret waits and says Vault is
    /// sealed, the other runs; unsealed, the service starts with its secret.
    @Test func aServiceWaitsWhileVaultIsSealedAndStartsOnceItIsUnsealed() async throws {
        let bao = try await OpenBao()
        try await bao.put("db", ["password": "sealed-then-open-T5v"])
        try await bao.seal()
        let f = Fixture("services: {}\n")
        let tokenFile = f.dir.write("vault-token", bao.rootToken + "\n")
        let out = f.dir.file("seen")
        try """
        state_dir: \(f.stateDir)
        vault: { address: \(bao.address), token: file:\(tokenFile), refresh: 1s }
        api: { listen: 127.0.0.1:\(f.port) }
        services:
          client:
            run: [/bin/sh, -c, 'printf %s "$DB_PASSWORD" > \(out).tmp && mv \(out).tmp \(out) && exec sleep 1000']
            env: { DB_PASSWORD: "vault:secret/data/db#password" }
          other:
            run: [\(Binaries.sample)]
        """.write(toFile: f.config, atomically: true, encoding: .utf8)
        let w = try f.start()
        _ = try await f.waitRunning(["other"])
        var waiting: [String] = []
        try await eventually("the client waits, saying Vault is sealed") {
            waiting = try await f.status().first { $0.name == "client" }?.waitingFor ?? []
            return waiting.first?.contains("is sealed") == true
        }
        #expect(
            waiting.count == 1
                && waiting[0].hasPrefix("secret vault:secret/data/db#password: Vault at \(bao.address) is sealed"),
            "\(waiting)"
        )
        try await bao.unseal()
        _ = try await f.waitRunning(["client"])
        try await eventually("the client saw its password") {
            (try? String(contentsOfFile: out, encoding: .utf8)) == "sealed-then-open-T5v"
        }
        #expect(try await w.stop() == .exited(0))
    }

    /// An AppRole token with a 4 s lease is renewed (renew-self) rather than lost, and the
    /// service's secret still follows a rotation after many leases.
    @Test func anAppRoleTokenIsRenewedBeforeItsLeaseEnds() async throws {
        let bao = try await OpenBao()
        try await bao.put("db", ["password": "renew-one-P3s8"])
        let (role, secret) = try await bao.appRole(ttl: "4s")
        let f = Fixture("services: {}\n")
        let roleFile = f.dir.write("role-id", role)
        let secretFile = f.dir.write("secret-id", secret)
        let out = f.dir.file("seen")
        try """
        state_dir: \(f.stateDir)
        vault: { address: \(bao.address), approle: { role_id: file:\(roleFile), secret_id: file:\(secretFile) }, refresh: 1s }
        api: { listen: 127.0.0.1:\(f.port) }
        services:
          client:
            run: [/bin/sh, -c, 'printf %s "$DB_PASSWORD" > \(out).tmp && mv \(out).tmp \(out) && exec sleep 1000']
            env: { DB_PASSWORD: "vault:secret/data/db#password" }
        """.write(toFile: f.config, atomically: true, encoding: .utf8)
        let w = try f.start()
        _ = try await f.waitRunning(["client"])
        // One token, renewed, alive past three of its 4 s leases: not a new login each lease.
        var tokens: [(renewed: Bool, age: Int64)] = []
        try await eventually("Warden's AppRole token lives on, renewed", timeout: .seconds(40)) {
            tokens = try await bao.appRoleTokens()
            return tokens.contains { $0.renewed && $0.age >= 12 }
        }
        #expect(tokens.count == 1, "\(tokens)")
        try await bao.put("db", ["password": "renew-two-M6q1"])
        try await eventually("the rotated secret reached the service", timeout: .seconds(30)) {
            (try? String(contentsOfFile: out, encoding: .utf8)) == "renew-two-M6q1"
        }
        #expect(try await w.stop() == .exited(0))
    }

    @Test func appRoleLogsInAndEveryRefusalIsLocated() async throws {
        let bao = try await OpenBao()
        try await bao.put("warden", ["api": "approle-token-value-123"])
        let (role, secret) = try await bao.appRole()
        let f = Fixture("services: {}\n")
        let roleFile = f.dir.write("role-id", role)
        let secretFile = f.dir.write("secret-id", secret)
        let approle = "approle: { role_id: file:\(roleFile), secret_id: file:\(secretFile) }"
        func validate(_ text: String) async throws -> CommandResult {
            try text.write(toFile: f.config, atomically: true, encoding: .utf8)
            return try await warden("validate", f.config)
        }
        let ok = try await validate(spec(f, bao, auth: approle))
        #expect(ok.exitCode == 0, "\(ok.stdout)")

        let missing = try await validate(spec(f, bao, auth: approle, reference: "vault:secret/data/warden#nope"))
        #expect(
            missing.stdout.contains(
                "api.tokens[0].secret: the secret at secret/data/warden in Vault has no field 'nope'"
            ),
            "\(missing.stdout)"
        )
        let nothing = try await validate(spec(f, bao, auth: approle, reference: "vault:secret/data/other#api"))
        #expect(
            nothing.stdout.contains("Vault has nothing at the path when reading secret/data/other"),
            "\(nothing.stdout)"
        )
        let malformed = try await validate(spec(f, bao, auth: approle, reference: "vault:secret/../sys#x"))
        #expect(malformed.stdout.contains("expected vault:PATH#FIELD"), "\(malformed.stdout)")

        let wrongFile = f.dir.write("wrong-secret-id", "00000000-0000-0000-0000-000000000000")
        let wrong = try await validate(
            spec(f, bao, auth: "approle: { role_id: file:\(roleFile), secret_id: file:\(wrongFile) }")
        )
        #expect(wrong.exitCode == 1)
        #expect(wrong.stdout.contains("Vault refused logging in with AppRole"), "\(wrong.stdout)")
        #expect(!wrong.stdout.contains(role) && !wrong.stdout.contains(secret), "no credential in the message")

        let literal = try await validate(spec(f, bao, auth: "token: \(bao.rootToken)"))
        #expect(
            literal.stdout.contains("vault.token: secrets are referenced, never written in the spec"),
            "\(literal.stdout)"
        )

        let unreachable = try await validate(
            spec(f, bao, auth: approle).replacingOccurrences(of: bao.address, with: "http://127.0.0.1:\(freePort())")
        )
        #expect(unreachable.stdout.contains("cannot reach Vault at http://127.0.0.1:"), "\(unreachable.stdout)")

        try await bao.seal()
        let sealed = try await validate(spec(f, bao, auth: approle))
        #expect(sealed.exitCode == 1)
        #expect(sealed.stdout.contains("Vault at \(bao.address) is sealed"), "\(sealed.stdout)")
    }
}
