import Foundation
import Logging
import Testing
import WardenCore
import WardenStore
import WardenTestSupport

/// On a node of a fleet, retention keeps what the control plane has not acknowledged, up to the
/// outbox's limit; beyond it the oldest go, loudly.
@Suite("Retention and the fleet outbox")
struct OutboxRetentionTests {
    @Test(arguments: Backend.allCases)
    func unshippedEventsOutliveRetentionUpToTheLimit(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            // A hundred events, all long past the retention period.
            let old = Date(timeIntervalSince1970: 1_000_000_000)
            // Every tenth is a record (an incident's, a ban's or an audit event), which the outbox
            // never drops.
            let kinds = ["incident.opened", "ban.applied", "audit.request"]
            try await store.append(
                (1...100).map {
                    Event(
                        id: $0,
                        time: old,
                        type: $0 % 10 == 0 ? kinds[Int($0 / 10) % 3] : "t.x",
                        source: "s",
                        subject: "x"
                    )
                }
            )
            let bus = EventBus()
            let dropped = EventLog(bus.subscribe(name: "test"))
            let shipped = Int64(40)
            func retention(limit: Int64) -> RetentionService {
                RetentionService(
                    store: store,
                    keep: .seconds(86400),
                    outbox: .init(shipped: { shipped }, limit: limit, bus: bus),
                    logger: Logger(label: "test")
                )
            }
            // Only what was shipped goes.
            #expect(try await retention(limit: 1000).prune() == 40)
            #expect(try await store.events(matching: EventQuery()).map(\.id) == Array(41...100))
            #expect(dropped.events(OutboxDropped.type).isEmpty)
            // Over the limit: the oldest unshipped go (but records), and that is announced.
            #expect(try await retention(limit: 10).prune() == 45)
            #expect(try await store.events(matching: EventQuery()).map(\.id) == [50, 60, 70, 80, 90] + Array(91...100))
            _ = try await dropped.wait(for: OutboxDropped.type)
            let event = try #require(dropped.events(OutboxDropped.type).first)
            #expect(event.decode(OutboxDropped.self) == OutboxDropped(dropped: 45, limit: 10, upTo: 90))
        }
    }
}
