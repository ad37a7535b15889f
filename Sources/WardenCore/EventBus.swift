import Foundation
import Synchronization

/// The in-process event bus: every component publishes its events here and subscribes to others'.
///
/// Publishing never blocks (see ``FanOut``). Ids are assigned at publication, strictly increasing,
/// and every subscriber sees events in id order. When a subscriber's buffer overflows, the drop is
/// counted and, at most once a second, reported as a `bus.dropped` event.
public final class EventBus: Sendable {
    private let fanOut = FanOut<Event>()
    private let clock: any WardenClock
    private struct Counters {
        var lastID: Int64
        var reportedDrops = 0
        var lastReport: Instant?
        var reporting = false
    }
    private let counters: Mutex<Counters>

    /// Creates a bus whose first event gets id `firstID` (pass the store's highest id + 1 so ids
    /// keep increasing across restarts).
    public init(clock: any WardenClock = SystemClock(), firstID: Int64 = 1) {
        self.clock = clock
        self.counters = Mutex(Counters(lastID: firstID - 1))
    }

    /// Publishes an event and returns it with its id and time.
    @discardableResult
    public func publish(_ draft: EventDraft) -> Event {
        let event = fanOut.send { () -> Event in
            let id = counters.withLock { c -> Int64 in
                c.lastID += 1
                return c.lastID
            }
            return Event(
                id: id,
                time: draft.time ?? clock.wallTime(),
                type: draft.type,
                source: draft.source,
                subject: draft.subject,
                payload: draft.payload
            )
        }
        reportDropsIfNeeded()
        return event
    }

    /// Publishes an event built from its parts.
    @discardableResult
    public func publish(
        _ type: String,
        source: String,
        subject: String,
        payload: JSONValue = .object([:])
    ) -> Event {
        publish(EventDraft(type: type, source: source, subject: subject, payload: payload))
    }

    /// Subscribes to events published from now on; `filter` selects which are buffered.
    public func subscribe(
        name: String,
        capacity: Int = 10_000,
        filter: (@Sendable (Event) -> Bool)? = nil
    ) -> FanOutSubscription<Event> {
        fanOut.subscribe(name: name, capacity: capacity, filter: filter)
    }

    /// The id of the most recently published event (or `firstID - 1`).
    public var lastID: Int64 { counters.withLock { $0.lastID } }

    /// Per-subscriber delivery and drop counters.
    public func stats() -> [FanOut<Event>.SubscriberStats] { fanOut.stats() }

    /// Events dropped for any subscriber so far.
    public var totalDropped: Int { fanOut.totalDropped }

    /// Ends every subscription.
    public func finish() { fanOut.finish() }

    private func reportDropsIfNeeded() {
        let total = fanOut.totalDropped
        let now = clock.now()
        let report = counters.withLock { c -> Int? in
            guard !c.reporting, total > c.reportedDrops else { return nil }
            if let last = c.lastReport, now - last < .seconds(1) { return nil }
            c.reporting = true
            c.lastReport = now
            let fresh = total - c.reportedDrops
            c.reportedDrops = total
            return fresh
        }
        guard let fresh = report else { return }
        let perSubscriber = Dictionary(
            stats().filter { $0.dropped > 0 }.map { ($0.name, Int64($0.dropped)) },
            uniquingKeysWith: { a, _ in a }
        )
        publish(
            BusDropped(dropped: Int64(fresh), total: Int64(total), subscribers: perSubscriber),
            source: "bus",
            subject: "bus"
        )
        counters.withLock { $0.reporting = false }
    }
}
