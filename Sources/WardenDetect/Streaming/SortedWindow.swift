/// The last `capacity` values of a stream, kept sorted: exact sliding median, quantiles and MAD.
///
/// Insertion and eviction are a binary search and one `memmove` each (O(W) bytes moved, fast for
/// windows of a few thousand); the median is O(1) and the median absolute deviation O(log² W),
/// computed on the sorted values without copying them.
public struct SortedWindow: Sendable, Hashable {
    private var ring: DoubleRing
    private var sorted: [Double]

    /// Creates an empty window of at most `capacity` values.
    public init(capacity: Int) {
        ring = DoubleRing(capacity: capacity)
        sorted = []
        sorted.reserveCapacity(ring.capacity)
    }

    /// The number of values in the window.
    public var count: Int { sorted.count }

    /// The most values kept.
    public var capacity: Int { ring.capacity }

    /// The value that the next ``append(_:)`` evicts when the window is full (the oldest).
    public var oldest: Double? { ring.oldest }

    /// Adds a value, evicting the oldest when full.
    public mutating func append(_ value: Double) {
        if let evicted = ring.append(value) {
            // min: with a NaN inside, the order is broken and the search could miss the value.
            let at = min(lowerBound(evicted), sorted.count - 1)
            let to = lowerBound(value)
            // Replace in place and slide the elements between the two positions by one.
            if to <= at {
                sorted.withUnsafeMutableBufferPointer { p in
                    let base = p.baseAddress!
                    (base + to + 1).update(from: base + to, count: at - to)
                    base[to] = value
                }
            } else {
                sorted.withUnsafeMutableBufferPointer { p in
                    let base = p.baseAddress!
                    (base + at).update(from: base + at + 1, count: to - 1 - at)
                    base[to - 1] = value
                }
            }
        } else {
            sorted.insert(value, at: lowerBound(value))
        }
    }

    private func lowerBound(_ value: Double) -> Int {
        var lo = 0
        var hi = sorted.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if sorted[mid] < value { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// The median (mean of the two middle values for an even count); 0 when empty.
    public var median: Double {
        let n = sorted.count
        if n == 0 { return 0 }
        return n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
    }

    /// The value at quantile `q` in [0, 1] (nearest rank); 0 when empty.
    public func quantile(_ q: Double) -> Double {
        let n = sorted.count
        if n == 0 { return 0 }
        let i = Int((q * Double(n - 1)).rounded())
        return sorted[min(n - 1, max(0, i))]
    }

    /// How many values in the window are at least `value`.
    public func count(atLeast value: Double) -> Int {
        sorted.count - lowerBound(value)
    }

    /// The smallest value; 0 when empty.
    public var minimum: Double { sorted.first ?? 0 }
    /// The largest value; 0 when empty.
    public var maximum: Double { sorted.last ?? 0 }

    /// The median absolute deviation from the median (not scaled to σ); 0 when empty.
    ///
    /// The distances below the median, read downwards, and those above it, read upwards, are two
    /// sorted sequences; the MAD is the median of their union, found by binary search.
    public var medianAbsoluteDeviation: Double {
        let n = sorted.count
        if n == 0 { return 0 }
        let m = median
        let split = lowerBound(m)  // sorted[..<split] < m <= sorted[split...]
        let below = split
        let above = n - split
        func belowAt(_ i: Int) -> Double { m - sorted[split - 1 - i] }
        func aboveAt(_ i: Int) -> Double { sorted[split + i] - m }
        /// The k-th smallest (0-based) of the union.
        func kth(_ k: Int) -> Double {
            // Binary search on how many come from the "below" sequence.
            var lo = max(0, k + 1 - above)
            var hi = min(k + 1, below)
            while lo < hi {
                let i = (lo + hi) / 2
                let j = k + 1 - i
                if j > 0, i < below, aboveAt(j - 1) > belowAt(i) { lo = i + 1 } else { hi = i }
            }
            let i = lo
            let j = k + 1 - i
            let a = i > 0 ? belowAt(i - 1) : -Double.infinity
            let b = j > 0 ? aboveAt(j - 1) : -Double.infinity
            return max(a, b)
        }
        return n % 2 == 1 ? kth(n / 2) : 0.5 * (kth(n / 2 - 1) + kth(n / 2))
    }

    /// The values in arrival order (for persistence).
    public var values: [Double] { ring.values }
}

extension SortedWindow: Codable {
    private enum CodingKeys: String, CodingKey { case capacity, values }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(capacity: try c.decode(Int.self, forKey: .capacity))
        for v in try c.decode([Double].self, forKey: .values) { append(v) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(capacity, forKey: .capacity)
        try c.encode(values, forKey: .values)
    }
}
