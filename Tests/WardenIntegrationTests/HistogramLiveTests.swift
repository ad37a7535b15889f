import Foundation
import Testing
import WardenCore
import WardenTestSupport

/// A service's own latency histogram, ingested as OpenMetrics, gives quantiles per step and a
/// latency SLO (good: the bucket under the threshold, total: the count), under `warden run`.
@Suite("Histograms, live", .timeLimit(.minutes(2)))
struct HistogramLiveTests {
    @Test func quantilesAndALatencySLOComeFromAnIngestedHistogram() async throws {
        let f = Fixture(
            """
            services: {}
            slos:
              rpc-fast:
                good: 'rpc_seconds_bucket{le="0.2"}'
                total: rpc_seconds_count
                objective: 90%
                window: 1h
                alerts: [{ long: 10s, short: 5s, burn: 1, severity: page }]
            """
        )
        let w = try f.start()
        try await f.waitUp()
        let now = Date().timeIntervalSince1970
        // Two scrapes a minute apart: 100 calls between them, 50 under 0.1 s, 80 under 0.2 s, 95
        // under 0.5 s.
        func scrape(_ t: Double, _ counts: [Int]) -> String {
            let ts = String(format: "%.3f", t)
            return """
                rpc_seconds_bucket{le="0.1"} \(counts[0]) \(ts)
                rpc_seconds_bucket{le="0.2"} \(counts[1]) \(ts) # {trace_id="x"} 0.15
                rpc_seconds_bucket{le="0.5"} \(counts[2]) \(ts)
                rpc_seconds_bucket{le="+Inf"} \(counts[3]) \(ts)
                rpc_seconds_count \(counts[3]) \(ts)

                """
        }
        let minute = (now / 60).rounded(.down) * 60
        for (t, counts) in [(minute - 150, [0, 0, 0, 0]), (minute - 90, [50, 80, 95, 100])] {
            let r = try await f.client().send(
                "POST",
                "/v1/ingest/prometheus",
                body: Data((scrape(t, counts) + "# EOF\n").utf8),
                contentType: "application/openmetrics-text; version=1.0.0"
            )
            #expect(r.status == 200, "\(String(decoding: r.body, as: UTF8.self))")
        }
        func quantile(_ q: Double) async throws -> [JSONValue] {
            let since = ISOTime.format(Date(timeIntervalSince1970: minute - 180))
            let until = ISOTime.format(Date(timeIntervalSince1970: minute))
            let r = try await f.client().send(
                "GET",
                "/v1/series/rpc_seconds/quantile?q=\(q)&since=\(since)&until=\(until)&step=1m"
            )
            #expect(r.status == 200, "\(String(decoding: r.body, as: UTF8.self))")
            let answer = JSONValue.parse(String(decoding: r.body, as: UTF8.self))
            #expect(answer?["buckets"]?.intValue == 4)
            return (answer?["points"]?.arrayValue ?? []).filter { $0["value"]?.doubleValue != nil }
        }
        // The median is at rank 50, the top of (0, 0.1]; the 90th percentile at rank 90, in
        // (0.2, 0.5] which holds 80..95: 0.2 + 0.3 × 10/15.
        let median = try await quantile(0.5)
        #expect(median.count == 1, "\(median)")
        #expect(median.first?["count"]?.doubleValue == 100)
        #expect(abs((median.first?["value"]?.doubleValue ?? 0) - 0.1) < 1e-9)
        let p90 = try await quantile(0.9)
        #expect(abs((p90.first?["value"]?.doubleValue ?? 0) - 0.4) < 1e-9)
        let bad = try await f.client().send("GET", "/v1/series/rpc_seconds/quantile?q=2")
        #expect(bad.status == 400)

        // The SLO counts 80 good of 100 from the same counters.
        try await eventually("the latency SLO counted the histogram") {
            let r = try await f.client().send("GET", "/v1/slos")
            let slo = JSONValue.parse(String(decoding: r.body, as: UTF8.self))?["slos"]?.arrayValue?.first
            return slo?["events"]?.doubleValue == 100 && abs((slo?["sli"]?.doubleValue ?? 0) - 0.8) < 1e-9
        }
        #expect(try await w.stop() == .exited(0))
    }
}
