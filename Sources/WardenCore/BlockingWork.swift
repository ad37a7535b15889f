import Foundation

/// Runs `body`, which blocks (waits for a thread to end, on a semaphore, for a slow system call)
/// or computes for long, on a thread of its own, and awaits its result.
///
/// Swift's cooperative pool has as many threads as there are cores: one task that blocks one of
/// them for a second stalls every other task of the process (probes, timers, the API) for that
/// second on a 2-core machine. Everything in Warden that must wait synchronously goes through here.
public func blockingWork<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        thread.name = "warden-blocking"
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// ``blockingWork(_:)`` for work that cannot fail.
public func blockingWork<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.name = "warden-blocking"
        thread.stackSize = 8 << 20
        thread.start()
    }
}
