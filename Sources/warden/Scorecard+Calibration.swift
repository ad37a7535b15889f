import Foundation
import WardenDetect

extension Scorecard {
    /// A calibration for the demo's monitor, fitted on simulated days.
    struct Calibration {
        var map: ProbabilityMap
        /// The threshold on the mapped probability that alerts where the evidence reached
        /// `evidenceThreshold`: the demo's heals stay where they were measured.
        var threshold: Double
        /// Brier scores over the fitted days: of the evidence shown as it is, and mapped.
        var brierBefore: Double
        var brierAfter: Double
        var moments: Int

        /// The spec's lines, knots rounded so that they read well and stay in order; nil when the
        /// rounded map cannot carry the threshold (a monitor would refuse it: one level only, or
        /// the threshold at its lowest probability).
        var specLines: String? {
            var pairs: [String] = []
            var last = -1.0
            var probabilities: [Double] = []
            for (e, p) in zip(map.evidence, map.probability) {
                let (rounded, text) = Self.round(e)
                guard rounded > last else { continue }
                last = rounded
                let shown = String(format: "%.3f", p)
                pairs.append("[\(text), \(shown)]")
                probabilities.append(Double(shown) ?? p)
            }
            let line = (threshold * 1000).rounded() / 1000
            guard let lowest = probabilities.first, let highest = probabilities.last, lowest < line, line <= highest
            else { return nil }
            return """
                calibration: [\(pairs.joined(separator: ", "))]
                threshold: \(line)
                """
        }

        /// `x` to three significant digits of its distance to the nearer end of [0, 1], and as
        /// written.
        static func round(_ x: Double) -> (Double, String) {
            let d = min(x, 1 - x)
            guard d > 0 else { return (x, "\(x)") }
            let decimals = min(17, max(0, Int(2 - floor(log10(d)))))
            let text = String(format: "%.*f", decimals, x)
            return (Double(text) ?? x, text)
        }
    }

    /// Runs `seeds` simulated days of `hours` on the evidence (the monitor alerting at
    /// `evidenceThreshold`) and fits a map of at most `knots` knots to what followed each step.
    static func fitCalibration(
        seeds: [UInt64],
        hours: Double,
        speed: Double,
        faultsPerDay: Int,
        evidenceThreshold: Double = 0.9,
        knots: Int = 16
    ) throws -> Calibration? {
        var evidence: [Double] = []
        var followed: [Bool] = []
        for seed in seeds {
            let r = try run(
                hours: hours,
                seed: seed,
                speed: speed,
                faultsPerDay: faultsPerDay,
                evidenceThreshold: evidenceThreshold
            )
            evidence += r.evidence
            followed += r.followed
        }
        guard let map = ProbabilityMap.fit(evidence: evidence, followed: followed, knots: knots) else { return nil }
        func brier(_ f: (Double) -> Double) -> Double {
            var sum = 0.0
            for (e, y) in zip(evidence, followed) {
                let miss = f(e) - (y ? 1 : 0)
                sum += miss * miss
            }
            return sum / Double(max(1, evidence.count))
        }
        return Calibration(
            map: map,
            threshold: map(evidenceThreshold),
            brierBefore: brier { $0 },
            brierAfter: brier { map($0) },
            moments: evidence.count
        )
    }
}
