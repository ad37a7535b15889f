import Foundation
import WardenCore

/// Quantiles of Prometheus histograms stored as series: `NAME_bucket{le="…"}` counters, one per
/// upper bound. For each step, each bucket's increase (a counter that went down was reset and
/// counts from zero), summed over the series' other labels, then the quantile interpolated within
/// its bucket as Prometheus's `histogram_quantile` does. Pure.
public enum HistogramQuantile {
    /// The `q`-quantile (0...1) of one step's buckets, `(upper bound, cumulative count)` with a
    /// `+Inf` bucket; nil when there are no observations or no `+Inf` bucket.
    ///
    /// As Prometheus: the rank `q × count` is found in the first bucket whose cumulative count
    /// reaches it, and interpolated linearly between that bucket's lower and upper bounds (the
    /// lowest bucket's lower bound is 0 when its upper bound is positive); a rank in the `+Inf`
    /// bucket answers the highest finite bound.
    public static func quantile(_ q: Double, buckets: [(le: Double, count: Double)]) -> Double? {
        guard q.isFinite, (0...1).contains(q) else { return nil }
        let sorted = buckets.filter { !$0.le.isNaN }.sorted { $0.le < $1.le }
        guard let last = sorted.last, last.le == .infinity, last.count > 0 else { return nil }
        // Counts must not decrease with the bound (increases can be off by a scrape): make them so.
        var cumulative: [(le: Double, count: Double)] = []
        for b in sorted { cumulative.append((b.le, max(b.count, cumulative.last?.count ?? 0))) }
        let rank = q * last.count
        guard let i = cumulative.firstIndex(where: { $0.count >= rank }) else { return nil }
        if cumulative[i].le == .infinity { return cumulative.count >= 2 ? cumulative[cumulative.count - 2].le : nil }
        let upper = cumulative[i].le
        let lower = i == 0 ? (upper > 0 ? 0 : upper) : cumulative[i - 1].le
        let below = i == 0 ? 0 : cumulative[i - 1].count
        let inBucket = cumulative[i].count - below
        guard inBucket > 0 else { return upper }
        return lower + (upper - lower) * (rank - below) / inBucket
    }

    /// One step's answer.
    public struct Point: Sendable, Hashable {
        public var start: Date
        /// Observations in the step.
        public var count: Double
        /// Nil when the step has none.
        public var value: Double?
    }

    /// The `q`-quantile per step from the query results of `NAME_bucket` series (one bucket row per
    /// step each, the step before the range included as the baseline of the first increase).
    public static func perStep(_ q: Double, results: [SeriesResult], from: Date) -> [Point] {
        // Per step start, per bound: the summed increase.
        var steps: [Date: [Double: Double]] = [:]
        for result in results {
            guard let leText = result.key.labelDictionary["le"], let le = bound(leText) else { continue }
            var previous: Double?
            for bucket in result.buckets.sorted(by: { $0.start < $1.start }) {
                defer { previous = bucket.last }
                guard let before = previous else { continue }
                let increase = bucket.last >= before ? bucket.last - before : bucket.last
                guard bucket.start >= from else { continue }
                steps[bucket.start, default: [:]][le, default: 0] += increase
            }
        }
        return steps.keys.sorted().map { start in
            let buckets = steps[start]!.map { (le: $0.key, count: $0.value) }
            let total = buckets.first { $0.le == .infinity }?.count ?? 0
            return Point(start: start, count: total, value: quantile(q, buckets: buckets))
        }
    }

    /// An `le` label's bound: a number, or `+Inf`.
    public static func bound(_ text: String) -> Double? {
        switch text {
        case "+Inf", "Inf", "inf", "+inf": return .infinity
        default:
            guard let v = Double(text), v.isFinite else { return nil }
            return v
        }
    }
}
