/// How far the mean of the last few values is from the long-run median: a level shift.
///
/// Raw score `|mean(last `short` values) − median(last `long` values)|`, in the series' units.
/// A sustained change of level scores high for as long as the short mean has moved and the long
/// median has not; a single spike is diluted by `short`. The median is exact (``SlidingMedian``).
public struct LevelShift: StreamingDetector, Hashable {
    /// Values in the short mean.
    public let short: Int
    /// Values in the long median.
    public let long: Int
    private var recent: DoubleRing
    private var recentSum = 0.0
    private var history: SlidingMedian

    /// Creates the detector.
    public init(short: Int = 32, long: Int = 3000) {
        self.short = max(1, short)
        self.long = max(2, long)
        recent = DoubleRing(capacity: self.short)
        history = SlidingMedian(capacity: self.long)
    }

    /// The distance between the mean of the last `short` values (this one included) and the median
    /// of the `long` values before it.
    public mutating func observe(_ value: Double, at time: Double) -> Double {
        if let evicted = recent.append(value) { recentSum -= evicted }
        recentSum += value
        if !recentSum.isFinite {
            // An infinite value came or went: sum the ring again, so the view recovers once it left.
            recentSum = recent.withUnorderedValues { $0.reduce(0, +) }
        }
        var score = 0.0
        if history.count > 0 {
            score = abs(recentSum / Double(recent.count) - history.median)
        }
        history.append(value)
        return score
    }
}
