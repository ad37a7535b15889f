import Foundation
import Testing
import WardenCore
import WardenStore
import WardenTestSupport

@Suite("Samples in the SQLite store", .timeLimit(.minutes(1)))
struct SampleStoreTests {
    let base = Date(timeIntervalSince1970: 1_800_000_000)  // a whole minute

    func micros(_ seconds: Double) -> Int64 { Int64((base.timeIntervalSince1970 + seconds) * 1e6) }

    /// One point per second for `seconds` seconds, value = second index.
    func ramp(_ key: SeriesKey, seconds: Int, from: Double = 0) -> SampleBatch {
        var b = SampleBatch()
        for i in 0..<seconds { b.append(key, time: micros(from + Double(i)), value: Double(i)) }
        return b
    }

    @Test func seriesAreInternedAndSurviveReopening() async throws {
        let dir = TempDir()
        let path = dir.file("warden.db")
        let a = SeriesKey(name: "cpu", labels: ["host": "a"])
        let b = SeriesKey(name: "cpu", labels: ["host": "b"])
        do {
            let store = try SQLiteStore(path: path)
            try await store.appendSamples(ramp(a, seconds: 10))
            try await store.appendSamples(ramp(b, seconds: 5))
            try await store.appendSamples(ramp(a, seconds: 10, from: 10))
            try await store.close()
        }
        let store = try SQLiteStore(path: path)
        try await store.appendSamples(ramp(a, seconds: 1, from: 20))
        let list = try await store.series(prefix: "cp", limit: 10)
        #expect(list.map(\.key) == [a, b], "two series, however often they were written")
        #expect(list[0].lastValue == 0)
        #expect(list[0].lastTime == Date(timeIntervalSince1970: base.timeIntervalSince1970 + 20))
        #expect(try await store.series(prefix: "mem", limit: 10).isEmpty)
        try await store.close()
    }

    @Test func queriesAggregatePerStepAndFilterByLabel() async throws {
        let dir = TempDir()
        let store = try SQLiteStore(path: dir.file("warden.db"))
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
                == SeriesBucket(start: base.addingTimeInterval(60), min: 60, max: 119, avg: 89.5, last: 119, count: 60)
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
        try await store.close()
    }

    @Test func rollupsKeepOldDataQueryableAfterRawSamplesAreGone() async throws {
        let dir = TempDir()
        let store = try SQLiteStore(path: dir.file("warden.db"))
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
        #expect(coarse[0].buckets == [SeriesBucket(start: base, min: 0, max: 299, avg: 149.5, last: 299, count: 300)])
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
        try await store.close()
    }

    @Test func concurrentSampleAppendsAreAllCommitted() async throws {
        let dir = TempDir()
        let store = try SQLiteStore(path: dir.file("warden.db"))
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
        try await store.close()
    }
}
