import Foundation
import WardenCore
import WardenStore
import WardenSupervisor

extension HealEngine {
    /// Runs one rung's action; never throws (a failure is a result).
    func execute(_ action: HealAction, incident inc: Incident) async -> HealMachine.ActionResult {
        do {
            switch action {
            case .restart, .start, .stop, .rebuild:
                return try await serviceAction(action, folder: folder(inc))
            case .exec(let step):
                let folder = folder(inc)
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
                return .init(
                    ok: result.ok,
                    outcome: result.ok ? "ran (\(result.status))" : "failed: \(result.status)",
                    detail: Self.json(result)
                )
            case .notify(let name):
                guard let target = spec.notify.first(where: { $0.name == name }) else {
                    return .init(ok: false, outcome: "no notify target '\(name)'")
                }
                let delivery = await Notifier(clock: d.clock, transport: d.transport).post(
                    Self.notification(inc),
                    to: target
                )
                return .init(
                    ok: delivery.delivered,
                    outcome: delivery.delivered
                        ? "\(name) notified (\(delivery.last))"
                        : "notifying \(name) failed after \(delivery.attempts) attempts: \(delivery.last)",
                    detail: ["attempts": .int(Int64(delivery.attempts)), "last": .string(delivery.last)]
                )
            }
        } catch {
            return .init(ok: false, outcome: "\(error)")
        }
    }

    /// Carries out an action on a service: the one place a ladder's rung and a workflow's `heal`
    /// step act on services.
    func serviceAction(_ action: HealAction, folder: String) async throws -> HealMachine.ActionResult {
        let services = d.services
        switch action {
        case .restart(let name):
            if let state = await services.stateName(name), ["backoff", "starting", "stopping"].contains(state) {
                return .init(ok: true, outcome: "the supervisor was already restarting it")
            }
            try await services.restart(name)
            return .init(ok: true, outcome: "restarted")
        case .start(let name):
            try await services.start(name)
            return .init(ok: true, outcome: "started")
        case .stop(let name):
            try await services.stop(name)
            return .init(ok: true, outcome: "stopped")
        case .rebuild(let name):
            let results = try await services.rebuild(name, logDirectory: folder)
            let failed = results.first { !$0.ok }
            return .init(
                ok: failed == nil,
                outcome: failed.map {
                    "rebuild step '\($0.command.joined(separator: " "))' failed: \($0.status)"
                } ?? "rebuilt (\(results.count) steps)",
                detail: Self.json(results)
            )
        case .exec, .notify:
            return .init(ok: false, outcome: "\(action) is not an action on a service")
        }
    }

    /// Where the output of the incident's current rung is kept.
    func folder(_ inc: Incident) -> String {
        (d.directory as NSString).appendingPathComponent("\(inc.id)/rung-\(inc.rung + 1)")
    }

    /// Tells the escalation target (if any) that a person is needed, and notes on the incident
    /// whether that worked.
    func escalate(_ inc: Incident) async {
        guard let name = spec.healing.escalate, let target = spec.notify.first(where: { $0.name == name }) else {
            return
        }
        let delivery = await Notifier(clock: d.clock, transport: d.transport).post(Self.notification(inc), to: target)
        var noted = machine.incident(inc.id) ?? inc
        noted.evidence.append(
            .init(
                time: d.clock.wallTime(),
                kind: "note",
                summary: delivery.delivered ? "\(name) was told" : "telling \(name) failed: \(delivery.last)"
            )
        )
        await perform([.save(noted)])
    }

    static func notification(_ inc: Incident) -> JSONValue {
        ["text": .string(Notifier.text(inc)), "incident": inc.json]
    }

    static func json(_ value: some Encodable) -> JSONValue? {
        (try? JSONEncoder().encode(value)).flatMap { JSONValue.parse(String(decoding: $0, as: UTF8.self)) }
    }

    /// The monitor's series over the two minutes before an alert, in 10 s steps.
    func samplesAround(_ alert: Event) async -> [Incident.Evidence] {
        guard let score = MonitorScoreView(alert) else { return [] }
        var evidence: [Incident.Evidence] = []
        for name in score.series.keys.sorted() {
            guard let selector = SeriesSelector.parse(name),
                let result = try? await d.store.query(
                    SeriesQuery(
                        name: selector.name,
                        labels: selector.labels,
                        from: alert.time.addingTimeInterval(-120),
                        to: alert.time.addingTimeInterval(1),
                        step: .seconds(10)
                    )
                ),
                let first = result.first
            else { continue }
            let points = JSONValue.array(
                first.buckets.map {
                    [
                        "start": .string(ISOTime.format($0.start)), "min": .double($0.min), "max": .double($0.max),
                        "avg": .double($0.avg),
                    ]
                }
            )
            evidence.append(
                .init(
                    time: alert.time,
                    kind: "samples",
                    summary: "\(name) over the 2 minutes before the alert",
                    data: points
                )
            )
        }
        return evidence
    }
}
