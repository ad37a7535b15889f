import Foundation
import WardenCore

/// Warden's knowledge: everything it has seen and done, queryable.
///
/// `append` returns only when the events are durable (committed); concurrent appends are committed
/// together in one transaction. Implementations must be safe to call from any task.
public protocol Store: Sendable {
    /// Records events; returns once they are committed.
    func append(_ events: [Event]) async throws
    /// Events matching `query`, oldest first (newest first when the query asks).
    func events(matching query: EventQuery) async throws -> [Event]
    /// The highest event id recorded, or 0.
    func lastEventID() async throws -> Int64
    /// Deletes events older than `cutoff`; returns how many.
    func deleteEvents(before cutoff: Date) async throws -> Int
    /// Waits for pending writes and releases the database.
    func close() async throws
}
