/// A fixed-capacity ring of the most recent values; appending to a full ring drops the oldest.
///
/// The building block of every windowed detector: bounded memory, O(1) append, values in arrival
/// order for persistence.
public struct DoubleRing: Sendable, Hashable, Codable {
    /// The most values kept.
    public let capacity: Int
    private var storage: [Double]
    private var head = 0
    /// How many values it holds.
    public private(set) var count = 0

    /// Creates an empty ring that keeps at most `capacity` values (at least one).
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        storage = []
        storage.reserveCapacity(self.capacity)
    }

    /// Whether it holds `capacity` values.
    public var isFull: Bool { count == capacity }

    /// The oldest value (nil when empty).
    public var oldest: Double? { count == 0 ? nil : self[0] }

    /// Value `i` in arrival order (0 is the oldest).
    public subscript(i: Int) -> Double {
        storage[(head + i) % capacity]
    }

    /// Appends a value and returns the one it evicted, if the ring was full.
    @discardableResult
    public mutating func append(_ value: Double) -> Double? {
        if storage.count < capacity {
            storage.append(value)
            count += 1
            return nil
        }
        let evicted = storage[head]
        storage[head] = value
        head += 1
        if head == capacity { head = 0 }
        return evicted
    }

    /// Calls `body` with the values held in storage order, which is not arrival order: for summaries
    /// that do not depend on order (a median, a sum) without the ring's index arithmetic.
    public func withUnorderedValues<R>(_ body: (UnsafeBufferPointer<Double>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer(body)
    }

    /// The values in arrival order.
    public var values: [Double] { (0..<count).map { self[$0] } }
}
