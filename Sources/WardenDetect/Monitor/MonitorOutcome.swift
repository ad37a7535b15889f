import Foundation

/// The score of one sample by a trained ``Monitor``.
public struct MonitorScore: Sendable, Hashable, Codable {
    /// The sample's time.
    public var time: Date
    /// The model's raw score (higher is more anomalous): `−decision` for the One-Class SVM, the
    /// largest per-feature unit score for streaming detectors.
    public var raw: Double
    /// The failure probability in [0, 1]: the evidence through the configuration's
    /// ``MonitorConfiguration/calibration`` (the evidence itself without one).
    public var probability: Double
    /// The probability that an anomaly is under way, from the conformal evidence so far (see
    /// ``ConformalCalibrator``).
    public var evidence: Double
    /// Per-feature unit scores, in the configuration's feature order (streaming models only): which
    /// series looks anomalous.
    public var features: [Double]?
    /// Since when the probability has been at or above the threshold (nil when it is not).
    public var aboveSince: Date?
}

/// What a ``Monitor`` made of one sample.
public enum MonitorOutcome: Sendable, Hashable {
    /// Still learning what normal looks like; `progress` in [0, 1] (of the window and the minimum count).
    case training(progress: Double)
    /// This sample completed training (`samples` were used); the next sample will be scored.
    case trained(samples: Int)
    /// Scored; no change of alert state.
    case scored(MonitorScore)
    /// The probability has stayed at or above the threshold for the configured duration: act now.
    /// Reported once per episode.
    case alert(MonitorScore)
    /// The probability fell below the threshold after an alert.
    case cleared(MonitorScore)
    /// The sample held a NaN or infinite value and was ignored.
    case skipped

    /// The score, for outcomes that have one.
    public var score: MonitorScore? {
        switch self {
        case .scored(let s), .alert(let s), .cleared(let s): s
        default: nil
        }
    }
}
