import Foundation
import Testing

@testable import WardenDetect

/// Leave-one-category-out cross-validation: each category scored at a threshold chosen on the
/// others only.
@Suite("NAB cross-validation")
struct NABCrossValidationTests {
    /// A series of 100 one-minute rows named `name`, with a window over rows 50–59, scored
    /// `window` inside it and `rest` elsewhere, except `spike` at row 30 when given.
    func series(_ name: String, window: Double, rest: Double, spike: Double? = nil) -> NABScoredSeries {
        let times = (0..<100).map { Int64($0) * 60_000_000 }
        var scores = (0..<100).map { (50..<60).contains($0) ? window : rest }
        if let spike { scores[30] = spike }
        return NABScoredSeries(
            name: name,
            times: times,
            scores: scores,
            windows: [NABWindow(start: times[50], end: times[59])]
        )
    }

    @Test func aGivenThresholdScoresAsTheSweepDidAtThatThreshold() throws {
        let corpus = try NABScorerTests.cadOSE()
        for best in NABScorer.scoreAll(corpus) {
            let given = NABScorer.score(corpus, profile: best.profile, threshold: best.threshold)
            #expect(abs(given.raw - best.raw) < 1e-9 && abs(given.normalized - best.normalized) < 1e-9)
            #expect(given.truePositives == best.truePositives && given.falsePositives == best.falsePositives)
            // Any other threshold scores no better: the sweep's was the best.
            for t in [best.threshold - 0.05, best.threshold + 0.05] {
                #expect(NABScorer.score(corpus, profile: best.profile, threshold: t).raw <= best.raw + 1e-9)
            }
        }
    }

    /// Category A rewards a threshold of 0.9; B, scored at it, misses its window (0.8) and pays
    /// for a spike (0.95) before it. Scored on itself, B would have got 0.8.
    @Test func eachCategoryIsScoredAtAThresholdChosenWithoutIt() throws {
        let a = series("A/one.csv", window: 0.9, rest: 0.1)
        let b = series("B/two.csv", window: 0.8, rest: 0.1, spike: 0.95)
        let folds = NABCrossValidation.run([("x", [a, b])])
        #expect(folds.map(\.category) == ["A", "B"])
        let heldB = try #require(folds.last?.scores.first)
        #expect(heldB.threshold == 0.9, "chosen on A alone")
        #expect(heldB.truePositives == 0 && heldB.falsePositives == 1)
        let onItself = NABScorer.score([b], profile: .standard)
        #expect(onItself.threshold == 0.8 && onItself.normalized > heldB.normalized)
        let heldA = try #require(folds.first?.scores.first)
        #expect(heldA.threshold == 0.8, "chosen on B alone")
        #expect(heldA.truePositives == 1 && heldA.falsePositives == 0)
        #expect(NABCrossValidation.mean(folds).first == (heldA.normalized + heldB.normalized) / 2)
    }

    /// With several candidates, each fold takes the one that scores best on the other categories.
    @Test func theDetectorTooIsChosenOnTheOtherCategories() throws {
        let good = [series("A/one.csv", window: 0.9, rest: 0.1), series("B/two.csv", window: 0.9, rest: 0.1)]
        let poor = [
            series("A/one.csv", window: 0.2, rest: 0.1, spike: 0.9), series("B/two.csv", window: 0.9, rest: 0.1),
        ]
        let folds = NABCrossValidation.run([("poor", poor), ("good", good)])
        // Held out B: chosen on A, where "poor" misses; held out A: chosen on B, a tie, the first.
        #expect(folds.last?.chosen.first == "good")
        #expect(folds.first?.chosen.first == "poor")
    }

    /// Stressed: the threshold still comes from the other categories' clean scores, and the held-out
    /// category is scored on its stressed ones.
    @Test func aStressedCategoryIsScoredAtTheThresholdChosenOnTheCleanOthers() throws {
        let clean = [series("A/one.csv", window: 0.9, rest: 0.1), series("B/two.csv", window: 0.8, rest: 0.1)]
        // Stressed, B's window scores only 0.85 and a burst before it 0.95.
        let stressed = [
            series("A/one.csv", window: 0.9, rest: 0.1), series("B/two.csv", window: 0.85, rest: 0.1, spike: 0.95),
        ]
        let folds = NABCrossValidation.run([("x", clean)], heldOut: [("x", stressed)])
        let heldB = try #require(folds.last?.scores.first)
        #expect(heldB.threshold == 0.9, "chosen on A's clean scores")
        #expect(heldB.truePositives == 0 && heldB.falsePositives == 1, "scored on B's stressed scores")
        let unstressed = try #require(NABCrossValidation.run([("x", clean)]).last?.scores.first)
        #expect(unstressed.falsePositives == 0)
        let report = NABCrossValidation.stressReport(clean: ("x", clean), stressed: [(.trend(iqrs: 1), stressed)])
        let means = NABCrossValidation.mean(folds).map { NABReport.fixed($0) }
        #expect(report.contains("trend +1 IQR") && report.contains(means[0]), "\(report)")
    }

    /// Each stress does what it says, sized by the series' own interquartile range.
    @Test func stressesAreSizedByTheSeriesInterquartileRange() throws {
        let n = 3000
        let values = (0..<n).map { 100 + 10 * sin(Double($0) / 37) }
        let series = NABSeries(
            name: "cat/s.csv",
            timestamps: values.indices.map { "\($0)" },
            times: values.indices.map { Int64($0) * 60_000_000 },
            values: values
        )
        let iqr = NABStress.interquartileRange(values)
        #expect(iqr > 13 && iqr < 15, "\(iqr)")  // ≈ 10·√2 for a sine
        let up = NABStress.trend(iqrs: 2).apply(to: series)
        #expect(abs(up.values[0] - values[0]) < 1e-9 && abs(up.values[n - 1] - values[n - 1] - 2 * iqr) < 1e-9)
        #expect(up.times == series.times && up.name == series.name)
        let coarse = NABStress.quantised(steps: 4).apply(to: series).values
        let quantum = iqr / 4
        #expect(coarse.allSatisfy { abs($0 / quantum - ($0 / quantum).rounded()) < 1e-9 })
        #expect(zip(coarse, values).allSatisfy { abs($0 - $1) <= quantum / 2 + 1e-9 })
        let burst = NABStress.bursts(every: 100, seed: 1).apply(to: series).values
        let changed = zip(burst, values).filter { $0 != $1 }.map { abs($0 - $1) }
        #expect(changed.count > 15 && changed.count < 45, "about one row in 100: \(changed.count)")
        #expect(changed.allSatisfy { $0 >= iqr - 1e-9 })
        #expect(burst == NABStress.bursts(every: 100, seed: 1).apply(to: series).values, "seeded")
        #expect(burst != NABStress.bursts(every: 100, seed: 2).apply(to: series).values)
        let flat = NABSeries(name: "c/f.csv", timestamps: ["0", "1"], times: [0, 60_000_000], values: [5, 5])
        #expect(NABStress.interquartileRange(flat.values) == 1)
        #expect(NABStress.quantised(steps: 2).apply(to: flat).values == [5, 5])
        // Values at the edge of the representable range: no stress makes one infinite or NaN.
        let huge = NABSeries(
            name: "c/h.csv",
            timestamps: (0..<8).map { "\($0)" },
            times: (0..<8).map { Int64($0) * 60_000_000 },
            values: [-1.7e308, 1.7e308, -1.7e308, 1.7e308, 0, 1, -1.7e308, 1.7e308]
        )
        for stress in NABStress.standard + [.trend(iqrs: 1e300), .quantised(steps: Int.max)] {
            let values = stress.apply(to: huge).values
            #expect(values.allSatisfy { $0.isFinite }, "\(stress)")
        }
    }
}
