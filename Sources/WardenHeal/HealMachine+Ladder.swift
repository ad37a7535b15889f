import Foundation
import WardenCore

extension HealMachine {
    /// Decides the incident's next rung: escalate when the ladder is exhausted, hold or wait on
    /// the guards, ask for approval, record a dry-run step, or act.
    mutating func advance(_ id: String, at now: HealTime, _ effects: inout [Effect]) {
        while var o = open[id] {
            let rung = o.incident.rung
            guard rung < o.policy.then.count else {
                finish(id, at: now, &effects)
                return
            }
            let action = o.policy.then[rung]
            let target = action.service ?? o.incident.target
            let g = guards[target] ?? HealGuards(cooldown: o.policy.cooldown, max: o.policy.max)
            switch g.decide(now: now.instant) {
            case .hold(let count):
                o.incident.status = .held
                o.incident.evidence.append(
                    Self.note(
                        "\(count) actions on \(target) within \(DurationFormat.format(o.policy.max.window)); Warden stops acting until a person looks",
                        now
                    )
                )
                open[id] = o
                effects.append(.save(o.incident))
                effects.append(
                    .event(IncidentHeld(id: id, actions: count), about: o.incident.target)
                )
                effects.append(.escalate(o.incident))
                forget(id)
                return
            case .wait(let until):
                o.incident.evidence.append(
                    Self.note("waiting for the \(DurationFormat.format(o.policy.cooldown)) cooldown of \(target)", now)
                )
                o.phase = .coolingDown(until: until)
                open[id] = o
                effects.append(.save(o.incident))
                return
            case .act:
                break
            }

            if o.policy.approve && !o.incident.dryRun && o.approvedRung != rung {
                if o.incident.steps.last?.rung != rung || o.incident.steps.last?.state != .awaitingApproval {
                    o.incident.steps.append(.init(rung: rung, action: action.description, state: .awaitingApproval))
                }
                o.incident.status = .awaitingApproval
                o.phase = .awaitingApproval
                open[id] = o
                effects.append(.save(o.incident))
                effects.append(
                    .event(
                        IncidentAwaitingApproval(id: id, action: action.description),
                        about: o.incident.target
                    )
                )
                return
            }

            if o.incident.dryRun {
                var step = Incident.Step(rung: rung, action: action.description, state: .dryRun, startedAt: now.wall)
                step.finishedAt = now.wall
                step.outcome = "dry-run: would \(action.description)"
                o.incident.steps.append(step)
                o.incident.rung += 1
                open[id] = o
                effects.append(.save(o.incident))
                effects.append(
                    .event(
                        ActionFinished(id: id, action: action.description, outcome: "dry_run"),
                        about: o.incident.target
                    )
                )
                continue
            }

            proceedToAct(id, at: now, &effects)
            return
        }
    }

    /// Acts when a slot is free, else queues for one.
    mutating func proceedToAct(_ id: String, at now: HealTime, _ effects: inout [Effect]) {
        guard freeSlots > 0 else {
            open[id]?.phase = .waitingForSlot
            if !slotQueue.contains(id) { slotQueue.append(id) }
            return
        }
        freeSlots -= 1
        holdingSlot.insert(id)
        act(id, at: now, &effects)
    }

    /// Starts the current rung's action (the caller holds a slot for it).
    mutating func act(_ id: String, at now: HealTime, _ effects: inout [Effect]) {
        guard var o = open[id] else { return }
        let action = o.policy.then[o.incident.rung]
        let target = action.service ?? o.incident.target
        var g = guards[target] ?? HealGuards(cooldown: o.policy.cooldown, max: o.policy.max)
        g.record(now: now.instant)
        guards[target] = g
        o.incident.steps.append(
            .init(rung: o.incident.rung, action: action.description, state: .running, startedAt: now.wall)
        )
        o.phase = .acting(started: now.instant)
        open[id] = o
        effects.append(.save(o.incident))
        effects.append(
            .event(
                ActionStarted(id: id, action: action.description, rung: o.incident.rung),
                about: o.incident.target
            )
        )
        effects.append(.execute(o.incident, action))
    }

    /// Whether an action on `target` from outside the ladders (a workflow's `heal` step) may
    /// start at `now`, under the target's guards (made with `cooldown` and `max` when nothing
    /// acted on it yet). An admitted action is recorded: it counts against the ladders' next
    /// actions on the target as theirs count against it.
    public mutating func admitDirect(
        target: String,
        cooldown: Duration,
        max: GiveUp,
        at now: Instant
    ) -> HealGuards.Decision {
        var g = guards[target] ?? HealGuards(cooldown: cooldown, max: max)
        let decision = g.decide(now: now)
        if decision == .act {
            g.record(now: now)
            guards[target] = g
        }
        return decision
    }

    /// A slot came free: the first incident waiting for one acts.
    mutating func releaseSlot(at now: HealTime, _ effects: inout [Effect]) {
        freeSlots += 1
        while let next = slotQueue.first {
            slotQueue.removeFirst()
            guard open[next]?.phase == .waitingForSlot else { continue }
            proceedToAct(next, at: now, &effects)
            return
        }
    }

    mutating func beginVerifying(
        _ id: String,
        service: String,
        window: Duration,
        quick: Bool,
        purpose: Verification.Purpose,
        at now: HealTime,
        _ effects: inout [Effect]
    ) {
        let settle = open[id]?.policy.settle ?? .zero
        open[id]?.phase = .verifying(
            Verification(
                service: service,
                deadline: now.instant + window,
                settle: settle,
                quick: quick,
                purpose: purpose
            )
        )
        effects.append(.checkHealth(service: service))
    }

    /// Concludes a verification whose service has been healthy for `settle`, or whose deadline
    /// has passed.
    mutating func check(_ id: String, _ v: Verification, at now: HealTime, _ effects: inout [Effect]) {
        if let since = v.healthySince, now.instant - since >= v.settle {
            verified(id, v, healthy: true, at: now, &effects)
        } else if now.instant >= v.deadline {
            verified(id, v, healthy: false, at: now, &effects)
        }
    }

    mutating func verified(_ id: String, _ v: Verification, healthy: Bool, at now: HealTime, _ effects: inout [Effect])
    {
        switch v.purpose {
        case .cooldown:
            if healthy {
                resolve(id, how: "healthy again during the cooldown", at: now, &effects)
            } else {
                open[id]?.phase = .ready
                advance(id, at: now, &effects)
            }
        case .action(let result, let started):
            complete(id, result, started: started, healthy: healthy, at: now, &effects)
        }
    }

    /// Records the outcome of the current rung and moves on: resolved when health is back, else
    /// the next rung.
    mutating func complete(
        _ id: String,
        _ result: ActionResult,
        started: Instant,
        healthy: Bool,
        at now: HealTime,
        _ effects: inout [Effect]
    ) {
        guard var o = open[id] else { return }
        let rung = o.incident.rung
        let action = o.policy.then[rung]
        let took = DurationFormat.format(now.instant - started)
        let outcome =
            result.outcome
            + (healthy
                ? "; healthy after \(took)"
                : (result.ok ? "; health did not come back within \(DurationFormat.format(o.policy.verify))" : ""))
        if let i = o.incident.steps.lastIndex(where: { $0.rung == rung && $0.state == .running }) {
            o.incident.steps[i].state = result.ok ? .succeeded : .failed
            o.incident.steps[i].finishedAt = now.wall
            o.incident.steps[i].healthy = healthy
            o.incident.steps[i].outcome = outcome
            o.incident.steps[i].detail = result.detail
        }
        o.incident.rung += 1
        o.approvedRung = nil
        o.phase = .ready
        open[id] = o
        effects.append(.save(o.incident))
        effects.append(
            .event(
                ActionFinished(
                    id: id,
                    action: action.description,
                    outcome: outcome,
                    ok: result.ok,
                    healthy: healthy
                ),
                about: o.incident.target
            )
        )
        if healthy {
            resolve(id, how: "\(action.description) brought health back", at: now, &effects)
        } else {
            advance(id, at: now, &effects)
        }
    }

    /// The ladder is exhausted: a dry run ends, a real incident escalates to a person.
    mutating func finish(_ id: String, at now: HealTime, _ effects: inout [Effect]) {
        guard var o = open[id] else { return }
        if o.incident.dryRun {
            o.incident.status = .dryRun
            o.incident.closedAt = now.wall
            open[id] = o
            close(id, event: IncidentDryRunEnded(id: id, actions: o.incident.steps.count), &effects)
            return
        }
        o.incident.status = .escalated
        o.incident.evidence.append(
            Self.note("every action was tried and health did not come back; a person must look", now)
        )
        open[id] = o
        effects.append(.save(o.incident))
        effects.append(
            .event(IncidentEscalated(id: id, actions: o.incident.steps.count), about: o.incident.target)
        )
        effects.append(.escalate(o.incident))
        forget(id)
    }

    mutating func resolve(_ id: String, how: String, at now: HealTime, _ effects: inout [Effect]) {
        guard var o = open[id] else { return }
        o.incident.status = .resolved
        o.incident.closedAt = now.wall
        let mttr = Int64((now.wall.timeIntervalSince(o.incident.openedAt) * 1000).rounded())
        o.incident.mttrMs = mttr
        o.incident.evidence.append(Self.note(how, now))
        open[id] = o
        close(id, event: IncidentResolved(id: id, mttrMs: mttr, how: how), &effects)
    }

    /// Saves the closed incident, publishes `event`, and forgets it.
    mutating func close(_ id: String, event: some EventPayload, _ effects: inout [Effect]) {
        guard let o = open[id] else { return }
        effects.append(.save(o.incident))
        effects.append(.event(event, about: o.incident.target))
        forget(id)
    }

    mutating func forget(_ id: String) {
        guard let o = open.removeValue(forKey: id) else { return }
        if byTarget[o.incident.target] == id { byTarget.removeValue(forKey: o.incident.target) }
        slotQueue.removeAll { $0 == id }
        joined.remove(id)
    }

    // MARK: - Evidence

    static func note(_ text: String, _ now: HealTime) -> Incident.Evidence {
        .init(time: now.wall, kind: "note", summary: text)
    }

    static func evidence(_ e: Event) -> Incident.Evidence {
        .init(time: e.time, kind: "event", summary: "\(e.type) \(e.subject)", eventID: e.id, data: e.payload)
    }

    /// An incident's title, from the event that opened it.
    static func title(_ e: Event) -> String {
        switch e.type {
        case EventType.serviceExited: return "\(e.subject) exited unexpectedly"
        case EventType.serviceFailed: return "\(e.subject) keeps failing (restarts gave up)"
        case EventType.probeFailed:
            return "\(e.subject) failed its \(e.decode(ProbeResultEvent.self)?.probe ?? "") check"
        case EventType.watchdogMissed: return "\(e.subject) stopped answering its watchdog"
        case EventType.monitorAlert:
            let p = MonitorScoreView(e).map { String(Int(($0.probability * 100).rounded())) + " %" } ?? "high"
            return "\(e.subject) predicts a failure (probability \(p))"
        default: return "\(e.type) \(e.subject)"
        }
    }
}
