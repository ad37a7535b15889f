import Foundation
import Testing
import WardenCore
import WardenStore
import WardenTestSupport

/// What every store does, run unchanged against the embedded SQLite store and against
/// PostgreSQL (a server of the test's own): events, telemetry with rollups and retention,
/// incidents, bans.
@Suite("Store conformance", .timeLimit(.minutes(2)))
struct StoreConformanceTests {
    let base = Date(timeIntervalSince1970: 1_800_000_000)  // a whole minute

    func micros(_ seconds: Double) -> Int64 { Int64((base.timeIntervalSince1970 + seconds) * 1e6) }

    /// One point per second for `seconds` seconds, value = second index.
    func ramp(_ key: SeriesKey, seconds: Int, from: Double = 0) -> SampleBatch {
        var b = SampleBatch()
        for i in 0..<seconds { b.append(key, time: micros(from + Double(i)), value: Double(i)) }
        return b
    }

    func event(_ id: Int64, _ type: String, _ subject: String, at seconds: Double, payload: JSONValue = [:]) -> Event {
        testEvent(id, type, subject, at: seconds, payload: payload)
    }

    // MARK: - Events

    @Test(arguments: Backend.allCases)
    func eventsRoundTripWithTheirPayload(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let original = event(
                1,
                "service.exited",
                "api",
                at: 1.25,
                payload: ["code": 3, "reason": "crash", "nested": ["a": [1, 2]]]
            )
            try await store.append([original])
            let read = try await store.events(matching: EventQuery())
            #expect(read == [original])
        }
    }

    @Test(arguments: Backend.allCases)
    func queriesFilterByTimeTypeSubjectAndId(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            try await store.append([
                event(1, "service.started", "api", at: 0), event(2, "service.exited", "api", at: 10),
                event(3, "probe.failed", "web", at: 20), event(4, "service.started", "web", at: 30),
                event(5, "service.exited", "web", at: 40),
            ])
            func ids(_ q: EventQuery) async throws -> [Int64] { try await store.events(matching: q).map(\.id) }
            #expect(try await ids(EventQuery(types: ["service.*"])) == [1, 2, 4, 5])
            #expect(try await ids(EventQuery(types: ["service.exited", "probe.failed"])) == [2, 3, 5])
            #expect(try await ids(EventQuery(subject: "web")) == [3, 4, 5])
            let base = Date(timeIntervalSince1970: 1_800_000_000)
            #expect(
                try await ids(EventQuery(since: base.addingTimeInterval(10), until: base.addingTimeInterval(40))) == [
                    2, 3, 4,
                ]
            )
            #expect(try await ids(EventQuery(afterID: 3)) == [4, 5])
            #expect(try await ids(EventQuery(limit: 2)) == [1, 2])
            #expect(try await ids(EventQuery(limit: 2, newestFirst: true)) == [5, 4])
            #expect(try await ids(EventQuery(types: ["service.*"], subject: "web", afterID: 4)) == [5])
            #expect(try await store.lastEventID() == 5)
        }
    }

    @Test(arguments: Backend.allCases)
    func whatWasCommittedSurvivesReopening(_ backend: Backend) async throws {
        try await withStore(backend) { store, place in
            try await store.append((1...100).map { event($0, "test.event", "s", at: Double($0)) })
            let again = try await place.open()
            #expect(try await again.events(matching: EventQuery(limit: 1000)).count == 100)
            #expect(try await again.lastEventID() == 100)
            try await again.close()
        }
    }

    @Test(arguments: Backend.allCases)
    func concurrentAppendsAreAllCommitted(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<20 {
                    group.addTask {
                        for batch in 0..<10 {
                            let base = Int64(writer * 1000 + batch * 100)
                            try await store.append(
                                (1...50).map { event(base + $0, "test.event", "w\(writer)", at: Double(base + $0)) }
                            )
                        }
                    }
                }
                try await group.waitForAll()
            }
            let all = try await store.events(matching: EventQuery(limit: 100_000))
            #expect(all.count == 20 * 10 * 50)
            #expect(Set(all.map(\.id)).count == all.count)
        }
    }

    @Test(arguments: Backend.allCases)
    func retentionDeletesOnlyWhatIsOld(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            try await store.append((1...25_000).map { event($0, "test.event", "s", at: Double($0)) })
            let deleted = try await store.deleteEvents(before: Date(timeIntervalSince1970: 1_800_000_000 + 20_000.5))
            #expect(deleted == 20_000)
            let left = try await store.events(matching: EventQuery(limit: 100_000))
            #expect(left.count == 5_000)
            #expect(left.first?.id == 20_001)
        }
    }

    // MARK: - Telemetry

    @Test(arguments: Backend.allCases)
    func seriesAreInternedAndSurviveReopening(_ backend: Backend) async throws {
        let a = SeriesKey(name: "cpu", labels: ["host": "a"])
        let b = SeriesKey(name: "cpu", labels: ["host": "b"])
        try await withStore(backend) { first, place in
            try await first.appendSamples(ramp(a, seconds: 10))
            try await first.appendSamples(ramp(b, seconds: 5))
            try await first.appendSamples(ramp(a, seconds: 10, from: 10))
            let store = try await place.open()
            #expect(await store.seriesCount() == 2, "the series are read back when the store opens")
            try await store.appendSamples(ramp(a, seconds: 1, from: 20))
            let list = try await store.series(prefix: "cp", limit: 10)
            #expect(list.map(\.key) == [a, b], "two series, however often they were written")
            #expect(list[0].lastValue == 0)
            #expect(list[0].lastTime == Date(timeIntervalSince1970: base.timeIntervalSince1970 + 20))
            #expect(try await store.series(prefix: "mem", limit: 10).isEmpty)
            try await store.close()
        }
    }

    @Test(arguments: Backend.allCases)
    func queriesAggregatePerStepAndFilterByLabel(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let a = SeriesKey(name: "temp", labels: ["room": "a"])
            let b = SeriesKey(name: "temp", labels: ["room": "b"])
            try await store.appendSamples(ramp(a, seconds: 120))
            try await store.appendSamples(ramp(b, seconds: 30))
            let all = try await store.query(
                SeriesQuery(name: "temp", from: base, to: base.addingTimeInterval(120), step: .seconds(60))
            )
            #expect(all.map(\.key) == [a, b])
            let buckets = all[0].buckets
            #expect(buckets.count == 2)
            #expect(buckets[0] == SeriesBucket(start: base, min: 0, max: 59, avg: 29.5, last: 59, count: 60))
            #expect(
                buckets[1]
                    == SeriesBucket(
                        start: base.addingTimeInterval(60),
                        min: 60,
                        max: 119,
                        avg: 89.5,
                        last: 119,
                        count: 60
                    )
            )
            let onlyB = try await store.query(
                SeriesQuery(
                    name: "temp",
                    labels: ["room": "b"],
                    from: base,
                    to: base.addingTimeInterval(120),
                    step: .seconds(10)
                )
            )
            #expect(onlyB.count == 1)
            #expect(onlyB[0].buckets.count == 3)
            #expect(onlyB[0].buckets.map(\.last) == [9, 19, 29])
        }
    }

    @Test(arguments: Backend.allCases)
    func rollupsKeepOldDataQueryableAfterRawSamplesAreGone(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let key = SeriesKey(name: "load")
            try await store.appendSamples(ramp(key, seconds: 300))  // five minutes
            let before = try await store.query(
                SeriesQuery(name: "load", from: base, to: base.addingTimeInterval(300), step: .seconds(60))
            )
            // Roll up everything, and drop raw samples older than minute 4.
            let report = try await store.rollUp(
                upTo: base.addingTimeInterval(300),
                rawBefore: base.addingTimeInterval(240),
                rollupsBefore: base.addingTimeInterval(-3600)
            )
            #expect(report.rawDeleted == 240)
            let after = try await store.query(
                SeriesQuery(name: "load", from: base, to: base.addingTimeInterval(300), step: .seconds(60))
            )
            #expect(after == before, "the same answer from rollups as from the raw samples")
            // Coarser steps combine rollups: min, max, avg and the last value stay right.
            let coarse = try await store.query(
                SeriesQuery(name: "load", from: base, to: base.addingTimeInterval(300), step: .seconds(300))
            )
            #expect(
                coarse[0].buckets == [SeriesBucket(start: base, min: 0, max: 299, avg: 149.5, last: 299, count: 300)]
            )
            // Rolling up again does not count anything twice.
            _ = try await store.rollUp(
                upTo: base.addingTimeInterval(300),
                rawBefore: base.addingTimeInterval(240),
                rollupsBefore: base.addingTimeInterval(-3600)
            )
            #expect(
                try await store.query(
                    SeriesQuery(name: "load", from: base, to: base.addingTimeInterval(300), step: .seconds(300))
                ) == coarse
            )
            // Retention removes rollups too.
            let gone = try await store.rollUp(
                upTo: base.addingTimeInterval(300),
                rawBefore: base.addingTimeInterval(300),
                rollupsBefore: base.addingTimeInterval(600)
            )
            #expect(gone.rollupsDeleted == 5)
            // With neither samples nor rollups left, the series itself goes (and stops counting
            // against samples.max_series).
            #expect(gone.seriesDeleted == 1)
            #expect(await store.seriesCount() == 0)
            #expect(
                try await store.query(
                    SeriesQuery(name: "load", from: base, to: base.addingTimeInterval(300), step: .seconds(60))
                ).isEmpty
            )
            // Samples of it arriving later create it again.
            var again = SampleBatch()
            again.append(SeriesKey(name: "load"), time: Int64(base.timeIntervalSince1970 * 1e6) + 400_000_000, value: 1)
            try await store.appendSamples(again)
            #expect(await store.seriesCount() == 1)
        }
    }

    /// Whole hours are rolled up into 1-hour rollups, which answer whole-hour steps once raw
    /// samples and 1-minute rollups of those hours are gone; a late point reaches its hour, and
    /// the hours have a retention of their own.
    @Test(arguments: Backend.allCases)
    func hourStepsAreAnsweredFromHourlyRollups(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let key = SeriesKey(name: "load")
            let seconds = 3 * 3600 + 600
            try await store.appendSamples(ramp(key, seconds: seconds))
            let end = base.addingTimeInterval(Double(seconds))
            let query = SeriesQuery(name: "load", from: base.addingTimeInterval(100), to: end, step: .seconds(3600))
            let raw = try await store.query(query)
            #expect(raw.first?.buckets.first?.start == base, "the first step starts on the hour")
            #expect(raw.first?.buckets.map(\.count) == [3600, 3600, 3600, 600])
            // Roll everything up, then drop the raw samples and the minutes of the first three hours.
            _ = try await store.rollUp(
                upTo: end,
                rawBefore: base.addingTimeInterval(3 * 3600),
                rollupsBefore: base.addingTimeInterval(3 * 3600),
                hoursBefore: base.addingTimeInterval(-3600)
            )
            let fromHours = try await store.query(query)
            #expect(fromHours == raw, "the same answer from the hours as from the raw samples")
            // A minute-step query of those hours finds nothing left at that resolution.
            let minutes = try await store.query(
                SeriesQuery(name: "load", from: base, to: base.addingTimeInterval(3600), step: .seconds(60))
            )
            #expect(minutes.first?.buckets.isEmpty ?? true)
            // A point of hour 1 arrives late.
            var late = SampleBatch()
            late.append(key, time: micros(3600 + 5.5), value: 100_000)
            try await store.appendSamples(late)
            let after = try await store.query(query)
            #expect(after.first?.buckets[1].count == 3601)
            #expect(after.first?.buckets[1].max == 100_000)
            #expect(after.first?.buckets[1].last == 7199, "the last value is still the latest point's")
            // Hours have their own retention.
            let gone = try await store.rollUp(
                upTo: end,
                rawBefore: base.addingTimeInterval(3 * 3600),
                rollupsBefore: base.addingTimeInterval(3 * 3600),
                hoursBefore: base.addingTimeInterval(2 * 3600)
            )
            #expect(gone.rollupsDeleted == 3, "hours 0 and 1, and the minute the late point went into")
            let left = try await store.query(query)
            #expect(left.first?.buckets.map(\.count) == [3600, 600])
            #expect(left.first?.buckets.first?.start == base.addingTimeInterval(2 * 3600))
        }
    }

    /// Whole-minute steps start on whole minutes and read rolled-up minutes from the rollups; a
    /// point that arrives after its minute was rolled up is counted all the same.
    @Test(arguments: Backend.allCases)
    func minuteStepsAreAnsweredFromRollupsAndLatePointsCount(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let key = SeriesKey(name: "load")
            try await store.appendSamples(ramp(key, seconds: 600))  // ten minutes, 0…599
            let query = SeriesQuery(
                name: "load",
                from: base.addingTimeInterval(7),  // not on a minute
                to: base.addingTimeInterval(600),
                step: .seconds(60)
            )
            let raw = try await store.query(query)
            #expect(raw.first?.buckets.first?.start == base, "the first step starts on the minute")
            #expect(raw.first?.buckets.map(\.count) == Array(repeating: 60, count: 10))
            // Eight minutes rolled up; raw samples kept.
            _ = try await store.rollUp(
                upTo: base.addingTimeInterval(480),
                rawBefore: base.addingTimeInterval(-3600),
                rollupsBefore: base.addingTimeInterval(-3600)
            )
            #expect(try await store.query(query) == raw, "the same answer from rollups and raw samples")
            // A point of minute 2 arrives now.
            var late = SampleBatch()
            late.append(key, time: micros(150.5), value: 1000)
            try await store.appendSamples(late)
            let after = try await store.query(query)
            let minute2 = after.first?.buckets[2]
            #expect(minute2?.count == 61 && minute2?.max == 1000)
            #expect(minute2?.last == 179, "the last value is still the latest point's")
            #expect(after.first?.buckets.map(\.count).reduce(0, +) == 601)
        }
    }

    @Test(arguments: Backend.allCases)
    func concurrentSampleAppendsAreAllCommitted(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<16 {
                    group.addTask {
                        for b in 0..<10 {
                            var batch = SampleBatch()
                            for i in 0..<100 {
                                batch.append(
                                    SeriesKey(name: "w\(w)", labels: ["i": "\(i % 5)"]),
                                    time: micros(Double(b * 100 + i)),
                                    value: Double(i)
                                )
                            }
                            try await store.appendSamples(batch)
                        }
                    }
                }
                try await group.waitForAll()
            }
            var total = 0
            for w in 0..<16 {
                let r = try await store.query(
                    SeriesQuery(name: "w\(w)", from: base, to: base.addingTimeInterval(2000), step: .seconds(2000))
                )
                #expect(r.count == 5)
                total += r.reduce(0) { $0 + ($1.buckets.first?.count ?? 0) }
            }
            #expect(total == 16 * 10 * 100)
        }
    }

    // MARK: - Incidents and bans

    @Test(arguments: Backend.allCases)
    func incidentsAreSavedUpdatedAndFilteredByStatus(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            func record(_ id: String, _ status: String, opened: Double, closed: Double? = nil) -> IncidentRecord {
                IncidentRecord(
                    id: id,
                    target: "api",
                    policy: "service:api",
                    status: status,
                    opened: base.addingTimeInterval(opened),
                    closed: closed.map { base.addingTimeInterval($0) },
                    data: ["id": .string(id), "steps": [1, 2]]
                )
            }
            try await store.saveIncident(record("i1", "open", opened: 1))
            try await store.saveIncident(record("i2", "open", opened: 2))
            try await store.saveIncident(record("i3", "awaiting_approval", opened: 3))
            // Saving again updates, never duplicates.
            try await store.saveIncident(record("i1", "resolved", opened: 1, closed: 9))
            #expect(try await store.incidents(statuses: nil, limit: 10).map(\.id) == ["i3", "i2", "i1"])
            #expect(try await store.incidents(statuses: ["open"], limit: 10).map(\.id) == ["i2"])
            #expect(
                try await store.incidents(statuses: ["open", "awaiting_approval"], limit: 10).map(\.id) == ["i3", "i2"]
            )
            #expect(try await store.incidents(statuses: nil, limit: 1).map(\.id) == ["i3"])
            let i1 = try #require(try await store.incident(id: "i1"))
            #expect(i1 == record("i1", "resolved", opened: 1, closed: 9))
            #expect(try await store.incident(id: "nope") == nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func bansAreKeptLiftedAndCounted(_ backend: Backend) async throws {
        try await withStore(backend) { store, _ in
            let a = try #require(IPAddress("203.0.113.5"))
            let b = try #require(IPAddress("2001:db8::7"))
            func ban(_ address: IPAddress, at: Double, for seconds: Double, offence: Int = 1) -> Ban {
                Ban(
                    address: address,
                    reason: "ssh-bruteforce",
                    source: "scenario",
                    createdAt: base.addingTimeInterval(at),
                    expiresAt: base.addingTimeInterval(at + seconds),
                    offence: offence,
                    evidence: ["lines": ["Failed password"]]
                )
            }
            let first = try await store.saveBan(ban(a, at: 0, for: 60))
            let second = try await store.saveBan(ban(a, at: 100, for: 600, offence: 2))
            _ = try await store.saveBan(ban(b, at: 10, for: 600))
            #expect(second > first)
            #expect(try await store.banCount(of: a) == 2)
            // In force at 200 s: the latest ban of each address that has not expired.
            let active = try await store.activeBans(at: base.addingTimeInterval(200))
            #expect(active.map(\.address) == [b, a])
            #expect(active.last?.offence == 2 && active.last?.evidence == ["lines": ["Failed password"]])
            // Lifting is an update of the same ban.
            var lifted = try #require(active.last)
            lifted.liftedAt = base.addingTimeInterval(210)
            lifted.liftedBy = "alice"
            #expect(try await store.saveBan(lifted) == second)
            #expect(try await store.activeBans(at: base.addingTimeInterval(220)).map(\.address) == [b])
            let all = try await store.bans(limit: 10)
            #expect(all.count == 3 && all.first?.address == b)
            #expect(all.first { $0.id == second }?.liftedBy == "alice")
            #expect(try await store.bans(limit: 1).count == 1)
            // A list goes in at once, each with its id, in order.
            let list = (0..<500).map { i in
                Ban(
                    address: IPAddress("45.0.\(i / 250).\(i % 250 + 1)")!,
                    reason: "blocklist",
                    source: "list:ops",
                    createdAt: base.addingTimeInterval(300),
                    expiresAt: base.addingTimeInterval(3900),
                    offence: 1
                )
            }
            let ids = try await store.insertBans(list)
            #expect(ids.count == 500 && ids == ids.sorted() && Set(ids).count == 500 && ids[0] > second)
            let stored = try await store.bans(limit: 1000).filter { $0.source == "list:ops" }
            #expect(
                Dictionary(uniqueKeysWithValues: stored.map { ($0.id!, $0.address) })
                    == Dictionary(
                        uniqueKeysWithValues: zip(ids, list.map(\.address))
                    )
            )
            #expect(try await store.activeBans(at: base.addingTimeInterval(400)).count == 501)
            #expect(try await store.insertBans([]).isEmpty)
        }
    }
}
