import Foundation
import Hummingbird
import NIOCore
import Synchronization
import WardenCore

extension APIServer {
    /// Runs `operation` for a request and cancels it when the client's connection closes or when
    /// `timeout` has passed, whichever comes first: an abandoned or runaway query stops using the
    /// database (GRDB interrupts the running statement on cancellation).
    ///
    /// - Throws: `APIError` 503 (`query_timeout`) when the time ran out, `CancellationError` when
    ///   the client went away, or what `operation` threw.
    func bounded<T: Sendable>(
        _ context: APIContext,
        timeout: Duration,
        _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let state = Box()
        let work = Task {
            defer { state.finished.store(true, ordering: .releasing) }
            return try await operation()
        }
        context.channel.closeFuture.whenComplete { _ in
            guard !state.finished.load(ordering: .acquiring) else { return }
            state.abandoned.store(true, ordering: .relaxed)
            work.cancel()
        }
        let timer = Task {
            try await SystemClock().sleep(for: timeout)
            state.timedOut.store(true, ordering: .relaxed)
            work.cancel()
        }
        defer { timer.cancel() }
        do {
            return try await work.valueCancellingWithCaller()
        } catch {
            if state.timedOut.load(ordering: .relaxed) {
                metrics.queriesTimedOut.increment()
                throw APIError(
                    .serviceUnavailable,
                    "query_timeout",
                    "the query took longer than \(DurationFormat.format(timeout)) (api.query_timeout); narrow the range, raise the step or filter by label"
                )
            }
            if state.abandoned.load(ordering: .relaxed), error is CancellationError {
                // Counted only when the work really stopped on the cancellation.
                metrics.queriesAbandoned.increment()
            }
            throw error
        }
    }
}

/// Whether a bounded operation has finished (read by the connection's close callback), ran out of
/// time, or lost its client.
private final class Box: Sendable {
    let finished = Atomic(false)
    let timedOut = Atomic(false)
    let abandoned = Atomic(false)
}
