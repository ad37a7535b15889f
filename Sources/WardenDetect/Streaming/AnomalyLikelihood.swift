#if canImport(Glibc)
import Glibc
#endif

/// Numenta's anomaly likelihood: how unusual the recent level of a detector's raw scores is,
/// compared with their distribution over a long history.
///
/// Keeps the last `history` short-term averages (each the mean of the last `shortWindow` raw
/// scores) with running mean and variance. The likelihood of a sample is `P(X ≤ average)` under a
/// normal distribution with that mean and variance; the output is NAB's log scale of it,
/// `log(1.0000000001 − L) / log(1e-10)`, in [0, 1]: 0.5 at L = 0.99999, 1 at L = 1 − 1e-10.
/// Outputs 0 for the first `learningPeriod` samples. A single high raw score moves the short
/// average only a little, so isolated noise is damped and sustained changes stand out.
public struct AnomalyLikelihood: Sendable, Hashable, Codable {
    /// Short-term averages kept.
    public let history: Int
    /// Raw scores in each short-term average.
    public let shortWindow: Int
    /// Samples before the first output.
    public let learningPeriod: Int
    private var averages: DoubleRing
    private var sum = 0.0
    private var sumOfSquares = 0.0
    private var recent: DoubleRing
    private var recentSum = 0.0
    private var seen = 0

    /// Creates the post-processor (NAB's HTM detector uses 8640, 10 and 288 rows).
    public init(history: Int = 8640, shortWindow: Int = 10, learningPeriod: Int = 288) {
        self.history = max(2, history)
        self.shortWindow = max(1, shortWindow)
        self.learningPeriod = max(2, learningPeriod)
        averages = DoubleRing(capacity: self.history)
        recent = DoubleRing(capacity: self.shortWindow)
    }

    /// The largest raw score taken as it is: a larger one (an infinity included) counts as this,
    /// and a NaN as 0, so that the running sums of squares never overflow.
    public static let rawLimit = 1e100

    /// The likelihood P(X ≤ average) of the next raw score, in [0, 1].
    public mutating func likelihood(_ raw: Double) -> Double {
        let raw = raw.isNaN ? 0 : min(max(raw, -Self.rawLimit), Self.rawLimit)
        if let evicted = recent.append(raw) { recentSum -= evicted }
        recentSum += raw
        let average = recentSum / Double(recent.count)
        var result = 0.5
        let n = Double(averages.count)
        if seen >= learningPeriod, averages.count >= 2 {
            let mean = sum / n
            let variance = max(sumOfSquares / n - mean * mean, 1e-12)
            let z = (average - mean) / variance.squareRoot()
            result = 1 - 0.5 * erfc(z / 2.0.squareRoot())
        }
        if let evicted = averages.append(average) {
            sum += average - evicted
            sumOfSquares += average * average - evicted * evicted
        } else {
            sum += average
            sumOfSquares += average * average
        }
        seen += 1
        return seen > learningPeriod ? result : 0
    }

    /// The log-scaled likelihood of the next raw score, in [0, 1].
    public mutating func score(_ raw: Double) -> Double {
        let l = likelihood(raw)
        return Self.logScale(l)
    }

    /// NAB's log scale: `log(1.0000000001 − L) / log(1e-10)`, clamped to [0, 1].
    public static func logScale(_ likelihood: Double) -> Double {
        min(max(log(1.0000000001 - likelihood) / log(1.0 - 0.9999999999), 0), 1)
    }
}
