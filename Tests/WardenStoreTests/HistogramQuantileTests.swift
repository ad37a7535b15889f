import Foundation
import Testing
import WardenCore
import WardenStore

/// Quantiles of stored histograms, worked by hand the way Prometheus's histogram_quantile
/// interpolates.
@Suite("Histogram quantiles")
struct HistogramQuantileTests {
    // 100 observations: 10 up to 0.1 s, 20 more up to 0.2 s, 60 more up to 0.5 s, 10 above.
    let buckets: [(le: Double, count: Double)] = [(0.1, 10), (0.5, 90), (.infinity, 100), (0.2, 30)]

    @Test func theRankIsInterpolatedWithinItsBucket() {
        // q=0.5: rank 50, in (0.2, 0.5] which holds 30..90: 0.2 + 0.3 × 20/60.
        #expect(abs(HistogramQuantile.quantile(0.5, buckets: buckets)! - 0.3) < 1e-12)
        // q=0.05: rank 5, in (0, 0.1]: 0.05.
        #expect(abs(HistogramQuantile.quantile(0.05, buckets: buckets)! - 0.05) < 1e-12)
        // q=0.9: rank 90, the top of (0.2, 0.5].
        #expect(abs(HistogramQuantile.quantile(0.9, buckets: buckets)! - 0.5) < 1e-12)
        // q=0.95: rank 95 is in +Inf: the highest finite bound.
        #expect(HistogramQuantile.quantile(0.95, buckets: buckets) == 0.5)
    }

    @Test func noObservationsOrNoInfBucketGiveNothing() {
        #expect(HistogramQuantile.quantile(0.5, buckets: [(0.1, 0), (.infinity, 0)]) == nil)
        #expect(HistogramQuantile.quantile(0.5, buckets: [(0.1, 5), (0.2, 7)]) == nil)
        #expect(HistogramQuantile.quantile(1.5, buckets: buckets) == nil)
        #expect(HistogramQuantile.quantile(.nan, buckets: buckets) == nil)
        // Counts that decrease with the bound (scraped a moment apart) are made monotonic.
        #expect(HistogramQuantile.quantile(0.5, buckets: [(0.1, 6), (0.2, 5), (.infinity, 10)]) != nil)
    }

    @Test func increasesPerStepAreSummedOverLabelsAndSurviveResets() {
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        func step(_ i: Int) -> Date { t0.addingTimeInterval(Double(i) * 60) }
        func series(_ le: String, instance: String, _ lasts: [Double]) -> SeriesResult {
            SeriesResult(
                key: SeriesKey(name: "h_bucket", labels: ["le": le, "instance": instance]),
                buckets: lasts.enumerated().map { i, v in
                    SeriesBucket(start: step(i), min: v, max: v, avg: v, last: v, count: 1)
                }
            )
        }
        // Step 0 is the baseline. Step 1: a: +10 under 0.1, +10 above; b: +20 under 0.1.
        // Step 2: a restarted (counts from zero: 5 under 0.1, 5 in all); b: nothing.
        let results = [
            series("0.1", instance: "a", [100, 110, 5]), series("+Inf", instance: "a", [200, 220, 5]),
            series("0.1", instance: "b", [0, 20, 20]), series("+Inf", instance: "b", [0, 20, 20]),
        ]
        let points = HistogramQuantile.perStep(0.5, results: results, from: step(1))
        #expect(points.map(\.start) == [step(1), step(2)])
        #expect(points.map(\.count) == [40, 5])
        // Step 1: 30 of 40 under 0.1: the median is at rank 20, in (0, 0.1]: 0.1 × 20/30.
        #expect(abs(points[0].value! - 0.1 * 20 / 30) < 1e-12)
        #expect(abs(points[1].value! - 0.05) < 1e-12)
    }
}
