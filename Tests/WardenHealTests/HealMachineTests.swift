import Foundation
import Testing
import WardenCore
import WardenHeal

/// The healing decisions alone: every input on a time the test sets, every effect checked. An
/// hour of verification or cooldown takes no real time.
@Suite("Heal machine")
struct HealMachineTests {
    /// A machine, the time, and what it asked for.
    struct Drive {
        var machine: HealMachine
        var time = HealTime(Instant(nanoseconds: 1_000_000_000_000), Date(timeIntervalSince1970: 1_800_000_000))
        var effects: [HealMachine.Effect] = []
        var ids = 0
        var eventID: Int64 = 0

        init(_ policies: [PolicySpec], services: Set<String> = ["api", "db"], concurrency: Int = 4) {
            machine = HealMachine(policies: policies, services: services, concurrency: concurrency)
        }

        mutating func advance(_ d: Duration) { time = time.adding(d) }

        mutating func event(_ type: String, _ subject: String, _ payload: JSONValue = [:]) {
            eventID += 1
            let e = Event(id: eventID, time: time.wall, type: type, source: "test", subject: subject, payload: payload)
            var n = ids
            effects = machine.trigger(
                e,
                at: time,
                makeID: {
                    n += 1
                    return "inc\(n)"
                }
            )
            ids = n
        }

        mutating func finished(_ id: String, ok: Bool = true, _ outcome: String = "done") {
            effects = machine.actionFinished(id, .init(ok: ok, outcome: outcome), at: time)
        }

        mutating func health(_ service: String, _ healthy: Bool) {
            effects = machine.health(service, healthy: healthy, at: time)
        }

        mutating func tick() { effects = machine.tick(at: time) }

        /// Moves to the machine's next deadline and ticks.
        mutating func tickAtDeadline() throws {
            let next = try #require(machine.nextDeadline)
            time = time.adding(next - time.instant)
            tick()
        }

        var executed: [String] {
            effects.compactMap {
                if case .execute(_, let action) = $0 { return action.description }
                return nil
            }
        }

        var published: [String] {
            effects.compactMap {
                if case .publish(let draft) = $0 { return draft.type }
                return nil
            }
        }

        var healthChecks: [String] {
            effects.compactMap {
                if case .checkHealth(let s) = $0 { return s }
                return nil
            }
        }

        var escalated: [Incident] {
            effects.compactMap {
                if case .escalate(let inc) = $0 { return inc }
                return nil
            }
        }

        /// The last saved version of an incident in the last effects.
        func saved(_ id: String) -> Incident? {
            effects.reversed().lazy.compactMap {
                if case .save(let inc) = $0, inc.id == id { return inc }
                return nil
            }.first
        }
    }

    static func policy(
        _ then: [HealAction],
        verify: Duration = .seconds(60),
        settle: Duration = .seconds(5),
        cooldown: Duration = .zero,
        max: GiveUp = GiveUp(count: 5, window: .seconds(3600)),
        dryRun: Bool = false,
        approve: Bool = false,
        when: String = "service.exited"
    ) -> PolicySpec {
        PolicySpec(
            name: "p",
            when: [when],
            then: then,
            verify: verify,
            settle: settle,
            cooldown: cooldown,
            max: max,
            dryRun: dryRun,
            approve: approve
        )
    }

    @Test func anActionIsVerifiedUntilHealthHasHeldForSettle() throws {
        var d = Drive([Self.policy([.restart("api")], verify: .seconds(3600), settle: .seconds(600))])
        d.event("service.exited", "api")
        #expect(d.published == ["incident.opened", "action.started"])
        #expect(d.executed == ["restart api"])
        let opened = try #require(d.saved("inc1"))
        #expect(opened.steps.map(\.state) == [.running])

        d.advance(.milliseconds(30))
        d.finished("inc1", "restarted")
        #expect(d.healthChecks == ["api"], "verification starts by looking at health")
        d.advance(.milliseconds(10))
        d.health("api", true)
        #expect(d.effects.isEmpty)
        #expect(d.machine.nextDeadline == d.time.instant + .seconds(600))

        // One nanosecond short of the settle time: still verifying.
        d.advance(.seconds(600) - .nanoseconds(1))
        d.tick()
        #expect(d.effects.isEmpty)
        d.advance(.nanoseconds(1))
        d.tick()
        #expect(d.published == ["action.finished", "incident.resolved"])
        let resolved = try #require(d.saved("inc1"))
        #expect(resolved.status == .resolved)
        #expect(resolved.steps[0].state == .succeeded)
        #expect(resolved.steps[0].healthy == true)
        #expect(resolved.steps[0].outcome == "restarted; healthy after 10m")
        #expect(resolved.mttrMs == 600_040)
        #expect(d.machine.incident("inc1") == nil)
        #expect(d.machine.nextDeadline == nil)
    }

    @Test func healthThatDropsStartsTheSettleTimeAgain() throws {
        var d = Drive([Self.policy([.restart("api")], verify: .seconds(60), settle: .seconds(10))])
        d.event("service.exited", "api")
        d.finished("inc1")
        d.health("api", true)
        d.advance(.seconds(9))
        d.health("api", false)
        #expect(d.machine.nextDeadline == d.time.instant + .seconds(51), "back to the verify deadline")
        d.advance(.seconds(1))
        d.health("api", true)
        d.advance(.seconds(9))
        d.tick()
        #expect(d.effects.isEmpty, "nine seconds of health since it came back are not ten")
        d.advance(.seconds(1))
        d.tick()
        #expect(d.saved("inc1")?.status == .resolved)
    }

    @Test func healthThatDoesNotComeBackClimbsTheLadderThenEscalates() throws {
        var d = Drive([Self.policy([.restart("api"), .rebuild("api")], verify: .seconds(30))])
        d.event("service.exited", "api")
        d.finished("inc1")
        d.health("api", false)
        #expect(d.effects.isEmpty)
        try d.tickAtDeadline()
        #expect(d.published == ["action.finished", "action.started"])
        #expect(d.executed == ["rebuild api"])
        let climbing = try #require(d.saved("inc1"))
        #expect(climbing.steps[0].outcome == "done; health did not come back within 30s")
        #expect(climbing.steps[0].healthy == false)

        d.finished("inc1", ok: false, "rebuild step 'make' failed: exit code 2")
        #expect(d.healthChecks.isEmpty, "a failed action is not verified")
        #expect(d.published == ["action.finished", "incident.escalated"])
        let escalated = try #require(d.saved("inc1"))
        #expect(escalated.status == .escalated)
        #expect(escalated.steps.map(\.state) == [.succeeded, .failed])
        #expect(d.escalated.map(\.id) == ["inc1"])
        // Closed: a new failure opens a new incident.
        d.event("service.exited", "api")
        #expect(d.published.first == "incident.opened")
        #expect(d.machine.incident("inc2") != nil)
    }

    @Test func aRunbookIsJudgedByTheServiceHealthNowAndForSettle() throws {
        let runbook = CommandStep(run: ["/bin/true"], cwd: "/")
        // The incident is about `api` (its first service), so a runbook is judged by api's health.
        var d = Drive([Self.policy([.exec(runbook), .restart("api")], settle: .seconds(5))])
        d.event("service.exited", "api")
        #expect(d.executed == ["exec /bin/true"])
        d.finished("inc1")
        #expect(d.healthChecks == ["api"])
        d.health("api", false)
        #expect(d.published == ["action.finished", "action.started"], "unhealthy at the first look: next rung at once")
        #expect(d.saved("inc1")?.steps.first?.healthy == false)

        // A runbook whose service is healthy when looked at, and for settle after.
        var e = Drive([Self.policy([.exec(runbook), .restart("api")], settle: .seconds(5))])
        e.event("service.exited", "api")
        e.finished("inc1")
        e.advance(.seconds(2))
        e.health("api", true)
        #expect(e.machine.nextDeadline == e.time.instant + .seconds(5))
        try e.tickAtDeadline()
        #expect(e.saved("inc1")?.status == .resolved)
    }

    @Test func aNotificationWithoutAServiceCountsAsHealedWhenDelivered() throws {
        var d = Drive([Self.policy([.notify("ops")], when: "custom.alarm")])
        d.event("custom.alarm", "disk")
        #expect(d.executed == ["notify ops"])
        #expect(d.machine.incident("inc1")?.target == "p:disk")
        d.finished("inc1", "ops notified (HTTP 200)")
        #expect(d.healthChecks.isEmpty)
        #expect(d.saved("inc1")?.status == .resolved)
    }

    @Test func atMostNActionsPerWindowThenHoldAndCallAPerson() throws {
        var d = Drive([Self.policy([.restart("api")], settle: .zero, max: GiveUp(count: 1, window: .seconds(3600)))])
        d.event("service.exited", "api")
        d.finished("inc1")
        d.health("api", true)
        #expect(d.saved("inc1")?.status == .resolved, "settle zero: healthy at once")
        d.advance(.seconds(3599))
        d.event("service.exited", "api")
        #expect(d.executed.isEmpty)
        #expect(d.published == ["incident.opened", "incident.held"])
        let held = try #require(d.saved("inc2"))
        #expect(held.status == .held)
        #expect(held.evidence.last?.summary == "1 actions on api within 1h; Warden stops acting until a person looks")
        #expect(d.escalated.map(\.id) == ["inc2"])
        // Once the window has passed, Warden acts again.
        d.advance(.seconds(1))
        d.event("service.exited", "api")
        #expect(d.executed == ["restart api"])
    }

    @Test func theCooldownWaitsAndHealthBackMeanwhileResolvesWithoutAction() throws {
        var d = Drive([
            Self.policy([.restart("api")], verify: .seconds(20), settle: .seconds(5), cooldown: .seconds(600))
        ])
        d.event("service.exited", "api")
        d.finished("inc1")
        d.health("api", true)
        try d.tickAtDeadline()
        #expect(d.saved("inc1")?.status == .resolved)

        d.advance(.seconds(60))
        d.event("service.exited", "api")
        #expect(d.executed.isEmpty)
        #expect(d.saved("inc2")?.evidence.last?.summary == "waiting for the 10m cooldown of api")
        #expect(d.machine.nextDeadline == d.time.instant + .seconds(540) - .seconds(5))
        try d.tickAtDeadline()
        #expect(d.healthChecks == ["api"], "at the end of the cooldown, health is looked at")
        d.health("api", true)
        try d.tickAtDeadline()
        #expect(d.executed.isEmpty)
        let resolved = try #require(d.saved("inc2"))
        #expect(resolved.status == .resolved)
        #expect(resolved.steps.isEmpty)
        #expect(resolved.evidence.last?.summary == "healthy again during the cooldown")
    }

    @Test func theCooldownEndsInAnActionWhenHealthStaysAway() throws {
        var d = Drive([
            Self.policy([.restart("api")], verify: .seconds(20), settle: .seconds(5), cooldown: .seconds(600))
        ])
        d.event("service.exited", "api")
        d.finished("inc1")
        d.health("api", true)
        try d.tickAtDeadline()
        d.event("service.exited", "api")
        try d.tickAtDeadline()  // the cooldown ends
        d.health("api", false)
        try d.tickAtDeadline()  // the verification window after it ends
        #expect(d.executed == ["restart api"])
    }

    @Test func approvalGatesEachActionAndCancelStopsARunningOne() throws {
        var d = Drive([Self.policy([.restart("api"), .rebuild("api")], approve: true)])
        d.event("service.exited", "api")
        #expect(d.executed.isEmpty)
        #expect(d.published == ["incident.opened", "incident.awaiting_approval"])
        #expect(d.machine.incident("inc1")?.status == .awaitingApproval)
        #expect(d.machine.incident("inc1")?.steps.map(\.state) == [.awaitingApproval])
        #expect(throws: HealMachine.CommandError.notOpen) { try d.machine.approve("nope", by: "x", at: d.time) }

        let (approved, effects) = try d.machine.approve("inc1", by: "alice", at: d.time)
        d.effects = effects
        #expect(approved.status == .open)
        #expect(approved.steps.map(\.state) == [.running], "the approval step became the action")
        #expect(approved.evidence.contains { $0.summary == "approved by alice" })
        #expect(d.executed == ["restart api"])
        #expect(throws: HealMachine.CommandError.notWaiting(.open)) {
            try d.machine.approve("inc1", by: "alice", at: d.time)
        }

        // The next rung needs its own approval.
        d.finished("inc1")
        d.health("api", false)
        try d.tickAtDeadline()
        #expect(d.published == ["action.finished", "incident.awaiting_approval"])
        let (_, go) = try d.machine.approve("inc1", by: "alice", at: d.time)
        d.effects = go
        #expect(d.executed == ["rebuild api"])

        let (cancelled, stop) = try d.machine.cancel("inc1", by: "bob", at: d.time)
        #expect(cancelled.status == .cancelled)
        #expect(stop.contains(.cancelAction(id: "inc1")))
        #expect(d.machine.incident("inc1") == nil)
        // The cancelled action's late result is ignored (and frees its slot).
        d.finished("inc1")
        #expect(d.effects.isEmpty)
    }

    @Test func theConcurrencyCapQueuesActionsFirstComeFirstServed() throws {
        var d = Drive(
            [
                PolicySpec(name: "a", when: ["service.exited"], subject: "api", then: [.restart("api")]),
                PolicySpec(name: "b", when: ["service.exited"], subject: "db", then: [.restart("db")]),
            ],
            concurrency: 1
        )
        d.event("service.exited", "api")
        #expect(d.executed == ["restart api"])
        d.event("service.exited", "db")
        #expect(d.executed.isEmpty, "the one slot is taken")
        #expect(d.machine.incident("inc2")?.steps.isEmpty == true)
        d.finished("inc1")
        #expect(d.executed == ["restart db"], "the freed slot goes to the waiting incident")
        #expect(d.healthChecks == ["api"])
    }

    @Test func aBurstOfTriggersJoinsOneIncident() throws {
        var d = Drive([Self.policy([.restart("api")], when: "custom.alarm")])
        d.event("custom.alarm", "x0")
        for i in 1..<20 {
            d.event("custom.alarm", "x\(i)")
            #expect(d.effects.isEmpty, "joining has no immediate effect")
        }
        let joined = d.machine.takeJoined()
        #expect(joined.map(\.id) == ["inc1"])
        #expect(joined[0].evidence.filter { $0.kind == "event" }.count == 20)
        #expect(d.machine.takeJoined().isEmpty)
    }

    @Test func aDryRunRecordsEveryRungAndDoesNothing() throws {
        var d = Drive([Self.policy([.restart("api"), .rebuild("api")], dryRun: true, approve: true)])
        d.event("service.exited", "api")
        #expect(d.executed.isEmpty)
        #expect(d.published == ["incident.opened", "action.finished", "action.finished", "incident.dry_run"])
        let inc = try #require(d.saved("inc1"))
        #expect(inc.status == .dryRun)
        #expect(inc.steps.map(\.outcome) == ["dry-run: would restart api", "dry-run: would rebuild api"])
    }

    @Test func resumedIncidentsRetryTheInterruptedActionOrEscalateWithoutTheirPolicy() throws {
        var d = Drive([Self.policy([.restart("api"), .rebuild("api")])])
        d.event("service.exited", "api")
        var left = try #require(d.machine.incident("inc1"))
        left.steps[0].state = .running

        var other = left
        other.id = "inc9"
        other.policy = "gone"

        var fresh = Drive([Self.policy([.restart("api"), .rebuild("api")])])
        fresh.effects = fresh.machine.resume([left, other], at: fresh.time)
        let resumed = try #require(fresh.saved("inc1"))
        #expect(resumed.steps[0].state == .interrupted)
        #expect(resumed.steps[1].state == .running)
        #expect(fresh.executed == ["restart api"], "the interrupted rung is tried again")
        #expect(fresh.published == ["incident.resumed", "action.started"])
        let orphan = try #require(fresh.saved("inc9"))
        #expect(orphan.status == .escalated)
        #expect(orphan.evidence.last?.summary == "policy 'gone' is no longer in the spec")
    }
}
