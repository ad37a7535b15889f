import Foundation
import Testing
import WardenDetect

@Suite("The anomaly posterior")
struct AnomalyPosteriorTests {
    /// What the probability rests on: `L` is a density on (0, 1] (it integrates to 1, so a normal
    /// stream, uniform p-values, cannot make it grow on average), it falls as p grows, and
    /// L(1) = spread / 2.
    @Test func theLikelihoodRatioIsADensityFallingWithP() {
        // From 0 to x, ε p^(ε−1) integrates to x^ε, so L to (x^s − 1) / (s ln x).
        let s = AnomalyPosterior.spread
        var integral = (pow(1e-12, s) - 1) / (s * log(1e-12))
        let n = 200_000
        // Midpoints on a log scale near 0, where L is large, and a linear one above.
        var last = 1e-12
        for i in 1...n {
            let x = 1e-12 * pow(1e12, Double(i) / Double(n))
            integral += AnomalyPosterior.likelihoodRatio((x + last) / 2) * (x - last)
            last = x
        }
        #expect(abs(integral - 1) < 0.01, "∫L = \(integral)")
        var previous = Double.infinity
        for p in stride(from: 0.001, through: 1, by: 0.001) {
            let l = AnomalyPosterior.likelihoodRatio(p)
            #expect(l < previous)
            previous = l
        }
        #expect(abs(AnomalyPosterior.likelihoodRatio(1) - s / 2) < 1e-9)
        #expect(abs(AnomalyPosterior.likelihoodRatio(1 - 1e-9) - s / 2) < 1e-6, "no cancellation near 1")
        // Strong evidence from small p-values, evidence against from middling ones.
        #expect(AnomalyPosterior.likelihoodRatio(0.001) > 20 && AnomalyPosterior.likelihoodRatio(0.02) > 2)
        #expect(AnomalyPosterior.likelihoodRatio(0.1) < 1 && AnomalyPosterior.likelihoodRatio(0.5) < 0.25)
    }

    /// On a normal stream the probability stays near its resting point: p95 under 0.1 over
    /// 100,000 uniform p-values, whatever the weight.
    @Test(arguments: [1.0, 0.5, 1.0 / 3])
    func aNormalStreamKeepsItLow(weight: Double) {
        var posterior = AnomalyPosterior(weight: weight)
        var rng = SplitMix(seed: 7)
        var values: [Double] = []
        for _ in 0..<100_000 {
            let u = (Double(rng.next() % 1_000_000) + 1) / 1_000_001
            values.append(posterior.update(u))
        }
        values.sort()
        #expect(values[95_000] < 0.1, "p95 \(values[95_000])")
        #expect(values[50_000] < 0.03, "median \(values[50_000])")
    }

    /// A run of extreme p-values takes it past 0.9 within a few witnesses; uniform ones bring it
    /// back down.
    @Test func anAnomalyLiftsItAndItsEndLowersIt() {
        var posterior = AnomalyPosterior(weight: 0.5)
        var crossed = 0
        for n in 1...50 where posterior.update(0.001) >= 0.9 && crossed == 0 { crossed = n }
        #expect(crossed >= 3 && crossed <= 8, "crossed after \(crossed)")
        var fell = 0
        for n in 1...500 where posterior.update(0.5) < 0.1 && fell == 0 { fell = n }
        #expect(fell > 0 && fell < 200, "fell after \(fell)")
    }

    /// A reset (the anomaly was healed) goes back to the resting point; evidence lifts it again.
    @Test func aResetGoesBackToRest() {
        var posterior = AnomalyPosterior(weight: 0.5)
        let rest = posterior.probability
        #expect(abs(rest - posterior.resting) < 1e-15 && rest < 0.03)
        for _ in 0..<20 { _ = posterior.update(0.001) }
        #expect(posterior.probability > 0.95)
        posterior.reset()
        #expect(posterior.probability == rest)
        // No evidence: the prior alone keeps it where it rests.
        for _ in 0..<100 { _ = posterior.update(.nan) }
        #expect(abs(posterior.probability - rest) < 1e-9)
    }

    /// Hostile inputs: NaN, infinities, values outside (0, 1] and parameters out of range leave a
    /// probability in [0, 1].
    @Test func hostileValuesLeaveAProbability() {
        var posterior = AnomalyPosterior(weight: .nan, onset: -1, recovery: .infinity)
        for p in [Double.nan, .infinity, -.infinity, -5, 0, 1e-320, 2, 1, .leastNonzeroMagnitude] {
            let q = posterior.update(p)
            #expect(q >= 0 && q <= 1 && q.isFinite, "\(p) → \(q)")
        }
        for _ in 0..<10_000 { _ = posterior.update(0) }
        #expect(posterior.probability.isFinite && posterior.probability <= 1)
    }
}
