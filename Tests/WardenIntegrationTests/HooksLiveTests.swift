import Crypto
import Foundation
import Testing
import WardenCore
import WardenHTTP
import WardenSupervisor
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Events from outside: a real Alertmanager delivering its webhook to Warden, GitHub-style and
/// timestamped signatures (replays and forgeries refused), and `POST /v1/events`.
@Suite("Webhooks and published events, live", .timeLimit(.minutes(3)))
struct HooksLiveTests {
    static let githubSecret = "github-hook-secret-Qm3"
    static let billingSecret = "billing-hook-secret-Zp8"

    func fixture(amToken: String = "am-hook-token-Vx2") -> Fixture {
        let f = Fixture("services: {}\n")
        let am = f.dir.write("am-token", amToken)
        let gh = f.dir.write("gh-secret", Self.githubSecret)
        let billing = f.dir.write("billing-secret", Self.billingSecret)
        let viewer = f.dir.write("viewer-token", "viewer-token-Hh4")
        f.write(
            """
            services:
              s:
                run: [SAMPLE]
            hooks:
              alertmanager:
                format: alertmanager
                verify: { token: file:\(am) }
              github:
                format: github
                verify: { github: file:\(gh) }
              billing:
                format: json
                verify: { timestamped: { header: Billing-Signature, secret: file:\(billing), tolerance: 5m } }
                event: billing.paid
                subject: data.object.id
                max_body: 2KB
            """
        )
        // The viewer token goes beside the fixture's own api line.
        let text = try! String(contentsOfFile: f.config, encoding: .utf8).replacingOccurrences(
            of: "api: { listen: 127.0.0.1:\(f.port) }",
            with:
                "api: { listen: 127.0.0.1:\(f.port), tokens: [{ name: watcher, role: viewer, secret: file:\(viewer) }] }"
        )
        try! text.write(toFile: f.config, atomically: true, encoding: .utf8)
        return f
    }

    @Test func aRealAlertmanagerDeliversItsAlertsAsEvents() async throws {
        guard let alertmanager = which("prometheus-alertmanager") ?? which("alertmanager") else {
            throw OpenBao.Missing(
                description: "alertmanager is not installed (apt-get install prometheus-alertmanager)"
            )
        }
        let f = fixture()
        let w = try f.start()
        _ = try await f.waitRunning(["s"])
        let amPort = freePort()
        let config = f.dir.write(
            "alertmanager.yml",
            """
            route: { receiver: warden, group_wait: 0s, group_interval: 1s, repeat_interval: 1h }
            receivers:
              - name: warden
                webhook_configs:
                  - url: http://127.0.0.1:\(f.port)/v1/hooks/alertmanager
                    send_resolved: true
                    http_config: { authorization: { credentials: am-hook-token-Vx2 } }
            """
        )
        let log = open(f.dir.file("alertmanager.log"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        var request = SpawnRequest(
            executable: alertmanager,
            arguments: [
                alertmanager, "--config.file=\(config)", "--storage.path=\(f.dir.file("am-data"))",
                "--web.listen-address=127.0.0.1:\(amPort)", "--cluster.listen-address=",
            ],
            environment: ProcessInfo.processInfo.environment
        )
        request.stdout = log
        request.stderr = log
        let am = try ChildProcess.spawn(request)
        close(log)
        defer { am.signalGroup(SIGKILL) }
        let api = WardenAPIClient(host: "127.0.0.1", port: amPort, token: nil, timeout: .seconds(5))
        try await eventually("Alertmanager answers", timeout: .seconds(30)) {
            (try? await api.send("GET", "/-/ready"))?.status == 200
        }
        let alert =
            #"[{"labels":{"alertname":"DiskFull","instance":"db1","severity":"page"},"annotations":{"summary":"disk at 95%"}}]"#
        #expect(try await api.send("POST", "/api/v2/alerts", body: Data(alert.utf8)).status == 200)
        let firing = try await f.waitFor("alert.firing", "DiskFull")
        #expect(firing.first?.source == "hook:alertmanager")
        #expect(firing.first?.payload["labels"]?["instance"]?.stringValue == "db1")
        #expect(firing.first?.payload["annotations"]?["summary"]?.stringValue == "disk at 95%")
        #expect(firing.first?.payload["receiver"]?.stringValue == "warden")
        // Resolved: the same alert with its end in the past.
        let ended = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-1))
        let resolved = #"[{"labels":{"alertname":"DiskFull","instance":"db1","severity":"page"},"endsAt":"\#(ended)"}]"#
        #expect(try await api.send("POST", "/api/v2/alerts", body: Data(resolved.utf8)).status == 200)
        _ = try await f.waitFor("alert.resolved", "DiskFull")
        #expect(try await w.stop() == .exited(0))
    }

    @Test func signaturesAreCheckedAndReplaysAndForgeriesRefused() async throws {
        let f = fixture()
        let w = try f.start()
        _ = try await f.waitRunning(["s"])
        // GitHub: a push event body as GitHub sends it, signed as GitHub signs it.
        let push =
            #"{"ref":"refs/heads/main","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","after":"0000000000000000000000000000000000000000","repository":{"id":186853002,"name":"repo","full_name":"octo/repo","private":false},"pusher":{"name":"octocat"},"sender":{"login":"octocat","id":1},"compare":"https://github.com/octo/repo/compare/6113728f27ae...000000000000","commits":[]}"#
        func github(
            _ body: String,
            signing signed: String? = nil,
            secret: String = Self.githubSecret,
            delivery: String
        ) async throws -> Int {
            let mac = HMAC<SHA256>.authenticationCode(
                for: Data((signed ?? body).utf8),
                using: SymmetricKey(data: Data(secret.utf8))
            )
            let hex = mac.map { String(format: "%02x", $0) }.joined()
            return try await post(
                f,
                "/v1/hooks/github",
                body,
                ["X-Hub-Signature-256": "sha256=\(hex)", "X-GitHub-Event": "push", "X-GitHub-Delivery": delivery]
            )
        }
        #expect(try await github(push, delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958") == 202)
        let pushed = try await f.waitFor("github.push", "octo/repo")
        #expect(pushed.first?.payload["sender"]?.stringValue == "octocat")
        #expect(pushed.first?.payload["ref"]?.stringValue == "refs/heads/main")
        // The same delivery again (GitHub's redelivery): taken, nothing new.
        #expect(try await github(push, delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958") == 200)
        // A forged signature, and a body changed under a real one.
        #expect(try await github(push, secret: "guessed", delivery: "other-1") == 401)
        #expect(
            try await github(push.replacingOccurrences(of: "main", with: "prod"), signing: push, delivery: "other-2")
                == 401
        )

        // Timestamped: now, and ten minutes old.
        let paid = #"{"type":"invoice.paid","data":{"object":{"id":"in_1MtHbELkdIwHu7ixl4OzzPMv","amount_paid":2000}}}"#
        func billing(_ body: String, at t: Int, secret: String = Self.billingSecret) async throws -> Int {
            let mac = HMAC<SHA256>.authenticationCode(
                for: Data("\(t).\(body)".utf8),
                using: SymmetricKey(data: Data(secret.utf8))
            )
            let hex = mac.map { String(format: "%02x", $0) }.joined()
            return try await post(f, "/v1/hooks/billing", body, ["Billing-Signature": "t=\(t),v1=\(hex)"])
        }
        let now = Int(Date().timeIntervalSince1970)
        #expect(try await billing(paid, at: now) == 202)
        let invoice = try await f.waitFor("billing.paid", "in_1MtHbELkdIwHu7ixl4OzzPMv")
        #expect(invoice.first?.payload["data"]?["object"]?["amount_paid"]?.intValue == 2000)
        #expect(try await billing(paid, at: now) == 200, "the same signature twice is a replay")
        #expect(try await billing(paid, at: now - 600) == 401, "outside the tolerance")
        #expect(try await billing(paid, at: now, secret: "nope") == 401)
        let big = #"{"data":{"object":{"id":"x","pad":""# + String(repeating: "a", count: 3000) + #""}}}"#
        #expect(try await billing(big, at: now) == 413)
        #expect(try await post(f, "/v1/hooks/nosuch", "{}", [:]) == 404)
        // Exactly one event each: the replays, forgeries and refusals published nothing.
        let events = try await f.events()
        #expect(events.filter { $0.type == "github.push" }.count == 1)
        #expect(events.filter { $0.type == "billing.paid" }.count == 1)
        #expect(try await w.stop() == .exited(0))
    }

    @Test func operatorsPublishEventsAndReservedTypesAreRefused() async throws {
        let f = fixture()
        let w = try f.start()
        _ = try await f.waitRunning(["s"])
        let client = try f.client()
        let body = #"{"type": "custom.disk_alarm", "subject": "db", "payload": {"used": 0.97}}"#
        let made = try await client.send("POST", "/v1/events", body: Data(body.utf8))
        #expect(made.status == 201, "\(made.errorMessage)")
        let id = JSONValue.parse(String(decoding: made.body, as: UTF8.self))?["id"]?.intValue
        // Stored when answered: it is in the store's own listing at once.
        let stored = try await f.events("--type", "custom.disk_alarm")
        #expect(stored.map(\.id) == [id].compactMap { $0 }, "\(stored)")
        #expect(stored.first?.source.hasPrefix("api:") == true)
        #expect(stored.first?.payload["used"]?.doubleValue == 0.97)
        for (bad, field) in [
            (#"{"type": "audit.service.restart", "subject": "s"}"#, "type"),
            (#"{"type": "gitops.rolled_back", "subject": "gitops", "payload": {"commit": "x"}}"#, "type"),
            (#"{"type": "custom x", "subject": "s"}"#, "type"),
            (#"{"type": "custom.a", "subject": ""}"#, "subject"),
            (#"{"type": "custom.a", "subject": "s", "payload": [1]}"#, "payload"),
            (#"{"type": "custom.a", "subject": "s", "extra": 1}"#, "extra"),
        ] {
            let answer = try await client.send("POST", "/v1/events", body: Data(bad.utf8))
            #expect(answer.status == 400, "\(bad)")
            #expect(
                JSONValue.parse(String(decoding: answer.body, as: UTF8.self))?["error"]?["field"]?.stringValue == field,
                "\(bad): \(answer.errorMessage)"
            )
        }
        let viewer = WardenAPIClient(host: "127.0.0.1", port: f.port, token: "viewer-token-Hh4")
        #expect(try await viewer.send("POST", "/v1/events", body: Data(body.utf8)).status == 403)
        #expect(try await w.stop() == .exited(0))
    }

    /// From outside to action: an Alertmanager-shaped alert posted to the hook becomes an event a
    /// healing policy acts on, and the incident records the runbook's output.
    @Test func aWebhookAlertTriggersAHealingPolicy() async throws {
        let f = Fixture("services: {}\n")
        let token = f.dir.write("am-token", "am-hook-token-Vx2")
        f.write(
            """
            healing: { verify: 5s, settle: 0s }
            policies:
              disk-pressure:
                when: alert.firing
                if: { subject: DiskFull }
                then: [exec /bin/sh -c "echo rotating logs for db1"]
            services:
              s:
                run: [SAMPLE]
            hooks:
              alertmanager:
                format: alertmanager
                verify: { token: file:\(token) }
            """
        )
        let w = try f.start()
        _ = try await f.waitRunning(["s"])
        let alert =
            #"{"version":"4","status":"firing","receiver":"warden","alerts":[{"status":"firing","labels":{"alertname":"DiskFull","instance":"db1"},"annotations":{},"startsAt":"2026-12-01T00:00:00Z"}]}"#
        #expect(
            try await post(f, "/v1/hooks/alertmanager", alert, ["Authorization": "Bearer am-hook-token-Vx2"]) == 202
        )
        let done = try await f.waitFor("incident.resolved")
        #expect(done.count == 1)
        let incidents = try await warden("incidents", "-c", f.config, "--json")
        #expect(incidents.stdout.contains("disk-pressure"), "\(incidents.stdout)")
        let id = try #require(
            JSONValue.parse(incidents.stdout)?.arrayValue?.first?["id"]?.stringValue,
            "\(incidents.stdout)"
        )
        let shown = try await warden("incident", id, "-c", f.config, "--json")
        #expect(shown.stdout.contains("rotating logs for"), "the runbook's output is in the incident: \(shown.stdout)")
        #expect(shown.stdout.contains("DiskFull"), "\(shown.stdout)")
        #expect(try await w.stop() == .exited(0))
    }

    /// POSTs `body` with `headers` to the fixture's API (no bearer token): the status.
    func post(_ f: Fixture, _ path: String, _ body: String, _ headers: [String: String]) async throws -> Int {
        let url = "http://127.0.0.1:\(f.port)\(path)"
        let answer = await blockingWork {
            BlockingHTTPClient.shared.exchange(
                method: "POST",
                url: url,
                headers: [("Content-Type", "application/json")] + headers.map { ($0.key, $0.value) },
                body: Array(body.utf8),
                caFile: nil,
                timeout: .seconds(10)
            )
        }
        switch answer {
        case .success(let (status, _)): return status
        case .failure(let e): throw e
        }
    }
}
