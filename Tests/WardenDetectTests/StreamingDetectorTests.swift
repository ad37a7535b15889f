import Foundation
import Testing
import WardenDetect

@Suite("Streaming detectors")
struct StreamingDetectorTests {
    static func noise(_ n: Int, seed: UInt64, scale: Double = 1, offset: Double = 0) -> [Double] {
        var rng = SplitMix(seed: seed)
        return (0..<n).map { _ in
            // Sum of uniforms: roughly normal.
            var s = 0.0
            for _ in 0..<4 { s += Double(rng.next() % 1_000_000) / 1_000_000 - 0.5 }
            return offset + scale * s
        }
    }

    @Test func windowedGaussianIsTheZScoreOfThePreviousWindow() {
        let values = Self.noise(3000, seed: 1, scale: 5, offset: 100)
        var d = WindowedGaussian(window: 200, warmUp: 20)
        for (i, x) in values.enumerated() {
            let score = d.observe(x)
            let past = values[max(0, i - 200)..<i]
            guard past.count >= 20 else {
                #expect(score == 0)
                continue
            }
            let mean = past.reduce(0, +) / Double(past.count)
            let sd = (past.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(past.count)).squareRoot()
            #expect(abs(score - abs(x - mean) / sd) < 1e-6 * max(1, score))
        }
    }

    @Test func robustZScoreUsesMedianAndMAD() {
        var values = Self.noise(1500, seed: 2, scale: 2, offset: 10)
        for i in stride(from: 100, to: 1500, by: 97) { values[i] = 60 }  // outliers must not move the center
        var d = RobustZScore(estimator: .median, window: 300, warmUp: 20)
        for (i, x) in values.enumerated() {
            let score = d.observe(x)
            let past = Array(values[max(0, i - 300)..<i])
            guard past.count >= 20 else { continue }
            let s = past.sorted()
            func med(_ a: [Double]) -> Double {
                a.count % 2 == 1 ? a[a.count / 2] : 0.5 * (a[a.count / 2 - 1] + a[a.count / 2])
            }
            let m = med(s)
            let mad = med(s.map { abs($0 - m) }.sorted())
            let iqr = s[Int((0.75 * Double(s.count - 1)).rounded())] - s[Int((0.25 * Double(s.count - 1)).rounded())]
            let mean = past.reduce(0, +) / Double(past.count)
            let sd = (past.map { $0 * $0 }.reduce(0, +) / Double(past.count) - mean * mean).squareRoot()
            let sigma = max(1.4826 * mad, iqr / 1.349, 0.1 * sd)
            #expect(abs(score - abs(x - m) / sigma) < 1e-6 * max(1, score))
        }
    }

    @Test func ewmaZScoreFollowsALevelChange() {
        var d = RobustZScore(estimator: .ewma, window: 50, warmUp: 10)
        let before = Self.noise(500, seed: 3)
        for x in before { _ = d.observe(x) }
        let jump = d.observe(20)
        #expect(jump > 10)
        for _ in 0..<400 { _ = d.observe(20) }
        #expect(d.observe(20) < 1)  // the new level has become normal
    }

    /// The context detector against a from-scratch reference: a Set of every (order, levels) sequence.
    @Test func contextNoveltyMatchesASetOfSequences() {
        var values: [Double] = []
        for i in 0..<2000 { values.append(Double((i * 7) % 13) + (i > 1500 ? Double(i % 5) : 0)) }
        var d = ContextDetector(levels: 16, order: 4, smoothing: 1)
        var seen = Set<[Int]>()
        var low = Double.infinity
        var high = -Double.infinity
        var levels: [Int] = []
        for x in values {
            low = min(low, x)
            high = max(high, x)
            let level = high > low ? min(15, Int((x - low) / (high - low) * 16)) : 0
            levels.append(level)
            var novel = 0
            for k in 1...min(levels.count, 5) {
                let key = [k] + levels.suffix(k)
                if seen.insert(key).inserted { novel += 1 }
            }
            #expect(d.observe(x) == Double(novel) / 5)
        }
    }

    @Test func contextNoveltyFadesOnARepeatingPatternAndRisesOnANewOne() {
        var d = ContextDetector()
        var last = 1.0
        for i in 0..<3000 { last = d.observe(Double(i % 24 < 12 ? 10 : 30) + Double(i % 3)) }
        #expect(last == 0)
        var peak = 0.0
        for i in 0..<20 { peak = max(peak, d.observe(Double(i % 2 == 0 ? 10 : 30))) }
        #expect(peak > 0.3)
    }

    @Test func seasonalResidualComparesWithTheSameTimeOfDay() {
        let step = 300.0
        var d = SeasonalResidual(days: 3)
        let start = 1_400_000_000.0 - 1_400_000_000.0.truncatingRemainder(dividingBy: 86_400)
        var scores: [Double] = []
        for i in 0..<(288 * 5) {
            let t = start + Double(i) * step
            let phase = i % 288
            var v = phase >= 100 && phase < 200 ? 80.0 : 20.0
            if i / 288 == 4 && phase >= 100 && phase < 200 { v = 20 }  // day 5: the daily peak does not come
            scores.append(d.observe(v, at: t))
        }
        #expect(scores[288 * 2 + 150] == 0)  // an ordinary day
        #expect(scores[288 * 4 + 100] == 60)  // the missing peak, 60 below the usual 80
        #expect(scores[288 * 4 + 250] == 0)
        #expect(d.observe(5, at: .nan) == 0)  // no time, no season
    }

    @Test func levelShiftIsShortMeanMinusLongMedian() {
        var values = Self.noise(800, seed: 5)
        for i in 600..<800 { values[i] += 10 }
        var d = LevelShift(short: 8, long: 200)
        for (i, x) in values.enumerated() {
            let score = d.observe(x)
            guard i > 0 else { continue }
            let shortMean = values[max(0, i - 7)...i].reduce(0, +) / Double(min(i + 1, 8))
            let past = values[max(0, i - 200)..<i].sorted()
            let median =
                past.count % 2 == 1 ? past[past.count / 2] : 0.5 * (past[past.count / 2 - 1] + past[past.count / 2])
            #expect(abs(score - abs(shortMean - median)) < 1e-9)
        }
    }

    @Test func recordRatioIsAboveHalfOnlyForANewRecord() {
        var r = RecordRatio(window: 10, warmUp: 3)
        let tie = 1 / (2 + RecordRatio.tieTolerance)  // r = 1 / (1 + tolerance)
        #expect(r.score(1) == 0)
        #expect(r.score(2) == 0)
        #expect(r.score(4) == 0)
        let equal = r.score(4)  // equal to the record of the last 10: not a new one
        #expect(equal < 0.5 && abs(equal - tie) < 1e-15)
        #expect(r.score(4 * (1 + 1e-6)) > 0.5)  // a new record, however small the margin
        #expect(abs(r.score(8) - 2.0 / 3) < 1e-6)  // twice the record (of 4.000004)
        #expect(abs(r.score(2) - 0.2) < 1e-6)  // a quarter of it
        for _ in 0..<10 { _ = r.score(1) }
        #expect(r.score(1) < 0.5)  // the 8 has left the window; 1 is the record now
        #expect(r.score(1.5) > 0.5)
    }

    static func median(_ values: some Collection<Double>) -> Double {
        let s = values.sorted()
        if s.isEmpty { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
    }

    @Test func seasonalDriftIsTheRecentMedianResidualBeyondTheBaselineAndIgnoresALoneBurst() {
        let step = 300.0
        let start = 1_400_000_000.0 - 1_400_000_000.0.truncatingRemainder(dividingBy: 86_400)
        var drift = SeasonalDrift(smoothing: 5, baseline: 200, seasonal: SeasonalResidual(days: 3))
        var reference = SeasonalResidual(days: 3)
        var residuals: [Double] = []
        var scores: [Double] = []
        let noise = Self.noise(288 * 6, seed: 11)
        for i in 0..<(288 * 6) {
            let t = start + Double(i) * step
            let phase = i % 288
            var v = (phase >= 100 && phase < 200 ? 80.0 : 20.0) + noise[i]
            if i == 288 * 4 + 50 { v += 500 }  // day 5: one burst
            if i / 288 == 5 && phase >= 120 { v -= 30 }  // day 6: the level falls and stays down
            let both = drift.observeBoth(v, at: t)
            if let r = reference.residual(v, at: t) {
                residuals.append(r)
                let recent = Self.median(residuals.suffix(5))
                let baseline = Self.median(residuals.dropLast(5).suffix(200))
                #expect(abs(both.drift - abs(recent - baseline)) < 1e-9, "row \(i)")
                #expect(abs(both.residual - abs(r)) < 1e-9, "row \(i)")
            } else {
                #expect(both == (0, 0), "row \(i)")
            }
            scores.append(both.drift)
        }
        let ordinary = scores[(288 * 3)..<(288 * 4)].max()!
        #expect(scores[288 * 4 + 50] <= ordinary)  // the burst: a large residual, an ordinary drift
        #expect(scores[288 * 5 + 125] > 25)  // the fall: every residual near -30
        #expect(drift.observe(5, at: .nan) == 0)
    }

    /// A steady climb keeps every value above its previous days by about the same margin: the
    /// residuals are large, the drift beyond their baseline is not.
    @Test func seasonalDriftTakesOutASteadyClimb() {
        let step = 300.0
        var drift = SeasonalDrift(smoothing: 8, baseline: 1000)
        let noise = Self.noise(288 * 11, seed: 12)
        var residuals: [Double] = []
        var drifts: [Double] = []
        for i in 0..<(288 * 11) {
            let v = 50 + 0.05 * Double(i) + noise[i]  // +14.4 a day
            let both = drift.observeBoth(v, at: 1.4e9 + Double(i) * step)
            // From day 8 the margin is constant (4 days of climbing); from day 11 so is the baseline.
            if i >= 288 * 10 {
                residuals.append(both.residual)
                drifts.append(both.drift)
            }
        }
        #expect(Self.median(residuals) > 40)  // about four days of climbing above the 7-day median
        #expect(drifts.max()! < 2)
    }

    @Test func anomalyLikelihoodIsTheNormalTailOfTheShortAverage() {
        var l = AnomalyLikelihood(history: 100, shortWindow: 1, learningPeriod: 10)
        let raw = Self.noise(200, seed: 6, scale: 1, offset: 5)
        var history: [Double] = []
        for (i, x) in raw.enumerated() {
            let p = l.likelihood(x)
            if i > 10 {
                let h = history.suffix(100)
                let mean = h.reduce(0, +) / Double(h.count)
                let variance = h.map { $0 * $0 }.reduce(0, +) / Double(h.count) - mean * mean
                let expected = 1 - 0.5 * erfc((x - mean) / variance.squareRoot() / 2.0.squareRoot())
                #expect(abs(p - expected) < 1e-9)
            }
            history.append(x)
        }
        #expect(AnomalyLikelihood.logScale(0.99999) > 0.49 && AnomalyLikelihood.logScale(0.99999) < 0.51)
    }

    @Test func ensembleRestsAfterAnAlarm() {
        var values = Self.noise(3000, seed: 7, offset: 50)
        values[2500] = 500
        var d = EnsembleDetector(restPeriod: 50)
        var scores: [Double] = []
        for (i, x) in values.enumerated() { scores.append(d.observe(x, at: Double(i) * 60)) }
        #expect(scores[2500] > 0.9)
        #expect(scores[2501...2550].allSatisfy { $0 == 0 })
        var quiet = EnsembleDetector(restPeriod: 0)
        var sustained: [Double] = []
        for (i, x) in values.enumerated() { sustained.append(quiet.observe(x, at: Double(i) * 60)) }
        #expect(sustained[2501...2510].contains { $0 > 0.5 })
    }

    /// Stopping a detector, persisting it and restoring it changes nothing: the restored detector
    /// scores the rest of the stream exactly as the uninterrupted one.
    @Test(arguments: DetectorKind.allCases)
    func persistenceIsSeamless(kind: DetectorKind) throws {
        var values = Self.noise(4000, seed: 8, scale: 3, offset: 40)
        for i in 3200..<3300 { values[i] += 25 }
        var uninterrupted = kind.make()
        var first = kind.make()
        var expected: [Double] = []
        for (i, x) in values.enumerated() { expected.append(uninterrupted.observe(x, at: 1.4e9 + Double(i) * 300)) }
        for i in 0..<2500 { _ = first.observe(values[i], at: 1.4e9 + Double(i) * 300) }
        let data = try JSONEncoder().encode(first)
        var restored = try JSONDecoder().decode(AnyStreamingDetector.self, from: data)
        for i in 2500..<4000 {
            #expect(restored.observe(values[i], at: 1.4e9 + Double(i) * 300) == expected[i], "row \(i)")
        }
    }

    @Test func unknownDetectorNamesAreRejectedWithTheValidOnes() throws {
        #expect(throws: Error.self) { try DetectorKind.named("prophet") }
        #expect(try DetectorKind.named("Ensemble") == .ensemble)
    }
}

@Suite("Vector samples")
struct PerFeatureDetectorTests {
    @Test func theWorstFeatureScoresTheSampleAndIsNamed() throws {
        var d = PerFeatureDetector(kind: .robust, features: 3)
        var rng = SplitMix(seed: 12)
        for _ in 0..<500 { _ = d.observe([Double(rng.next() % 10), 50 + Double(rng.next() % 10), 7]) }
        let score = d.observe([5, 500, 7])
        #expect(score == d.lastScores[1])
        #expect(d.lastScores[1] > 0.9 && d.lastScores[0] < 0.5)
        let restored = try JSONDecoder().decode(PerFeatureDetector.self, from: JSONEncoder().encode(d))
        var a = d
        var b = restored
        #expect(a.observe([1, 2, 3]) == b.observe([1, 2, 3]))
    }
}
