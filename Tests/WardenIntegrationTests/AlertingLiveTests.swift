import Foundation
import Testing
import WardenCore
import WardenSLO
import WardenTestSupport

/// `alerting:` under `warden run`, against real receivers on loopback: an HTTPS server with a CA of
/// the test's own takes the Alertmanager-style webhook, the Slack-style chat message and the
/// PagerDuty Events v2 calls; a local SMTP server takes the mail. Silences made and expired with
/// the CLI, resolved notifications, and a receiver that keeps failing reported.
@Suite("Alerting, live", .timeLimit(.minutes(3)))
struct AlertingLiveTests {
    init() { becomeSubreaper() }

    @Test func alertsReachEveryReceiverSilencesMuteAndResolutionsFollow() async throws {
        let lab = try await TLSLab()
        let smtp = try await SMTPSink()
        let f = Fixture("services: {}\n")
        let key = f.dir.write("pd.key", "R0UT1NGKEY")
        let go = f.dir.file("go")
        let healthy = f.dir.file("healthy")
        let https = "https://127.0.0.1:\(lab.port)"
        f.write(
            """
            alerting:
              node: n1
              receivers:
                hook: { webhook: { url: "\(https)/hook", ca: "\(lab.caFile)" } }
                chat: { slack: { url: "\(https)/chat", ca: "\(lab.caFile)" } }
                pager: { pagerduty: { url: "\(https)/v2/enqueue", routing_key: "file:\(key)", ca: "\(lab.caFile)" } }
                mail: { email: { smtp: "127.0.0.1:\(smtp.port)", from: warden@test.example, to: [ops@test.example] } }
                dead: { webhook: { url: "http://127.0.0.1:1/none", attempts: 1, timeout: 1s } }
              route:
                receiver: hook
                group_by: [alertname, service, subject]
                group_wait: 0s
                group_interval: 1s
                routes:
                  - { match: [severity=critical], receiver: pager, continue: true }
                  - { match: [severity=critical], receiver: chat, continue: true }
                  - { match: [severity=critical], receiver: mail, continue: true }
                  - { match: [severity=critical], receiver: dead, continue: true }
                  - { match: [severity=critical], receiver: hook }
              events: [custom.page]
            services:
              flaky:
                run: [sh, -c, "[ -e \(healthy) ] && exec sleep 300; exit 3"]
                restart: { backoff: 10ms..10ms, give_up: 2 in 60s }
              muted:
                run: [sh, -c, "while [ ! -e \(go) ]; do sleep 0.05; done; exit 4"]
                restart: { backoff: 10ms..10ms, give_up: 1 in 60s }
            """
        )
        let w = try f.start()

        // flaky is given up on: a critical alert to every receiver.
        try await f.waitFor(EventType.serviceFailed, "flaky")
        for receiver in ["hook", "chat", "pager", "mail"] {
            try await f.waitFor(EventType.notificationSent, receiver)
        }
        try await f.waitFor(EventType.notificationFailed, "dead")
        let bodies = lab.bodies.compactMap { JSONValue.parse($0) }
        let webhook = try #require(bodies.first { $0["version"]?.stringValue == "4" }, "\(lab.bodies)")
        #expect(webhook["status"]?.stringValue == "firing")
        #expect(webhook["receiver"]?.stringValue == "hook")
        let alert = try #require(webhook["alerts"]?.arrayValue?.first)
        #expect(alert["labels"]?["alertname"]?.stringValue == "ServiceFailed")
        #expect(alert["labels"]?["service"]?.stringValue == "flaky")
        #expect(alert["labels"]?["node"]?.stringValue == "n1")
        #expect(alert["annotations"]?["summary"]?.stringValue?.contains("exit code 3") == true, "\(alert)")
        let fingerprint = try #require(alert["fingerprint"]?.stringValue)
        let chat = try #require(bodies.first { $0["text"] != nil })
        #expect(chat["text"]?.stringValue?.hasPrefix("[FIRING:1] ServiceFailed (flaky") == true, "\(chat)")
        let page = try #require(bodies.first { $0["event_action"]?.stringValue == "trigger" })
        #expect(page["routing_key"]?.stringValue == "R0UT1NGKEY")
        #expect(page["dedup_key"]?.stringValue == fingerprint)
        #expect(page["payload"]?["severity"]?.stringValue == "critical")
        #expect(page["payload"]?["source"]?.stringValue == "n1")
        let mail = try #require(smtp.mails.first)
        #expect(mail.hasPrefix("X-Envelope: <warden@test.example> -> <ops@test.example>"), "\(mail)")
        #expect(mail.contains("Subject: [FIRING:1] ServiceFailed (flaky"), "\(mail)")
        #expect(mail.contains("service flaky failed"), "\(mail)")

        // A silence made with the CLI mutes muted's alert; another alert still goes out.
        let added = try await warden(
            "silence",
            "add",
            "service=muted",
            "--for",
            "1h",
            "--comment",
            "deploying",
            "-c",
            f.config
        )
        #expect(added.exitCode == 0, "\(added.stderr)")
        let silenceID = try #require(added.stdout.split(separator: ":").first.map(String.init))
        let listed = try await warden("silence", "list", "-c", f.config)
        #expect(listed.stdout.contains(silenceID) && listed.stdout.contains("active"), "\(listed.stdout)")
        FileManager.default.createFile(atPath: go, contents: nil)
        try await f.waitFor(EventType.serviceFailed, "muted")
        try await eventually("muted's alert is known and silenced") {
            let alerts = try await warden("alerts", "--json", "-c", f.config)
            let rows = JSONValue.parse(alerts.stdout)?.arrayValue ?? []
            return rows.contains {
                $0["labels"]?["service"]?.stringValue == "muted" && $0["state"]?.stringValue == "silenced"
                    && $0["silenced_by"]?.arrayValue?.first?.stringValue == silenceID
            }
        }
        let published = try await f.client().send(
            "POST",
            "/v1/events",
            body: Data(
                #"{"type": "custom.page", "subject": "disk", "payload": {"severity": "critical", "summary": "disk almost full"}}"#
                    .utf8
            )
        )
        #expect(published.status == 201 || published.status == 200, "\(published.status)")
        try await eventually("the custom alert reached the webhook") {
            lab.bodies.contains { $0.contains("disk almost full") && $0.contains("\"version\":\"4\"") }
        }
        #expect(!lab.bodies.contains { $0.contains("muted") }, "nothing about the silenced service went out")
        #expect(!smtp.mails.contains { $0.contains("muted") })

        // flaky recovers: resolved notifications, PagerDuty's resolve by the same key.
        FileManager.default.createFile(atPath: healthy, contents: nil)
        let started = try await warden("start", "flaky", "-c", f.config)
        #expect(started.exitCode == 0, "\(started.stderr)")
        try await eventually("the resolution reached the webhook and PagerDuty") {
            let all = lab.bodies.compactMap { JSONValue.parse($0) }
            return all.contains { $0["version"] != nil && $0["status"]?.stringValue == "resolved" }
                && all.contains {
                    $0["event_action"]?.stringValue == "resolve" && $0["dedup_key"]?.stringValue == fingerprint
                }
        }
        // The dead receiver failed three notifications in a row: reported once.
        let failing = try await f.waitFor(EventType.receiverFailing, "dead")
        #expect(failing[0].payload["failures"]?.intValue == 3)

        // Expiring the silence lets muted's alert out.
        let expired = try await warden("silence", "expire", silenceID, "-c", f.config)
        #expect(expired.exitCode == 0, "\(expired.stderr)")
        try await eventually("muted's alert went out once its silence ended") {
            lab.bodies.contains { $0.contains("\"service\":\"muted\"") }
        }
        #expect(try await w.stop() == .exited(0))
        let events = try await f.events()
        #expect(events.contains { $0.type == EventType.silenceCreated && $0.subject == silenceID })
        #expect(events.contains { $0.type == EventType.silenceExpired && $0.subject == silenceID })
    }

    /// `email: { sendmail: PROGRAM }`: Warden runs a sendmail-compatible program (`-i -f FROM --
    /// TO…`, the message on its input). The program here is the test's own, in Python: it hands
    /// the message to the local SMTP server with smtplib, as sendmail hands it to its MTA.
    @Test func mailGoesThroughASendmailProgram() async throws {
        let smtp = try await SMTPSink()
        let f = Fixture("services: {}\n")
        let python = try #require(which("python3"))
        let sendmail = f.dir.write(
            "sendmail",
            """
            #!\(python)
            import smtplib, sys
            args = sys.argv[1:]
            assert args[0] == "-i" and args[1] == "-f" and args[3] == "--", args
            message = sys.stdin.buffer.read()
            with smtplib.SMTP("127.0.0.1", \(smtp.port)) as s:
                s.sendmail(args[2], args[4:], message)
            """
        )
        chmod(sendmail, 0o755)
        f.write(
            """
            alerting:
              receivers:
                mail: { email: { sendmail: "\(sendmail)", from: warden@test.example, to: [ops@test.example, dev@test.example] } }
              route: { receiver: mail, group_wait: 0s }
              events: [custom.page]
            services: {}
            """
        )
        let w = try f.start()
        try await f.waitUp()
        let published = try await f.client().send(
            "POST",
            "/v1/events",
            body: Data(#"{"type": "custom.page", "subject": "disk", "payload": {"summary": "disk almost full"}}"#.utf8)
        )
        #expect(published.status == 201 || published.status == 200)
        try await f.waitFor(EventType.notificationSent, "mail")
        let mail = try #require(smtp.mails.first)
        #expect(mail.hasPrefix("X-Envelope: <warden@test.example> -> <ops@test.example>,<dev@test.example>"), "\(mail)")
        #expect(mail.contains("Subject: [FIRING:1] custom.page"), "\(mail)")
        #expect(mail.contains("disk almost full"))
        #expect(try await w.stop() == .exited(0))
    }

    @Test func badSilencesAreRefusedWithTheField() async throws {
        let f = Fixture(
            """
            alerting:
              receivers: { hook: { webhook: { url: "http://127.0.0.1:1/x" } } }
              route: { receiver: hook }
            """
        )
        let w = try f.start()
        try await f.waitUp()
        let client = try f.client()
        let cases: [(String, String)] = [
            (#"{"matchers": [], "for": "1h", "comment": "x"}"#, "matchers"),
            (#"{"matchers": ["service"], "for": "1h", "comment": "x"}"#, "matchers[0]"),
            (#"{"matchers": ["service=~("], "for": "1h", "comment": "x"}"#, "matchers[0]"),
            (#"{"matchers": ["team=~.*"], "for": "1h", "comment": "x"}"#, "matchers"),
            (#"{"matchers": ["service=api"], "for": "forever", "comment": "x"}"#, "for"),
            (#"{"matchers": ["service=api"], "comment": "x"}"#, "for"),
            (#"{"matchers": ["service=api"], "for": "1h"}"#, "comment"),
            (#"{"matchers": ["service=api"], "ends_at": "2001-01-01T00:00:00Z", "comment": "x"}"#, "matchers"),
            (#"[1, 2]"#, ""),
        ]
        for (body, field) in cases {
            let r = try await client.send("POST", "/v1/silences", body: Data(body.utf8))
            #expect(r.status == 400, "\(body): \(r.status)")
            let error = JSONValue.parse(String(decoding: r.body, as: UTF8.self))?["error"]
            #expect(
                (error?["field"]?.stringValue ?? "") == field,
                "\(body): \(String(decoding: r.body, as: UTF8.self))"
            )
        }
        let missing = try await client.send("DELETE", "/v1/silences/nope")
        #expect(missing.status == 404)
        #expect(try await w.stop() == .exited(0))
    }
}
