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

    /// The hourly pass takes workflow runs and jobs that ended before the retention period,
    /// and leaves a run still waiting for a person.
    @Test(arguments: Backend.allCases)
    func theRetentionPassTakesEndedRunsAndJobs(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let old = Date().addingTimeInterval(-2 * 86400)
            for (id, status) in [("done", "succeeded"), ("asking", "waiting")] {
                try await store.saveRun(
                    RunRecord(id: id, workflow: "w", status: status, created: old, updated: old, data: [:])
                )
            }
            _ = try await store.enqueue([JobDraft(queue: "q", kind: "k", payload: [:])], recording: [])
            let job = try #require(
                try await store.claim(queues: ["q"], owner: "w", lease: .seconds(30), now: Date().addingTimeInterval(1))
            )
            // Finished two days ago, as far as the store knows.
            #expect(try await store.complete(job.lease, result: [:], now: old))
            let retention = RetentionService(store: store, keep: .seconds(86400), logger: Logger(label: "test"))
            let deleted = try await retention.pruneJobsAndRuns()
            #expect(deleted.jobs == 1 && deleted.runs == 1)
            #expect(try await store.runs(statuses: nil, workflow: nil, limit: 10).map(\.id) == ["asking"])
            #expect(try await store.jobs(states: nil, queue: nil, limit: 10).isEmpty)
        }
    }
}
