import Foundation
import WardenCore

/// Assembles one vector per instant from the separate samples of a monitor's series.
///
/// Samples of different series whose times are within `tolerance` of each other belong to the same
/// vector. A vector is emitted as soon as every series has a value in it; vectors still missing a
/// value when a later one completes are filled with each series' value in the vector before (when
/// there is one) and emitted first, so output stays in time order. Memory is bounded: at most `maxPending`
/// incomplete vectors are kept.
public struct VectorAligner: Sendable {
    public let features: Int
    public let tolerance: Int64
    public let maxPending: Int
    private var pending: [(time: Int64, values: [Double?])] = []
    private var last: [Double?]
    private var emittedUpTo = Int64.min

    /// - Parameter tolerance: in microseconds.
    public init(features: Int, tolerance: Int64, maxPending: Int = 64) {
        self.features = features
        self.tolerance = max(0, tolerance)
        self.maxPending = maxPending
        last = Array(repeating: nil, count: features)
    }

    /// Adds the value of feature `feature` at `time` (µs); returns the vectors now complete.
    public mutating func add(feature: Int, time: Int64, value: Double) -> [(time: Int64, values: [Double])] {
        if emittedUpTo != .min, time + tolerance <= emittedUpTo { return [] }  // too late: that instant is gone
        if let i = pending.firstIndex(where: { abs($0.time - time) <= tolerance }) {
            pending[i].values[feature] = value
        } else {
            var values = [Double?](repeating: nil, count: features)
            values[feature] = value
            let at = pending.firstIndex { $0.time > time } ?? pending.count
            pending.insert((time, values), at: at)
        }
        var out: [(time: Int64, values: [Double])] = []
        guard
            let complete = pending.lastIndex(where: { $0.values.allSatisfy { $0 != nil } })
                ?? (pending.count > maxPending ? pending.count - maxPending - 1 : nil)
        else { return out }
        for entry in pending[...complete] {
            var filled: [Double] = []
            filled.reserveCapacity(features)
            for (k, v) in entry.values.enumerated() {
                guard let value = v ?? last[k] else { break }
                filled.append(value)
            }
            for (k, v) in entry.values.enumerated() where v != nil { last[k] = v }
            if filled.count == features { out.append((entry.time, filled)) }
        }
        emittedUpTo = max(emittedUpTo, pending[complete].time)
        pending.removeFirst(complete + 1)
        return out
    }
}
