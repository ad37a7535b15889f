import Foundation
import Logging
import Testing
import WardenCore
import WardenStore
import WardenTestSupport

@testable import WardenSLO

@Suite("SLOs")
struct SLOTests {
    let slo = SLOSpec(name: "api", service: "api", objective: 0.99, window: .seconds(30 * 86400))

    @Test func budgetAndBurnFollowTheWorkbook() {
        // 30 days of 100,000 events, 500 bad: half the budget (1 %) spent.
        var counts: [Double: WindowCount] = [30 * 86400: WindowCount(good: 99_500, total: 100_000)]
        // The last hour: 20 % bad, a burn of 20x; the last 5 minutes the same.
        counts[3600] = WindowCount(good: 80, total: 100)
        counts[300] = WindowCount(good: 8, total: 10)
        counts[6 * 3600] = WindowCount(good: 950, total: 1000)  // 5x: under 6x
        counts[1800] = WindowCount(good: 90, total: 100)
        counts[3 * 86400] = WindowCount(good: 9_990, total: 10_000)  // 0.1x
        counts[6 * 3600] = WindowCount(good: 950, total: 1000)
        let status = SLOStatus.evaluate(slo, counts: counts)
        #expect(abs(status.sli - 0.995) < 1e-12)
        #expect(abs(status.budgetLeft - 0.5) < 1e-9)
        #expect(status.alerts.map(\.firing) == [true, false, false])
        #expect(abs(status.alerts[0].longBurn - 20) < 1e-9)
        // The short window recovered: the fast alert stops although the hour still burns.
        counts[300] = WindowCount(good: 10, total: 10)
        #expect(SLOStatus.evaluate(slo, counts: counts).alerts[0].firing == false)
        // No events spend no budget.
        #expect(SLOStatus.evaluate(slo, counts: [:]).budgetLeft == 1)
    }

    @Test func probeRunsBecomeGoodAndBadEvents() {
        var batch = SampleBatch()
        let health = [SeriesKey.Label("probe", "health"), SeriesKey.Label("service", "api")]
        let ready = [SeriesKey.Label("probe", "ready"), SeriesKey.Label("service", "api")]
        for (t, up, latency) in [(1, 1.0, 0.05), (2, 1.0, 0.3), (3, 0.0, 0.01)] as [(Int64, Double, Double)] {
            batch.append(SeriesKey(name: "probe.up", labels: health), time: t, value: up)
            batch.append(SeriesKey(name: "probe.latency_seconds", labels: health), time: t, value: latency)
        }
        batch.append(SeriesKey(name: "probe.up", labels: ready), time: 4, value: 0)
        let fast = SLOSpec(name: "fast", service: "api", latency: .milliseconds(200), objective: 0.9)
        let other = SLOSpec(name: "db", service: "db", objective: 0.9)
        var out = SampleBatch()
        SLOService.events(of: batch, for: [slo, fast, other], into: &out)
        func values(_ name: String) -> [Int64: Double] {
            Dictionary(
                uniqueKeysWithValues: out.points.filter { out.series[Int($0.series)].labelDictionary["slo"] == name }
                    .map { ($0.time, $0.value) }
            )
        }
        #expect(values("api") == [1: 1, 2: 1, 3: 0], "availability: the probe passed")
        #expect(values("fast") == [1: 1, 2: 0, 3: 0], "latency: passed within 200 ms")
        #expect(values("db").isEmpty)
    }

    /// Counters a service exports: their increases are the good and total events; a counter's
    /// first value is its baseline, a reset counts from zero, and other series are ignored.
    @Test func counterIncreasesBecomeGoodAndTotalEvents() {
        let good = SeriesSelector(name: "http_requests_total", labels: ["code": "200"])
        var counted = SLOSpec(name: "http", service: "", objective: 0.99)
        counted.counters = CounterSLI(good: good, total: SeriesSelector(name: "http_requests_total"))
        let ok = SeriesKey(name: "http_requests_total", labels: [.init("code", "200")])
        let failed = SeriesKey(name: "http_requests_total", labels: [.init("code", "500")])
        let other = SeriesKey(name: "bytes_total", labels: [.init("code", "200")])
        var last: [SLOService.CounterKey: Double] = [:]
        var sums: [String: Double] = [:]
        // (ok, failed) at each time: baseline, +90/+10, a reset of ok to 5, +20/+0.
        for (t, a, b) in [(1, 100.0, 10.0), (2, 190, 20), (3, 5, 20), (4, 25, 20)] as [(Int64, Double, Double)] {
            var batch = SampleBatch()
            batch.append(ok, time: t, value: a)
            batch.append(failed, time: t, value: b)
            batch.append(other, time: t, value: Double(t) * 1000)
            var out = SampleBatch()
            SLOService.counterEvents(of: batch, for: [counted, slo], last: &last, into: &out)
            for p in out.points {
                let key = out.series[Int(p.series)]
                #expect(key.labelDictionary["slo"] == "http")
                sums[key.name, default: 0] += p.value
            }
        }
        #expect(
            sums == ["slo.good": 90 + 5 + 20, "slo.total": (90 + 10) + 5 + 20],
            "\(sums.mapValues { $0.bitPattern })"
        )
    }

    /// The selector index finds exactly what checking every selector finds, for selectors with
    /// no label, one, or several, over series with extra labels, missing ones and other names.
    @Test func theSelectorIndexFindsWhatCheckingEverySelectorFinds() {
        var rng = SplitMix64(seed: 11)
        let names = ["req_total", "err_total", "other"]
        let values = ["a", "b", "c"]
        func labels(_ count: Int) -> [String: String] {
            var l: [String: String] = [:]
            for _ in 0..<count { l[["slo", "code", "zone"][Int(rng.next() % 3)]] = values[Int(rng.next() % 3)] }
            return l
        }
        var slos: [SLOSpec] = []
        for i in 0..<60 {
            var slo = SLOSpec(name: "s\(i)", service: "", objective: 0.99)
            slo.counters = CounterSLI(
                good: SeriesSelector(name: names[Int(rng.next() % 3)], labels: labels(Int(rng.next() % 3))),
                total: SeriesSelector(name: names[Int(rng.next() % 3)], labels: labels(Int(rng.next() % 2)))
            )
            slos.append(slo)
        }
        let index = SLOService.SelectorIndex(slos)
        for _ in 0..<500 {
            let key = SeriesKey(name: names[Int(rng.next() % 3)], labels: labels(Int(rng.next() % 4)))
            let found = Set(
                index.candidates(for: key).filter { $0.selector.matches(key) }.map { "\($0.slo) \($0.good)" }
            )
            var expected: Set<String> = []
            for slo in slos {
                if slo.counters!.good.matches(key) { expected.insert("\(slo.name) true") }
                if slo.counters!.total.matches(key) { expected.insert("\(slo.name) false") }
            }
            #expect(found == expected, "\(key)")
        }
    }

    /// Labels come from whoever ingests: past the limit, new counters are not followed, and the
    /// ones followed still count.
    @Test func theCountersFollowedAreBounded() {
        var counted = SLOSpec(name: "http", service: "", objective: 0.99)
        counted.counters = CounterSLI(good: SeriesSelector(name: "ok_total"), total: SeriesSelector(name: "all_total"))
        var last: [SLOService.CounterKey: Double] = [:]
        var increases = 0.0
        for t in Int64(1)...2 {
            var batch = SampleBatch()
            for i in 0..<1000 {
                batch.append(SeriesKey(name: "all_total", labels: [.init("id", "\(i)")]), time: t, value: Double(t))
            }
            var out = SampleBatch()
            SLOService.counterEvents(of: batch, for: [counted], last: &last, into: &out, limit: 10)
            increases += out.points.reduce(0) { $0 + $1.value }
        }
        #expect(last.count == 10)
        #expect(increases == 10, "the ten followed counters each went up by one")
    }

    /// The same through the service and a real SQLite store: samples on the feed, the SLI from
    /// the stored increases.
    @Test func anSLOOverCountersIsComputedFromTheFeed() async throws {
        let dir = TempDir("slo-counters")
        let store = try SQLiteStore(path: dir.file("warden.db"))
        var counted = SLOSpec(name: "http", service: "", objective: 0.9, window: .seconds(3600))
        counted.counters = CounterSLI(
            good: SeriesSelector(name: "requests_total", labels: ["code": "200"]),
            total: SeriesSelector(name: "requests_total")
        )
        counted.alerts = [BurnAlert(long: .seconds(600), short: .seconds(60), burn: 2, severity: "page")]
        let feed = FanOut<SampleBatch>()
        let service = SLOService(
            slos: [counted],
            feed: feed,
            store: store,
            bus: EventBus(),
            logger: Logger(label: "test")
        )
        let running = Task { try await service.run() }
        let now = Int64(Date().timeIntervalSince1970 * 1e6)
        for (i, (a, b)) in [(0.0, 0.0), (80.0, 20.0)].enumerated() {
            var batch = SampleBatch()
            let t = now - Int64(30 - i * 10) * 1_000_000
            batch.append(SeriesKey(name: "requests_total", labels: [.init("code", "200")]), time: t, value: a)
            batch.append(SeriesKey(name: "requests_total", labels: [.init("code", "503")]), time: t, value: b)
            feed.send(batch)
        }
        try await eventually("the increases are stored") {
            await service.evaluate()
            return service.statuses.first?.events == 100
        }
        // One more pass once all of them are committed (the pass that saw the total may have
        // counted the good ones just before they were).
        await service.evaluate()
        let status = try #require(service.statuses.first)
        #expect(abs(status.sli - 0.8) < 1e-9, "\(status)")
        #expect(status.budgetLeft < 0, "20 % bad against 10 % allowed")
        #expect(status.alerts.first?.firing == true)
        // Series of SLOs no longer in the spec, more than one query may read: counted one SLO at
        // a time instead, with the same answer.
        var stale = SampleBatch()
        for i in 0..<100 {
            stale.append(SeriesKey(name: "slo.good", labels: [.init("slo", "gone-\(i)")]), time: now, value: 1)
        }
        try await store.appendSamples(stale)
        await service.evaluate()
        #expect(service.statuses.first?.events == 100)
        #expect(abs((service.statuses.first?.sli ?? 0) - 0.8) < 1e-9)
        running.cancel()
        _ = try? await running.value
        try await store.close()
    }

    @Test func theEvaluationIntervalFollowsTheShortestWindow() {
        #expect(SLOService.evaluationInterval([slo]) == .seconds(30))
        var quick = slo
        quick.alerts = [BurnAlert(long: .seconds(4), short: .seconds(2), burn: 2, severity: "page")]
        #expect(SLOService.evaluationInterval([quick]) == .seconds(1))
    }

    @Test func specErrorsAreLocated() {
        let loader = SpecLoader(environment: [:], sections: [SLOSection.self])
        let found = loader.problems(
            """
            services:
              api:
                run: [/bin/true]
                health: { tcp: 127.0.0.1:1 }
              plain:
                run: [/bin/true]
            slos:
              a: { service: nope, objective: 99% }
              b: { service: plain, objective: 99% }
              c: { service: api, objective: 100% }
              d: { service: api, objective: 0.99, alerts: [{ long: 5m, short: 1h, burn: 2 }] }
              e: { good: 'requests_total{code="200"}', objective: 99% }
              f: { good: requests_total, total: requests_total, latency: 200ms, objective: 99% }
              g: { objective: 99% }
              h: { good: "{{{", total: requests_total, objective: 99% }
            """
        )
        #expect(
            found.contains {
                $0.hasPrefix("warden.yaml:8:17: slos.a.service: found 'nope'; expected one of the services")
            },
            "\(found)"
        )
        #expect(found.contains { $0.contains("slos.b.service: the service 'plain' has no health probe") }, "\(found)")
        #expect(
            found.contains { $0.contains("slos.c.objective: found '100%'; expected a share below 100 %") },
            "\(found)"
        )
        #expect(found.contains { $0.contains("slos.d.alerts[0].short:") }, "\(found)")
        #expect(found.contains { $0.contains("slos.e: good and total go together") }, "\(found)")
        #expect(found.contains { $0.contains("slos.f.latency: latency is for SLOs over a health probe") }, "\(found)")
        #expect(
            found.contains {
                $0.contains("slos.g: expected service (its health probe's runs are the events) or good and total")
            },
            "\(found)"
        )
        #expect(found.contains { $0.contains("slos.h.good: found '{{{'; expected a series such as") }, "\(found)")
    }

    @Test func countersNeedNoProbe() throws {
        let spec = try SpecLoader(environment: [:], sections: [SLOSection.self]).parse(
            """
            services:
              plain: { run: [/bin/true] }
            slos:
              http:
                good: 'http_requests_total{code="200"}'
                total: http_requests_total
                objective: 99.5%
                window: 7d
              plain-http: { service: plain, good: ok_total, total: all_total, objective: 0.9 }
            """,
            file: "warden.yaml",
            baseDir: "/tmp"
        )
        let slos = spec.slos
        #expect(slos.map(\.name) == ["http", "plain-http"])
        #expect(slos[0].counters?.good == SeriesSelector(name: "http_requests_total", labels: ["code": "200"]))
        #expect(slos[0].counters?.total == SeriesSelector(name: "http_requests_total"))
        #expect(slos[0].window == .seconds(7 * 86400) && slos[0].objective == 0.995)
        #expect(slos[1].service == "plain" && slos[1].counters?.good.name == "ok_total")
    }
}
