import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Sleeps on one thread of its own instead of libdispatch's timers.
///
/// The sleepers' deadlines sit in one table and a single thread waits for the earliest with a
/// timed wait on CLOCK_MONOTONIC: it wakes when a sleeper is due or when an earlier one arrives,
/// and a cancelled sleep is removed from the table at once, so nothing of it fires later. (What
/// still wakes an idle Warden once a second is libdispatch's own workqueue monitor, a 1 s timer
/// it starts with its first worker thread on Linux; this does not remove that.)
///
/// Cancelling the sleeping task ends its sleep at once with `CancellationError`. Deadlines are on
/// CLOCK_MONOTONIC, in nanoseconds (as ``SystemClock/now()``).
// @unchecked Sendable: the state is behind a Mutex; the condition variable and its mutex are
// heap-allocated once, never moved, and used only through pthread calls.
public final class Sleeper: @unchecked Sendable {
    /// The process's sleeper (its thread starts on first use).
    public static let shared = Sleeper()

    private struct Entry {
        var deadline: Int64
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        /// Ids cancelled before their entry was made.
        var cancelled: Set<UInt64> = []
        var nextID: UInt64 = 0
        /// The deadline the thread waits for (`.max`: none).
        var armed: Int64 = .max
        var started = false
    }

    private let state = Mutex(State())
    /// The thread's wake-up: a flag under a mutex, and a condition variable on CLOCK_MONOTONIC (a
    /// wall-clock jump must not stretch a sleep).
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let signalled = UnsafeMutablePointer<Bool>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(lock, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
        signalled.initialize(to: false)
    }

    /// Only a sleeper made for a test ends: its thread holds it while it runs.
    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(lock)
        condition.deallocate()
        lock.deallocate()
        signalled.deallocate()
    }

    private func signal() {
        pthread_mutex_lock(lock)
        signalled.pointee = true
        pthread_cond_signal(condition)
        pthread_mutex_unlock(lock)
    }

    /// Waits until signalled or until `deadline` (CLOCK_MONOTONIC ns; `.max`: no limit).
    private func wait(until deadline: Int64) {
        pthread_mutex_lock(lock)
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        while !signalled.pointee {
            if deadline == .max {
                pthread_cond_wait(condition, lock)
            } else if pthread_cond_timedwait(condition, lock, &ts) == ETIMEDOUT {
                break
            }
        }
        signalled.pointee = false
        pthread_mutex_unlock(lock)
    }

    /// How many sleeps are pending.
    public var pending: Int { state.withLock { $0.entries.count } }

    /// Returns at `deadline` (CLOCK_MONOTONIC nanoseconds), or throws `CancellationError` as soon
    /// as the task is cancelled.
    public func sleep(until deadline: Int64) async throws {
        try Task.checkCancellation()
        if deadline <= Self.monotonicNow() { return }
        let id = state.withLock { s -> UInt64 in
            s.nextID &+= 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                enum Outcome {
                    case cancelled
                    case waiting(earlier: Bool, start: Bool)
                }
                let outcome = state.withLock { s -> Outcome in
                    if s.cancelled.remove(id) != nil { return .cancelled }
                    s.entries[id] = Entry(deadline: deadline, continuation: c)
                    let start = !s.started
                    s.started = true
                    return .waiting(earlier: deadline < s.armed, start: start)
                }
                switch outcome {
                case .cancelled:
                    c.resume(throwing: CancellationError())
                case .waiting(let earlier, let start):
                    if start { startThread() } else if earlier { signal() }
                }
            }
        } onCancel: {
            let c = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                if let entry = s.entries.removeValue(forKey: id) { return entry.continuation }
                s.cancelled.insert(id)
                return nil
            }
            c?.resume(throwing: CancellationError())
        }
    }

    private func startThread() {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setstacksize(&attributes, 128 * 1024)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        defer { pthread_attr_destroy(&attributes) }
        let box = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread,
            &attributes,
            { raw in
                let sleeper = Unmanaged<Sleeper>.fromOpaque(raw!).takeRetainedValue()
                sleeper.run()
                return nil
            },
            box
        )
        precondition(rc == 0, "cannot start the sleeper thread (\(rc))")
    }

    private func run() {
        while true {
            let now = Self.monotonicNow()
            let (due, next) = state.withLock { s -> ([Entry], Int64) in
                var due: [Entry] = []
                var next = Int64.max
                for (id, entry) in s.entries {
                    if entry.deadline <= now {
                        due.append(entry)
                        s.entries[id] = nil
                    } else {
                        next = min(next, entry.deadline)
                    }
                }
                s.armed = next
                return (due, next)
            }
            // Earliest deadline first, when several came due together.
            for entry in due.sorted(by: { $0.deadline < $1.deadline }) { entry.continuation.resume() }
            wait(until: next)
        }
    }

    static func monotonicNow() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
