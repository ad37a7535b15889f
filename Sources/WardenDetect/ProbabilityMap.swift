import Foundation
import WardenCore

/// What a monitor's evidence has been found to mean: a non-decreasing map from the posterior of
/// ``AnomalyPosterior`` (how likely it is that an anomaly is under way) to the failure probability
/// it stands for (the share of moments with that evidence that a failure followed within the
/// horizon the map was measured for).
///
/// The two differ. Correlated normal readings lift the posterior into its middle range now and
/// then and it falls back, and an anomaly may be harmless or still far from its failure; only
/// outcomes tell these apart, so the map is measured, not derived: ``fit(evidence:followed:knots:)``
/// fits it to moments whose outcome is known (the demo's simulated days know when each fault
/// would have failed, healed or not), and a spec's `calibration:` carries it.
///
/// The map passes through its knots and is linear between them in the evidence's log-odds (the
/// posterior moves in log-odds, a witness at a time); below the first knot it is the first
/// probability, above the last the last one.
public struct ProbabilityMap: Sendable, Hashable, Codable {
    /// The knots' evidence: strictly increasing, in [0, 1].
    public let evidence: [Double]
    /// The knots' probabilities: non-decreasing, in [0, 1].
    public let probability: [Double]

    /// The most knots a map may have.
    public static let maximumKnots = 64

    /// Why a set of knots is not a map: which knot (from 0) and what is wrong with it.
    public struct Invalid: Error, Hashable, CustomStringConvertible {
        /// The knot at fault (nil: the list as a whole).
        public var knot: Int?
        public var reason: String
        public var description: String { knot.map { "knot \($0): \(reason)" } ?? reason }
    }

    /// Creates a map through the knots `(evidence[i], probability[i])`; throws ``Invalid`` naming
    /// the first knot out of order or out of range, or a list of the wrong length.
    public init(evidence: [Double], probability: [Double]) throws(Invalid) {
        guard evidence.count == probability.count else {
            throw Invalid(reason: "\(evidence.count) evidence values for \(probability.count) probabilities")
        }
        guard (1...Self.maximumKnots).contains(evidence.count) else {
            throw Invalid(reason: "found \(evidence.count) knots; a map has 1 to \(Self.maximumKnots)")
        }
        for i in evidence.indices {
            let (e, p) = (evidence[i], probability[i])
            guard (0...1).contains(e) else { throw Invalid(knot: i, reason: "evidence \(e) is not in [0, 1]") }
            guard (0...1).contains(p) else { throw Invalid(knot: i, reason: "probability \(p) is not in [0, 1]") }
            guard i > 0 else { continue }
            guard e > evidence[i - 1] else {
                throw Invalid(knot: i, reason: "evidence \(e) must be above the previous knot's \(evidence[i - 1])")
            }
            guard p >= probability[i - 1] else {
                throw Invalid(
                    knot: i,
                    reason: "probability \(p) is below the previous knot's \(probability[i - 1]); the map must not fall"
                )
            }
        }
        self.evidence = evidence
        self.probability = probability
    }

    private enum CodingKeys: String, CodingKey { case evidence, probability }

    /// Decodes the knots and checks them as ``init(evidence:probability:)`` does (a saved state
    /// is not trusted to hold a map).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let evidence = try c.decode([Double].self, forKey: .evidence)
        let probability = try c.decode([Double].self, forKey: .probability)
        do {
            try self.init(evidence: evidence, probability: probability)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .evidence, in: c, debugDescription: error.description)
        }
    }

    /// The lowest probability the map gives.
    public var lowest: Double { probability[0] }

    /// The highest probability the map gives.
    public var highest: Double { probability[probability.count - 1] }

    /// Why a monitor cannot alert at a threshold on a map: the one rule for the spec's loader and
    /// for a configuration's validation.
    public enum Unusable: Sendable, Hashable {
        /// Every knot gives the same probability: no threshold tells one moment from another.
        case oneLevel(Double)
        /// The threshold is above the highest probability: the monitor could never alert.
        case neverReached(highest: Double)
        /// The threshold is at or below the lowest probability: the monitor would always alert.
        case alwaysReached(lowest: Double)

        /// What is wrong with the threshold, to follow it in a sentence ("threshold 0.9 …").
        public var problem: String {
            switch self {
            case .oneLevel(let p): "cannot be used: every knot gives \(p)"
            case .neverReached(let highest):
                "is above the calibration's highest probability \(highest); the monitor could never alert"
            case .alwaysReached(let lowest):
                "is at or below the calibration's lowest probability \(lowest); the monitor would always alert"
            }
        }
    }

    /// Why a monitor could not use `threshold` with this map, or nil when it can.
    public func unusable(threshold: Double) -> Unusable? {
        if lowest == highest { return .oneLevel(lowest) }
        if threshold > highest { return .neverReached(highest: highest) }
        if threshold <= lowest { return .alwaysReached(lowest: lowest) }
        return nil
    }

    /// The failure probability that `posterior` stands for (NaN stays NaN).
    public func callAsFunction(_ posterior: Double) -> Double {
        guard !posterior.isNaN else { return posterior }
        let last = evidence.count - 1
        if posterior <= evidence[0] { return probability[0] }
        if posterior >= evidence[last] { return probability[last] }
        // The last knot at or below the posterior (there is one, and one above it).
        var low = 0
        var high = last
        while high - low > 1 {
            let mid = (low + high) / 2
            if evidence[mid] <= posterior { low = mid } else { high = mid }
        }
        let from = Self.logit(evidence[low])
        let span = Self.logit(evidence[high]) - from
        guard span > 0 else { return probability[high] }
        let t = min(max((Self.logit(posterior) - from) / span, 0), 1)
        return probability[low] + t * (probability[high] - probability[low])
    }

    /// The log-odds, finite for every probability (0 and 1 are taken as 1e-300 and 1 − 2⁻⁵³).
    static func logit(_ p: Double) -> Double {
        let p = min(max(p, 1e-300), 1.0.nextDown)
        return log(p) - log1p(-p)
    }

    static func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

    /// Fits the map to moments of known outcome: `evidence[i]` the posterior at a moment and
    /// `followed[i]` whether a failure followed it within the horizon. The fit is the isotonic
    /// regression of the outcomes on the evidence (pool adjacent violators: the non-decreasing
    /// step function closest to them in squared error), with each step a knot at its moments' mean
    /// log-odds; adjacent steps are then merged, the pair whose merge adds the least squared error first, down
    /// to `knots`. Moments
    /// with a NaN posterior are left out. Returns nil when no moment is left, or the arrays differ
    /// in length.
    public static func fit(evidence: [Double], followed: [Bool], knots: Int = 16) -> ProbabilityMap? {
        guard evidence.count == followed.count else { return nil }
        let order = evidence.indices.filter { !evidence[$0].isNaN }.sorted { evidence[$0] < evidence[$1] }
        guard !order.isEmpty else { return nil }
        // Steps: (moments, failures, sum of log-odds), equal evidence in one step from the start.
        var steps: [(weight: Double, failures: Double, logits: Double)] = []
        var previous = Double.nan
        for i in order {
            let e = evidence[i]
            let point = (weight: 1.0, failures: followed[i] ? 1.0 : 0, logits: logit(e))
            if e == previous, let top = steps.popLast() {
                steps.append((top.weight + 1, top.failures + point.failures, top.logits + point.logits))
            } else {
                steps.append(point)
            }
            previous = e
            // Pool while the last two steps are out of order (or level: a step must rise).
            while steps.count >= 2 {
                let b = steps[steps.count - 1]
                let a = steps[steps.count - 2]
                guard a.failures / a.weight >= b.failures / b.weight else { break }
                steps.removeLast(2)
                steps.append((a.weight + b.weight, a.failures + b.failures, a.logits + b.logits))
            }
        }
        let limit = min(max(1, knots), maximumKnots)
        // Merging neighbours keeps the steps rising (the merged share lies between theirs); each
        // merge is the one that adds the least squared error, `w_a w_b / (w_a + w_b) · (y_a − y_b)²`.
        func cost(_ i: Int) -> Double {
            let (a, b) = (steps[i], steps[i + 1])
            let gap = a.failures / a.weight - b.failures / b.weight
            return a.weight * b.weight / (a.weight + b.weight) * gap * gap
        }
        while steps.count > limit {
            var cheapest = 0
            for i in 1..<(steps.count - 1) where cost(i) < cost(cheapest) { cheapest = i }
            let (a, b) = (steps[cheapest], steps[cheapest + 1])
            steps[cheapest] = (a.weight + b.weight, a.failures + b.failures, a.logits + b.logits)
            steps.remove(at: cheapest + 1)
        }
        var xs: [Double] = []
        var ys: [Double] = []
        for step in steps {
            let x = sigmoid(step.logits / step.weight)
            guard xs.last.map({ x > $0 }) ?? true else { continue }
            xs.append(x)
            ys.append(max(step.failures / step.weight, ys.last ?? 0))
        }
        return try? ProbabilityMap(evidence: xs, probability: ys)
    }
}
