/// The exact median of the last `capacity` values of a stream, for detectors that need only the
/// median of a long window.
///
/// Two heaps split the window at its median: a max-heap holds the smaller half and a min-heap the
/// larger, each value tagged with its slot in the ring of arrival. A new value takes over the heap
/// node of the value it evicts and sifts from there. If it crossed the median, the two tops trade
/// places, and one trade is always enough. Most values settle within a level or two, so an update
/// costs a few dozen nanoseconds whatever the window, where a sorted array (``SortedWindow``)
/// moves a third of the window's values on average. The median is O(1). Memory is 20 bytes per
/// value, allocated once.
///
/// The median is the same number ``SortedWindow/median`` gives: the middle value, or the mean of
/// the two middle ones for an even count. Equality and the encoded form depend only on the capacity
/// and the values in arrival order, the same form as ``SortedWindow``'s, so each decodes what the
/// other encoded.
public struct SlidingMedian: Sendable {
    private var heaps: MedianHeaps

    /// The largest capacity (a larger one is clamped to it).
    public static let maximumCapacity = 1 << 24

    /// Creates an empty window of at most `capacity` values (clamped to 1...``maximumCapacity``).
    public init(capacity: Int) {
        heaps = MedianHeaps(capacity: min(max(1, capacity), Self.maximumCapacity))
    }

    /// The number of values in the window.
    public var count: Int { heaps.count }

    /// The most values kept.
    public var capacity: Int { heaps.capacity }

    /// The value that the next ``append(_:)`` evicts when the window is full (the oldest).
    public var oldest: Double? {
        if heaps.count == 0 { return nil }
        return heaps.value(inSlot: heaps.count < heaps.capacity ? 0 : heaps.next)
    }

    /// The median (mean of the two middle values for an even count); 0 when empty.
    public var median: Double { heaps.median }

    /// Adds a value, evicting the oldest when full.
    public mutating func append(_ value: Double) {
        if !isKnownUniquelyReferenced(&heaps) { heaps = heaps.copy() }
        heaps.append(value)
    }

    /// The values in arrival order (for persistence).
    public var values: [Double] {
        let h = heaps
        if h.count < h.capacity { return (0..<h.count).map { h.value(inSlot: $0) } }
        return (0..<h.capacity).map { h.value(inSlot: (h.next + $0) % h.capacity) }
    }
}

extension SlidingMedian: Hashable {
    public static func == (a: SlidingMedian, b: SlidingMedian) -> Bool {
        a.capacity == b.capacity && a.values == b.values
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(capacity)
        hasher.combine(values)
    }
}

extension SlidingMedian: Codable {
    private enum CodingKeys: String, CodingKey { case capacity, values }

    /// Decodes `{capacity, values}`; a capacity outside 1...``maximumCapacity`` is an error rather
    /// than an allocation of whatever a damaged file says.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let capacity = try c.decode(Int.self, forKey: .capacity)
        guard (1...Self.maximumCapacity).contains(capacity) else {
            throw DecodingError.dataCorruptedError(
                forKey: .capacity,
                in: c,
                debugDescription: "capacity \(capacity) is outside 1...\(Self.maximumCapacity)"
            )
        }
        self.init(capacity: capacity)
        for v in try c.decode([Double].self, forKey: .values) { append(v) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(capacity, forKey: .capacity)
        try c.encode(values, forKey: .values)
    }
}

/// The storage of a ``SlidingMedian``: two heaps of (value, ring slot) entries, allocated once.
///
/// `position[slot]` is where the slot's value sits: index `i` of the lower (max) heap, or `~i` of
/// the upper (min) heap. Invariants: every value in the lower heap is at most every value in the
/// upper heap, and the lower heap holds as many values as the upper one or one more. Entries carry
/// their value so that sifting compares neighbouring memory rather than chasing slots.
private final class MedianHeaps: @unchecked Sendable {
    struct Entry {
        var value: Double
        var slot: Int32
    }

    let capacity: Int
    private(set) var count = 0
    /// The slot of the oldest value once the ring is full.
    private(set) var next = 0
    private var lowerCount = 0
    private var upperCount = 0
    private let lower: UnsafeMutablePointer<Entry>
    private let upper: UnsafeMutablePointer<Entry>
    private let position: UnsafeMutablePointer<Int32>

    init(capacity: Int) {
        self.capacity = capacity
        lower = .allocate(capacity: capacity / 2 + 1)
        upper = .allocate(capacity: capacity / 2 + 1)
        position = .allocate(capacity: capacity)
    }

    deinit {
        lower.deallocate()
        upper.deallocate()
        position.deallocate()
    }

    func copy() -> MedianHeaps {
        let c = MedianHeaps(capacity: capacity)
        c.count = count
        c.next = next
        c.lowerCount = lowerCount
        c.upperCount = upperCount
        c.lower.update(from: lower, count: lowerCount)
        c.upper.update(from: upper, count: upperCount)
        c.position.update(from: position, count: count)
        return c
    }

    /// The value in ring slot `slot` (which must hold one).
    func value(inSlot slot: Int) -> Double {
        let p = Int(position[slot])
        return p >= 0 ? lower[p].value : upper[~p].value
    }

    var median: Double {
        if count == 0 { return 0 }
        let low = lower[0].value
        return lowerCount > upperCount ? low : 0.5 * (low + upper[0].value)
    }

    func append(_ value: Double) {
        if count < capacity {
            let entry = Entry(value: value, slot: Int32(truncatingIfNeeded: count))
            count += 1
            push(entry, intoLower: lowerCount == 0 || value <= lower[0].value)
            if lowerCount > upperCount + 1 {
                push(popTop(lower: true), intoLower: false)
            } else if upperCount > lowerCount {
                push(popTop(lower: false), intoLower: true)
            }
            return
        }
        let slot = next
        next += 1
        if next == capacity { next = 0 }
        let p = Int(position[slot])
        if p >= 0 {
            let old = lower[p].value
            lower[p].value = value
            if value > old { siftUp(p, lower: true) } else { siftDown(p, lower: true) }
        } else {
            let old = upper[~p].value
            upper[~p].value = value
            if value < old { siftUp(~p, lower: false) } else { siftDown(~p, lower: false) }
        }
        // The new value may have crossed the median: then it is one of the tops, and trading them
        // restores the split.
        guard upperCount > 0, lower[0].value > upper[0].value else { return }
        let a = lower[0]
        place(upper[0], at: 0, lower: true)
        place(a, at: 0, lower: false)
        siftDown(0, lower: true)
        siftDown(0, lower: false)
    }

    /// Whether `x` belongs above `y` in the heap: larger in the lower heap, smaller in the upper.
    @inline(__always)
    private func above(_ x: Double, _ y: Double, lower isLower: Bool) -> Bool {
        isLower ? x > y : x < y
    }

    @inline(__always)
    private func place(_ entry: Entry, at i: Int, lower isLower: Bool) {
        if isLower {
            lower[i] = entry
            position[Int(entry.slot)] = Int32(truncatingIfNeeded: i)
        } else {
            upper[i] = entry
            position[Int(entry.slot)] = ~Int32(truncatingIfNeeded: i)
        }
    }

    private func push(_ entry: Entry, intoLower isLower: Bool) {
        let i: Int
        if isLower {
            i = lowerCount
            lowerCount += 1
        } else {
            i = upperCount
            upperCount += 1
        }
        place(entry, at: i, lower: isLower)
        siftUp(i, lower: isLower)
    }

    /// Removes the heap's top entry and returns it.
    private func popTop(lower isLower: Bool) -> Entry {
        let heap = isLower ? lower : upper
        let top = heap[0]
        let last: Int
        if isLower {
            lowerCount -= 1
            last = lowerCount
        } else {
            upperCount -= 1
            last = upperCount
        }
        if last > 0 {
            place(heap[last], at: 0, lower: isLower)
            siftDown(0, lower: isLower)
        }
        return top
    }

    /// Children per node: four children sit in one 64-byte line and halve the depth of a binary
    /// heap, so a value sinks through half the levels at the price of comparing siblings, which
    /// the processor does side by side.
    private static let arity = 4

    private func siftUp(_ start: Int, lower isLower: Bool) {
        let heap = isLower ? lower : upper
        let entry = heap[start]
        var i = start
        while i > 0 {
            let parent = (i &- 1) / Self.arity
            let p = heap[parent]
            guard above(entry.value, p.value, lower: isLower) else { break }
            place(p, at: i, lower: isLower)
            i = parent
        }
        if i != start { place(entry, at: i, lower: isLower) }
    }

    private func siftDown(_ start: Int, lower isLower: Bool) {
        let heap = isLower ? lower : upper
        let n = isLower ? lowerCount : upperCount
        let entry = heap[start]
        var i = start
        while true {
            let first = Self.arity &* i &+ 1
            if first >= n { break }
            // The child that belongs highest, chosen without branches on the values.
            var child = first
            var best = heap[first].value
            for k in 1..<min(Self.arity, n &- first) {
                let v = heap[first &+ k].value
                let better = above(v, best, lower: isLower)
                child = better ? first &+ k : child
                best = better ? v : best
            }
            guard above(best, entry.value, lower: isLower) else { break }
            place(heap[child], at: i, lower: isLower)
            i = child
        }
        if i != start { place(entry, at: i, lower: isLower) }
    }
}
