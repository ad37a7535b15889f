import Foundation
import Testing
import WardenCore
import WardenPostgres
import WardenStore
import WardenTestSupport

/// What the control plane's store makes of what agents ship: each node's services, incidents and
/// bans as of its latest events, whatever order batches arrive in; telemetry stored exactly once
/// however often it is shipped; late telemetry rolled up; and the node's outbox of samples.
@Suite("Fleet ingest in PostgreSQL", .timeLimit(.minutes(2)))
struct FleetIngestStoreTests {
    /// Ten minutes ago, on a minute (so that every point of a test falls in one minute).
    let base = Date(timeIntervalSince1970: ((Date().timeIntervalSince1970 - 600) / 60).rounded(.down) * 60)

    func event(_ id: Int64, _ type: String, _ subject: String, _ payload: JSONValue = [:]) -> Event {
        Event(
            id: id,
            time: base.addingTimeInterval(Double(id)),
            type: type,
            source: "s",
            subject: subject,
            payload: payload
        )
    }

    @Test func statesFollowTheLatestEventWhateverTheOrderOfBatches() async throws {
        let place = try await StorePlace(.postgres)
        let store = try #require(try await place.open(node: "control") as? PostgresStore)
        let first = [
            event(1, "service.started", "api"),
            event(2, "service.ready", "api"),
            event(3, "service.started", "worker"),
            event(4, "incident.opened", "api", ["id": "inc-1", "title": "api is down", "policy": "p", "trigger": 2]),
            event(5, "incident.opened", "worker", ["id": "inc-2", "title": "worker", "policy": "p", "trigger": 3]),
            event(6, "ban.applied", "203.0.113.5", ["by": "scenario", "seconds": 3600, "reason": "ssh brute force"]),
            event(7, "ban.applied", "203.0.113.6", ["by": "scenario", "seconds": 3600, "reason": "scan"]),
            event(8, "service.status", "api", ["text": "not a state"]),
        ]
        let second = [
            event(9, "service.failed", "worker"),
            event(10, "incident.resolved", "api", ["id": "inc-1", "mttr_ms": 100, "how": "restart"]),
            event(11, "ban.lifted", "203.0.113.6", ["by": "alice"]),
            event(12, "ban.applied", "203.0.113.7", ["by": "scenario", "seconds": 1, "reason": "over already"]),
        ]
        // The second batch arrives first (another replica was faster), then the first, then the
        // first again: the latest event still wins.
        for batch in [second, first, first] {
            try await store.ingest(batch, node: "edge-1", labels: [:], address: "127.0.0.1", at: Date())
        }
        let state = try await store.state(of: "edge-1", now: Date())
        #expect(state.services.map(\.name) == ["api", "worker"])
        #expect(state.services.map(\.state) == ["running", "failed"])
        #expect(state.services.map(\.event) == ["service.ready", "service.failed"])
        #expect(state.incidents.map(\.id) == ["inc-2"], "inc-1 was resolved")
        #expect(state.incidents.first?.title == "worker" && state.incidents.first?.target == "worker")
        #expect(state.bans.map(\.address) == ["203.0.113.5"], "one lifted, one over")
        #expect(state.bans.first?.reason == "ssh brute force")
        let until = try #require(state.bans.first?.until)
        #expect(abs(until.timeIntervalSince(base.addingTimeInterval(6 + 3600))) < 0.001)
        // An incident keeps the time it opened through later events.
        try await store.ingest(
            [event(13, "incident.escalated", "worker", ["id": "inc-2", "actions": 3])],
            node: "edge-1",
            labels: [:],
            address: "127.0.0.1",
            at: Date()
        )
        let escalated = try await store.state(of: "edge-1", now: Date()).incidents
        #expect(escalated.map(\.status) == ["incident.escalated"])
        #expect(escalated.first.map { abs($0.opened.timeIntervalSince(base.addingTimeInterval(5))) < 0.001 } == true)
        #expect(escalated.first?.title == "worker", "the title stays")
        let counts = try await store.counts(now: Date())
        #expect(counts["edge-1"] == NodeCounts(services: 2, failed: 1, openIncidents: 1, activeBans: 1))
        #expect(try await store.state(of: "edge-2", now: Date()) == NodeState(services: [], incidents: [], bans: []))
        try await store.close()
        await place.stop()
    }

    @Test func telemetryShippedTwiceIsStoredOnceAndLatePointsAreRolledUp() async throws {
        let place = try await StorePlace(.postgres)
        let store = try #require(try await place.open(node: "control") as? PostgresStore)
        let t0 = Int64(base.timeIntervalSince1970) * 1_000_000
        let cpu = SeriesKey(name: "cpu", labels: ["core": "0"])
        let mem = SeriesKey(name: "mem")
        func samples(_ ids: ClosedRange<Int64>, offset: Int64 = 0) -> SequencedSamples {
            SequencedSamples(
                series: [cpu, mem],
                points: ids.map {
                    .init(series: Int($0 % 2), id: $0, time: t0 + offset + $0 * 1_000_000, value: Double($0))
                }
            )
        }
        func ingest(_ s: SequencedSamples, node: String = "edge-1") async throws -> Int64 {
            try await store.ingest([], samples: s, node: node, labels: [:], address: "127.0.0.1", at: Date())
        }
        #expect(try await ingest(samples(1...10)) == 10)
        #expect(try await ingest(samples(1...10)) == 10, "the same batch again")
        #expect(try await ingest(samples(5...14)) == 14, "a batch that overlaps the last")
        #expect(try await ingest(samples(1...3), node: "edge-2") == 3, "another node's numbers are its own")
        let query = SeriesQuery(
            name: "cpu",
            from: base,
            to: base.addingTimeInterval(60),
            step: .seconds(60)
        )
        let got = try await store.query(query, node: "edge-1")
        #expect(got.count == 1)
        #expect(got.first?.buckets.first?.count == 7, "points 2, 4, … 14, each once")
        #expect(got.first?.buckets.first?.max == 14)
        #expect(try await store.series(prefix: nil, limit: 10, node: "edge-1").map(\.key) == [cpu, mem])
        #expect(try await store.query(query, node: "edge-2").first?.buckets.first?.count == 1)

        // The fleet rolls up to now; a node that was away then ships an hour-old point: it is
        // rolled up at once, and still counted after its raw sample is gone.
        _ = try await store.rollUp(
            upTo: Date(),
            rawBefore: base.addingTimeInterval(-86_400),
            rollupsBefore: base.addingTimeInterval(-86_400),
            node: "edge-1"
        )
        let late = SequencedSamples(
            series: [cpu],
            points: [.init(series: 0, id: 15, time: t0 + 30 * 1_000_000, value: 1000)]
        )
        #expect(try await ingest(late) == 15)
        _ = try await store.rollUp(
            upTo: Date(),
            rawBefore: Date(),
            rollupsBefore: base.addingTimeInterval(-86_400),
            node: "edge-1"
        )
        let after = try await store.query(query, node: "edge-1")
        #expect(after.first?.buckets.first?.count == 8, "the late point is in the rollups, once")
        #expect(after.first?.buckets.first?.max == 1000)
        try await store.close()
        await place.stop()
    }
}

/// A node's own store as the outbox of its telemetry.
@Suite("The SQLite store's outbox of samples")
struct SampleOutboxTests {
    @Test func samplesAreReadInTheOrderStoredAndRowsKeepGrowingAfterRetention() async throws {
        let dir = TempDir("warden-outbox")
        let store = try SQLiteStore(path: dir.file("warden.db"))
        let t0 = Int64(1_800_000_000) * 1_000_000
        var batch = SampleBatch()
        for i in 0..<5 { batch.append(SeriesKey(name: i % 2 == 0 ? "a" : "b"), time: t0 + Int64(i), value: Double(i)) }
        try await store.appendSamples(batch)
        let all = try await store.samples(afterRow: 0, limit: 100)
        #expect(all.points.map(\.value) == [0, 1, 2, 3, 4])
        #expect(all.points.map { all.series[$0.series].name } == ["a", "b", "a", "b", "a"])
        let ids = all.points.map(\.id)
        #expect(ids == ids.sorted() && Set(ids).count == 5)
        let rest = try await store.samples(afterRow: ids[1], limit: 2)
        #expect(rest.points.map(\.value) == [2, 3])
        #expect(try await store.lastSampleRow() == ids[4])
        // Retention empties the table; the next samples still come after the last row.
        _ = try await store.rollUp(
            upTo: Date(timeIntervalSince1970: 1_800_000_600),
            rawBefore: Date(timeIntervalSince1970: 1_800_000_600),
            rollupsBefore: Date(timeIntervalSince1970: 0)
        )
        #expect(try await store.samples(afterRow: 0, limit: 100).points.isEmpty, "no sample left to ship")
        var later = SampleBatch()
        later.append(SeriesKey(name: "a"), time: t0 + 700_000_000, value: 7)
        try await store.appendSamples(later)
        let next = try await store.samples(afterRow: ids[4], limit: 100)
        #expect(next.points.map(\.value) == [7], "numbered after what was shipped before")
        // Retention again, with only the placeholder and one sample: still growing.
        _ = try await store.rollUp(
            upTo: Date(timeIntervalSince1970: 1_800_001_000),
            rawBefore: Date(timeIntervalSince1970: 1_800_001_000),
            rollupsBefore: Date(timeIntervalSince1970: 0)
        )
        try await store.appendSamples(later)
        #expect(try await store.samples(afterRow: next.points[0].id, limit: 100).points.count == 1)
        try await store.close()
    }
}
