/// A streaming anomaly detector: it sees one sample at a time and scores it at once.
///
/// Every detector in Warden follows the same rules, so monitors can run any of them:
/// - **No look-ahead.** The score of a sample depends only on it and the samples before it; there
///   is no global min/max, no normalisation over a batch.
/// - **Bounded memory.** State is a fixed number of windows and tables, whatever the stream length.
/// - **Persistent.** The whole state is `Codable`: encode it, store it, decode it after a restart and
///   the next score is the one the detector would have given without the restart.
/// - **Injected time.** The sample's own timestamp is passed in; detectors never read a clock.
///
/// ``observe(_:at:)`` returns a *raw* score: zero or more, larger is more anomalous, on a scale of
/// the detector's own (a z-score, a novelty fraction, a ratio). ``unitScore(_:)`` maps it to [0, 1)
/// monotonically, for NAB and for people; a ``ConformalCalibrator`` turns either into a failure
/// probability.
public protocol StreamingDetector: Sendable, Codable {
    /// Scores the next value, measured at `time` (seconds since the epoch; `.nan` when unknown).
    mutating func observe(_ value: Double, at time: Double) -> Double

    /// Maps a raw score of this detector to [0, 1), preserving order.
    func unitScore(_ raw: Double) -> Double
}

extension StreamingDetector {
    /// Scores the next value when its time is not known.
    public mutating func observe(_ value: Double) -> Double {
        observe(value, at: .nan)
    }

    /// `raw / (raw + 3)`: 0.5 at three units (a 3σ deviation for z-scores).
    public func unitScore(_ raw: Double) -> Double {
        raw > 0 ? (raw.isFinite ? raw / (raw + 3) : 1) : 0
    }
}
