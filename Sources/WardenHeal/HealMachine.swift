import Foundation
import WardenCore

/// When an input to the ``HealMachine`` happens: the monotonic instant, for every duration and
/// deadline, and the wall time, for the records people read.
public struct HealTime: Sendable, Hashable {
    public var instant: Instant
    public var wall: Date

    public init(_ instant: Instant, _ wall: Date) {
        self.instant = instant
        self.wall = wall
    }

    /// The time `duration` later, on both clocks.
    public func adding(_ duration: Duration) -> HealTime {
        HealTime(instant + duration, wall.addingTimeInterval(duration.seconds))
    }
}

/// Every decision of the healing engine, as a pure state machine: no I/O, no clock, no tasks.
///
/// It holds the open incidents, the guards of each target and the global action slots. Each input
/// (a triggering event, an action's result, a health report, the time passing, a person's approval
/// or cancellation) updates the state at once and returns the ``Effect``s its driver must perform,
/// in order: save an incident, publish an event, run an action, look at a service's health, tell
/// the escalation target. The driver reports what it learns back as inputs (``actionFinished``,
/// ``health``), and calls ``tick`` once ``nextDeadline`` has passed.
///
/// An incident climbs its policy's ladder one rung at a time: the guards of the rung's target
/// (at most N actions per window: *hold*; the cooldown: wait, and resolve if health comes back
/// meanwhile), a person's approval when the policy asks for it, a free slot of the node-wide
/// concurrency cap, the action, then verification (health must come back and hold for `settle`
/// within `verify`). Health back resolves the incident; otherwise the next rung; an exhausted
/// ladder escalates to a person. A dry-run incident records each rung it would take.
public struct HealMachine: Sendable {
    /// What the driver must do, in the order given.
    public enum Effect: Sendable, Hashable {
        /// Store the incident as it is now.
        case save(Incident)
        /// Publish this event (its source is `heal`).
        case publish(EventDraft)
        /// Run the action of the incident's current rung, then report with ``actionFinished``
        /// (also when the action was cancelled: its slot is freed then).
        case execute(Incident, HealAction)
        /// Stop the running action of a cancelled incident.
        case cancelAction(id: String)
        /// Tell the escalation target that the incident needs a person.
        case escalate(Incident)
        /// Report the service's health now with ``health(_:healthy:at:)``.
        case checkHealth(service: String)
    }

    /// What an action did.
    public struct ActionResult: Sendable, Hashable {
        public var ok: Bool
        /// For people: `restarted`, `exit code 1`.
        public var outcome: String
        public var detail: JSONValue?

        public init(ok: Bool, outcome: String, detail: JSONValue? = nil) {
            self.ok = ok
            self.outcome = outcome
            self.detail = detail
        }
    }

    /// Why a command was refused.
    public enum CommandError: Error, Sendable, Hashable {
        /// No open incident has this id (it may be closed: ask the store).
        case notOpen
        /// The incident is open but not waiting for an approval.
        case notWaiting(Incident.Status)
    }

    /// A verification in progress: has `service` been healthy for `settle` by `deadline`?
    struct Verification: Sendable, Hashable {
        enum Purpose: Sendable, Hashable {
            /// After an action that started at `started`.
            case action(ActionResult, started: Instant)
            /// After a cooldown: health back means no action is needed.
            case cooldown
        }

        var service: String
        var deadline: Instant
        var settle: Duration
        /// Fails at the first unhealthy report (after runbooks and notifications: only look now).
        var quick: Bool
        var purpose: Purpose
        var healthySince: Instant?

        /// When this verification must be looked at again.
        var due: Instant {
            guard let healthySince else { return deadline }
            return min(deadline, healthySince + settle)
        }
    }

    /// Where an open incident is on its ladder.
    enum Phase: Sendable, Hashable {
        /// About to decide its next rung.
        case ready
        /// Waiting out the cooldown of the rung's target.
        case coolingDown(until: Instant)
        case awaitingApproval
        /// Approved (or no approval needed), waiting for one of the node's action slots.
        case waitingForSlot
        /// The action runs since then.
        case acting(started: Instant)
        case verifying(Verification)
    }

    struct OpenIncident: Sendable, Hashable {
        var incident: Incident
        /// The policy it was opened under (a reload does not change it).
        var policy: PolicySpec
        var phase: Phase
        /// The rung a person approved.
        var approvedRung: Int?
    }

    /// The policies that open new incidents.
    public private(set) var policies: [PolicySpec]
    /// The services of the spec (a runbook's effect is verified on the incident's service).
    var services: Set<String>
    var open: [String: OpenIncident] = [:]
    var byTarget: [String: String] = [:]
    var guards: [String: HealGuards] = [:]
    var freeSlots: Int
    /// Incidents waiting for a slot, first come first served.
    var slotQueue: [String] = []
    /// Incidents whose action holds a slot until its result is reported.
    var holdingSlot: Set<String> = []
    /// Incidents that gained evidence since ``takeJoined()``.
    var joined: Set<String> = []

    /// - Parameters:
    ///   - policies: the spec's policies.
    ///   - services: the names of the spec's services.
    ///   - concurrency: at most this many actions at once, node-wide.
    public init(policies: [PolicySpec], services: Set<String>, concurrency: Int) {
        self.policies = policies
        self.services = services
        self.freeSlots = max(1, concurrency)
    }

    // MARK: - Queries

    /// An open incident, as it is now.
    public func incident(_ id: String) -> Incident? { open[id]?.incident }

    /// Every open incident.
    public var openIncidents: [Incident] { open.values.map(\.incident) }

    /// When ``tick(at:)`` must next be called (nil: nothing waits on the time).
    public var nextDeadline: Instant? {
        open.values.compactMap { o -> Instant? in
            switch o.phase {
            case .coolingDown(let until): return until
            case .verifying(let v): return v.due
            default: return nil
            }
        }.min()
    }

    /// Whether a health report about `service` is awaited.
    public func isVerifying(_ service: String) -> Bool {
        open.values.contains {
            if case .verifying(let v) = $0.phase { return v.service == service }
            return false
        }
    }

    /// Whether `event` opens a new incident (rather than only joining open ones).
    public func opensIncident(_ event: Event) -> Bool {
        policies.contains { $0.matches(event) && byTarget[Self.target(of: $0, event)] == nil }
    }

    /// The incidents that gained evidence since the last call, to be saved once for a burst.
    public mutating func takeJoined() -> [Incident] {
        defer { joined = [] }
        return joined.sorted().compactMap { open[$0]?.incident }
    }

    /// Takes the policies and services of a reloaded spec; open incidents keep their policy.
    public mutating func apply(policies: [PolicySpec], services: Set<String>) {
        self.policies = policies
        self.services = services
    }

    /// What an incident of `policy` triggered by `event` is about: the first service of the ladder,
    /// else `policy:subject`. One incident per target is open at a time.
    public static func target(of policy: PolicySpec, _ event: Event) -> String {
        policy.then.compactMap(\.service).first ?? "\(policy.name):\(event.subject)"
    }

    // MARK: - Inputs

    /// An event: it joins the open incident of each matching policy's target, or opens one.
    /// - Parameters:
    ///   - makeID: a new, unique incident id.
    ///   - context: more evidence for a new incident (the samples around an alert).
    public mutating func trigger(
        _ event: Event,
        at now: HealTime,
        makeID: () -> String,
        context: [Incident.Evidence] = []
    ) -> [Effect] {
        var effects: [Effect] = []
        for policy in policies where policy.matches(event) {
            let target = Self.target(of: policy, event)
            if let id = byTarget[target], open[id] != nil {
                open[id]!.incident.evidence.append(Self.evidence(event))
                joined.insert(id)
                continue
            }
            let id = makeID()
            var inc = Incident(
                id: id,
                title: Self.title(event),
                policy: policy.name,
                target: target,
                openedAt: event.time,
                dryRun: policy.dryRun
            )
            inc.evidence.append(Self.evidence(event))
            inc.evidence += context
            open[id] = OpenIncident(incident: inc, policy: policy, phase: .ready)
            byTarget[target] = id
            effects.append(.save(inc))
            effects.append(
                .event(
                    IncidentOpened(id: id, title: inc.title, policy: policy.name, trigger: event.id),
                    about: target
                )
            )
            advance(id, at: now, &effects)
        }
        return effects
    }

    /// Something done elsewhere about `targets` (the node rolled back to an earlier spec): the
    /// event and `note` join each target's open incident, so that the incident says so.
    public mutating func annotate(_ event: Event, targets: [String], note: String, at now: HealTime) -> [Effect] {
        var effects: [Effect] = []
        for target in targets {
            guard let id = byTarget[target], open[id] != nil else { continue }
            open[id]!.incident.evidence.append(Self.evidence(event))
            open[id]!.incident.evidence.append(Self.note(note, now))
            effects.append(.save(open[id]!.incident))
        }
        return effects
    }

    /// Incidents that were open when Warden stopped: each resumes where it was (an action that
    /// was running is marked interrupted and tried again); one whose policy is gone escalates.
    public mutating func resume(_ incidents: [Incident], at now: HealTime) -> [Effect] {
        var effects: [Effect] = []
        for var inc in incidents where open[inc.id] == nil {
            guard let policy = policies.first(where: { $0.name == inc.policy }) else {
                inc.status = .escalated
                inc.evidence.append(Self.note("policy '\(inc.policy)' is no longer in the spec", now))
                effects.append(.save(inc))
                continue
            }
            for i in inc.steps.indices where inc.steps[i].state == .running {
                inc.steps[i].state = .interrupted
                inc.steps[i].finishedAt = now.wall
                inc.steps[i].outcome = "interrupted: Warden stopped during this action; it will be tried again"
            }
            inc.status = .open
            inc.evidence.append(Self.note("Warden restarted; the incident resumes", now))
            open[inc.id] = OpenIncident(incident: inc, policy: policy, phase: .ready)
            byTarget[inc.target] = inc.id
            effects.append(.save(inc))
            effects.append(
                .event(IncidentResumed(id: inc.id, rung: inc.rung), about: inc.target)
            )
            advance(inc.id, at: now, &effects)
        }
        return effects
    }

    /// Lets the action an incident waits on go ahead.
    public mutating func approve(
        _ id: String,
        by actor: String,
        at now: HealTime
    ) throws(CommandError) -> (Incident, [Effect]) {
        guard var o = open[id] else { throw .notOpen }
        guard o.phase == .awaitingApproval else { throw .notWaiting(o.incident.status) }
        o.incident.evidence.append(Self.note("approved by \(actor)", now))
        o.incident.status = .open
        let rung = o.incident.rung
        o.incident.steps.removeAll { $0.rung == rung && $0.state == .awaitingApproval }
        o.approvedRung = rung
        o.phase = .ready
        open[id] = o
        var effects: [Effect] = []
        proceedToAct(id, at: now, &effects)
        return (open[id]?.incident ?? o.incident, effects)
    }

    /// Closes an incident without further action (a running action is stopped).
    public mutating func cancel(
        _ id: String,
        by actor: String,
        at now: HealTime
    ) throws(CommandError) -> (Incident, [Effect]) {
        guard var o = open[id] else { throw .notOpen }
        o.incident.status = .cancelled
        o.incident.closedAt = now.wall
        o.incident.evidence.append(Self.note("cancelled by \(actor)", now))
        var effects: [Effect] = []
        if case .acting = o.phase { effects.append(.cancelAction(id: id)) }
        open[id] = o
        close(id, event: IncidentCancelled(id: id, by: actor), &effects)
        return (o.incident, effects)
    }

    /// The action of an incident ended (or was cancelled); its slot is free again.
    public mutating func actionFinished(_ id: String, _ result: ActionResult, at now: HealTime) -> [Effect] {
        var effects: [Effect] = []
        if holdingSlot.remove(id) != nil { releaseSlot(at: now, &effects) }
        guard let o = open[id], case .acting(let started) = o.phase else { return effects }
        // What to verify afterwards: a service an action changed for `verify`, or, after a
        // runbook or notification, the service the ladder is about for `settle`.
        var check: (service: String, window: Duration, quick: Bool)?
        switch o.policy.then[o.incident.rung] {
        case .restart(let s), .start(let s), .rebuild(let s):
            if result.ok { check = (s, o.policy.verify, false) }
        case .stop:
            break
        case .exec, .notify:
            let target = o.incident.target
            if let service = o.policy.then.compactMap(\.service).first ?? (services.contains(target) ? target : nil) {
                check = (service, o.policy.settle, true)
            }
        }
        if let check {
            beginVerifying(
                id,
                service: check.service,
                window: check.window,
                quick: check.quick,
                purpose: .action(result, started: started),
                at: now,
                &effects
            )
        } else {
            complete(id, result, started: started, healthy: result.ok, at: now, &effects)
        }
        return effects
    }

    /// What the driver saw of a service's health (after ``Effect/checkHealth(service:)`` or after
    /// any event about the service while ``isVerifying(_:)``).
    public mutating func health(_ service: String, healthy: Bool, at now: HealTime) -> [Effect] {
        var effects: [Effect] = []
        for id in open.keys.sorted() {
            guard case .verifying(var v) = open[id]?.phase, v.service == service else { continue }
            if healthy {
                if v.healthySince == nil {
                    v.healthySince = now.instant
                    // Only looking now: health seen now must hold for `settle` from now.
                    if v.quick { v.deadline = now.instant + v.settle }
                }
            } else {
                v.healthySince = nil
                if v.quick {
                    verified(id, v, healthy: false, at: now, &effects)
                    continue
                }
            }
            open[id]?.phase = .verifying(v)
            check(id, v, at: now, &effects)
        }
        return effects
    }

    /// The time has passed ``nextDeadline``: cooldowns end, verifications conclude.
    public mutating func tick(at now: HealTime) -> [Effect] {
        var effects: [Effect] = []
        for id in open.keys.sorted() {
            guard let o = open[id] else { continue }
            switch o.phase {
            case .coolingDown(let until) where until <= now.instant:
                let action = o.policy.then[o.incident.rung]
                beginVerifying(
                    id,
                    service: action.service ?? o.incident.target,
                    window: o.policy.verify,
                    quick: false,
                    purpose: .cooldown,
                    at: now,
                    &effects
                )
            case .verifying(let v):
                check(id, v, at: now, &effects)
            default:
                break
            }
        }
        return effects
    }
}

extension HealMachine.Effect {
    /// Publishing `payload`'s event about `subject`.
    static func event(_ payload: some EventPayload, about subject: String) -> Self {
        .publish(EventDraft(payload, source: "heal", subject: subject))
    }
}
