import Foundation
import Logging
import ServiceLifecycle
import WardenCore
import WardenStore
import WardenSupervisor

/// Turns failures into incidents and heals them: the policy engine of Warden's control loop.
///
/// It subscribes to the bus and drives a ``HealMachine``, which makes every decision: an event
/// matching a policy opens an incident for the policy's target (or joins the one already open: one
/// incident, and one action, per target at a time), which then climbs the policy's ladder with
/// its guards, approvals and verification. The engine performs what the machine asks for, in
/// order: it saves incidents, publishes events, runs actions on a ``ServiceControl`` (each in a
/// task of its own, its result fed back), reports health when an event about a service under
/// verification arrives, and wakes the machine at its next deadline. Every change is saved before
/// the machine's next effect is performed, so a Warden restart finds each incident where it was
/// and resumes it (an action that was running is marked interrupted and tried again).
public actor HealEngine: Service {
    public struct Dependencies: Sendable {
        public var spec: Spec
        public var services: any ServiceControl
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
            services: any ServiceControl,
            bus: EventBus,
            store: any Store & IncidentStore,
            clock: any WardenClock = SystemClock(),
            logger: Logger,
            directory: String,
            transport: (any HTTPTransport)? = nil
        ) {
            self.spec = spec
            self.services = services
            self.bus = bus
            self.store = store
            self.clock = clock
            self.logger = logger
            self.directory = directory
            self.transport = transport
        }
    }

    let d: Dependencies
    /// The spec in force (notify targets and the escalation target follow a reload).
    var spec: Spec
    var machine: HealMachine
    /// Effects waiting to be performed, in order, and whether a caller is performing them.
    var pending: [HealMachine.Effect] = []
    var performing = false
    /// The running action of each incident.
    var actions: [String: Task<Void, Never>] = [:]
    /// Services an action is being carried out on now (a ladder's rung or a workflow's `heal`
    /// step), with the ladder actions waiting their turn: one action on a service at a time.
    var busy: [String: [CheckedContinuation<Void, Never>]] = [:]
    var timer: (deadline: Instant, task: Task<Void, Never>)?
    let subscription: FanOutSubscription<Event>

    public init(_ dependencies: Dependencies) {
        d = dependencies
        spec = dependencies.spec
        machine = HealMachine(
            policies: dependencies.spec.policies,
            services: Set(dependencies.spec.services.map(\.name)),
            concurrency: dependencies.spec.healing.concurrency
        )
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
                // triggers joins at once, without a store write per event.
                await perform(machine.takeJoined().map { .save($0) })
            }
        } onGracefulShutdown: {
            self.subscription.finish()
        }
        timer?.task.cancel()
        for task in actions.values { task.cancel() }
    }

    /// Takes the policies of a reloaded spec; incidents already open keep their policy.
    public func apply(_ spec: Spec) {
        self.spec = spec
        machine.apply(policies: spec.policies, services: Set(spec.services.map(\.name)))
    }

    // MARK: - Queries and commands

    /// Incidents, newest first (closed ones too), from the store.
    public func incidents(statuses: [Incident.Status]? = nil, limit: Int = 100) async throws -> [Incident] {
        try await d.store.incidents(statuses: statuses?.map(\.rawValue), limit: limit).compactMap(Self.decode)
    }

    /// One incident.
    public func incident(_ id: String) async throws -> Incident? {
        if let live = machine.incident(id) { return live }
        return try await d.store.incident(id: id).flatMap(Self.decode)
    }

    /// Lets the action an incident waits on go ahead.
    public func approve(_ id: String, by actor: String) async throws -> Incident {
        do {
            let (inc, effects) = try machine.approve(id, by: actor, at: now())
            await perform(effects)
            return inc
        } catch .notOpen {
            if let stored = try await incident(id) {
                throw WardenError(.badRequest, "incident '\(id)' is \(stored.status.rawValue); nothing to approve")
            }
            throw WardenError(.notFound, "no incident '\(id)'")
        } catch .notWaiting(let status) {
            throw WardenError(.badRequest, "incident '\(id)' is not waiting for approval (it is \(status.rawValue))")
        }
    }

    /// Closes an incident without further action.
    public func cancel(_ id: String, by actor: String) async throws -> Incident {
        do {
            let (inc, effects) = try machine.cancel(id, by: actor, at: now())
            await perform(effects)
            return inc
        } catch {
            if let stored = try await incident(id) {
                throw WardenError(.badRequest, "incident '\(id)' is already \(stored.status.rawValue)")
            }
            throw WardenError(.notFound, "no incident '\(id)'")
        }
    }

    // MARK: - Driving the machine

    func now() -> HealTime { HealTime(d.clock.now(), d.clock.wallTime()) }

    func handle(_ event: Event) async {
        // Verification follows health events: anything about a service being verified may have
        // changed its health, so look and tell the machine.
        if machine.isVerifying(event.subject) {
            let healthy = await d.services.isHealthy(event.subject)
            await perform(machine.health(event.subject, healthy: healthy, at: now()))
        }
        if event.type == "gitops.rolled_back", event.source == "gitops",
            let services = event.payload["services"]?.arrayValue
        {
            let targets = services.compactMap(\.stringValue)
            let from = event.payload["commit"]?.stringValue?.prefix(12) ?? "?"
            let to = event.payload["to"]?.stringValue.map { "commit \($0.prefix(12))" } ?? "the node's own spec"
            let reasons = event.payload["reasons"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let note =
                "rolled back: commit \(from) left it unhealthy (\(reasons.joined(separator: "; "))); the node runs \(to) again"
            await perform(machine.annotate(event, targets: targets, note: note, at: now()))
            return
        }
        let context =
            event.type == EventType.monitorAlert && machine.opensIncident(event) ? await samplesAround(event) : []
        await perform(machine.trigger(event, at: now(), makeID: { Self.newID(d.clock.wallTime()) }, context: context))
    }

    /// Loads open incidents after a restart and resumes them.
    func resume() async {
        guard let stored = try? await incidents(statuses: [.open, .awaitingApproval], limit: 1000) else { return }
        await perform(machine.resume(stored, at: now()))
    }

    /// The result of an action, from its task.
    func finished(_ id: String, _ result: HealMachine.ActionResult) async {
        actions.removeValue(forKey: id)
        await perform(machine.actionFinished(id, result, at: now()))
    }

    /// The timer fired: the machine's deadline has passed.
    func wake(_ deadline: Instant) async {
        guard timer?.deadline == deadline else { return }
        timer = nil
        await perform(machine.tick(at: now()))
    }

    /// Performs effects in order. Effects produced while another caller is performing are
    /// queued behind it, so a later save never overtakes an earlier one.
    func perform(_ effects: [HealMachine.Effect]) async {
        pending += effects
        guard !performing else { return }
        performing = true
        while !pending.isEmpty {
            let effect = pending.removeFirst()
            await run(effect)
        }
        performing = false
        schedule()
    }

    func run(_ effect: HealMachine.Effect) async {
        switch effect {
        case .save(let inc):
            await save(inc)
        case .publish(let draft):
            log(d.bus.publish(draft))
        case .execute(let inc, let action):
            let target = action.service ?? inc.target
            actions[inc.id] = Task {
                // After a workflow's action on the same service, if one is under way.
                await self.take(target)
                let result =
                    Task.isCancelled
                    ? HealMachine.ActionResult(ok: false, outcome: "cancelled before it started")
                    : await self.execute(action, incident: inc)
                await self.give(target)
                await self.finished(inc.id, result)
            }
        case .cancelAction(let id):
            actions[id]?.cancel()
        case .escalate(let inc):
            Task { await self.escalate(inc) }
        case .checkHealth(let service):
            let healthy = await d.services.isHealthy(service)
            pending += machine.health(service, healthy: healthy, at: now())
        }
    }

    /// Waits until no action is under way on `target`, then marks one.
    func take(_ target: String) async {
        guard busy[target] != nil else {
            busy[target] = []
            return
        }
        await withCheckedContinuation { busy[target, default: []].append($0) }
    }

    /// Marks `target`'s action done; the next waiting one goes.
    func give(_ target: String) {
        guard var waiting = busy[target] else { return }
        if waiting.isEmpty {
            busy[target] = nil
        } else {
            let next = waiting.removeFirst()
            busy[target] = waiting
            next.resume()
        }
    }

    /// Sleeps until the machine's next deadline (one timer; moved when the deadline moves).
    func schedule() {
        let next = machine.nextDeadline
        guard next != timer?.deadline else { return }
        timer?.task.cancel()
        timer = nil
        guard let next else { return }
        let clock = d.clock
        timer = (
            next,
            Task {
                do { try await clock.sleep(until: next) } catch { return }
                await self.wake(next)
            }
        )
    }

    func log(_ event: Event) {
        if let opened = event.decode(IncidentOpened.self) {
            d.logger.warning(
                "incident opened",
                metadata: [
                    "warden.incident": "\(opened.id)", "warden.target": "\(event.subject)",
                    "warden.policy": "\(opened.policy)",
                ]
            )
        } else if let resolved = event.decode(IncidentResolved.self) {
            d.logger.info(
                "incident resolved",
                metadata: ["warden.incident": "\(resolved.id)", "warden.mttr_ms": "\(resolved.mttrMs)"]
            )
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

    static func decode(_ record: IncidentRecord) -> Incident? {
        try? JSONDecoder.incident.decode(Incident.self, from: Data(record.data.jsonText.utf8))
    }

    static func newID(_ now: Date) -> String {
        let t = String(UInt64(now.timeIntervalSince1970 * 1000), radix: 36)
        return "i" + t + String(UInt16.random(in: 0...UInt16.max), radix: 36)
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
