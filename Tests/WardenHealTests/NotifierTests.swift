import Foundation
import Testing
import WardenCore
import WardenHTTP
import WardenHeal
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Notifications are retried with exponential backoff, on a manual clock (no real waiting).
@Suite("Notifications", .timeLimit(.minutes(1)))
struct NotifierTests {
    @Test func failuresAreRetriedWithGrowingWaitsUntilOneIsTaken() async throws {
        let server = HookListener(statuses: [503, 500, 200])
        let clock = ManualClock()
        let target = NotifySpec(name: "oncall", url: "http://127.0.0.1:\(server.port)/hook", attempts: 5)
        let delivery = Task {
            await Notifier(clock: clock, transport: AsyncHTTPTransport.shared).post(["text": "hello"], to: target)
        }
        // After each failure the notifier sleeps: 0.5 s, then 1 s (doubling), then it is taken.
        for (attempt, wait) in [(1, Duration.milliseconds(500)), (2, .seconds(1))] {
            try await eventually("attempt \(attempt) and its wait") {
                server.received.count == attempt && clock.sleeperCount == 1
            }
            let deadline = try #require(clock.nextDeadline)
            #expect(deadline - clock.now() == wait, "the wait after attempt \(attempt)")
            clock.advance(by: wait)
        }
        let result = await delivery.value
        #expect(result.delivered)
        #expect(result.attempts == 3)
        #expect(result.last == "HTTP 200")
        #expect(server.received.count == 3)
        #expect(server.received[0].contains("\"text\":\"hello\""))
    }

    @Test func theAttemptsRunOutAndTheLastAnswerIsReported() async throws {
        let server = HookListener(statuses: [502])
        let clock = ManualClock()
        let target = NotifySpec(name: "oncall", url: "http://127.0.0.1:\(server.port)/hook", attempts: 3)
        let delivery = Task {
            await Notifier(clock: clock, transport: AsyncHTTPTransport.shared).post(["text": "x"], to: target)
        }
        var waits: [Duration] = []
        for attempt in 1...2 {
            try await eventually("attempt \(attempt) and its wait") {
                server.received.count == attempt && clock.sleeperCount == 1
            }
            let wait = try #require(clock.nextDeadline) - clock.now()
            waits.append(wait)
            clock.advance(by: wait)
        }
        let result = await delivery.value
        #expect(!result.delivered)
        #expect(result.attempts == 3)
        #expect(result.last == "HTTP 502")
        #expect(waits == [.milliseconds(500), .seconds(1)])
        #expect(server.received.count == 3, "no wait after the last attempt, and no fourth")
    }

    /// HTTPS with a certificate authority of the target's own: delivered when the `ca` file is
    /// given, refused without it (the system's authorities do not know it), and refused for a
    /// certificate made out to another name.
    @Test func httpsTargetsAreVerifiedAgainstTheirCA() async throws {
        let lab = try await TLSLab()
        let url = "https://127.0.0.1:\(lab.port)/hook"
        let trusted = NotifySpec(name: "chat", url: url, attempts: 1, caFile: lab.caFile)
        let delivered = await Notifier(transport: AsyncHTTPTransport.shared).post(["text": "over tls"], to: trusted)
        #expect(delivered.delivered, "\(delivered.last)")
        #expect(delivered.last == "HTTP 200")
        #expect(lab.bodies.first?.contains("over tls") == true)

        let untrusted = NotifySpec(name: "chat", url: url, attempts: 1)
        let refused = await Notifier(transport: AsyncHTTPTransport.shared).post(["text": "x"], to: untrusted)
        #expect(!refused.delivered)
        #expect(refused.last.lowercased().contains("certificate") || refused.last.contains("TLS"), "\(refused.last)")
        #expect(lab.bodies.count == 1, "nothing was sent over an unverified connection")

        let other = try await TLSLab(certificateFor: "someone.else.example")
        let wrongName = NotifySpec(
            name: "chat",
            url: "https://127.0.0.1:\(other.port)/hook",
            attempts: 1,
            caFile: other.caFile
        )
        let mismatch = await Notifier(transport: AsyncHTTPTransport.shared).post(["text": "x"], to: wrongName)
        #expect(!mismatch.delivered, "a certificate for another name is refused")
        #expect(other.bodies.isEmpty)
    }

    /// A `notify:` target in the spec may be https with its own `ca`.
    @Test func theSpecTakesHTTPSURLsAndACAFile() throws {
        let dir = TempDir("warden-notify-spec")
        let ca = dir.write("ca.pem", "-----BEGIN CERTIFICATE-----\n")
        let spec = try SpecLoader(sections: [HealingSection.self]).parse(
            "notify:\n  chat: { url: \"https://hooks.example.com/T0/B0\", ca: ca.pem }\nservices: {}\n",
            file: "warden.yaml",
            baseDir: dir.path
        )
        #expect(spec.notify.first?.url == "https://hooks.example.com/T0/B0")
        #expect(spec.notify.first?.caFile == ca)
        for (url, problem) in [
            ("ftp://x/", "it must start with http:// or https://"), ("https://", "it has no host"),
            ("https://h:99999/", "the port must be a number from 1 to 65535"),
            ("https://user:pw@h/", "credentials in the URL are not allowed; use a token"),
        ] {
            do {
                _ = try SpecLoader(sections: [HealingSection.self]).parse(
                    "notify:\n  chat: { url: \"\(url)\" }\nservices: {}\n",
                    file: "warden.yaml",
                    baseDir: dir.path
                )
                Issue.record("accepted \(url)")
            } catch {
                #expect(error.issues.first?.message.contains(problem) == true, "\(error)")
            }
        }
    }
}
