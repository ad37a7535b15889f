/// How far a value is from the recent typical value, in robust standard deviations.
///
/// Two estimators of "typical" and "spread", both without look-ahead:
/// - ``Estimator/median``: the exact median and median absolute deviation (MAD) of the last
///   `window` values; σ ≈ 1.4826·MAD. Outliers in the window barely move either, so a burst of
///   anomalies does not hide itself. O(log W) per value plus one memmove.
/// - ``Estimator/ewma``: an exponentially weighted mean and mean absolute deviation
///   (σ ≈ 1.2533·MAD) with span `window`; O(1) and constant memory, but outliers leak into it.
///
/// Raw score: `|x − center| / σ`. For the median estimator σ is the largest of 1.4826·MAD, IQR/1.349
/// and a tenth of the window's standard deviation: when more than half the window holds (nearly)
/// one value, as in sparse counts or square waves, the MAD collapses and alone would turn every
/// ordinary value into an outlier. When the window has no spread at all (a flat line), any change
/// scores 1e6 and no change 0.
public struct RobustZScore: StreamingDetector, Hashable {
    /// Which center and spread to use.
    public enum Estimator: String, Sendable, Hashable, Codable {
        /// Sliding-window median and MAD.
        case median
        /// Exponentially weighted mean and mean absolute deviation.
        case ewma
    }

    /// The estimator.
    public let estimator: Estimator
    /// The window (median) or span (EWMA), in values.
    public let window: Int
    /// Values needed before scoring.
    public let warmUp: Int
    private var sorted: SortedWindow
    private var windowSum = 0.0
    private var windowSumOfSquares = 0.0
    private var mean = 0.0
    private var absoluteDeviation = 0.0
    private var seen = 0

    /// Creates the detector.
    public init(estimator: Estimator = .median, window: Int = 1000, warmUp: Int = 20) {
        self.estimator = estimator
        self.window = max(2, window)
        self.warmUp = max(2, warmUp)
        sorted = SortedWindow(capacity: estimator == .median ? self.window : 1)
    }

    /// Scores `value` against the window before it (0 during warm-up), then adds it.
    public mutating func observe(_ value: Double, at time: Double) -> Double {
        var score = 0.0
        switch estimator {
        case .median:
            if sorted.count >= warmUp {
                let center = sorted.median
                let n = Double(sorted.count)
                let m = windowSum / n
                let sd = max(windowSumOfSquares / n - m * m, 0).squareRoot()
                let sigma = max(
                    1.4826 * sorted.medianAbsoluteDeviation,
                    (sorted.quantile(0.75) - sorted.quantile(0.25)) / 1.349,
                    0.1 * sd
                )
                score = Self.ratio(abs(value - center), sigma, scale: max(abs(center), 1))
            }
            if sorted.count == sorted.capacity, let oldest = sorted.oldest {
                windowSum -= oldest
                windowSumOfSquares -= oldest * oldest
            }
            windowSum += value
            windowSumOfSquares += value * value
            sorted.append(value)
        case .ewma:
            if seen >= warmUp {
                score = Self.ratio(abs(value - mean), 1.2533 * absoluteDeviation, scale: max(abs(mean), 1))
            }
            let alpha = 2 / (Double(window) + 1)
            if seen == 0 {
                mean = value
            } else {
                absoluteDeviation += alpha * (abs(value - mean) - absoluteDeviation)
                mean += alpha * (value - mean)
            }
            seen += 1
        }
        return score
    }

    static func ratio(_ deviation: Double, _ sigma: Double, scale: Double) -> Double {
        let tiny = 1e-12 * scale
        if sigma > tiny { return deviation / sigma }
        return deviation > tiny ? 1e6 : 0
    }
}
