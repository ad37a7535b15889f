import Synchronization

/// At most `limit` holders at once; the others wait their turn in order. A waiter that is
/// cancelled leaves the line (and throws `CancellationError`).
public final class AsyncLimiter: Sendable {
    private struct State {
        var inUse = 0
        var next = 0
        var waiting: [(id: Int, continuation: CheckedContinuation<Void, any Error>)] = []
        var cancelled: Set<Int> = []
    }
    public let limit: Int
    private let state = Mutex(State())

    public init(limit: Int) { self.limit = max(1, limit) }

    /// Holders now, and waiters.
    public var load: (inUse: Int, waiting: Int) { state.withLock { ($0.inUse, $0.waiting.count) } }

    /// Runs `body` once a place is free.
    public func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await body()
    }

    /// Waits for a place and takes it; ``release()`` gives it back.
    public func acquire() async throws {
        let id = state.withLock { s -> Int? in
            if s.inUse < limit {
                s.inUse += 1
                return nil
            }
            s.next += 1
            return s.next
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let cancelled = state.withLock { s -> Bool in
                    if s.cancelled.remove(id) != nil { return true }
                    s.waiting.append((id, c))
                    return false
                }
                if cancelled { c.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            let c = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                if let i = s.waiting.firstIndex(where: { $0.id == id }) { return s.waiting.remove(at: i).continuation }
                s.cancelled.insert(id)
                return nil
            }
            c?.resume(throwing: CancellationError())
        }
        state.withLock { _ = $0.cancelled.remove(id) }
    }

    /// Takes a place if one is free now and nobody waits for one; ``release()`` gives it back.
    public func tryAcquire() -> Bool {
        state.withLock { s in
            guard s.inUse < limit, s.waiting.isEmpty else { return false }
            s.inUse += 1
            return true
        }
    }

    /// Gives back a place taken by ``acquire()`` or ``tryAcquire()``.
    public func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            if s.waiting.isEmpty {
                s.inUse -= 1
                return nil
            }
            return s.waiting.removeFirst().continuation  // the place passes on
        }
        next?.resume()
    }
}
