import Foundation
import WardenCore
import WardenStore

/// Now in microseconds since the epoch, for samples.
enum StoreMicros {
    static func now(_ clock: any WardenClock) -> Int64 {
        Int64((clock.wallTime().timeIntervalSince1970 * 1e6).rounded())
    }
}

/// A run's state, changed one change at a time and saved after each.
actor RunTracker {
    private(set) var state: RunState
    let store: any RunStore
    let clock: any WardenClock

    init(_ state: RunState, store: any RunStore, clock: any WardenClock) {
        self.state = state
        self.store = store
        self.clock = clock
    }

    /// The save in flight: saves are chained so that they commit in the order of the changes.
    private var lastSave: Task<Void, any Error>?

    func update(_ change: @Sendable (inout RunState) -> Void) async throws {
        change(&state)
        state.updated = clock.wallTime()
        let (record, previous, store) = (state.record, lastSave, store)
        let save = Task {
            _ = await previous?.result
            try await store.saveRun(record)
        }
        lastSave = save
        try await save.value
    }

    /// Ends the run (one save), unless the change that settled its last step already did.
    func finish(_ status: RunState.Status, error: String?) async throws -> RunState {
        if state.finished != nil, state.status == status, state.error == error { return state }
        let now = clock.wallTime()
        try await update { $0.end(status, error: error, at: now) }
        return state
    }
}
