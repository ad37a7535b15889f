import Foundation
import WardenCore

/// A change made to NAB's series before a detector sees them, to ask how a detector tuned on the
/// clean series does on series of a kind it has not met: a drift, normal bursts, coarse readings.
///
/// Machine telemetry differs from NAB's development series in exactly such ways: a counter or a
/// memory footprint drifts, a busy host has isolated bursts that are part of its normal life, a
/// CPU share or a count has few distinct values. Each stress is sized by the series' own
/// interquartile range (IQR), so it is equally strong on every series whatever its units. The labels
/// are not moved: a stressed series keeps its anomalies where they were.
///
/// The stress looks at the whole series to size itself; the detector still sees one value at a
/// time.
public enum NABStress: Sendable, Hashable, CustomStringConvertible {
    /// A straight ramp from 0 at the first row to `iqrs` IQRs at the last, added to every value.
    case trend(iqrs: Double)
    /// About one row in `every`, chosen at random (seeded), gets a burst added: a Pareto-distributed
    /// size (shape 2.5, at least one IQR), up or down with equal chance.
    case bursts(every: Int, seed: UInt64)
    /// Every value rounded to a multiple of IQR / `steps`.
    case quantised(steps: Int)

    /// The ten stresses `warden nab run --stress` applies: ramps of ±1 and ±2 IQRs, bursts every
    /// 150 and every 500 rows (two seeds each), values rounded to a quarter and to half an IQR.
    public static let standard: [NABStress] = [
        .trend(iqrs: 1), .trend(iqrs: -1), .trend(iqrs: 2), .trend(iqrs: -2),
        .bursts(every: 150, seed: 1), .bursts(every: 150, seed: 2),
        .bursts(every: 500, seed: 1), .bursts(every: 500, seed: 2),
        .quantised(steps: 4), .quantised(steps: 2),
    ]

    public var description: String {
        switch self {
        case .trend(let iqrs): "trend \(iqrs >= 0 ? "+" : "")\(NABReport.fixed(iqrs, 0)) IQR"
        case .bursts(let every, let seed): "bursts 1/\(every) seed \(seed)"
        case .quantised(let steps): "quantised IQR/\(steps)"
        }
    }

    /// The series with this stress applied to its values (times and name unchanged); every value
    /// stays finite.
    public func apply(to series: NABSeries) -> NABSeries {
        var out = series
        let n = series.values.count
        guard n > 0 else { return out }
        let iqr = Self.interquartileRange(series.values)
        switch self {
        case .trend(let iqrs):
            let step = n > 1 ? iqrs * iqr / Double(n - 1) : 0
            for i in 0..<n { out.values[i] += step * Double(i) }
        case .bursts(let every, let seed):
            var rng = SplitMix64(seed: seed &+ Self.hash(series.name))
            let rate = 1 / Double(max(1, every))
            for i in 0..<n {
                let u = rng.nextUnit()
                let size = iqr * pow(1 - rng.nextUnit(), -1 / 2.5)
                let up = rng.nextUnit() < 0.5
                if u < rate { out.values[i] += up ? size : -size }
            }
        case .quantised(let steps):
            let quantum = iqr / Double(max(1, steps))
            guard quantum > 0 else { return out }
            for i in 0..<n { out.values[i] = (series.values[i] / quantum).rounded() * quantum }
        }
        // Values near the largest finite ones can overflow (an IQR of infinity, a ramp past the
        // range): such a value is left as it was rather than handed to a detector as ±∞ or NaN.
        for i in 0..<n where !out.values[i].isFinite { out.values[i] = series.values[i] }
        return out
    }

    /// The distance between the 25th and 75th percentiles (linear interpolation between ranks);
    /// the full range when that is 0, 1 when the series is constant.
    static func interquartileRange(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        func quantile(_ q: Double) -> Double {
            let position = q * Double(sorted.count - 1)
            let low = Int(position)
            let high = min(low + 1, sorted.count - 1)
            return sorted[low] + (sorted[high] - sorted[low]) * (position - Double(low))
        }
        let iqr = quantile(0.75) - quantile(0.25)
        if iqr > 0 { return iqr }
        let range = (sorted.last ?? 0) - (sorted.first ?? 0)
        return range > 0 ? range : 1
    }

    /// FNV-1a of the name: each series gets its own bursts, the same on every run.
    static func hash(_ name: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return h
    }
}
