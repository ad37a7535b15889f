import Foundation
import Testing
import WardenDetect

@Suite("NAB scorer")
struct NABScorerTests {
    /// A series of `count` rows one minute apart with windows given as row ranges.
    static func series(
        _ count: Int,
        windows: [ClosedRange<Int>],
        scores: [Int: Double],
        name: String = "cat/s.csv"
    ) -> NABScoredSeries {
        let times = (0..<count).map { Int64($0) * 60_000_000 }
        var s = [Double](repeating: 0, count: count)
        for (i, v) in scores { s[i] = v }
        return NABScoredSeries(
            name: name,
            times: times,
            scores: s,
            windows: windows.map { NABWindow(start: times[$0.lowerBound], end: times[$0.upperBound]) }
        )
    }

    @Test func probationIsFifteenPercentCappedAt750() {
        #expect(NABScorer.probation(rows: 20) == 3)
        #expect(NABScorer.probation(rows: 4032) == 604)
        #expect(NABScorer.probation(rows: 15902) == 750)
        #expect(NABScorer.probation(rows: 6) == 0)
    }

    @Test func scaledSigmoid() {
        #expect(abs(NABScorer.scaledSigmoid(-1) - 0.9866142981514305) < 1e-15)
        #expect(NABScorer.scaledSigmoid(0) == 0)
        #expect(NABScorer.scaledSigmoid(3.01) == -1)
        #expect(NABScorer.scaledSigmoid(3) > -1)
    }

    @Test func detectionOnAWindowsFirstRowEarnsExactlyTheReward() {
        let s = Self.series(20, windows: [10...13], scores: [10: 1])
        let results = NABScorer.scoreAll([s])
        #expect(results.count == NABProfile.all.count, "one result per profile")
        for result in results {
            #expect(abs(result.raw - 1) < 1e-12)
            #expect(abs(result.normalized - 100) < 1e-9)
            #expect(result.truePositives == 1 && result.falsePositives == 0 && result.falseNegatives == 0)
        }
    }

    @Test func laterDetectionsInAWindowEarnLess() {
        // Last row of a 4-row window: ss(-1/4)/ss(-1), computed by hand.
        let s = Self.series(20, windows: [10...13], scores: [13: 1])
        let result = NABScorer.score([s], profile: .standard)
        #expect(abs(result.raw - 0.5621241486044827) < 1e-12)
    }

    /// Rows 5 (before the window, −fp), 12 (inside, ss(−0.5)/ss(−1)) and 15 (2/3 of a window width
    /// after it, ss(2/3)·fp); the null detector does best detecting everything:
    /// 1 − 7·fp + fp·Σ ss(k/3), k = 1…6.
    @Test func handComputedSeries() {
        let s = Self.series(20, windows: [10...13], scores: [5: 1, 12: 1, 15: 1])
        let result = NABScorer.score([s], profile: .standard)
        #expect(abs(result.raw - 0.6473705099563501) < 1e-12)
        #expect(abs(result.null - -0.385655946990477) < 1e-12)
        #expect(abs(result.normalized - 74.55143964058826) < 1e-9)
        #expect(result.threshold == 1)
        #expect(result.falsePositives == 2)
    }

    @Test func missedWindowsCostTheProfilesFalseNegativeWeight() {
        // One window hit on its second row (ss(-3/4)/ss(-1)), one missed; detecting everything would
        // cost ~340 false positives, so the best threshold is 0.9 under every profile.
        let s = Self.series(400, windows: [100...103, 300...303], scores: [101: 0.9])
        let hit = 0.9669890878000605
        let standard = NABScorer.score([s], profile: .standard)
        let lowFN = NABScorer.score([s], profile: .lowFalseNegatives)
        #expect(abs(standard.raw - (hit - 1)) < 1e-12)
        #expect(abs(lowFN.raw - (hit - 2)) < 1e-12)
        #expect(standard.truePositives == 1 && standard.falseNegatives == 1)
    }

    @Test func windowsInProbationAreDroppedAndOverlapsMerged() {
        let times = (0..<100).map { Int64($0) }
        let windows = [
            NABWindow(start: 10, end: 20),  // starts in probation (15 rows): dropped
            NABWindow(start: 40, end: 50), NABWindow(start: 45, end: 60),  // merged
            NABWindow(start: 80, end: 200),  // runs past the end: clipped
        ]
        let rows = NABScorer.rowWindows(times: times, windows: windows)
        #expect(rows.map { [$0.left, $0.right] } == [[40, 60], [80, 99]])
    }

    @Test func tiesGoToTheHigherThreshold() {
        // Two detections of different scores with the same effect: both FPs far from any window
        // would lower the score, so the best is "no detection" unless a window is hit. Here each
        // threshold from 0.9 down to 0.8 detects the window once; 0.9 must win the tie.
        let s = Self.series(30, windows: [10...13], scores: [10: 0.9, 11: 0.8])
        let result = NABScorer.score([s], profile: .standard)
        #expect(result.threshold == 0.9)
    }

    /// The sweep against a brute force that rescores every candidate threshold from scratch.
    @Test(arguments: [1, 2, 3])
    func sweepMatchesBruteForce(seed: UInt64) {
        var rng = SplitMix(seed: seed)
        var corpus: [NABScoredSeries] = []
        for k in 0..<4 {
            let n = 200 + Int(rng.next() % 200)
            var scores: [Int: Double] = [:]
            for i in 0..<n where rng.next() % 5 == 0 { scores[i] = Double(rng.next() % 20) / 20 }
            let a = 40 + Int(rng.next() % 50)
            let b = a + 80 + Int(rng.next() % 40)
            corpus.append(Self.series(n, windows: [a...(a + 9), b...(b + 14)], scores: scores, name: "c/\(k).csv"))
        }
        for profile in NABProfile.all {
            let fast = NABScorer.score(corpus, profile: profile)
            let candidates = Set(corpus.flatMap(\.scores)).union([1.1]).sorted(by: >)
            var best = -Double.infinity
            var bestThreshold = 0.0
            for t in candidates {
                let raw = corpus.map { bruteForce($0, threshold: t, profile: profile) }.reduce(0, +)
                if raw > best + 1e-12 {
                    best = raw
                    bestThreshold = t
                }
            }
            #expect(abs(fast.raw - best) < 1e-9, "\(profile): \(fast.raw) vs \(best)")
            #expect(fast.threshold == bestThreshold)
        }
    }

    /// NAB's per-row definition, written out row by row for one threshold.
    func bruteForce(_ s: NABScoredSeries, threshold: Double, profile: NABProfile) -> Double {
        let windows = NABScorer.rowWindows(times: s.times, windows: s.windows)
        let skip = NABScorer.probation(rows: s.times.count)
        func sigma(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
        func ss(_ x: Double) -> Double { x > 3 ? -1 : 2 * sigma(-5 * x) - 1 }
        var total = 0.0
        var best = [Double?](repeating: nil, count: windows.count)
        for i in skip..<s.times.count where s.scores[i] >= threshold {
            if let w = windows.firstIndex(where: { $0.left <= i && i <= $0.right }) {
                let window = windows[w]
                let weight = ss(-Double(window.right - i + 1) / Double(window.width)) * profile.truePositive / ss(-1)
                best[w] = max(best[w] ?? -.infinity, weight)
            } else if let p = windows.last(where: { $0.right < i }) {
                total += ss(Double(i - p.right) / Double(p.width - 1)) * profile.falsePositive
            } else {
                total -= profile.falsePositive
            }
        }
        for b in best { total += b ?? -profile.falseNegative }
        return total
    }

    /// CAD OSE's published results on the 34 development series: NAB's own scorer gives 77.16
    /// standard, 74.90 low-FP and 79.80 low-FN (see scripts/make-nab-fixtures.py for the compact form).
    @Test func reproducesCADOSEsPublishedScores() throws {
        let corpus = try Self.cadOSE()
        let results = NABScorer.scoreAll(corpus)
        let rounded = results.map { ($0.normalized * 100).rounded() / 100 }
        #expect(rounded == [77.16, 74.90, 79.80])
    }

    /// CAD OSE's published scores on the 34 development series, from the compact fixture.
    static func cadOSE() throws -> [NABScoredSeries] {
        struct Compact: Decodable {
            struct Series: Decodable {
                var name: String
                var rows: Int
                var start: Int64
                var steps: [[Int64]]
                var scores: [[Double]]
            }
            var series: [Series]
        }
        let labels = try NABLabels(contentsOf: Fixtures.url("nab/combined_windows.json").path)
        let compact = try JSONDecoder().decode(Compact.self, from: Fixtures.data("nab/contextOSE-compact.json"))
        let corpus = compact.series.map { s -> NABScoredSeries in
            var times = [s.start * 1_000_000]
            for step in s.steps {
                for _ in 0..<step[1] { times.append(times.last! + step[0] * 1_000_000) }
            }
            var scores = [Double](repeating: 0, count: s.rows)
            for pair in s.scores { scores[Int(pair[0])] = pair[1] }
            return NABScoredSeries(name: s.name, times: times, scores: scores, windows: labels.windows[s.name] ?? [])
        }
        #expect(corpus.count == 34)
        #expect(corpus.map(\.times.count) == compact.series.map(\.rows))
        return corpus
    }
}

/// A small deterministic generator for test data.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
