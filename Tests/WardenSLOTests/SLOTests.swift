import Foundation
import Testing
import WardenCore
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
    }
}
