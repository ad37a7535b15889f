/// Runs streaming detectors over NAB series, the way NAB runs its own detectors.
public enum NABRunner {
    /// The [0, 1] scores of a fresh detector of `kind` over `series`, one per row, in order.
    ///
    /// Each row is scored before the detector sees the next one (no look-ahead); the row's timestamp
    /// is passed as seconds since the epoch.
    public static func scores(_ kind: DetectorKind, series: NABSeries) -> [Double] {
        scores(kind.make().base, series: series)
    }

    /// The [0, 1] scores of `detector` over `series`.
    public static func scores<D: StreamingDetector>(_ detector: D, series: NABSeries) -> [Double] {
        var detector = detector
        var out = [Double](repeating: 0, count: series.values.count)
        for i in series.values.indices {
            let raw = detector.observe(series.values[i], at: Double(series.times[i]) / 1e6)
            out[i] = min(max(detector.unitScore(raw), 0), 1)
        }
        return out
    }

    /// Runs `kind` on every series, writes NAB results files under `results` and returns the scored
    /// corpus (for ``NABScorer``).
    public static func run(
        _ kind: DetectorKind,
        corpus: [NABSeries],
        labels: NABLabels,
        results: String?,
        name: String? = nil
    ) throws -> [NABScoredSeries] {
        var scored: [NABScoredSeries] = []
        for series in corpus {
            let s = scores(kind, series: series)
            let windows = labels.windows[series.name] ?? []
            if let results {
                try NABResults.write(
                    directory: results,
                    detector: name ?? kind.rawValue,
                    series: series,
                    scores: s,
                    windows: windows
                )
            }
            scored.append(NABScoredSeries(name: series.name, times: series.times, scores: s, windows: windows))
        }
        return scored
    }
}
