/// How far a value is from what the same time of day usually looks like.
///
/// The day is cut into phases one sampling interval wide (at least `minimumPhase` seconds, so at
/// most 1,440 phases); each phase remembers its last `days` values. The raw score is
/// `|x − median of the phase's values|`, in the series' own units. Catches a daily pattern that
/// does not happen (a missing peak), happens at the wrong time or at the wrong level, which a
/// deviation from the overall median cannot see.
///
/// The sampling interval is the median of the first 16 intervals between timestamps; until then,
/// and for samples without a time, the score is 0.
public struct SeasonalResidual: StreamingDetector, Hashable {
    /// The season, in seconds (a day by default).
    public let period: Double
    /// Values remembered per phase.
    public let days: Int
    /// The narrowest phase, in seconds.
    public let minimumPhase: Double
    private var intervals: [Double] = []
    private var lastTime = Double.nan
    private var phaseWidth = Double.nan
    private var phases: [DoubleRing] = []

    /// Creates the detector.
    public init(period: Double = 86_400, days: Int = 7, minimumPhase: Double = 60) {
        self.period = period
        self.days = max(1, days)
        self.minimumPhase = max(minimumPhase, period / 1440)
    }

    /// `|value − median of its phase|` (0 until the sampling interval is known or without a time),
    /// then remembers `value` in its phase.
    public mutating func observe(_ value: Double, at time: Double) -> Double {
        abs(residual(value, at: time) ?? 0)
    }

    /// `value − median of its phase`, signed, then remembers `value` in its phase; `nil` while the
    /// sampling interval is not known, without a time, or when the phase has no value yet.
    public mutating func residual(_ value: Double, at time: Double) -> Double? {
        guard time.isFinite else { return nil }
        if phaseWidth.isNaN {
            if lastTime.isFinite, time > lastTime { intervals.append(time - lastTime) }
            lastTime = time
            guard intervals.count >= 16 else { return nil }
            intervals.sort()
            phaseWidth = max(intervals[intervals.count / 2], minimumPhase)
            let count = max(1, Int((period / phaseWidth).rounded(.up)))
            phases = Array(repeating: DoubleRing(capacity: days), count: count)
            intervals = []
        }
        // time mod period: exact for whole-second times and cheaper than fmod, which is the
        // fallback when that is off by a period or more (a time beyond 2⁵³, a fraction).
        var t = time - (time / period).rounded(.down) * period
        if !(t >= 0 && t < period) {
            t = time.truncatingRemainder(dividingBy: period)
            if t < 0 { t += period }
        }
        let phase = min(phases.count - 1, Int(t / phaseWidth))
        var residual: Double?
        let n = phases[phase].count
        if n > 0 {
            // The median of at most `days` values, sorted on the stack.
            let median = phases[phase].withUnorderedValues { held in
                if n == 7 { return Self.medianOfSeven(held) }
                return withUnsafeTemporaryAllocation(of: Double.self, capacity: n) { v in
                    for i in 0..<n {
                        let x = held[i]
                        var j = i
                        while j > 0 && v[j - 1] > x {
                            v[j] = v[j - 1]
                            j -= 1
                        }
                        v[j] = x
                    }
                    return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2])
                }
            }
            residual = value - median
        }
        phases[phase].append(value)
        return residual
    }

    /// The median of the first seven values (a week of one phase), by a selection network of 14
    /// compare-exchanges: no branch to mispredict, the same value a sort would put in the middle.
    @inline(__always)
    static func medianOfSeven(_ p: UnsafeBufferPointer<Double>) -> Double {
        var v = (p[0], p[1], p[2], p[3], p[4], p[5], p[6])
        @inline(__always) func exchange(_ a: inout Double, _ b: inout Double) {
            let low = b < a ? b : a
            b = b < a ? a : b
            a = low
        }
        exchange(&v.0, &v.6)
        exchange(&v.2, &v.3)
        exchange(&v.4, &v.5)
        exchange(&v.0, &v.2)
        exchange(&v.1, &v.4)
        exchange(&v.3, &v.6)
        exchange(&v.0, &v.1)
        exchange(&v.2, &v.5)
        exchange(&v.3, &v.4)
        exchange(&v.1, &v.2)
        exchange(&v.4, &v.6)
        exchange(&v.2, &v.3)
        exchange(&v.4, &v.5)
        exchange(&v.3, &v.4)
        return v.3
    }
}
