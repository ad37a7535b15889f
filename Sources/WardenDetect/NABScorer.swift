#if canImport(Glibc)
import Glibc
#endif

/// NAB's scoring, implemented from its definition: probation, windows, the scaled sigmoid, the
/// three profiles, the corpus-wide threshold sweep and normalisation against the null detector.
///
/// For a series of N rows the first `min(⌊0.15·N⌋, 750)` rows are not scored, and windows that
/// overlap them are dropped. A row inside a window `[L..R]` (width `w`) weighs
/// `ss(−(R−i+1)/w)·tp/ss(−1)`, a row after one `ss(|i−R|/(w−1))·fp`, a row before any window `−fp`,
/// where `ss(x) = 2σ(−5x) − 1` (−1 beyond 3). At threshold T each window scores its best detection
/// or `−fn`, and each detection outside windows its weight. One threshold per profile serves the
/// whole corpus: every distinct score (and 1.1, no detection) is tried and the best kept, ties to the
/// higher threshold.
public enum NABScorer {
    /// The rows NAB does not score at the start of a series of `count` rows.
    public static func probation(rows count: Int) -> Int {
        min(Int((0.15 * Double(count)).rounded(.down)), 750)
    }

    /// NAB's scaled sigmoid.
    public static func scaledSigmoid(_ x: Double) -> Double {
        if x > 3 { return -1 }
        return 2 / (1 + exp(5 * x)) - 1
    }

    /// A window as row indices.
    public struct RowWindow: Sendable, Hashable {
        /// First row.
        public var left: Int
        /// Last row.
        public var right: Int
        /// Rows in it.
        public var width: Int { right - left + 1 }
    }

    /// Matches windows to rows, drops those overlapping probation and merges overlapping ones.
    ///
    /// A window starts at the first row at or after its start and ends at the first row carrying its
    /// end timestamp (NAB's `timestamps.index(end)`), or the last row before it.
    public static func rowWindows(times: [Int64], windows: [NABWindow]) -> [RowWindow] {
        let skip = probation(rows: times.count)
        var result: [RowWindow] = []
        for window in windows.sorted(by: { $0.start < $1.start }) {
            guard let left = firstIndex(times, atOrAfter: window.start) else { continue }
            var right: Int
            if let exact = firstIndex(times, atOrAfter: window.end), times[exact] == window.end {
                right = exact
            } else if let after = firstIndex(times, atOrAfter: window.end) {
                right = after - 1
            } else {
                right = times.count - 1
            }
            guard right >= left, left >= skip else { continue }
            if let last = result.last, left <= last.right {
                result[result.count - 1].right = max(last.right, right)
            } else {
                result.append(RowWindow(left: left, right: right))
            }
        }
        return result
    }

    private static func firstIndex(_ times: [Int64], atOrAfter t: Int64) -> Int? {
        var lo = 0
        var hi = times.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if times[mid] < t { lo = mid + 1 } else { hi = mid }
        }
        return lo < times.count ? lo : nil
    }

    /// A scored row: its score, its weight under a profile and its window (−1 outside windows).
    struct Row {
        var score: Double
        var weight: Double
        var window: Int
    }

    /// The rows of one series past probation, with weights for `profile`; windows numbered from `firstWindow`.
    static func rows(
        _ series: NABScoredSeries,
        profile: NABProfile,
        firstWindow: Int
    ) -> (rows: [Row], windows: Int) {
        let windows = rowWindows(times: series.times, windows: series.windows)
        let skip = probation(rows: series.times.count)
        let maxTP = scaledSigmoid(-1)
        var out: [Row] = []
        out.reserveCapacity(series.times.count - skip)
        var next = 0
        var previous: RowWindow?
        for i in 0..<series.times.count {
            var window = -1
            var weight: Double
            if next < windows.count, i >= windows[next].left {
                let w = windows[next]
                window = firstWindow + next
                let position = -Double(w.right - i + 1) / Double(w.width)
                weight = scaledSigmoid(position) * profile.truePositive / maxTP
                if i == w.right {
                    previous = w
                    next += 1
                }
            } else if let p = previous {
                let position = Double(abs(i - p.right)) / Double(p.width - 1)
                weight = scaledSigmoid(position) * profile.falsePositive
            } else {
                weight = -profile.falsePositive
            }
            if i >= skip { out.append(Row(score: series.scores[i], weight: weight, window: window)) }
        }
        return (out, windows.count)
    }

    /// The best threshold and raw score of `rows` (with `windowCount` windows) under `profile`.
    static func sweep(
        _ rows: [Row],
        windowCount: Int,
        profile: NABProfile
    ) -> (threshold: Double, raw: Double, tp: Int, fn: Int, fp: Int) {
        let sorted = rows.sorted { $0.score > $1.score }
        var best = (threshold: 1.1, raw: -profile.falseNegative * Double(windowCount), tp: 0, fn: windowCount, fp: 0)
        var bestInWindow = [Double?](repeating: nil, count: windowCount)
        var outside = 0.0
        var inside = -profile.falseNegative * Double(windowCount)
        var detected = 0
        var falsePositives = 0
        var i = 0
        while i < sorted.count {
            let threshold = sorted[i].score
            while i < sorted.count && sorted[i].score == threshold {
                let row = sorted[i]
                if row.window < 0 {
                    outside += row.weight
                    falsePositives += 1
                } else if let current = bestInWindow[row.window] {
                    if row.weight > current {
                        inside += row.weight - current
                        bestInWindow[row.window] = row.weight
                    }
                } else {
                    inside += row.weight + profile.falseNegative
                    bestInWindow[row.window] = row.weight
                    detected += 1
                }
                i += 1
            }
            let total = outside + inside
            if total > best.raw {
                best = (threshold, total, detected, windowCount - detected, falsePositives)
            }
        }
        return best
    }

    /// The raw score of `rows` when every row scored at or above `threshold` is a detection.
    static func evaluate(
        _ rows: [Row],
        windowCount: Int,
        profile: NABProfile,
        threshold: Double
    ) -> (raw: Double, tp: Int, fn: Int, fp: Int) {
        var bestInWindow = [Double?](repeating: nil, count: windowCount)
        var outside = 0.0
        var falsePositives = 0
        for row in rows where row.score >= threshold {
            if row.window < 0 {
                outside += row.weight
                falsePositives += 1
            } else if bestInWindow[row.window].map({ row.weight > $0 }) ?? true {
                bestInWindow[row.window] = row.weight
            }
        }
        let detected = bestInWindow.compactMap { $0 }
        let inside = detected.reduce(0, +) - profile.falseNegative * Double(windowCount - detected.count)
        return (outside + inside, detected.count, windowCount - detected.count, falsePositives)
    }

    /// Scores a corpus under one profile at a threshold given (chosen elsewhere: on other series,
    /// as cross-validation does) instead of the one that suits this corpus best. Normalised
    /// against the same null and perfect detectors as ``score(_:profile:)``.
    public static func score(_ corpus: [NABScoredSeries], profile: NABProfile, threshold: Double) -> NABProfileScore {
        let (rows, null, windows) = gather(corpus, profile: profile)
        let result = evaluate(rows, windowCount: windows, profile: profile, threshold: threshold)
        let perfect = Double(windows) * profile.truePositive
        return NABProfileScore(
            profile: profile,
            threshold: threshold,
            raw: result.raw,
            null: null,
            perfect: perfect,
            normalized: perfect == null ? 0 : 100 * (result.raw - null) / (perfect - null),
            truePositives: result.tp,
            falseNegatives: result.fn,
            falsePositives: result.fp
        )
    }

    /// The rows of a corpus past probation, the null detector's raw score, and the windows.
    static func gather(_ corpus: [NABScoredSeries], profile: NABProfile) -> (rows: [Row], null: Double, windows: Int) {
        var rows: [Row] = []
        var nullRows: [Row] = []
        var windows = 0
        for series in corpus {
            let (seriesRows, count) = Self.rows(series, profile: profile, firstWindow: windows)
            rows.append(contentsOf: seriesRows)
            nullRows.append(contentsOf: seriesRows.map { Row(score: 0.5, weight: $0.weight, window: $0.window) })
            windows += count
        }
        return (rows, sweep(nullRows, windowCount: windows, profile: profile).raw, windows)
    }

    /// Scores a corpus under one profile.
    public static func score(_ corpus: [NABScoredSeries], profile: NABProfile) -> NABProfileScore {
        let (rows, null, windows) = gather(corpus, profile: profile)
        let result = sweep(rows, windowCount: windows, profile: profile)
        let perfect = Double(windows) * profile.truePositive
        let normalized = perfect == null ? 0 : 100 * (result.raw - null) / (perfect - null)
        return NABProfileScore(
            profile: profile,
            threshold: result.threshold,
            raw: result.raw,
            null: null,
            perfect: perfect,
            normalized: normalized,
            truePositives: result.tp,
            falseNegatives: result.fn,
            falsePositives: result.fp
        )
    }

    /// Scores a corpus under every profile.
    public static func scoreAll(_ corpus: [NABScoredSeries]) -> [NABProfileScore] {
        NABProfile.all.map { score(corpus, profile: $0) }
    }
}
