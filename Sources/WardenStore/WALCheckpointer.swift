import Foundation
internal import GRDBSQLite
import Synchronization
import WardenCore

/// Checkpoints the WAL from a connection of its own, off the writer's path.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses the threshold, so that
/// commit also waits for the copy and the fsyncs. Here a background thread runs passive
/// checkpoints every `interval` instead: they never block the writer or readers, and the writer
/// starts the WAL over once everything in it has been copied. The writer keeps a large
/// automatic threshold only as a safety net. While nothing is written the pause doubles, up to
/// 4 s (an idle Warden should not wake four times a second for nothing); the first checkpoint
/// that finds new frames brings it back to `interval`.
final class WALCheckpointer: Sendable {
    private struct State {
        var running = true
    }

    private let state = Mutex(State())
    private let done = DispatchSemaphore(value: 0)
    private let wake = DispatchSemaphore(value: 0)

    /// Opens its own connection to `path`; returns nil when it cannot (the store then relies on
    /// automatic checkpoints).
    init?(path: String, interval: Duration = .milliseconds(250)) {
        var handle: OpaquePointer?
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK,
            let db = handle
        else {
            sqlite3_close(handle)
            return nil
        }
        sqlite3_busy_timeout(db, 1000)
        let connection = UncheckedConnection(db)
        let thread = Thread { [self] in
            let busy = Int(max(1000, interval.nanoseconds / 1000))
            let idle = max(busy, 4_000_000)
            var pause = busy
            var lastFrames: Int32 = -1
            while state.withLock({ $0.running }) {
                // Sleeps the pause, or less when stop() wakes it.
                _ = wake.wait(timeout: .now() + .microseconds(pause))
                if !state.withLock({ $0.running }) { break }
                var logFrames: Int32 = 0
                var checkpointed: Int32 = 0
                sqlite3_wal_checkpoint_v2(connection.db, nil, SQLITE_CHECKPOINT_PASSIVE, &logFrames, &checkpointed)
                pause = logFrames == lastFrames ? min(idle, pause * 2) : busy
                lastFrames = logFrames
            }
            sqlite3_close(connection.db)
            done.signal()
        }
        thread.name = "warden-checkpoint"
        thread.stackSize = 256 * 1024
        thread.start()
    }

    /// Stops the thread and waits (on a thread of its own, not the caller's) until it has closed
    /// its connection.
    func stop() async {
        let wasRunning = state.withLock { s -> Bool in
            defer { s.running = false }
            return s.running
        }
        guard wasRunning else { return }
        wake.signal()
        let done = self.done
        await blockingWork { done.wait() }
    }
}

/// A SQLite connection used by exactly one thread (the checkpointer's).
// @unchecked Sendable: the pointer is handed to the checkpoint thread once and used only there.
private final class UncheckedConnection: @unchecked Sendable {
    let db: OpaquePointer
    init(_ db: OpaquePointer) { self.db = db }
}
