import Foundation
import Synchronization
import WardenCore

/// A clock that moves only when told to; for tests of timing logic.
///
/// Sleepers wake when ``advance(by:)`` or ``advance(to:)`` moves time past their deadline.
public final class ManualClock: WardenClock {
    private struct Sleeper {
        let id: UInt64
        let deadline: Instant
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Instant
        var wall: Date
        var nextID: UInt64 = 0
        var sleepers: [Sleeper] = []
    }

    private let state: Mutex<State>

    /// Creates a clock at `start`, whose wall time starts at `wall`.
    public init(start: Instant = Instant(nanoseconds: 0), wall: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        state = Mutex(State(now: start, wall: wall))
    }

    public func now() -> Instant { state.withLock { $0.now } }

    public func wallTime() -> Date { state.withLock { $0.wall } }

    /// The number of tasks currently sleeping on this clock.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// The earliest deadline of a sleeper, or nil when no one sleeps.
    public var nextDeadline: Instant? { state.withLock { $0.sleepers.map(\.deadline).min() } }

    /// Moves time forward by `duration`, waking every sleeper whose deadline has passed.
    public func advance(by duration: Duration) {
        let due: [Sleeper] = state.withLock { s in
            s.now = s.now + duration
            s.wall = s.wall.addingTimeInterval(duration.seconds)
            let now = s.now
            let due = s.sleepers.filter { $0.deadline <= now }
            s.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Moves time forward to `instant` (no-op when it is in the past).
    public func advance(to instant: Instant) {
        let delta = instant - now()
        if delta > .zero { advance(by: delta) }
    }

    public func sleep(until deadline: Instant) async throws {
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow = state.withLock { s -> Bool in
                    if deadline <= s.now || Task.isCancelled { return true }
                    s.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let cancelled = state.withLock { s -> Sleeper? in
                guard let index = s.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.sleepers.remove(at: index)
            }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }
}
