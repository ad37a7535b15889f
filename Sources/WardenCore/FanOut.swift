import Synchronization

/// In-process fan-out of values to any number of subscribers, each with its own bounded buffer.
///
/// `send` never blocks and never waits for a subscriber: when a subscriber's buffer is full the value
/// is dropped *for that subscriber only*, and the drop is counted (see ``stats()``). A slow reader
/// therefore cannot stall the publisher, and no drop goes unseen.
public final class FanOut<Element: Sendable>: Sendable {
    /// Counters of one subscriber.
    public struct SubscriberStats: Sendable, Hashable {
        public var name: String
        public var capacity: Int
        public var buffered: Int
        public var delivered: Int
        public var dropped: Int
    }

    fileprivate struct Subscriber {
        let name: String
        let capacity: Int
        let filter: (@Sendable (Element) -> Bool)?
        var buffer = RingBuffer<Element>()
        var waiter: CheckedContinuation<Void, Never>?
        var delivered = 0
        var dropped = 0
        var finished = false
    }

    fileprivate struct State {
        var subscribers: [UInt64: Subscriber] = [:]
        var nextID: UInt64 = 0
        var finished = false
        var totalDropped = 0
        var removedDropped = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Subscribes with a buffer of `capacity` values; `filter` (cheap, called on the sender's
    /// thread) selects what is buffered. Values sent before this call are not seen.
    public func subscribe(
        name: String,
        capacity: Int = 10_000,
        filter: (@Sendable (Element) -> Bool)? = nil
    ) -> FanOutSubscription<Element> {
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            s.subscribers[s.nextID] = Subscriber(name: name, capacity: Swift.max(1, capacity), filter: filter)
            return s.nextID
        }
        return FanOutSubscription(fanOut: self, id: id)
    }

    /// Delivers `value` to every subscriber whose filter accepts it. Never blocks.
    public func send(_ value: Element) {
        send { value }
    }

    /// Builds a value under the fan-out's lock and delivers it, so that values built by concurrent
    /// callers reach every subscriber in the order they were built. Returns the value.
    @discardableResult
    public func send(_ build: () -> Element) -> Element {
        var wake: [CheckedContinuation<Void, Never>] = []
        let value = state.withLock { s -> Element in
            let value = build()
            Self.deliver(CollectionOfOne(value), in: &s, waking: &wake)
            return value
        }
        for continuation in wake { continuation.resume() }
        return value
    }

    /// Delivers `values`, in order, to every subscriber whose filter accepts them, waking each
    /// reader once. Never blocks.
    public func send(contentsOf values: [Element]) {
        guard !values.isEmpty else { return }
        var wake: [CheckedContinuation<Void, Never>] = []
        state.withLock { s in Self.deliver(values, in: &s, waking: &wake) }
        for continuation in wake { continuation.resume() }
    }

    /// Buffers `values` for every subscriber (counting what a full buffer drops) and collects the
    /// readers to wake, under the lock.
    private static func deliver(
        _ values: some Collection<Element>,
        in s: inout State,
        waking wake: inout [CheckedContinuation<Void, Never>]
    ) {
        for key in s.subscribers.keys {
            if s.subscribers[key]!.finished { continue }
            for value in values {
                if let filter = s.subscribers[key]!.filter, !filter(value) { continue }
                if s.subscribers[key]!.buffer.count >= s.subscribers[key]!.capacity {
                    s.subscribers[key]!.dropped += 1
                    s.totalDropped += 1
                    continue
                }
                s.subscribers[key]!.buffer.append(value)
            }
            if !s.subscribers[key]!.buffer.isEmpty, let waiter = s.subscribers[key]!.waiter {
                s.subscribers[key]!.waiter = nil
                wake.append(waiter)
            }
        }
    }

    /// Ends every subscription: readers get what is buffered, then nil.
    public func finish() {
        let wake = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.finished = true
            var wake: [CheckedContinuation<Void, Never>] = []
            for key in s.subscribers.keys {
                if let w = s.subscribers[key]!.waiter {
                    wake.append(w)
                    s.subscribers[key]!.waiter = nil
                }
            }
            return wake
        }
        for continuation in wake { continuation.resume() }
    }

    /// Per-subscriber counters.
    public func stats() -> [SubscriberStats] {
        state.withLock { s in
            s.subscribers.values.map {
                SubscriberStats(
                    name: $0.name,
                    capacity: $0.capacity,
                    buffered: $0.buffer.count,
                    delivered: $0.delivered,
                    dropped: $0.dropped
                )
            }.sorted { $0.name < $1.name }
        }
    }

    /// Whether anyone is subscribed (publishers can skip building values nobody reads).
    public var hasSubscribers: Bool { state.withLock { !$0.subscribers.isEmpty } }

    /// Values dropped for any subscriber since the fan-out was created.
    public var totalDropped: Int { state.withLock { $0.totalDropped } }

    fileprivate func finish(_ id: UInt64) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.subscribers[id]?.finished = true
            let w = s.subscribers[id]?.waiter
            s.subscribers[id]?.waiter = nil
            return w
        }
        waiter?.resume()
    }

    fileprivate func unsubscribe(_ id: UInt64) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.subscribers.removeValue(forKey: id)?.waiter
        }
        waiter?.resume()
    }

    /// Takes up to `max` buffered values; waits for at least one. Returns [] when finished,
    /// unsubscribed or cancelled.
    fileprivate func take(_ id: UInt64, max: Int) async -> [Element] {
        while true {
            let (batch, done) = state.withLock { s -> ([Element], Bool) in
                guard s.subscribers[id] != nil else { return ([], true) }
                var batch: [Element] = []
                while batch.count < max, let v = s.subscribers[id]!.buffer.popFirst() { batch.append(v) }
                s.subscribers[id]!.delivered += batch.count
                return (batch, batch.isEmpty && (s.finished || s.subscribers[id]!.finished))
            }
            if !batch.isEmpty || done { return batch }
            if Task.isCancelled { return [] }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { s -> Bool in
                        guard s.subscribers[id] != nil, s.subscribers[id]!.buffer.isEmpty, !s.finished,
                            !s.subscribers[id]!.finished
                        else {
                            return true
                        }
                        s.subscribers[id]!.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
                    let w = s.subscribers[id]?.waiter
                    s.subscribers[id]?.waiter = nil
                    return w
                }
                waiter?.resume()
            }
            if Task.isCancelled { return [] }
        }
    }
}

/// One subscriber's view of a ``FanOut``: an `AsyncSequence` of the values sent after it subscribed.
///
/// The subscription ends when it is deallocated, when ``cancel()`` is called, or when the fan-out
/// finishes. Iterate it from one task at a time.
public final class FanOutSubscription<Element: Sendable>: AsyncSequence, Sendable {
    private let fanOut: FanOut<Element>
    private let id: UInt64

    fileprivate init(fanOut: FanOut<Element>, id: UInt64) {
        self.fanOut = fanOut
        self.id = id
    }

    deinit { fanOut.unsubscribe(id) }

    /// Stops receiving; a pending `next()` returns nil and buffered values are discarded.
    public func cancel() { fanOut.unsubscribe(id) }

    /// Stops receiving new values; what is already buffered is still returned, then nil.
    public func finish() { fanOut.finish(id) }

    /// Waits for the next value; nil when the subscription has ended.
    public func next() async -> Element? { await fanOut.take(id, max: 1).first }

    /// Waits for at least one value and returns up to `max` of them; [] when the subscription ended.
    public func nextBatch(max: Int) async -> [Element] { await fanOut.take(id, max: max) }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let subscription: FanOutSubscription<Element>
        public mutating func next() async -> Element? { await subscription.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(subscription: self) }
}
