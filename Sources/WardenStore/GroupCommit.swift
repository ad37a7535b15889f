import Dispatch
import Synchronization

/// Group commit: concurrent submitters are written together by one writer.
///
/// Each `submit` call waits until its items are part of a committed batch. While a batch is being
/// written, new submissions queue up and form the next batch, so a burst of N concurrent callers
/// costs a few transactions rather than N. The writer runs on its own serial queue, never on the
/// cooperative pool.
final class GroupCommit<Item: Sendable>: Sendable {
    private struct Pending {
        var items: [Item]
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var writing = false
        var closed = false
    }

    private let state = Mutex(State())
    private let queue: DispatchQueue
    private let maxBatch: Int
    private let write: @Sendable ([Item]) throws -> Void

    /// - Parameters:
    ///   - maxBatch: the most items written in one transaction (a single submission larger than
    ///     this still goes in one transaction).
    ///   - write: writes one batch in one transaction; called on the writer queue only.
    init(label: String, maxBatch: Int = 50_000, write: @escaping @Sendable ([Item]) throws -> Void) {
        self.queue = DispatchQueue(label: label)
        self.maxBatch = maxBatch
        self.write = write
    }

    /// Writes `items`; returns when they are committed, throws when the write failed.
    func submit(_ items: [Item]) async throws {
        if items.isEmpty { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let start = state.withLock { s -> Bool? in
                if s.closed { return nil }
                s.pending.append(Pending(items: items, continuation: continuation))
                if s.writing { return false }
                s.writing = true
                return true
            }
            switch start {
            case nil: continuation.resume(throwing: StoreClosedError())
            case true?: queue.async { self.drain() }
            case false?: break
            }
        }
    }

    /// Refuses new submissions and waits until everything submitted is written.
    func close() async {
        state.withLock { $0.closed = true }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            queue.async { c.resume() }
        }
        // A drain started before close may have queued more work behind it; wait for it too.
        while state.withLock({ $0.writing }) {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in queue.async { c.resume() } }
        }
    }

    private func drain() {
        while true {
            let batch = state.withLock { s -> [Pending] in
                var taken: [Pending] = []
                var count = 0
                while !s.pending.isEmpty, taken.isEmpty || count + s.pending[0].items.count <= maxBatch {
                    let p = s.pending.removeFirst()
                    count += p.items.count
                    taken.append(p)
                }
                if taken.isEmpty { s.writing = false }
                return taken
            }
            if batch.isEmpty { return }
            do {
                try write(batch.flatMap(\.items))
                for p in batch { p.continuation.resume() }
            } catch {
                for p in batch { p.continuation.resume(throwing: error) }
            }
        }
    }
}

/// Thrown by writes submitted after the store was closed.
public struct StoreClosedError: Error, CustomStringConvertible {
    public var description: String { "the store is closed" }
}
