import Foundation
import WardenCore
import WardenSupervisor

extension HealEngine {
    /// Climbs the ladder of one incident until health is back, a person is needed, or it is over.
    func climb(_ id: String, _ policy: PolicySpec) async {
        while !Task.isCancelled {
            guard var inc = open[id], inc.status == .open || inc.status == .awaitingApproval else { return }
            guard inc.rung < policy.then.count else {
                await finish(id, policy)
                return
            }
            let action = policy.then[inc.rung]
            let target = action.service ?? inc.target

            // Guards: too many actions on this target, or its cooldown.
            let now = d.clock.now()
            var g = guards[target] ?? HealGuards(cooldown: policy.cooldown, max: policy.max)
            switch g.decide(now: now) {
            case .hold(let count):
                inc.status = .held
                inc.evidence.append(
                    .init(
                        time: d.clock.wallTime(),
                        kind: "note",
                        summary:
                            "\(count) actions on \(target) within \(DurationFormat.format(policy.max.window)); Warden stops acting until a person looks"
                    )
                )
                open[id] = inc
                await save(inc)
                publish("incident.held", inc.target, ["id": .string(id), "actions": .int(Int64(count))])
                await escalate(inc)
                open.removeValue(forKey: id)
                if byTarget[inc.target] == id { byTarget.removeValue(forKey: inc.target) }
                return
            case .wait(let until):
                note(id, "waiting for the \(DurationFormat.format(policy.cooldown)) cooldown of \(target)")
                if let current = open[id] { await save(current) }
                try? await d.clock.sleep(until: until)
                if await settled(target, policy) {
                    await resolve(id, how: "healthy again during the cooldown")
                    return
                }
                continue
            case .act:
                break
            }

            // A person's approval, when the policy asks for it.
            if policy.approve && !inc.dryRun {
                if inc.steps.last?.rung != inc.rung || inc.steps.last?.state != .awaitingApproval {
                    inc.steps.append(.init(rung: inc.rung, action: action.description, state: .awaitingApproval))
                }
                inc.status = .awaitingApproval
                open[id] = inc
                await save(inc)
                publish(
                    "incident.awaiting_approval",
                    inc.target,
                    ["id": .string(id), "action": .string(action.description)]
                )
                let approved = await withCheckedContinuation { approvals[id] = $0 }
                guard approved, var resumed = open[id] else { return }
                resumed.status = .open
                resumed.steps.removeAll { $0.rung == resumed.rung && $0.state == .awaitingApproval }
                open[id] = resumed
                inc = resumed
            }

            // Dry-run: record what would be done.
            if inc.dryRun {
                var step = Incident.Step(
                    rung: inc.rung,
                    action: action.description,
                    state: .dryRun,
                    startedAt: d.clock.wallTime()
                )
                step.finishedAt = step.startedAt
                step.outcome = "dry-run: would \(action.description)"
                inc.steps.append(step)
                inc.rung += 1
                open[id] = inc
                await save(inc)
                publish(
                    "action.finished",
                    inc.target,
                    ["id": .string(id), "action": .string(action.description), "outcome": "dry_run"]
                )
                continue
            }

            // Act.
            await acquireSlot()
            g.record(now: d.clock.now())
            guards[target] = g
            var step = Incident.Step(
                rung: inc.rung,
                action: action.description,
                state: .running,
                startedAt: d.clock.wallTime()
            )
            inc.steps.append(step)
            open[id] = inc
            await save(inc)
            publish(
                "action.started",
                inc.target,
                ["id": .string(id), "action": .string(action.description), "rung": .int(Int64(inc.rung))]
            )
            let started = d.clock.now()
            let result = await execute(action, incident: inc)
            releaseSlot()
            if Task.isCancelled { return }

            // Verify.
            var healthy: Bool
            switch action {
            case .restart(let s), .start(let s), .rebuild(let s):
                healthy = result.ok ? await settled(s, policy) : false
            case .stop:
                healthy = result.ok
            case .exec, .notify:
                if let service = policy.then.compactMap(\.service).first
                    ?? (servicesNamed(inc.target) ? inc.target : nil)
                {
                    healthy = await settled(service, policy, quick: true)
                } else {
                    healthy = result.ok
                }
            }
            guard var current = open[id] else { return }
            step.state = result.ok ? .succeeded : .failed
            step.finishedAt = d.clock.wallTime()
            step.healthy = healthy
            let took = DurationFormat.format(d.clock.now() - started)
            step.outcome =
                result.outcome
                + (healthy
                    ? "; healthy after \(took)"
                    : (result.ok ? "; health did not come back within \(DurationFormat.format(policy.verify))" : ""))
            step.detail = result.detail
            if let i = current.steps.lastIndex(where: { $0.rung == step.rung && $0.state == .running }) {
                current.steps[i] = step
            }
            current.rung += 1
            open[id] = current
            await save(current)
            publish(
                "action.finished",
                current.target,
                [
                    "id": .string(id), "action": .string(action.description), "ok": .bool(result.ok),
                    "healthy": .bool(healthy),
                    "outcome": .string(step.outcome ?? ""),
                ]
            )
            if healthy {
                await resolve(id, how: "\(action.description) brought health back")
                return
            }
        }
    }

    /// The ladder is exhausted.
    func finish(_ id: String, _ policy: PolicySpec) async {
        guard var inc = open[id] else { return }
        if inc.dryRun {
            inc.status = .dryRun
            inc.closedAt = d.clock.wallTime()
            await close(inc, event: "incident.dry_run", payload: ["actions": .int(Int64(inc.steps.count))])
            return
        }
        inc.status = .escalated
        inc.evidence.append(
            .init(
                time: d.clock.wallTime(),
                kind: "note",
                summary: "every action was tried and health did not come back; a person must look"
            )
        )
        open[id] = inc
        await save(inc)
        publish("incident.escalated", inc.target, ["id": .string(id), "actions": .int(Int64(inc.steps.count))])
        await escalate(inc)
        open.removeValue(forKey: id)
        if byTarget[inc.target] == id { byTarget.removeValue(forKey: inc.target) }
    }

    func resolve(_ id: String, how: String) async {
        guard var inc = open[id] else { return }
        let now = d.clock.wallTime()
        inc.status = .resolved
        inc.closedAt = now
        inc.mttrMs = Int64(now.timeIntervalSince(inc.openedAt) * 1000)
        inc.evidence.append(.init(time: now, kind: "note", summary: how))
        d.logger.info(
            "incident resolved",
            metadata: ["warden.incident": "\(id)", "warden.mttr_ms": "\(inc.mttrMs ?? 0)"]
        )
        await close(inc, event: "incident.resolved", payload: ["mttr_ms": .int(inc.mttrMs ?? 0), "how": .string(how)])
    }

    /// Tells the escalation target (if any) that a person is needed.
    func escalate(_ inc: Incident) async {
        guard let name = d.spec.healing.escalate, let target = d.spec.notify.first(where: { $0.name == name }) else {
            return
        }
        let delivery = await Notifier(clock: d.clock, transport: d.transport).post(Self.notification(inc), to: target)
        note(inc.id, delivery.delivered ? "\(name) was told" : "telling \(name) failed: \(delivery.last)")
        if let current = open[inc.id] { await save(current) }
    }

    static func notification(_ inc: Incident) -> JSONValue {
        let data =
            (try? JSONEncoder.incident.encode(inc)).flatMap { JSONValue.parse(String(decoding: $0, as: UTF8.self)) }
            ?? .null
        return ["text": .string(Notifier.text(inc)), "incident": data]
    }

    func servicesNamed(_ name: String) -> Bool { d.spec.service(named: name) != nil }

    /// Whether `service` is healthy and stays so for `settle`, within `verify` (`quick`: only look now).
    func settled(_ service: String, _ policy: PolicySpec, quick: Bool = false) async -> Bool {
        let clock = d.clock
        let deadline = clock.now() + (quick ? policy.settle : policy.verify)
        var healthySince: Instant?
        while true {
            let now = clock.now()
            if await d.supervisor.isHealthy(service) {
                if healthySince == nil { healthySince = now }
                if now - healthySince! >= policy.settle { return true }
            } else {
                healthySince = nil
                if quick { return false }
            }
            if now >= deadline { return false }
            do { try await clock.sleep(for: .milliseconds(20)) } catch { return false }
        }
    }

    func acquireSlot() async {
        if freeSlots > 0 {
            freeSlots -= 1
            return
        }
        await withCheckedContinuation { slotWaiters.append($0) }
    }

    func releaseSlot() {
        if slotWaiters.isEmpty { freeSlots += 1 } else { slotWaiters.removeFirst().resume() }
    }

    /// What an action did.
    struct ActionResult {
        var ok: Bool
        var outcome: String
        var detail: JSONValue?
    }

    func execute(_ action: HealAction, incident inc: Incident) async -> ActionResult {
        let supervisor = d.supervisor
        do {
            switch action {
            case .restart(let name):
                let state = await supervisor.status().first { $0.name == name }?.state ?? "stopped"
                if ["backoff", "starting", "stopping"].contains(state) {
                    return ActionResult(ok: true, outcome: "the supervisor was already restarting it")
                }
                try await supervisor.restart(name)
                return ActionResult(ok: true, outcome: "restarted")
            case .start(let name):
                try await supervisor.start(name)
                return ActionResult(ok: true, outcome: "started")
            case .stop(let name):
                try await supervisor.stop(name)
                return ActionResult(ok: true, outcome: "stopped")
            case .rebuild(let name):
                let folder = (d.directory as NSString).appendingPathComponent("\(inc.id)/rung-\(inc.rung + 1)")
                let results = try await supervisor.rebuild(name, logDirectory: folder)
                let ok = results.allSatisfy(\.ok)
                let failed = results.first { !$0.ok }
                let detail = (try? JSONEncoder().encode(results)).flatMap {
                    JSONValue.parse(String(decoding: $0, as: UTF8.self))
                }
                return ActionResult(
                    ok: ok,
                    outcome: ok
                        ? "rebuilt (\(results.count) steps)"
                        : "rebuild step '\(failed?.command.joined(separator: " ") ?? "")' failed: \(failed?.status ?? "")",
                    detail: detail
                )
            case .exec(let step):
                let folder = (d.directory as NSString).appendingPathComponent("\(inc.id)/rung-\(inc.rung + 1)")
                try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                var env = ProcessEnvironment.current()
                env["WARDEN_INCIDENT"] = inc.id
                env["WARDEN_TARGET"] = inc.target
                let result = await Supervisor.runStep(
                    step,
                    index: 0,
                    outputs: [:],
                    environment: env,
                    logDirectory: folder
                )
                let detail = (try? JSONEncoder().encode(result)).flatMap {
                    JSONValue.parse(String(decoding: $0, as: UTF8.self))
                }
                return ActionResult(
                    ok: result.ok,
                    outcome: result.ok ? "ran (\(result.status))" : "failed: \(result.status)",
                    detail: detail
                )
            case .notify(let name):
                guard let target = d.spec.notify.first(where: { $0.name == name }) else {
                    return ActionResult(ok: false, outcome: "no notify target '\(name)'")
                }
                let delivery = await Notifier(clock: d.clock, transport: d.transport).post(
                    Self.notification(inc),
                    to: target
                )
                return ActionResult(
                    ok: delivery.delivered,
                    outcome: delivery.delivered
                        ? "\(name) notified (\(delivery.last))"
                        : "notifying \(name) failed after \(delivery.attempts) attempts: \(delivery.last)",
                    detail: ["attempts": .int(Int64(delivery.attempts)), "last": .string(delivery.last)]
                )
            }
        } catch {
            return ActionResult(ok: false, outcome: "\(error)")
        }
    }
}
