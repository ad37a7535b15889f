/// Turns a detector's scores into a failure probability in [0, 1] with a stated meaning.
///
/// The calibrator keeps the last `capacity` scores that were judged normal (the reference). The
/// conformal p-value of a new score `s` is `p = (1 + #{reference ≥ s}) / (n + 1)`: the fraction of
/// normal scores at least as extreme, counting the new one. If the new sample behaves like the
/// reference (it is normal), `P(p ≤ α) ≤ α` for every α, whatever the detector and its scale — a
/// distribution-free guarantee. The failure probability is `1 − p`, averaged over the last
/// `smoothing` samples so that one odd sample does not flip a decision:
///
/// - 0.9 means the recent samples scored higher than about 90 % of normal ones;
/// - a normal stream stays at or above 0.99 only about 1 % of the time (with 99 or more reference
///   scores), so a threshold of 0.99 held for a few seconds is rarely crossed by chance;
/// - with `n` reference scores the largest possible value is `n / (n + 1)`.
///
/// It is a probability *that the sample is not like the normal ones*, not a forecast of a failure
/// at a given time; monitors act on it with a threshold held for a duration.
public struct ConformalCalibrator: Sendable, Codable {
    /// Normal scores kept.
    public let capacity: Int
    /// Samples averaged into the probability.
    public let smoothing: Int
    private var reference: SortedWindow
    private var recent: DoubleRing
    private var recentSum = 0.0

    /// Creates an empty calibrator.
    public init(capacity: Int = 1000, smoothing: Int = 3) {
        self.capacity = max(1, capacity)
        self.smoothing = max(1, smoothing)
        reference = SortedWindow(capacity: self.capacity)
        recent = DoubleRing(capacity: self.smoothing)
    }

    /// The number of reference scores.
    public var count: Int { reference.count }

    /// Adds a score of a sample known or judged to be normal (evicting the oldest when full).
    public mutating func learn(_ score: Double) {
        guard score.isFinite else { return }
        reference.append(score)
    }

    /// The conformal p-value of `score` against the reference (1 when there is none).
    public func pValue(_ score: Double) -> Double {
        let n = reference.count
        if n == 0 { return 1 }
        let atLeast = score.isNaN ? n : reference.count(atLeast: score)
        return Double(1 + atLeast) / Double(n + 1)
    }

    /// The smoothed failure probability after seeing `score`: the mean of `1 − p` over the last
    /// `smoothing` scores.
    public mutating func probability(_ score: Double) -> Double {
        let raw = 1 - pValue(score)
        if let evicted = recent.append(raw) { recentSum -= evicted }
        recentSum += raw
        return min(max(recentSum / Double(recent.count), 0), 1)
    }
}
