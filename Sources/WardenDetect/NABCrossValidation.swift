/// Leave-one-category-out cross-validation of NAB scores: how a detector does on a kind of series
/// it was not tuned on.
///
/// NAB's own score picks one threshold for the whole corpus, on the very series it then scores:
/// a detector tuned to a corpus looks better there than on series it never saw. Here each category
/// in turn is held out: the threshold (and, given several candidates, the detector itself) is
/// chosen on the other categories by their normalised score, then the held-out category is scored
/// at that threshold. A category without windows (NAB's `artificialNoAnomaly`) has no normalised
/// score (perfect and null are both 0): its raw score, the false positives' cost, is reported and
/// it stays out of the mean.
public enum NABCrossValidation {
    /// One held-out category.
    public struct Fold: Sendable {
        public var category: String
        public var series: Int
        public var windows: Int
        /// Per profile (``NABProfile/all`` order): the candidate chosen on the other categories.
        public var chosen: [String]
        /// Per profile: the held-out category's score at the threshold chosen on the others.
        public var scores: [NABProfileScore]
    }

    /// The category of a series named `category/series.csv`.
    public static func category(of name: String) -> String {
        name.split(separator: "/").first.map(String.init) ?? name
    }

    /// The folds, one per category, in name order. `candidates` are detectors (by name) scored on
    /// the same series. With `heldOut` (the same detectors, in the same order, scored on changed
    /// series: see ``NABStress``), the threshold and the detector are still chosen on `candidates`'
    /// other categories, and the held-out category is scored in `heldOut`.
    public static func run(
        _ candidates: [(name: String, corpus: [NABScoredSeries])],
        heldOut: [(name: String, corpus: [NABScoredSeries])]? = nil
    ) -> [Fold] {
        guard let first = candidates.first else { return [] }
        let tested = heldOut ?? candidates
        let categories = Set(first.corpus.map { category(of: $0.name) }).sorted()
        return categories.map { held in
            var chosen: [String] = []
            var scores: [NABProfileScore] = []
            for profile in NABProfile.all {
                var best: (name: String, train: NABProfileScore, test: [NABScoredSeries])?
                for (c, t) in zip(candidates, tested) {
                    let train = c.corpus.filter { category(of: $0.name) != held }
                    let score = NABScorer.score(train, profile: profile)
                    if best == nil || score.normalized > best!.train.normalized {
                        best = (c.name, score, t.corpus.filter { category(of: $0.name) == held })
                    }
                }
                guard let best else { continue }
                chosen.append(best.name)
                scores.append(NABScorer.score(best.test, profile: profile, threshold: best.train.threshold))
            }
            let test = first.corpus.filter { category(of: $0.name) == held }
            let windows = test.reduce(0) { $0 + NABScorer.rowWindows(times: $1.times, windows: $1.windows).count }
            return Fold(category: held, series: test.count, windows: windows, chosen: chosen, scores: scores)
        }
    }

    /// Per profile, the mean held-out normalised score over the folds with windows.
    public static func mean(_ folds: [Fold]) -> [Double] {
        let scored = folds.filter { $0.windows > 0 }
        guard !scored.isEmpty else { return [] }
        return NABProfile.all.indices.map { p in
            scored.reduce(0) { $0 + ($1.scores.count > p ? $1.scores[p].normalized : 0) } / Double(scored.count)
        }
    }

    /// The folds as a table: category, series, windows, the three profiles' held-out scores (the
    /// raw score for a category without windows), the candidate chosen; then the mean.
    public static func report(_ folds: [Fold]) -> String {
        var lines = [
            NABReport.pad("held out", 24) + NABReport.pad("series", 8) + NABReport.pad("windows", 9)
                + NABReport.pad("standard", 10) + NABReport.pad("low_FP", 10) + NABReport.pad("low_FN", 10)
                + "chosen on the rest (detector, standard threshold)"
        ]
        for f in folds {
            let cells = f.scores.map {
                NABReport.pad(f.windows > 0 ? NABReport.fixed($0.normalized) : "raw " + NABReport.fixed($0.raw), 10)
            }
            lines.append(
                NABReport.pad(f.category, 24) + NABReport.pad("\(f.series)", 8) + NABReport.pad("\(f.windows)", 9)
                    + cells.joined() + (f.chosen.first ?? "") + " "
                    + NABReport.fixed(f.scores.first?.threshold ?? 0, 4)
            )
        }
        let means = mean(folds)
        lines.append(
            NABReport.pad("mean (with windows)", 41) + means.map { NABReport.pad(NABReport.fixed($0), 10) }.joined()
        )
        return lines.joined(separator: "\n")
    }
}

extension NABCrossValidation {
    /// One line per stress: the mean held-out score of each profile over the categories with
    /// windows, and the raw standard score of the categories without (the false positives' cost),
    /// each category scored on its stressed series at the threshold chosen on the other
    /// categories' clean ones; then the mean over the stresses.
    public static func stressReport(
        clean: (name: String, corpus: [NABScoredSeries]),
        stressed: [(stress: NABStress, corpus: [NABScoredSeries])]
    ) -> String {
        var lines = [
            NABReport.pad("stress", 24) + NABReport.pad("standard", 10) + NABReport.pad("low_FP", 10)
                + NABReport.pad("low_FN", 10) + "raw standard without windows"
        ]
        var sums = [Double](repeating: 0, count: NABProfile.all.count)
        for (stress, corpus) in stressed {
            let folds = run([clean], heldOut: [(clean.name, corpus)])
            let means = mean(folds)
            for (i, m) in means.enumerated() { sums[i] += m }
            let quiet = folds.filter { $0.windows == 0 }.reduce(0) { $0 + ($1.scores.first?.raw ?? 0) }
            lines.append(
                NABReport.pad(stress.description, 24) + means.map { NABReport.pad(NABReport.fixed($0), 10) }.joined()
                    + NABReport.fixed(quiet)
            )
        }
        let n = Double(max(1, stressed.count))
        lines.append(NABReport.pad("mean", 24) + sums.map { NABReport.pad(NABReport.fixed($0 / n), 10) }.joined())
        return lines.joined(separator: "\n")
    }
}
