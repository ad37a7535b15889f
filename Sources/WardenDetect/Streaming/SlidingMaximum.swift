/// The maximum of the last `window` values of a stream, in O(1) amortised time per value.
///
/// A monotonic queue: it keeps only values that can still become the maximum (each smaller than
/// every value before it), so memory stays within `window` entries.
public struct SlidingMaximum: Sendable, Hashable, Codable {
    /// How many of the latest values the maximum covers.
    public let window: Int
    private var positions: [Int]
    private var values: [Double]
    private var head = 0
    private var seen = 0

    /// Creates an empty sliding maximum over the last `window` values (at least one).
    public init(window: Int) {
        self.window = max(1, window)
        positions = []
        values = []
    }

    /// The number of values seen so far.
    public var count: Int { seen }

    /// The maximum of the last `window` values; nil before the first.
    public var maximum: Double? { head < values.count ? values[head] : nil }

    /// Adds a value.
    public mutating func append(_ value: Double) {
        while values.count > head, values[values.count - 1] <= value {
            values.removeLast()
            positions.removeLast()
        }
        values.append(value)
        positions.append(seen)
        seen += 1
        while positions[head] <= seen - 1 - window { head += 1 }
        // Compact the consumed prefix now and then so the arrays stay within the window.
        if head > 64 && head * 2 > values.count {
            values.removeFirst(head)
            positions.removeFirst(head)
            head = 0
        }
    }
}
