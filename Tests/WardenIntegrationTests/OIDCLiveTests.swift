import Foundation
import Testing
import WardenCore
import WardenHTTP
import WardenTestSupport

/// Single sign-on against a real OpenID provider (Django OAuth Toolkit, see ``OpenIDProvider``):
/// its ID tokens as bearer tokens with roles from groups and MFA from `amr`; a rotated signing
/// key; the provider gone; and the dashboard's sign-in with PKCE, its cookie and CSRF.
@Suite("Single sign-on with a real OpenID provider", .timeLimit(.minutes(3)))
struct OIDCLiveTests {
    struct Setup {
        let f: Fixture
        let provider: OpenIDProvider
        let authority: TestAuthority
        let adminToken = "static-admin-token-\(UInt32.random(in: 0...UInt32.max))"

        /// `extra`: more keys of the issuer entry; `login`: the dashboard's sign-in too.
        init(extra: String = "", login: Bool = false, defense: Bool = false) async throws {
            f = Fixture("services: {}\n")
            authority = try await TestAuthority()
            provider = try await OpenIDProvider(
                authority: authority,
                redirect: "https://127.0.0.1:\(f.port)/auth/callback"
            )
            let api = try await authority.issue("warden")
            let secretFile = f.dir.write("client-secret", provider.clientSecret)
            let tokenFile = f.dir.write("admin-token", adminToken)
            let loginSection =
                login
                ? """

                    login:
                      issuer: \(provider.issuer)
                      client_id: \(provider.clientID)
                      client_secret: file:\(secretFile)
                      redirect: https://127.0.0.1:\(f.port)/auth/callback
                """ : ""
            let spec = """
                state_dir: \(f.stateDir)
                api:
                  listen: 127.0.0.1:\(f.port)
                  tls: { cert: \(api.cert), key: \(api.key), ca: \(authority.caFile) }
                  tokens: [{ name: robot, role: admin, secret: file:\(tokenFile) }]
                  oidc:
                    issuers:
                      - url: \(provider.issuer)
                        audience: \(provider.clientID)
                        ca: \(authority.caFile)
                        roles: { claim: groups, viewer: [warden-viewers], operator: [warden-operators], admin: [warden-admins] }\(extra)\(loginSection)
                services:
                  s:
                    run: [\(Binaries.sample)]
                """ + (defense ? "\ndefense: { firewall: dry-run }\n" + Self.approvalWorkflow : "")
            try spec.write(toFile: f.config, atomically: true, encoding: .utf8)
        }

        func start() throws -> WardenProcess {
            try WardenProcess(config: f.config)
        }

        /// A workflow that waits for a person, answered from the dashboard.
        static let approvalWorkflow = """
            workflows:
              deploy:
                on: [custom.deploy]
                steps:
                  ask: { approve: "Deploy {{event.subject}}?" }
                  go: { needs: [ask], publish: { type: custom.deployed, subject: "{{event.subject}}" } }
            """

        func client(_ token: String?) -> WardenAPIClient {
            WardenAPIClient(
                host: "127.0.0.1",
                port: f.port,
                token: token,
                timeout: .seconds(10),
                trust: authority.caFile
            )
        }
    }

    @Test func providerTokensCarryTheirGroupsRoleAndOperatorsNeedASecondFactor() async throws {
        let s = try await Setup()
        let w = try s.start()
        _ = try await s.f.waitRunning(["s"])
        let viewer = s.client(try await s.provider.token(for: "viewer"))
        let op = s.client(try await s.provider.token(for: "operator"))
        let noMFA = s.client(try await s.provider.token(for: "operator-nomfa"))
        let admin = s.client(try await s.provider.token(for: "admin"))

        #expect(try await viewer.send("GET", "/v1/services").status == 200)
        let refused = try await viewer.send("POST", "/v1/services/s/restart")
        #expect(refused.status == 403, "\(refused.errorMessage)")
        let restarted = try await op.send("POST", "/v1/services/s/restart")
        #expect((200..<300).contains(restarted.status), "\(restarted.errorMessage)")
        // Password only: reads, and is told why it cannot act.
        #expect(try await noMFA.send("GET", "/v1/services").status == 200)
        let capped = try await noMFA.send("POST", "/v1/services/s/restart")
        #expect(capped.status == 403)
        #expect(capped.errorMessage.contains("multi-factor"), "\(capped.errorMessage)")
        #expect(try await admin.send("POST", "/v1/reload").status == 200)
        let who = JSONValue.parse(String(decoding: try await noMFA.send("GET", "/v1/session").body, as: UTF8.self))
        #expect(who?["name"]?.stringValue == "oidc:operator-nomfa")
        #expect(who?["role"]?.stringValue == "viewer")
        // Static tokens keep working beside them.
        #expect(try await s.client(s.adminToken).send("GET", "/v1/services").status == 200)

        // A token whose claims were changed (viewer → admin's groups) is refused.
        let token = try await s.provider.token(for: "viewer")
        let parts = token.split(separator: ".").map(String.init)
        var claims = try #require(
            JSONValue.parse(String(decoding: Self.unbase64(parts[1]), as: UTF8.self))?.objectValue
        )
        claims["groups"] = .array([.string("warden-admins")])
        let forged = [parts[0], Self.base64(Array(JSONValue.object(claims).jsonText.utf8)), parts[2]].joined(
            separator: "."
        )
        let answer = try await s.client(forged).send("POST", "/v1/reload")
        #expect(answer.status == 401)
        #expect(answer.errorMessage.contains("signature"), "\(answer.errorMessage)")
        // So is a token issued to another client.
        let alg = Self.base64(Array(#"{"alg":"none","typ":"JWT"}"#.utf8))
        let unsigned = try await s.client([alg, parts[1], ""].joined(separator: ".")).send("GET", "/v1/services")
        #expect(unsigned.status == 401)
        #expect(unsigned.errorMessage.contains("not accepted"), "\(unsigned.errorMessage)")

        // The audit trail names the person for what they did and for what was refused.
        let audit = try await s.f.events("--type", "audit.service.restart")
        #expect(
            audit.contains {
                $0.payload["actor"]?.stringValue == "oidc:operator"
                    && $0.payload["status"]?.intValue == Int64(restarted.status)
            },
            "\(audit.map(\.payload))"
        )
        #expect(
            audit.contains {
                $0.payload["actor"]?.stringValue == "oidc:operator-nomfa" && $0.payload["status"]?.intValue == 403
            }
        )
        #expect(try await w.stop() == .exited(0))
    }

    @Test func aRotatedKeyIsPickedUpAndWithTheProviderGoneTokensAreRefusedOnceKeysAreTooOld() async throws {
        let s = try await Setup(extra: "\n        refresh: 10s\n        keys_max_age: 3s")
        let w = try s.start()
        _ = try await s.f.waitRunning(["s"])
        let first = s.client(try await s.provider.token(for: "viewer"))
        #expect(try await first.send("GET", "/v1/services").status == 200)
        // The provider goes away: the keys fetched keep working a while, then its tokens are refused.
        await s.provider.stop()
        var last = ""
        try await eventually("tokens refused once the keys are too old", timeout: .seconds(30)) {
            let answer = try await first.send("GET", "/v1/services")
            last = answer.errorMessage
            return answer.status == 401
        }
        #expect(last.contains("could not be fetched"), "\(last)")
        // Back with a new signing key: a token signed with it is accepted once the keys are
        // fetched again, and so is the one signed with the old key (still published).
        try await s.provider.rotateKey()
        try await s.provider.start()
        let rotated = s.client(try await s.provider.token(for: "viewer"))
        try await eventually("the rotated key is fetched", timeout: .seconds(30)) {
            try await rotated.send("GET", "/v1/services").status == 200
        }
        #expect(try await first.send("GET", "/v1/services").status == 200)
        #expect(try await w.stop() == .exited(0))
        _ = w
    }

    @Test func theDashboardSignsInThroughTheProviderWithPKCEAndSignedInWritesNeedTheCSRFToken() async throws {
        let s = try await Setup(login: true)
        let w = try s.start()
        _ = try await s.f.waitRunning(["s"])
        let python = try #require(which("python3"))
        let result = try await runCommand(
            python,
            [OpenIDProvider.login, "warden", "https://127.0.0.1:\(s.f.port)", s.authority.caFile, "operator", "s"]
        )
        #expect(result.exitCode == 0, "\(result.stderr)\n\(s.provider.log.suffix(2000))")
        let out = try #require(JSONValue.parse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(out["callbackStatus"]?.intValue == 303, "\(result.stdout)")
        let cookie = out["setCookie"]?.stringValue ?? ""
        #expect(cookie.contains("__Host-warden_session="), "\(cookie)")
        for attribute in ["HttpOnly", "Secure", "SameSite=Strict"] {
            #expect(cookie.contains(attribute), "\(cookie)")
        }
        #expect(out["session"]?["name"]?.stringValue == "oidc:operator")
        #expect(out["session"]?["role"]?.stringValue == "operator")
        #expect((out["session"]?["csrf"]?.stringValue ?? "").count >= 40)
        #expect(out["restartWithoutCSRF"]?.intValue == 403)
        #expect(out["restartWithCSRF"].flatMap(\.intValue).map { (200..<300).contains($0) } == true, "\(result.stdout)")
        #expect(out["restartFromAnotherOrigin"]?.intValue == 403)
        #expect(out["logout"]?.intValue == 204)
        #expect(out["afterLogout"]?.intValue == 401)
        #expect(out["replayElsewhere"]?.intValue == 400)
        let logins = try await s.f.events("--type", "audit.login")
        #expect(
            logins.contains {
                $0.payload["actor"]?.stringValue == "oidc:operator" && $0.payload["result"]?.stringValue == "ok"
                    && $0.payload["mfa"]?.boolValue == true
            },
            "\(logins)"
        )
        // The replayed callback had no sign-in to finish: a bad request, not a sign-in to record.
        #expect(logins.count == 1, "\(logins)")
        #expect(try await w.stop() == .exited(0))
    }

    @Test func anOperatorSignsInInABrowserAndActsWithTheDashboardsButtons() async throws {
        let s = try await Setup(login: true, defense: true)
        let w = try s.start()
        let before = try await s.f.waitRunning(["s"])
        // A run waiting for a person's approval, for the dashboard's approve button.
        let published = try await s.client(s.adminToken).send(
            "POST",
            "/v1/events",
            body: Data(#"{"type": "custom.deploy", "subject": "shop"}"#.utf8)
        )
        let runID = try #require(
            JSONValue.parse(String(decoding: published.body, as: UTF8.self))?["runs"]?.arrayValue?.first?.stringValue
        )
        let python = try #require(which("python3"))
        let out = s.f.dir.file("screenshots")
        let result = try await runCommand(
            python,
            [
                DashboardTests.repository + "/Tests/browser/signin_check.py", "https://127.0.0.1:\(s.f.port)/",
                "operator", "s", out,
            ],
            timeout: .seconds(150)
        )
        let checks = JSONValue.parse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(result.exitCode == 0, "\(result.stdout)\n\(result.stderr.suffix(3000))")
        for name in [
            "sign_in_offered", "provider_login_form", "signed_in_as", "buttons_shown", "restart_button", "ban_form",
            "unban_button", "approve_button", "signed_out", "no_console_errors",
        ] {
            #expect(checks?["checks"]?[name]?.boolValue == true, "\(name): \(result.stdout)")
        }
        // The restart button restarted the service: another process runs it now.
        let after = try await s.f.waitRunning(["s"])
        #expect(after["s"] != before["s"])
        // The approve button let the run go on, under the person's name.
        try await eventually("the approved run succeeds") {
            let r = try await s.client(s.adminToken).send("GET", "/v1/runs/\(runID)")
            let run = JSONValue.parse(String(decoding: r.body, as: UTF8.self))
            return run?["status"] == "succeeded" && run?["steps"]?["ask"]?["output"]?["by"] == "oidc:operator"
        }
        // What the buttons did is in the audit trail under the person's name.
        let bans = try await s.f.events("--type", "audit.ban")
        #expect(bans.contains { $0.payload["actor"]?.stringValue == "oidc:operator" }, "\(bans.map(\.payload))")
        #expect(try await w.stop() == .exited(0))
    }

    @Test func aSignInWithoutTLSOrWithAPlainHTTPIssuerIsASpecError() async throws {
        let f = Fixture("services: {}\n")
        let spec = """
            state_dir: \(f.stateDir)
            api:
              listen: 127.0.0.1:\(f.port)
              oidc:
                issuers:
                  - { url: http://id.example.com, audience: warden, roles: { operator: [ops] } }
                login: { issuer: http://id.example.com, client_id: warden, client_secret: env:X, redirect: https://w/auth/callback }
            services: {}
            """
        try spec.write(toFile: f.config, atomically: true, encoding: .utf8)
        let result = try await warden("validate", f.config)
        #expect(result.exitCode == 1)
        #expect(
            result.stdout.contains("api.oidc.issuers[0].url: found 'http://id.example.com'; expected an https:// URL"),
            "\(result.stdout)"
        )
        #expect(result.stdout.contains("api.oidc.login: the dashboard's sign-in needs api.tls"), "\(result.stdout)")
    }

    static func base64(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func unbase64(_ text: String) -> [UInt8] {
        var t = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        t += String(repeating: "=", count: (4 - t.count % 4) % 4)
        return Array(Data(base64Encoded: t) ?? Data())
    }
}
