import Foundation
import Logging
import ServiceLifecycle
import WardenCore
import WardenStore
import WardenSupervisor

/// Turns failures into incidents and heals them: the policy engine of Warden's control loop.
///
/// It subscribes to the bus; an event matching a policy opens an incident for the policy's target
/// (or joins the one already open: one incident, and one action, per target at a time). The
/// incident then climbs the policy's ladder: before each action the guards (cooldown, at most N
/// actions per window, the global concurrency cap, dry-run, approval); after it, verification
/// (health must come back and hold for `settle` within `verify`). Health back resolves the incident
/// with its time to recover; a rung that does not bring it back moves to the next; an exhausted
/// ladder escalates to a person. Every change is saved before the next step, so a Warden restart
/// finds each incident where it was and resumes it (an action that was running is marked
/// interrupted and tried again).
public actor HealEngine: Service {
    public struct Dependencies: Sendable {
        public var spec: Spec
        public var supervisor: Supervisor
        public var bus: EventBus
        public var store: any Store & IncidentStore
        public var clock: any WardenClock
        public var logger: Logger
        /// Where action output (rebuild steps, runbooks) is kept, one folder per incident.
        public var directory: String
        /// Outbound HTTP for notifications (nil: a notification fails and says why).
        public var transport: (any HTTPTransport)?

        public init(
            spec: Spec,
            supervisor: Supervisor,
            bus: EventBus,
            store: any Store & IncidentStore,
            clock: any WardenClock = SystemClock(),
            logger: Logger,
            directory: String,
            transport: (any HTTPTransport)? = nil
        ) {
            self.spec = spec
            self.supervisor = supervisor
            self.bus = bus
            self.store = store
            self.clock = clock
            self.logger = logger
            self.directory = directory
            self.transport = transport
        }
    }

    let d: Dependencies
    var policies: [PolicySpec]
    var open: [String: Incident] = [:]
    var byTarget: [String: String] = [:]
    var guards: [String: HealGuards] = [:]
    var approvals: [String: CheckedContinuation<Bool, Never>] = [:]
    var tasks: [String: Task<Void, Never>] = [:]
    /// Incidents that gained evidence in the batch being handled.
    var joined: Set<String> = []
    var freeSlots: Int
    var slotWaiters: [CheckedContinuation<Void, Never>] = []
    let subscription: FanOutSubscription<Event>

    public init(_ dependencies: Dependencies) {
        d = dependencies
        policies = dependencies.spec.policies
        freeSlots = dependencies.spec.healing.concurrency
        // Every event but its own: policies can change on reload.
        subscription = dependencies.bus.subscribe(name: "heal", capacity: 10_000) { $0.source != "heal" }
    }

    public func run() async throws {
        await resume()
        await withGracefulShutdownHandler {
            while true {
                let batch = await subscription.nextBatch(max: 256)
                if batch.isEmpty { break }
                for event in batch { await handle(event) }
                // Evidence that joined open incidents is stored once per batch: a burst of
                // triggers joins at once, without a store write (and a suspension) per event.
                for id in joined where open[id] != nil { await save(open[id]!) }
                joined = []
            }
        } onGracefulShutdown: {
            self.subscription.finish()
        }
        for task in tasks.values { task.cancel() }
        for (_, c) in approvals { c.resume(returning: false) }
        approvals = [:]
    }

    /// Takes the policies of a reloaded spec; incidents already open keep their policy.
    public func apply(_ spec: Spec) {
        policies = spec.policies
    }

    // MARK: - Queries and commands

    /// Incidents, newest first (closed ones too), from the store.
    public func incidents(statuses: [Incident.Status]? = nil, limit: Int = 100) async throws -> [Incident] {
        try await d.store.incidents(statuses: statuses?.map(\.rawValue), limit: limit).compactMap(Self.decode)
    }

    /// One incident.
    public func incident(_ id: String) async throws -> Incident? {
        if let live = open[id] { return live }
        return try await d.store.incident(id: id).flatMap(Self.decode)
    }

    /// Lets the action an incident waits on go ahead.
    public func approve(_ id: String, by actor: String) async throws -> Incident {
        guard let inc = open[id] else {
            if let stored = try await incident(id) {
                throw WardenError(.badRequest, "incident '\(id)' is \(stored.status.rawValue); nothing to approve")
            }
            throw WardenError(.notFound, "no incident '\(id)'")
        }
        guard let waiter = approvals.removeValue(forKey: id) else {
            throw WardenError(
                .badRequest,
                "incident '\(id)' is not waiting for approval (it is \(inc.status.rawValue))"
            )
        }
        note(id, "approved by \(actor)")
        waiter.resume(returning: true)
        return open[id] ?? inc
    }

    /// Closes an incident without further action.
    public func cancel(_ id: String, by actor: String) async throws -> Incident {
        guard var inc = open[id] else {
            if let stored = try await incident(id) {
                throw WardenError(.badRequest, "incident '\(id)' is already \(stored.status.rawValue)")
            }
            throw WardenError(.notFound, "no incident '\(id)'")
        }
        inc.status = .cancelled
        inc.closedAt = d.clock.wallTime()
        inc.evidence.append(.init(time: d.clock.wallTime(), kind: "note", summary: "cancelled by \(actor)"))
        open[id] = inc
        await close(inc, event: "incident.cancelled", payload: ["by": .string(actor)])
        approvals.removeValue(forKey: id)?.resume(returning: false)
        tasks.removeValue(forKey: id)?.cancel()
        return inc
    }

    // MARK: - Events

    func handle(_ event: Event) async {
        for policy in policies where policy.matches(event) {
            let target = policy.then.compactMap(\.service).first ?? "\(policy.name):\(event.subject)"
            if let id = byTarget[target], var inc = open[id] {
                inc.evidence.append(Self.evidence(event))
                open[id] = inc
                joined.insert(id)
                continue
            }
            await openIncident(policy: policy, target: target, trigger: event)
        }
    }

    func openIncident(policy: PolicySpec, target: String, trigger: Event) async {
        let now = d.clock.wallTime()
        let id = Self.newID(now)
        var inc = Incident(
            id: id,
            title: Self.title(trigger),
            policy: policy.name,
            target: target,
            openedAt: trigger.time,
            dryRun: policy.dryRun
        )
        inc.evidence.append(Self.evidence(trigger))
        if trigger.type == "monitor.alert" { inc.evidence += await samplesAround(trigger) }
        open[id] = inc
        byTarget[target] = id
        await save(inc)
        d.logger.warning(
            "incident opened",
            metadata: ["warden.incident": "\(id)", "warden.target": "\(target)", "warden.policy": "\(policy.name)"]
        )
        publish(
            "incident.opened",
            target,
            [
                "id": .string(id), "title": .string(inc.title), "policy": .string(policy.name),
                "trigger": .int(trigger.id),
            ]
        )
        start(id, policy)
    }

    func start(_ id: String, _ policy: PolicySpec) {
        tasks[id] = Task { await self.climb(id, policy) }
    }

    /// Loads open incidents after a restart and resumes them.
    func resume() async {
        guard let stored = try? await incidents(statuses: [.open, .awaitingApproval], limit: 1000) else { return }
        for var inc in stored {
            guard let policy = policies.first(where: { $0.name == inc.policy }) else {
                inc.status = .escalated
                inc.evidence.append(
                    .init(
                        time: d.clock.wallTime(),
                        kind: "note",
                        summary: "policy '\(inc.policy)' is no longer in the spec"
                    )
                )
                await save(inc)
                continue
            }
            for i in inc.steps.indices where inc.steps[i].state == .running {
                inc.steps[i].state = .interrupted
                inc.steps[i].finishedAt = d.clock.wallTime()
                inc.steps[i].outcome = "interrupted: Warden stopped during this action; it will be tried again"
            }
            inc.status = .open
            inc.evidence.append(
                .init(time: d.clock.wallTime(), kind: "note", summary: "Warden restarted; the incident resumes")
            )
            open[inc.id] = inc
            byTarget[inc.target] = inc.id
            await save(inc)
            publish("incident.resumed", inc.target, ["id": .string(inc.id), "rung": .int(Int64(inc.rung))])
            start(inc.id, policy)
        }
    }

    // MARK: - Helpers

    func save(_ inc: Incident) async {
        do {
            let data = try JSONEncoder.incident.encode(inc)
            let json = JSONValue.parse(String(decoding: data, as: UTF8.self)) ?? .null
            try await d.store.saveIncident(
                IncidentRecord(
                    id: inc.id,
                    target: inc.target,
                    policy: inc.policy,
                    status: inc.status.rawValue,
                    opened: inc.openedAt,
                    closed: inc.closedAt,
                    data: json
                )
            )
        } catch {
            d.logger.error(
                "cannot save incident",
                metadata: ["warden.incident": "\(inc.id)", "warden.error": "\(error)"]
            )
        }
    }

    func close(_ inc: Incident, event: String, payload: [String: JSONValue]) async {
        open.removeValue(forKey: inc.id)
        if byTarget[inc.target] == inc.id { byTarget.removeValue(forKey: inc.target) }
        await save(inc)
        var p = payload
        p["id"] = .string(inc.id)
        publish(event, inc.target, p)
    }

    func note(_ id: String, _ text: String) {
        open[id]?.evidence.append(.init(time: d.clock.wallTime(), kind: "note", summary: text))
    }

    func publish(_ type: String, _ subject: String, _ payload: [String: JSONValue]) {
        d.bus.publish(type, source: "heal", subject: subject, payload: .object(payload))
    }

    static func decode(_ record: IncidentRecord) -> Incident? {
        try? JSONDecoder.incident.decode(Incident.self, from: Data(record.data.jsonText.utf8))
    }

    static func evidence(_ e: Event) -> Incident.Evidence {
        .init(time: e.time, kind: "event", summary: "\(e.type) \(e.subject)", eventID: e.id, data: e.payload)
    }

    static func title(_ e: Event) -> String {
        switch e.type {
        case "service.exited": return "\(e.subject) exited unexpectedly"
        case "service.failed": return "\(e.subject) keeps failing (restarts gave up)"
        case "probe.failed": return "\(e.subject) failed its \(e.payload["probe"]?.stringValue ?? "") check"
        case "watchdog.missed": return "\(e.subject) stopped answering its watchdog"
        case "monitor.alert":
            let p = e.payload["probability"]?.doubleValue.map { String(Int(($0 * 100).rounded())) + " %" } ?? "high"
            return "\(e.subject) predicts a failure (probability \(p))"
        default: return "\(e.type) \(e.subject)"
        }
    }

    static func newID(_ now: Date) -> String {
        let t = String(UInt64(now.timeIntervalSince1970 * 1000), radix: 36)
        return "i" + t + String(UInt16.random(in: 0...UInt16.max), radix: 36)
    }

    /// The monitor's series over the two minutes before an alert, in 10 s steps.
    func samplesAround(_ alert: Event) async -> [Incident.Evidence] {
        guard case .object(let series)? = alert.payload["series"] else { return [] }
        var evidence: [Incident.Evidence] = []
        for name in series.keys.sorted() {
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

extension JSONEncoder {
    static var incident: JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(ISOTime.format(date))
        }
        return e
    }
}

extension JSONDecoder {
    static var incident: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = ISOTime.parse(text) else {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: decoder.codingPath, debugDescription: "not a time: \(text)")
                )
            }
            return date
        }
        return d
    }
}
