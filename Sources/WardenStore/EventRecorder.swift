import Logging
import ServiceLifecycle
import Synchronization
import WardenCore

/// Writes every event published on the bus to the store, in batches.
///
/// It subscribes when created, so no event published after `init` is missed. Its buffer is large
/// (a bus drop is counted and reported as `bus.dropped`, which is itself recorded). On graceful
/// shutdown it writes what is buffered and stops.
public final class EventRecorder: Service {
    private let store: any Store
    private let subscription: FanOutSubscription<Event>
    private let logger: Logger
    private let progress = Mutex(Progress())

    private struct Progress {
        var committed: Int64 = 0
        var waiters: [(Int64, CheckedContinuation<Void, Never>)] = []
    }

    public init(bus: EventBus, store: any Store, logger: Logger, capacity: Int = 200_000) {
        self.store = store
        self.logger = logger
        self.subscription = bus.subscribe(name: "recorder", capacity: capacity)
        let start = bus.lastID
        progress.withLock { $0.committed = start }
    }

    /// The highest event id known to be in the store (or that will never be, having been dropped).
    public var committedID: Int64 { progress.withLock { $0.committed } }

    /// Waits until every event up to `id` has been written (or given up on), at most `timeout`.
    /// Readers that combine stored history with the live bus use it to leave no gap.
    public func waitUntilCommitted(_ id: Int64, timeout: Duration = .seconds(5)) async {
        if committedID >= id { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { c in
                    let ready = self.progress.withLock { p -> Bool in
                        if p.committed >= id { return true }
                        p.waiters.append((id, c))
                        return false
                    }
                    if ready { c.resume() }
                }
            }
            group.addTask { try? await SystemClock().sleep(for: timeout) }
            await group.next()
            group.cancelAll()
            // The waiter (if still parked) is released by the next commit; release it now instead.
            self.release(upTo: .max, onlyTimedOut: id)
        }
    }

    private func release(upTo committed: Int64, onlyTimedOut: Int64? = nil) {
        let ready = progress.withLock { p -> [CheckedContinuation<Void, Never>] in
            if onlyTimedOut == nil { p.committed = max(p.committed, committed) }
            var ready: [CheckedContinuation<Void, Never>] = []
            p.waiters.removeAll { waiter in
                let due = onlyTimedOut.map { waiter.0 == $0 } ?? (waiter.0 <= p.committed)
                if due { ready.append(waiter.1) }
                return due
            }
            return ready
        }
        for c in ready { c.resume() }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            while true {
                let batch = await subscription.nextBatch(max: 5_000)
                if batch.isEmpty { return }
                await write(batch)
            }
        } onGracefulShutdown: {
            // Run this service first in a ServiceGroup so that it shuts down last: everything the
            // other services published while stopping is buffered by then and still written.
            self.subscription.finish()
        }
    }

    private func write(_ batch: [Event]) async {
        var attempt = 0
        while true {
            do {
                try await store.append(batch)
                release(upTo: batch.last?.id ?? 0)
                return
            } catch {
                attempt += 1
                logger.error(
                    "cannot record events",
                    metadata: [
                        "warden.error": "\(error)", "warden.events": "\(batch.count)", "warden.attempt": "\(attempt)",
                    ]
                )
                if attempt >= 5 {
                    // Given up on: readers must not wait for these any longer.
                    release(upTo: batch.last?.id ?? 0)
                    return
                }
                try? await SystemClock().sleep(for: .milliseconds(100 * attempt))
            }
        }
    }
}
