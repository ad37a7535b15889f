/// A contextual detector in the family of CAD OSE: how much of what just happened has never
/// happened before.
///
/// Each value is quantised into one of `levels` levels of the range seen so far (expanding only,
/// so there is no look-ahead of the series' min or max). The detector remembers every sequence of
/// the last 1…`order`+1 levels it has seen (the current level with its left contexts); the novelty
/// of a sample is the fraction of those sequences that are new, and the raw score is its mean over
/// the last `smoothing` samples, in [0, 1].
///
/// Memory is a direct-mapped table of `1 << tableBits` sequences: a new sequence takes the slot of
/// an old one that hashes to the same place, so memory is bounded and the detector slowly forgets
/// rare sequences in very long streams. O(`order`) per value.
public struct ContextDetector: StreamingDetector, Hashable {
    /// Quantisation levels (at most 256).
    public let levels: Int
    /// Longest left context, in samples (at most 7).
    public let order: Int
    /// Samples averaged into the score.
    public let smoothing: Int
    /// log₂ of the table size.
    public let tableBits: Int
    private var low = Double.nan
    private var high = Double.nan
    private var history: UInt64 = 0
    private var historyLength = 0
    private var table: [UInt64]
    private var recent: DoubleRing
    private var recentSum = 0.0

    /// Creates the detector.
    public init(levels: Int = 16, order: Int = 6, smoothing: Int = 5, tableBits: Int = 16) {
        self.levels = min(max(2, levels), 256)
        self.order = min(max(0, order), 7)
        self.smoothing = max(1, smoothing)
        self.tableBits = min(max(8, tableBits), 24)
        table = Array(repeating: 0, count: 1 << self.tableBits)
        recent = DoubleRing(capacity: self.smoothing)
    }

    /// Quantises `value`, counts which of its left-context sequences are new, remembers them and
    /// returns the smoothed novelty in [0, 1].
    public mutating func observe(_ value: Double, at time: Double) -> Double {
        if value.isFinite {
            if low.isNaN {
                low = value
                high = value
            }
            low = min(low, value)
            high = max(high, value)
        }
        let level = quantised(value)
        history = (history << 8) | UInt64(level)
        historyLength = min(historyLength + 1, order + 1)
        var novel = 0
        for k in 1...historyLength {
            // The last k levels, tagged with k: a distinct 64-bit key per sequence.
            let mask: UInt64 = k == 8 ? .max : (1 << (8 * UInt64(k))) - 1
            let key = (history & mask) ^ (UInt64(k) << 61)
            let slot = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - tableBits))
            if table[slot] != key &+ 1 {
                table[slot] = key &+ 1
                novel += 1
            }
        }
        let novelty = Double(novel) / Double(order + 1)
        if let evicted = recent.append(novelty) { recentSum -= evicted }
        recentSum += novelty
        return max(0, recentSum / Double(recent.count))
    }

    /// The level of `value` in the range seen so far: 0 for a value below it or not a number, the
    /// top level for one above it. A range wider than the largest Double is measured in halves.
    private func quantised(_ value: Double) -> Int {
        let range = high - low
        guard range > 0 else { return 0 }
        let x: Double
        if range.isFinite {
            x = (value - low) / range * Double(levels)
        } else {
            x = (0.5 * value - 0.5 * low) / (0.5 * high - 0.5 * low) * Double(levels)
        }
        guard x >= 0 else { return 0 }  // also NaN
        return x < Double(levels - 1) ? Int(x) : levels - 1
    }

    /// The raw score is already in [0, 1].
    public func unitScore(_ raw: Double) -> Double { raw.isNaN ? 0 : min(max(raw, 0), 1) }
}
