/// A streaming detector for vector samples: one detector per feature, scored on one scale.
///
/// Each feature has its own detector of the same kind; the score of a sample is the largest of the
/// features' unit scores (in [0, 1]), and ``lastScores`` says which feature it came from. Like its
/// parts it has no look-ahead, bounded memory and `Codable` state.
public struct PerFeatureDetector: Sendable, Codable {
    /// The kind of every feature's detector.
    public let kind: DetectorKind
    private var detectors: [AnyStreamingDetector]
    /// The unit score of each feature for the last sample.
    public private(set) var lastScores: [Double]

    /// Creates detectors for `features` features; `monitoring` selects ``DetectorKind/makeForMonitoring()``.
    public init(kind: DetectorKind, features: Int, monitoring: Bool = false) {
        precondition(features >= 1, "at least one feature")
        self.kind = kind
        detectors = (0..<features).map { _ in monitoring ? kind.makeForMonitoring() : kind.make() }
        lastScores = Array(repeating: 0, count: features)
    }

    /// The number of features.
    public var features: Int { detectors.count }

    /// Scores one sample (one value per feature, taken at `time` in seconds since the epoch, `.nan`
    /// when unknown): the largest feature unit score, in [0, 1].
    public mutating func observe(_ values: [Double], at time: Double = .nan) -> Double {
        precondition(values.count == detectors.count, "expected \(detectors.count) values")
        var best = 0.0
        for f in values.indices {
            let raw = detectors[f].observe(values[f], at: time)
            let unit = min(max(detectors[f].unitScore(raw), 0), 1)
            lastScores[f] = unit
            best = max(best, unit)
        }
        return best
    }
}
