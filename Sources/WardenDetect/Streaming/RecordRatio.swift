/// Turns any raw score into "how extreme is this compared with the most extreme of late", in [0, 1).
///
/// With `M` the largest raw score of the previous `window` samples, the output is `r / (1 + r)` where
/// `r = raw / M`: 0.5 exactly when the sample equals the recent record, above 0.5 when it sets a new
/// one. Distribution-free and scale-free, so the outputs of different detectors and different
/// series are comparable and one threshold serves them all. Outputs 0 during the first `warmUp`
/// samples.
public struct RecordRatio: Sendable, Hashable, Codable {
    /// Samples the record covers.
    public let window: Int
    /// Samples seen before the first output.
    public let warmUp: Int
    private var maximum: SlidingMaximum

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
                r = raw / m
            } else {
                r = raw <= 1e-12 ? 0 : 10
            }
            out = r > 0 ? r / (1 + r) : 0
        }
        maximum.append(raw)
        return out
    }
}
