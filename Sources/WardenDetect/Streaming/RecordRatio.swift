/// Turns any raw score into "how extreme is this compared with the most extreme of late", in [0, 1).
///
/// With `M` the largest raw score of the previous `window` samples, the output is `r / (1 + r)` where
/// `r = raw / (M · (1 + 10⁻⁹))`: above 0.5 only when the sample sets a new record, just below 0.5
/// when it equals the recent one. Distribution-free and scale-free, so the outputs of different
/// detectors and different series are comparable and one threshold serves them all. Outputs 0
/// during the first `warmUp` samples.
///
/// A tie is kept below 0.5 on purpose: a series of few distinct values (a quantised CPU share, a
/// count, a flat line) equals its record often, and a threshold placed at 0.5 exactly would take
/// every such tie for an alarm.
public struct RecordRatio: Sendable, Hashable, Codable {
    /// Samples the record covers.
    public let window: Int
    /// Samples seen before the first output.
    public let warmUp: Int
    private var maximum: SlidingMaximum

    /// The relative margin by which a raw score must exceed the record to count as a new one.
    public static let tieTolerance = 1e-9

    /// The highest output: just below 1.
    public static let highest = 1.0.nextDown

    /// Creates the calibrator.
    public init(window: Int = 5000, warmUp: Int = 100) {
        self.window = max(1, window)
        self.warmUp = max(1, warmUp)
        maximum = SlidingMaximum(window: self.window)
    }

    /// The output for the next raw score (then remembers it).
    public mutating func score(_ raw: Double) -> Double {
        var out = 0.0
        if maximum.count >= warmUp, let m = maximum.maximum {
            let r: Double
            if m > 1e-12 {
                r = raw / (m * (1 + Self.tieTolerance))
            } else {
                r = raw <= 1e-12 ? 0 : 10
            }
            // A raw score beyond 2⁵³ records (a detector fed values near the largest Double) would
            // round to 1 or, infinite, give NaN: the output stays below 1.
            out = r > 0 ? (r.isFinite ? min(r / (1 + r), Self.highest) : Self.highest) : 0
        }
        maximum.append(raw)
        return out
    }
}
