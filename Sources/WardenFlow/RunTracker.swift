import Foundation
import WardenCore
import WardenStore

/// Now in microseconds since the epoch, for samples.
enum StoreMicros {
    static func now(_ clock: any WardenClock) -> Int64 {
        Int64((clock.wallTime().timeIntervalSince1970 * 1e6).rounded())
    }
}

/// A run's state, changed one change at a time and saved after each, the saves committed in
/// the order of the changes.
///
/// A change may go on without waiting for its save (`durable: false`); whoever is about to act
/// on the world waits for every earlier save first (``flush()``, or a durable change), so no
/// effect ever happens before the end of the steps it follows is stored. A save that failed
/// fails every later one, and the first durable change or flush after it throws.
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

    func update(durable: Bool = true, _ change: @Sendable (inout RunState) -> Void) async throws {
        change(&state)
        state.updated = clock.wallTime()
        let (record, previous, store) = (state.record, lastSave, store)
        let save = Task {
            if case .failure(let error) = await previous?.result { throw error }
            try await store.saveRun(record)
        }
        lastSave = save
        guard durable else { return }
        try await save.value
    }

    /// Returns once every change so far is saved; throws when a save failed.
    func flush() async throws {
        try await lastSave?.value
    }

    /// Ends the run (one save), unless the change that settled its last step already did;
    /// returns once it is saved.
    func finish(_ status: RunState.Status, error: String?) async throws -> RunState {
        if state.finished != nil, state.status == status, state.error == error {
            try await flush()
            return state
        }
        let now = clock.wallTime()
        try await update { $0.end(status, error: error, at: now) }
        return state
    }
}
