import Foundation
import Testing
import WardenCore
import WardenHeal
import WardenSupervisor
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The healing engine with real processes, a real store and a real HTTP listener.
@Suite("Healing", .timeLimit(.minutes(3)))
struct HealEngineTests {
    init() { becomeSubreaper() }

    @Test func aHangIsHealedByARestartAndTheIncidentResolvesWithItsMTTR() async throws {
        let port = freePort()
        let h = try HealHarness(
            """
            healing: { verify: 20s, settle: 500ms }
            services:
              web:
                run: [SAMPLE, --port, "\(port)", --hang-after, 400ms, --fault-once, DIR/hung]
                health: { http: "http://127.0.0.1:\(port)/healthz", every: 100ms, timeout: 100ms, failures: 2, grace: 0s }
                restart: { backoff: 10ms..10ms }
                heal: [restart]
            """
        )
        let inc = try await h.incident([.resolved])
        #expect(inc.title == "web failed its health check")
        #expect(inc.steps.count == 1)
        #expect(inc.steps[0].action == "restart web")
        #expect(inc.steps[0].healthy == true)
        #expect(inc.mttrMs ?? 0 > 0)
        #expect(inc.evidence.first?.summary == "probe.failed web")
        let resolved = try await h.log.wait(for: "incident.resolved", "web")
        #expect(resolved[0].payload["mttr_ms"]?.intValue == inc.mttrMs)
        try await h.shutdown()
    }

    @Test func aCrashLoopClimbsRestartThenRebuildThenNotify() async throws {
        let hook = HookListener()
        let h = try HealHarness(
            """
            notify:
              ops: { url: "http://127.0.0.1:\(hook.port)/hook", attempts: 3, timeout: 2s }
            healing: { verify: 1500ms, settle: 500ms }
            services:
              api:
                run: [SAMPLE, --crash-after, 100ms, --fault-unless, DIR/fixed]
                restart: { backoff: 20ms..20ms, give_up: 3 in 10s }
                rebuild:
                  - [/bin/sh, -c, "echo tearing down"]
                  - { run: [/bin/sh, -c, "echo provisioning; echo oops >&2"], timeout: 5s }
                heal: [restart, rebuild, notify ops]
            """
        )
        let inc = try await h.incident([.escalated])
        #expect(inc.steps.map(\.action) == ["restart api", "rebuild api", "notify ops"])
        #expect(inc.steps.map(\.healthy) == [false, false, false])
        #expect(inc.steps[1].state == .succeeded)
        #expect(inc.steps[1].detail?.arrayValue?.count == 2)
        #expect(inc.steps[1].detail?.arrayValue?[1]["output"]?.stringValue?.contains("oops") == true)
        #expect(inc.steps[2].outcome?.contains("ops notified (HTTP 200)") == true)
        // The listener got the incident, with a text line for chat tools.
        try await eventually("the hook was called") { !hook.received.isEmpty }
        let body = try #require(JSONValue.parse(hook.received[0]))
        #expect(body["incident"]?["id"]?.stringValue == inc.id)
        #expect(body["text"]?.stringValue?.hasPrefix("[Warden] api: api exited unexpectedly") == true)
        #expect(h.log.events("incident.escalated", "api").count == 1)
        try await h.shutdown()
    }

    /// A workflow's `heal` step is carried out by the engine: only the spec's services, one action
    /// on a service at a time (refused while a ladder's rebuild runs), then the ladder's cooldown.
    @Test func actionsFromAWorkflowShareTheLaddersGuardsAndWaitTheirTurn() async throws {
        let h = try HealHarness(
            """
            healing: { verify: 20s, settle: 300ms, cooldown: 1h }
            services:
              api:
                run: [SAMPLE, --crash-after, 100ms, --fault-unless, DIR/fixed]
                restart: { backoff: 20ms..20ms, give_up: 3 in 10s }
                rebuild:
                  - [/bin/sh, -c, "while [ ! -e DIR/go ]; do sleep 0.02; done; touch DIR/fixed"]
                heal: [rebuild]
            """
        )
        let folder = h.dir.file("workflow")
        let ghost = await h.engine.act(.restart("ghost"), origin: "test", folder: folder)
        #expect(!ghost.ok && ghost.outcome == "there is no service named 'ghost'")
        try await eventually("the ladder's rebuild is under way", timeout: .seconds(60)) {
            try await h.engine.incidents().first?.steps.first?.state == .running
        }
        let during = await h.engine.act(.restart("api"), origin: "test", folder: folder)
        #expect(!during.ok && during.outcome == "another action on api is under way", "\(during.outcome)")
        FileManager.default.createFile(atPath: h.dir.file("go"), contents: nil)
        _ = try await h.incident([.resolved])
        let after = await h.engine.act(.restart("api"), origin: "test", folder: folder)
        #expect(!after.ok && after.outcome.contains("cooling down"), "\(after.outcome)")
        try await h.shutdown()
    }

    @Test func aRebuildThatFixesTheServiceResolvesTheIncident() async throws {
        let h = try HealHarness(
            """
            healing: { verify: 20s, settle: 300ms }
            services:
              api:
                run: [SAMPLE, --crash-after, 100ms, --fault-unless, DIR/fixed]
                restart: { backoff: 20ms..20ms, give_up: 3 in 10s }
                rebuild:
                  - [/bin/rm, -f, DIR/fixed]
                  - [/usr/bin/touch, DIR/fixed]
                heal: [rebuild]
            """
        )
        let inc = try await h.incident([.resolved])
        #expect(inc.steps.map(\.action) == ["rebuild api"])
        #expect(inc.steps[0].healthy == true)
        #expect(FileManager.default.fileExists(atPath: h.dir.file("fixed")))
        #expect(h.log.events("service.rebuilt", "api").first?.payload["ok"]?.boolValue == true)
        try await h.shutdown()
    }

    @Test func rebuildOutputsRetargetTheProbe() async throws {
        let port = freePort()
        let h = try HealHarness(
            """
            healing: { verify: 20s, settle: 300ms }
            services:
              api:
                run: [SAMPLE, --port, "${outputs.port}"]
                env: { API_ADDRESS: "127.0.0.1:${outputs.port}" }
                health: { tcp: "127.0.0.1:${outputs.port}", every: 100ms, timeout: 200ms, failures: 2, grace: 0s }
                restart: { backoff: 50ms..50ms }
                rebuild:
                  - [/bin/sh, -c, "echo '{\\"port\\": {\\"value\\": \(port)}}'"]
                heal: [rebuild]
            """
        )
        let inc = try await h.incident([.resolved])
        #expect(inc.steps.map(\.action) == ["rebuild api"])
        #expect(await h.supervisor.rebuildOutputs("api") == ["port": "\(port)"])
        // The probe now follows the service to the port the rebuild chose.
        let pid = try #require(await h.supervisor.status().first?.pid)
        #expect(ProcFS.environment(pid)?["API_ADDRESS"] == "127.0.0.1:\(port)")
        #expect(await h.supervisor.isHealthy("api"))
        try await h.shutdown()
    }

    @Test func verificationRunsOnTheEngineClockAndFollowsHealthEvents() async throws {
        let clock = ManualClock()
        let h = try HealHarness(
            """
            healing: { verify: 10h, settle: 1h }
            policies:
              on-alarm:
                when: custom.alarm
                then: [restart api]
            services:
              api:
                run: [SAMPLE]
            """,
            clock: clock
        )
        try await eventually("api runs") { await h.supervisor.isHealthy("api") }
        let t0 = clock.now()
        h.bus.publish("custom.alarm", source: "test", subject: "api")
        // The restart is real; the engine learns from the supervisor's events that api is ready
        // again, and then its one timer is the end of the settle hour.
        _ = try await h.log.wait(for: "action.started", "api")
        _ = try await h.log.wait(for: EventType.serviceReady, "api", count: 2)
        try await eventually("the engine waits out the settle hour") { clock.nextDeadline == t0 + .seconds(3600) }
        #expect(try await h.engine.incidents().first?.status == .open)
        clock.advance(by: .seconds(3600))
        let inc = try await h.incident([.resolved])
        #expect(inc.steps.map(\.action) == ["restart api"])
        #expect(inc.steps[0].outcome == "restarted; healthy after 1h")
        try await h.shutdown()
    }

    @Test func concurrentTriggersJoinOneIncidentAndOneAction() async throws {
        let h = try HealHarness(
            """
            healing: { verify: 20s, settle: 2s }
            policies:
              flaky:
                when: custom.alarm
                then: [restart api]
            services:
              api:
                run: [SAMPLE]
            """
        )
        try await eventually("api runs") { await h.supervisor.isHealthy("api") }
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<20 {
                group.addTask { h.bus.publish("custom.alarm", source: "test", subject: "x\(i)") }
            }
        }
        let inc = try await h.incident([.resolved])
        #expect(inc.steps.count == 1, "one action for twenty triggers")
        #expect(inc.evidence.filter { $0.kind == "event" }.count == 20)
        #expect(try await h.engine.incidents().count == 1)
        #expect(h.log.events(EventType.serviceStarted, "api").count == 2, "started, then restarted once")
        try await h.shutdown()
    }

    @Test func dryRunRecordsWhatWouldBeDoneAndDoesNothing() async throws {
        let h = try HealHarness(
            """
            policies:
              drill:
                when: custom.alarm
                then: [restart api, rebuild api]
                dry_run: true
            services:
              api:
                run: [SAMPLE]
                rebuild: [[/bin/sh, -c, "touch DIR/rebuilt"]]
            """
        )
        try await eventually("api runs") { await h.supervisor.isHealthy("api") }
        let pid = try #require(await h.supervisor.status().first?.pid)
        h.bus.publish("custom.alarm", source: "test", subject: "api")
        let inc = try await h.incident([.dryRun])
        #expect(inc.steps.map(\.state) == [.dryRun, .dryRun])
        #expect(inc.steps.map(\.outcome) == ["dry-run: would restart api", "dry-run: would rebuild api"])
        #expect(await h.supervisor.status().first?.pid == pid, "not restarted")
        #expect(!FileManager.default.fileExists(atPath: h.dir.file("rebuilt")), "not rebuilt")
        try await h.shutdown()
    }

    @Test func anActionThatNeedsApprovalWaitsForIt() async throws {
        let h = try HealHarness(
            """
            healing: { verify: 20s, settle: 300ms }
            policies:
              careful:
                when: custom.alarm
                then: [restart api]
                approve: true
            services:
              api:
                run: [SAMPLE]
            """
        )
        try await eventually("api runs") { await h.supervisor.isHealthy("api") }
        let pid = try #require(await h.supervisor.status().first?.pid)
        h.bus.publish("custom.alarm", source: "test", subject: "api")
        let waiting = try await h.incident([.awaitingApproval])
        try await Task.sleep(for: .milliseconds(300))
        #expect(await h.supervisor.status().first?.pid == pid, "nothing happens before the approval")
        await #expect(throws: WardenError.self) { try await h.engine.approve("no-such-incident", by: "test") }
        _ = try await h.engine.approve(waiting.id, by: "alice")
        let inc = try await h.incident([.resolved])
        #expect(inc.id == waiting.id)
        #expect(inc.evidence.contains { $0.summary == "approved by alice" })
        #expect(await h.supervisor.status().first?.pid != pid)
        try await h.shutdown()
    }

    @Test func tooManyActionsOnATargetHoldTheIncidentAndCallAPerson() async throws {
        let hook = HookListener()
        let h = try HealHarness(
            """
            notify:
              pager: { url: "http://127.0.0.1:\(hook.port)/page" }
            healing: { verify: 20s, settle: 200ms, max: 1 in 1h, escalate: pager }
            policies:
              restart-on-alarm:
                when: custom.alarm
                then: [restart api]
            services:
              api:
                run: [SAMPLE]
            """
        )
        try await eventually("api runs") { await h.supervisor.isHealthy("api") }
        h.bus.publish("custom.alarm", source: "test", subject: "api")
        let first = try await h.incident([.resolved])
        h.bus.publish("custom.alarm", source: "test", subject: "api")
        let held = try await h.incident([.held])
        #expect(held.id != first.id)
        #expect(held.steps.isEmpty, "no second action within the window")
        #expect(held.evidence.contains { $0.summary.contains("Warden stops acting until a person looks") })
        try await eventually("the pager was called") { !hook.received.isEmpty }
        #expect(JSONValue.parse(hook.received[0])?["incident"]?["status"]?.stringValue == "held")
        try await h.shutdown()
    }

    @Test func aCancelledIncidentTakesNoFurtherAction() async throws {
        let h = try HealHarness(
            """
            policies:
              careful:
                when: custom.alarm
                then: [restart api]
                approve: true
            services:
              api:
                run: [SAMPLE]
            """
        )
        try await eventually("api runs") { await h.supervisor.isHealthy("api") }
        h.bus.publish("custom.alarm", source: "test", subject: "api")
        let waiting = try await h.incident([.awaitingApproval])
        let cancelled = try await h.engine.cancel(waiting.id, by: "bob")
        #expect(cancelled.status == .cancelled)
        await #expect(throws: WardenError.self) { try await h.engine.approve(waiting.id, by: "bob") }
        #expect(h.log.events("action.started").isEmpty)
        try await h.shutdown()
    }
}

@Suite("Healing guards and policies")
struct HealGuardsTests {
    let t0 = Instant(nanoseconds: 1_000_000_000_000)

    @Test func cooldownMakesTheNextActionWait() {
        var g = HealGuards(cooldown: .seconds(60), max: GiveUp(count: 10, window: .seconds(3600)))
        #expect(g.decide(now: t0) == .act)
        g.record(now: t0)
        #expect(g.decide(now: t0 + .seconds(30)) == .wait(until: t0 + .seconds(60)))
        #expect(g.decide(now: t0 + .seconds(60)) == .act)
    }

    @Test func atMostNActionsPerWindowThenHold() {
        var g = HealGuards(cooldown: .zero, max: GiveUp(count: 3, window: .seconds(600)))
        for i in 0..<3 {
            #expect(g.decide(now: t0 + .seconds(Int64(i))) == .act)
            g.record(now: t0 + .seconds(Int64(i)))
        }
        #expect(g.decide(now: t0 + .seconds(10)) == .hold(count: 3))
        #expect(g.decide(now: t0 + .seconds(599)) == .hold(count: 3), "the first action is still in the window")
        // An action exactly a window ago is out of it: acting is allowed again.
        #expect(g.decide(now: t0 + .seconds(600)) == .act)
        #expect(g.decide(now: t0 + .seconds(601)) == .act)
    }

    /// The record keeps only what a decision can still need: an action is forgotten once it is
    /// both outside the window and past the cooldown, so the list stays bounded.
    @Test func oldActionsAreForgotten() {
        var g = HealGuards(cooldown: .seconds(600), max: GiveUp(count: 5, window: .seconds(600)))
        g.record(now: t0)
        g.record(now: t0 + .seconds(599))
        #expect(g.actions == [t0, t0 + .seconds(599)])
        g.record(now: t0 + .seconds(600))
        #expect(g.actions == [t0 + .seconds(599), t0 + .seconds(600)], "t0 is exactly a window and a cooldown ago")
        var long = HealGuards(cooldown: .seconds(900), max: GiveUp(count: 5, window: .seconds(600)))
        long.record(now: t0)
        long.record(now: t0 + .seconds(600))
        #expect(long.actions.count == 2, "still within the cooldown")
        #expect(long.decide(now: t0 + .seconds(600)) == .wait(until: t0 + .seconds(1500)))
        long.record(now: t0 + .seconds(900))
        #expect(long.actions == [t0 + .seconds(600), t0 + .seconds(900)])
    }

    @Test func policiesMatchTypeSubjectAndConditions() {
        let p = PolicySpec(
            name: "p",
            when: ["service.*"],
            subject: "api",
            conditions: [
                EventCondition(field: "payload.failures", op: .ge, value: "3"),
                EventCondition(field: "payload.reason", op: .contains, value: "exit"),
            ],
            then: [.restart("api")]
        )
        func event(_ type: String, _ subject: String, _ payload: JSONValue) -> Event {
            Event(id: 1, time: Date(), type: type, source: "t", subject: subject, payload: payload)
        }
        #expect(p.matches(event("service.failed", "api", ["failures": 3, "reason": "exit code 1"])))
        #expect(!p.matches(event("service.failed", "api", ["failures": 2, "reason": "exit code 1"])))
        #expect(!p.matches(event("service.failed", "db", ["failures": 5, "reason": "exit code 1"])))
        #expect(!p.matches(event("probe.failed", "api", ["failures": 5, "reason": "exit code 1"])))
        #expect(!p.matches(event("service.failed", "api", ["failures": 5, "reason": "killed by SIGKILL"])))
        let unexpected = EventCondition(field: "payload.expected", op: .ne, value: "true")
        #expect(unexpected.holds(for: event("service.exited", "api", ["expected": false])))
        #expect(!unexpected.holds(for: event("service.exited", "api", ["expected": true])))
        #expect(unexpected.holds(for: event("probe.failed", "api", [:])), "no such field is not 'true'")
    }

    @Test func outputReferencesResolve() {
        #expect(
            OutputTemplate.resolve("http://${outputs.host}:${outputs.port}/x", ["host": "10.0.0.5", "port": "80"])
                == "http://10.0.0.5:80/x"
        )
        #expect(OutputTemplate.resolve("${outputs.missing}", [:]) == "${outputs.missing}")
    }
}
