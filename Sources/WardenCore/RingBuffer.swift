/// A growable first-in first-out queue with O(1) push and pop.
public struct RingBuffer<Element> {
    private var storage: [Element?]
    private var head = 0
    public private(set) var count = 0

    public init(initialCapacity: Int = 16) {
        storage = Array(repeating: nil, count: Swift.max(1, initialCapacity))
    }

    public var isEmpty: Bool { count == 0 }

    /// Appends at the tail.
    public mutating func append(_ element: Element) {
        if count == storage.count { grow() }
        storage[(head + count) % storage.count] = element
        count += 1
    }

    /// Removes and returns the head, or nil when empty.
    public mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head]
        storage[head] = nil
        head = (head + 1) % storage.count
        count -= 1
        return element
    }

    /// The head without removing it.
    public var first: Element? { count > 0 ? storage[head] : nil }

    /// Removes everything.
    public mutating func removeAll() {
        while popFirst() != nil {}
    }

    private mutating func grow() {
        var bigger = [Element?](repeating: nil, count: storage.count * 2)
        for i in 0..<count { bigger[i] = storage[(head + i) % storage.count] }
        storage = bigger
        head = 0
    }
}

extension RingBuffer: Sendable where Element: Sendable {}
