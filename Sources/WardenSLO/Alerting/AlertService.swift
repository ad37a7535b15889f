import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import WardenCore
import WardenStore

/// Turns events into alerts and alerts into notifications: listens on the bus (see
/// ``AlertSources``), keeps the ``AlertDispatcher``'s groups, and delivers what is due to the
/// receivers, each notification retried with doubling waits and recorded as `notification.sent`
/// or `notification.failed`; a receiver that fails three notifications in a row is reported
/// (`receiver.failing`, then `receiver.recovered`). Silences are made and expired here (for the
/// API and CLI) and kept as events (`silence.created`, `silence.expired`), read back at start.
public final class AlertService: Service, Sendable {
    let spec: AlertingSpec
    let sources: AlertSources
    let bus: EventBus
    let store: any Store
    let clock: any WardenClock
    let transport: (any HTTPTransport)?
    let runner: ProgramRunner?
    let logger: Logger
    private let dispatcher: Mutex<AlertDispatcher>
    private let streaks = Mutex<[String: Int]>([:])
    private let subscription: FanOutSubscription<Event>
    private let wake: AsyncStream<Void>
    private let ring: AsyncStream<Void>.Continuation

    /// Receivers failing this many notifications in a row are reported.
    static let failingAfter = 3
    /// At most this many silences are kept (pending or active).
    public static let maxSilences = 1000

    public init(
        spec: AlertingSpec,
        bus: EventBus,
        store: any Store,
        transport: (any HTTPTransport)?,
        runner: ProgramRunner? = nil,
        clock: any WardenClock = SystemClock(),
        logger: Logger
    ) {
        self.spec = spec
        self.sources = AlertSources(spec: spec)
        self.bus = bus
        self.store = store
        self.clock = clock
        self.transport = transport
        self.runner = runner
        self.logger = logger
        self.dispatcher = Mutex(AlertDispatcher(spec: spec))
        let types = Set(sources.types)
        self.subscription = bus.subscribe(name: "alerting", capacity: 10_000) { types.contains($0.type) }
        (wake, ring) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public func run() async throws {
        await loadSilences()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.consume() }
            group.addTask { await self.tick() }
            await group.next()
            group.cancelAll()
        }
    }

    // MARK: - Reading

    /// Current alerts with whether (and by what) they are muted.
    public func alerts() -> [AlertState] {
        let now = clock.wallTime()
        return dispatcher.withLock { d in
            d.alerts.values.sorted { $0.startsAt < $1.startsAt }.map { alert in
                let silenced = d.silencedBy(alert, now: now)
                let inhibited = d.inhibitedBy(alert)
                return AlertState(
                    alert: alert,
                    fingerprint: alert.fingerprint,
                    state: alert.isResolved
                        ? "resolved" : !silenced.isEmpty ? "silenced" : !inhibited.isEmpty ? "inhibited" : "active",
                    silencedBy: silenced,
                    inhibitedBy: inhibited
                )
            }
        }
    }

    /// Every silence kept, newest first, with its state now.
    public func silences() -> [(silence: Silence, state: String)] {
        let now = clock.wallTime()
        return dispatcher.withLock { $0.silences.values.sorted { $0.startsAt > $1.startsAt } }.map {
            ($0, $0.state(at: now))
        }
    }

    // MARK: - Silences

    /// Makes a silence. Throws when it would mute nothing in particular (every matcher matches
    /// an empty label: it would silence everything), ends before it starts, or too many exist.
    public func silence(
        matchers: [LabelMatcher],
        startsAt: Date?,
        endsAt: Date,
        createdBy: String,
        comment: String
    ) throws(AlertSpecError) -> Silence {
        let now = clock.wallTime()
        let start = startsAt ?? now
        guard !matchers.isEmpty, matchers.contains(where: { !$0.matches([:]) }) else {
            throw AlertSpecError(
                "at least one matcher must not match an empty label (a silence of everything is refused)"
            )
        }
        guard endsAt > start, endsAt > now else {
            throw AlertSpecError("the silence must end after it starts, and in the future")
        }
        let silence = Silence(
            id: UUID().uuidString.lowercased(),
            matchers: matchers,
            startsAt: start,
            endsAt: endsAt,
            createdBy: createdBy,
            comment: comment
        )
        let accepted = dispatcher.withLock { d -> Bool in
            d.dropSilences(endedBefore: now.addingTimeInterval(-86400))
            guard d.silences.values.filter({ $0.endsAt > now }).count < Self.maxSilences else { return false }
            d.setSilence(silence, now: now)
            return true
        }
        guard accepted else {
            throw AlertSpecError("there are already \(Self.maxSilences) silences; expire some first")
        }
        bus.publish(SilenceCreated(silence: silence), source: "alerting", subject: silence.id)
        ring.yield()
        return silence
    }

    /// Ends a silence now; false when there is no such silence or it had ended.
    public func expire(silence id: String, by who: String) -> Bool {
        let now = clock.wallTime()
        let expired = dispatcher.withLock { d -> Bool in
            guard let s = d.silences[id], s.endsAt > now else { return false }
            d.expireSilence(id: id, at: now)
            return true
        }
        if expired {
            bus.publish(SilenceExpired(by: who), source: "alerting", subject: id)
            ring.yield()
        }
        return expired
    }

    private func loadSilences() async {
        do {
            let events = try await store.events(
                matching: EventQuery(
                    types: [EventType.silenceCreated, EventType.silenceExpired],
                    limit: 10_000,
                    newestFirst: true
                )
            )
            let now = clock.wallTime()
            dispatcher.withLock { d in
                for event in events.reversed() {
                    if let silence = SilenceCreated.silence(from: event) {
                        d.setSilence(silence, now: now)
                    } else if event.type == EventType.silenceExpired {
                        d.expireSilence(id: event.subject, at: event.time)
                    }
                }
                d.dropSilences(endedBefore: now.addingTimeInterval(-86400))
            }
        } catch {
            logger.error("cannot read the silences back", metadata: ["warden.error": "\(error)"])
        }
    }

    // MARK: - Loop

    private func consume() async {
        await withGracefulShutdownHandler {
            while true {
                let events = await subscription.nextBatch(max: 1000)
                if events.isEmpty { return }
                let now = clock.wallTime()
                dispatcher.withLock { d in
                    for event in events {
                        switch sources.change(for: event) {
                        case .fire(let alert): d.fire(alert, now: now)
                        case .resolve(let fp, let at): d.resolve(fingerprint: fp, at: at)
                        case nil: break
                        }
                    }
                }
                ring.yield()
            }
        } onGracefulShutdown: {
            self.subscription.finish()
        }
    }

    private func tick() async {
        while !Task.isCancelled {
            let now = clock.wallTime()
            let due = dispatcher.withLock { $0.flush(now: now) }
            for notification in due {
                Task { await self.deliver(notification) }
            }
            let next = dispatcher.withLock { $0.nextDeadline(after: now) }
            let seconds = next.map { max(0.01, $0.timeIntervalSince(clock.wallTime())) } ?? 3600
            await sleepOrWake(Duration.milliseconds(Int64(min(seconds, 3600) * 1000)))
        }
    }

    /// Returns after `duration`, or sooner when something changed (an event, a silence).
    private func sleepOrWake(_ duration: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [clock] in try? await clock.sleep(for: duration) }
            group.addTask { [wake] in
                for await _ in wake { return }
            }
            await group.next()
            group.cancelAll()
        }
    }

    // MARK: - Delivery

    func deliver(_ n: AlertDispatcher.Notification) async {
        guard let receiver = spec.receivers[n.receiver] else { return }
        let sender = NotificationSender(transport: transport, runner: runner, clock: clock, node: spec.node)
        let result = await sender.send(n, to: receiver)
        let streak = streaks.withLock { s -> (now: Int, before: Int) in
            let before = s[receiver.name] ?? 0
            s[receiver.name] = result.delivered ? 0 : before + 1
            return (s[receiver.name]!, before)
        }
        if result.delivered {
            bus.publish(
                NotificationSent(
                    group: n.groupKey,
                    status: n.status,
                    firing: n.firing.count,
                    resolved: n.resolved.count,
                    attempts: result.attempts
                ),
                source: "alerting",
                subject: receiver.name
            )
            if streak.before >= Self.failingAfter {
                bus.publish(ReceiverRecovered(failures: streak.before), source: "alerting", subject: receiver.name)
            }
        } else {
            logger.warning(
                "notification not delivered",
                metadata: ["warden.receiver": "\(receiver.name)", "warden.error": "\(result.last)"]
            )
            bus.publish(
                NotificationFailed(
                    group: n.groupKey,
                    status: n.status,
                    attempts: result.attempts,
                    error: result.last
                ),
                source: "alerting",
                subject: receiver.name
            )
            if streak.now == Self.failingAfter {
                bus.publish(
                    ReceiverFailing(failures: streak.now, error: result.last),
                    source: "alerting",
                    subject: receiver.name
                )
            }
        }
    }
}

/// An alert as the API shows it.
public struct AlertState: Sendable, Equatable {
    public var alert: Alert
    public var fingerprint: String
    /// `active`, `silenced`, `inhibited` or `resolved` (told of soon).
    public var state: String
    public var silencedBy: [String]
    public var inhibitedBy: [String]
}
