/// Turns a detector's scores into a failure probability in [0, 1] with a stated meaning.
///
/// The calibrator keeps the last `capacity` scores that were judged normal (the reference). The
/// conformal p-value of a new score `s` is `p = (1 + #{reference ≥ s}) / (n + 1)`: the fraction of
/// normal scores at least as extreme, counting the new one. If the new sample behaves like the
/// reference (it is normal), `P(p ≤ α) ≤ α` for every α, whatever the detector and its scale — a
/// distribution-free guarantee.
///
/// The p-values feed an ``AnomalyPosterior``: the probability that a failure is on its way given
/// every p-value so far, under a prior in which anomalies are rare and end. `smoothing` is how
/// many consecutive samples count as one witness (samples a few seconds apart are correlated):
/// each p-value's evidence is weighted `1 / smoothing`.
///
/// - With no anomaly the probability rests near 0.02; it does not wander with every odd sample.
/// - A sustained run of scores beyond most normal ones takes it past 0.9 within a few witnesses.
/// - After ``healed()`` it starts again from its resting point.
///
/// What it gives is the evidence that an anomaly is under way, not yet the chance of a failure
/// soon. Measured over the demo's simulated days: below 0.1, a failure followed within 15 minutes
/// about 3 % of the time; 0.9 and above, about 70 %; in between about 15 % whatever the value (the
/// excursions of correlated normal noise lift it there and fall back). A monitor's `calibration:`
/// (a ``ProbabilityMap`` measured on outcomes) turns it into a failure probability that means what
/// it says.
public struct ConformalCalibrator: Sendable, Codable {
    /// Normal scores kept.
    public let capacity: Int
    /// Consecutive samples that count as one witness.
    public let smoothing: Int
    private var reference: SortedWindow
    private var posterior: AnomalyPosterior
    /// Scores waiting to join the reference, and their p-values: a score joins only once
    /// `pending.capacity` later samples have passed without ``discardPending()`` (an alert), so
    /// that the first samples of an anomaly, before the evidence is in, are not taken for normal.
    private var pending: DoubleRing
    private var pendingP: DoubleRing
    /// Samples since the probability was last at or above the line (see ``probability(_:learning:line:)``).
    private var calmFor = 0

    /// Creates an empty calibrator.
    public init(capacity: Int = 1000, smoothing: Int = 3) {
        self.capacity = max(1, capacity)
        self.smoothing = max(1, smoothing)
        reference = SortedWindow(capacity: self.capacity)
        posterior = AnomalyPosterior(weight: 1 / Double(self.smoothing))
        pending = DoubleRing(capacity: Self.judgingDelay(smoothing: self.smoothing))
        pendingP = DoubleRing(capacity: pending.capacity)
    }

    /// The samples a score waits before it may join the reference: enough for a clear anomaly
    /// to lift the probability past 0.9 (eight witnesses, then eight samples more; scores beyond
    /// every one of 50 normal ones take about seven).
    static func judgingDelay(smoothing: Int) -> Int { min(8 * smoothing, 800) + 8 }

    /// The number of reference scores.
    public var count: Int { reference.count }

    /// The current probability (the last one ``probability(_:)`` returned).
    public var current: Double { posterior.probability }

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

    /// The failure probability after seeing `score`.
    ///
    /// With `learning`, the score joins the reference later unless ``discardPending()`` comes
    /// first, or it was extreme (at most two reference scores as high) and the probability reached
    /// `line` while it waited: a harmless excursion that did not last long enough for an alert
    /// (a heart rate racing for a minute) must not teach the calibrator that such scores are
    /// normal, or a failure of the same size would look normal later. Milder scores of such an
    /// episode are learned, so that the reference follows drift. Without `learning` the score is
    /// only scored. See ``learn(_:)`` for scores known to be normal.
    public mutating func probability(_ score: Double, learning: Bool = true, line: Double = 0.9) -> Double {
        let p = pValue(score)
        let probability = posterior.update(p, smallest: 1 / Double(reference.count + 1))
        calmFor = probability < line ? min(calmFor + 1, 1 << 40) : 0
        guard learning else { return probability }
        let judgedP = pendingP.append(p) ?? 1
        if let judged = pending.append(score) {
            let extreme = judgedP <= 3 / Double(reference.count + 1)
            if !extreme || calmFor >= pending.capacity { learn(judged) }
        }
        return probability
    }

    /// Drops the scores waiting to join the reference (an alert confirmed that they were part of
    /// an anomaly).
    public mutating func discardPending() {
        pending = DoubleRing(capacity: pending.capacity)
        pendingP = DoubleRing(capacity: pending.capacity)
    }

    /// The probability after a sample that is not evidence (one taken while the target recovers
    /// from a heal): the prior moves on alone, and the score is not learned.
    public mutating func probabilityWithoutEvidence() -> Double {
        posterior.update(.nan)
    }

    /// The anomaly was healed: the probability goes back to its resting point, and the scores
    /// waiting to be judged (taken during the anomaly) are dropped.
    public mutating func healed() {
        posterior.reset()
        discardPending()
    }
}
