/// Warden's default streaming detector: four views of a series, each calibrated against its own
/// recent record, combined by their maximum, with a rest period after an alarm.
///
/// - ``SeasonalResidual``: distance from the same time of day on previous days (a missing daily
///   peak, a spike, a drop);
/// - ``SeasonalDrift``: the median of the last few of those distances, signed, beyond where they
///   have been sitting lately (a sustained departure from the daily pattern that normal isolated
///   bursts would hide, without taking a steady climb for one);
/// - ``LevelShift``: distance of the last 32 values' mean from the long-run median (a new level);
/// - ``ContextDetector``: novelty of the recent sequence of quantised levels (a new pattern, a
///   change of rhythm).
///
/// Each raw score goes through its own ``RecordRatio`` (0.5 = as extreme as the most extreme of the
/// last `recordWindow` samples), so the four are on one scale whatever the series' units; the
/// output is the largest. After an output of at least `alarmLevel`, the next `restPeriod` outputs
/// are 0: one alarm per event rather than a burst (NAB counts only the first detection in a window
/// and every further one outside it as a false positive). Monitors set `restPeriod` to 0 so that a
/// sustained anomaly keeps scoring.
public struct EnsembleDetector: StreamingDetector, Hashable {
    /// Samples the record ratios cover.
    public let recordWindow: Int
    /// Samples silenced after an alarm (0 = none).
    public let restPeriod: Int
    /// Output at and above which the rest period starts.
    public let alarmLevel: Double
    /// Residuals in the drift view's median.
    public let driftSmoothing: Int
    private var daily: SeasonalDrift
    private var shift: LevelShift
    private var context: ContextDetector
    private var seasonalRecord: RecordRatio
    private var driftRecord: RecordRatio
    private var shiftRecord: RecordRatio
    private var contextRecord: RecordRatio
    private var sinceAlarm = Int.max / 2

    /// Creates the ensemble with the parameters tuned on NAB's development subset.
    public init(recordWindow: Int = 5000, restPeriod: Int = 30, alarmLevel: Double = 0.5, driftSmoothing: Int = 8) {
        self.recordWindow = max(1, recordWindow)
        self.restPeriod = max(0, restPeriod)
        self.alarmLevel = alarmLevel
        self.driftSmoothing = max(1, driftSmoothing)
        daily = SeasonalDrift(smoothing: self.driftSmoothing)
        shift = LevelShift()
        context = ContextDetector()
        seasonalRecord = RecordRatio(window: self.recordWindow)
        driftRecord = RecordRatio(window: self.recordWindow)
        shiftRecord = RecordRatio(window: self.recordWindow)
        contextRecord = RecordRatio(window: self.recordWindow)
    }

    /// The combined score in [0, 1) (0 during a rest period).
    public mutating func observe(_ value: Double, at time: Double) -> Double {
        let (residual, drift) = daily.observeBoth(value, at: time)
        let a = seasonalRecord.score(residual)
        let d = driftRecord.score(drift)
        let b = shiftRecord.score(shift.observe(value, at: time))
        let c = contextRecord.score(context.observe(value, at: time))
        var score = max(max(a, d), max(b, c))
        sinceAlarm += 1
        if restPeriod > 0 && sinceAlarm <= restPeriod {
            score = 0
        } else if score >= alarmLevel {
            sinceAlarm = 0
        }
        return score
    }

    /// The output is already in [0, 1).
    public func unitScore(_ raw: Double) -> Double { raw }
}
