/// How far a value is from the mean of the last `window` values, in standard deviations.
///
/// NAB's "windowed Gaussian" baseline: mean and variance of a sliding window (running sums,
/// re-summed every `window` values so rounding cannot drift), raw score `|x − mean| / σ`.
/// O(1) per value, `window` doubles of memory.
public struct WindowedGaussian: StreamingDetector, Hashable {
    /// Values in the window.
    public let window: Int
    /// Values needed before scoring (the score is 0 until then).
    public let warmUp: Int
    private var ring: DoubleRing
    private var sum = 0.0
    private var sumOfSquares = 0.0
    private var sinceResum = 0

    /// Creates the detector; NAB's baseline uses a window of 6400.
    public init(window: Int = 6400, warmUp: Int = 20) {
        self.window = max(2, window)
        self.warmUp = max(2, warmUp)
        ring = DoubleRing(capacity: self.window)
    }

    /// Scores `value` against the window before it (0 during warm-up), then adds it.
    public mutating func observe(_ value: Double, at time: Double) -> Double {
        var score = 0.0
        let n = Double(ring.count)
        if ring.count >= warmUp {
            let mean = sum / n
            let variance = max(sumOfSquares / n - mean * mean, 0)
            let sd = variance.squareRoot()
            let deviation = abs(value - mean)
            if sd > 1e-12 * max(abs(mean), 1) {
                score = deviation / sd
            } else {
                score = deviation > 1e-12 * max(abs(mean), 1) ? 1e6 : 0
            }
        }
        if let evicted = ring.append(value) {
            sum += value - evicted
            sumOfSquares += value * value - evicted * evicted
        } else {
            sum += value
            sumOfSquares += value * value
        }
        sinceResum += 1
        if sinceResum >= window {
            sinceResum = 0
            sum = 0
            sumOfSquares = 0
            for i in 0..<ring.count {
                let v = ring[i]
                sum += v
                sumOfSquares += v * v
            }
        }
        return score
    }
}
