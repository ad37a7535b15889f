import Foundation
import Testing
import WardenCore
import WardenHeal
import WardenServer
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Healing in a real `warden run`, across its own restarts.
@Suite("Healing in a running Warden", .timeLimit(.minutes(3)))
struct HealLiveTests {
    init() { becomeSubreaper() }

    func incidents(_ f: Fixture) async throws -> [JSONValue] {
        let r = try await warden("incidents", "-c", f.config, "--json")
        return JSONValue.parse(r.stdout)?.arrayValue ?? []
    }

    @Test func anIncidentWaitingForApprovalSurvivesKill9AndIsApprovedFromTheCLI() async throws {
        let f = Fixture("")
        let fixed = f.dir.file("fixed")
        f.write(
            """
            healing: { verify: 10s, settle: 300ms }
            policies:
              careful:
                when: service.failed
                subject: api
                then: [restart api]
                approve: true
            services:
              api:
                run: [SAMPLE, --crash-after, 100ms, --fault-unless, \(fixed)]
                restart: { backoff: 20ms..20ms, give_up: 3 in 10s }
            """
        )
        let first = try f.start()
        var id = ""
        try await eventually("an incident waits for approval", timeout: .seconds(20)) {
            guard let inc = try await incidents(f).first, inc["status"]?.stringValue == "awaiting_approval" else {
                return false
            }
            id = inc["id"]?.stringValue ?? ""
            return true
        }
        first.signal(SIGKILL)
        _ = try await first.wait()

        let second = try f.start()
        try await f.waitFor("incident.resumed", "api")
        #expect(try await incidents(f).first?["status"]?.stringValue == "awaiting_approval")
        // Fix the cause, then let Warden act.
        FileManager.default.createFile(atPath: fixed, contents: nil)
        let approve = try await warden("approve", id, "-c", f.config)
        #expect(approve.exitCode == 0, "\(approve.stderr)")
        try await f.waitFor("incident.resolved", "api")
        let shown = try await warden("incident", id, "-c", f.config)
        #expect(shown.stdout.contains("status   resolved in"))
        #expect(shown.stdout.contains("Warden restarted; the incident resumes"))
        #expect(shown.stdout.contains("approved by local-cli"))
        let audit = try await f.waitFor("audit.incident.approve", id)
        #expect(audit[0].payload["actor"]?.stringValue == "local-cli")
        #expect(try await second.stop() == .exited(0))
    }

    /// `warden cancel` ends an incident that waits for approval: nothing is done, and it says who.
    @Test func anIncidentWaitingForApprovalIsCancelledFromTheCLI() async throws {
        let f = Fixture("")
        f.write(
            """
            policies:
              careful:
                when: service.failed
                subject: api
                then: [restart api]
                approve: true
            services:
              api:
                run: [SAMPLE, --crash-after, 100ms]
                restart: { backoff: 20ms..20ms, give_up: 2 in 10s }
            """
        )
        let w = try f.start()
        let waiting = try await f.waitFor("incident.opened", "api", timeout: .seconds(20))
        let id = try #require(waiting[0].payload["id"]?.stringValue)
        try await eventually("the incident waits for approval") {
            try await incidents(f).first?["status"]?.stringValue == "awaiting_approval"
        }
        let cancel = try await warden("cancel", id, "-c", f.config)
        #expect(cancel.exitCode == 0, "\(cancel.stderr)")
        #expect(cancel.stdout.contains("\(id): cancelled"))
        try await eventually("cancelled") { try await incidents(f).first?["status"]?.stringValue == "cancelled" }
        #expect(try await f.events().filter { $0.type == "action.started" }.isEmpty, "nothing was done")
        let audit = try await f.waitFor("audit.incident.cancel", id)
        #expect(audit[0].payload["actor"]?.stringValue == "local-cli")
        // Cancelling again is refused: the incident is closed.
        let again = try await warden("cancel", id, "-c", f.config)
        #expect(again.exitCode != 0)
        #expect(try await w.stop() == .exited(0))
    }

    @Test func anActionInterruptedByKill9IsRecordedAndTriedAgain() async throws {
        let f = Fixture("")
        let fixed = f.dir.file("fixed")
        let go = f.dir.file("go")
        // The rebuild cannot finish before the test says so: the first Warden is surely killed
        // in the middle of it, however slow the machine.
        f.write(
            """
            healing: { verify: 10s, settle: 300ms }
            services:
              api:
                run: [SAMPLE, --crash-after, 100ms, --fault-unless, \(fixed)]
                restart: { backoff: 20ms..20ms, give_up: 2 in 10s }
                rebuild:
                  - [/bin/sh, -c, "while [ ! -e \(go) ]; do sleep 0.05; done; touch \(fixed)"]
                heal: [rebuild]
            """
        )
        let first = try f.start()
        try await f.waitFor("action.started", "api", timeout: .seconds(20))
        first.signal(SIGKILL)
        _ = try await first.wait()
        FileManager.default.createFile(atPath: go, contents: nil)
        let second = try f.start()
        let resolved = try await f.waitFor("incident.resolved", "api", timeout: .seconds(30))
        let id = try #require(resolved[0].payload["id"]?.stringValue)
        let detail = try await warden("incident", id, "-c", f.config, "--json")
        let inc = try #require(JSONValue.parse(detail.stdout).flatMap(Incident.init(json:)))
        #expect(inc.steps.map(\.state) == [.interrupted, .succeeded])
        #expect(inc.steps.first?.outcome?.contains("interrupted") == true)
        #expect(inc.status == .resolved)
        // Every incident is consistent: none is left open.
        #expect(try await incidents(f).allSatisfy { $0["status"]?.stringValue == "resolved" })
        #expect(try await second.stop() == .exited(0))
    }
}
