/// The maximum of the last `window` values of a stream, in O(1) amortised time per value.
///
/// A monotonic queue: it keeps only values that can still become the maximum (each smaller than
/// every value before it), in a ring that grows by doubling when it fills, so memory stays within
/// twice `window` entries and is usually a few dozen.
public struct SlidingMaximum: Sendable {
    /// How many of the latest values the maximum covers.
    public let window: Int
    /// The candidates, oldest (the maximum) at `front`; the ring's size is a power of two.
    private var ring: [Candidate]
    private var front = 0
    private var size = 0
    private var seen = 0

    struct Candidate: Hashable {
        var value: Double
        var position: Int
    }

    /// Creates an empty sliding maximum over the last `window` values (at least one).
    public init(window: Int) {
        self.window = max(1, window)
        ring = Array(repeating: Candidate(value: 0, position: 0), count: 16)
    }

    /// The number of values seen so far.
    public var count: Int { seen }

    /// The maximum of the last `window` values; nil before the first.
    public var maximum: Double? { size > 0 ? ring[front].value : nil }

    /// Adds a value.
    public mutating func append(_ value: Double) {
        if size == ring.count { grow() }
        let mask = ring.count - 1
        let expired = seen - window  // positions at or below this have left the window
        var front = self.front
        var size = self.size
        let position = seen
        ring.withUnsafeMutableBufferPointer { r in
            while size > 0, r[(front &+ size &- 1) & mask].value <= value { size -= 1 }
            r[(front &+ size) & mask] = Candidate(value: value, position: position)
            size += 1
            // One value leaves the window per value that enters: at most one candidate expires.
            if r[front].position <= expired {
                front = (front &+ 1) & mask
                size -= 1
            }
        }
        self.front = front
        self.size = size
        seen += 1
    }

    /// The candidates, oldest first.
    private var candidates: [Candidate] {
        let mask = ring.count - 1
        return (0..<size).map { ring[(front + $0) & mask] }
    }

    private mutating func grow() {
        let live = candidates
        ring = live + Array(repeating: Candidate(value: 0, position: 0), count: ring.count * 2 - live.count)
        front = 0
    }
}

extension SlidingMaximum: Hashable {
    public static func == (a: SlidingMaximum, b: SlidingMaximum) -> Bool {
        a.window == b.window && a.seen == b.seen && a.candidates == b.candidates
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(window)
        hasher.combine(seen)
        hasher.combine(candidates)
    }
}

extension SlidingMaximum: Codable {
    // The form a queue of two arrays used to be saved in: it still decodes.
    private enum CodingKeys: String, CodingKey { case window, positions, values, head, seen }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(window: try c.decode(Int.self, forKey: .window))
        let positions = try c.decode([Int].self, forKey: .positions)
        let values = try c.decode([Double].self, forKey: .values)
        let head = try c.decodeIfPresent(Int.self, forKey: .head) ?? 0
        seen = try c.decode(Int.self, forKey: .seen)
        guard positions.count == values.count, (0...positions.count).contains(head), seen >= 0 else {
            throw DecodingError.dataCorruptedError(
                forKey: .positions,
                in: c,
                debugDescription: "a sliding maximum needs as many positions as values and a head within them"
            )
        }
        var live = zip(positions[head...], values[head...]).map { Candidate(value: $1, position: $0) }
        // Only what the window can still hold: a damaged file cannot make the queue outgrow it.
        live = Array(live.suffix(window))
        var capacity = 16
        while capacity < live.count { capacity *= 2 }
        ring = live + Array(repeating: Candidate(value: 0, position: 0), count: capacity - live.count)
        size = live.count
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let live = candidates
        try c.encode(window, forKey: .window)
        try c.encode(live.map(\.position), forKey: .positions)
        try c.encode(live.map(\.value), forKey: .values)
        try c.encode(0, forKey: .head)
        try c.encode(seen, forKey: .seen)
    }
}
