/// How far the last few values sit, together, from what the same time of day usually looks like,
/// beyond where they have been sitting lately.
///
/// The raw score is `|median of the last `smoothing` signed residuals − median of the `baseline`
/// residuals before them|`, the residuals those of a ``SeasonalResidual`` (a value minus the median
/// of its phase on the previous days), in the series' own units; 0 until the first residual and for
/// a value without one (no time, or its phase seen for the first time).
///
/// A lone spike moves the median of the residuals little, so a series whose normal life has
/// isolated bursts can still show a sustained departure from its daily pattern (a level shift, a
/// peak that does not come, a trough that lasts) that the bursts would hide from
/// ``SeasonalResidual`` alone. The baseline takes out a slow drift: a series that climbs steadily
/// sits above its previous days by a margin that hardly changes, which is not news.
public struct SeasonalDrift: StreamingDetector, Hashable {
    /// Residuals in the recent median.
    public let smoothing: Int
    /// Residuals in the baseline median (those that left the recent ones).
    public let baseline: Int
    private var seasonal: SeasonalResidual
    private var recent: SlidingMedian
    private var earlier: SlidingMedian

    /// Creates the detector; `seasonal` supplies the residuals.
    public init(smoothing: Int = 8, baseline: Int = 1000, seasonal: SeasonalResidual = SeasonalResidual()) {
        self.smoothing = max(1, smoothing)
        self.baseline = max(1, baseline)
        self.seasonal = seasonal
        recent = SlidingMedian(capacity: self.smoothing)
        earlier = SlidingMedian(capacity: self.baseline)
    }

    /// The drift for `value` (see the type's description).
    public mutating func observe(_ value: Double, at time: Double) -> Double {
        observeBoth(value, at: time).drift
    }

    /// Both scores for `value`: the seasonal residual's magnitude (what ``SeasonalResidual`` would
    /// return) and the drift, from one phase median.
    public mutating func observeBoth(_ value: Double, at time: Double) -> (residual: Double, drift: Double) {
        guard let r = seasonal.residual(value, at: time) else { return (0, 0) }
        if recent.count == smoothing, let leaving = recent.oldest { earlier.append(leaving) }
        recent.append(r)
        return (abs(r), abs(recent.median - earlier.median))  // an empty baseline's median is 0
    }
}
