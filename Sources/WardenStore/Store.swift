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
    /// Deletes events older than `cutoff` whose id is at most `upTo` (all when nil), except, when
    /// `sparingRecords`, those of the kinds in ``RecordKinds`` (incidents, bans, audit); returns how
    /// many. (A node of a fleet keeps what the control plane has not acknowledged.)
    func deleteEvents(before cutoff: Date, upTo: Int64?, sparingRecords: Bool) async throws -> Int
    /// Records telemetry; returns once it is committed. Series are created as they first appear.
    func appendSamples(_ batch: SampleBatch) async throws
    /// Which of `keys` may be written when the store may hold at most `limit` series: a stored
    /// series always; a new one while there is room, and it is then reserved (counted) until it is
    /// written. One flag per key. Ingest asks this before ``appendSamples(_:)``.
    func admitSeries(_ keys: [SeriesKey], limit: Int) async -> [Bool]
    /// How many series are stored or reserved.
    func seriesCount() async -> Int
    /// Known series whose name starts with `prefix` (all when nil), with their latest value.
    func series(prefix: String?, limit: Int) async throws -> [SeriesInfo]
    /// Min/max/avg/last per step for every series matching the query, from raw samples where they
    /// are still kept and from 1-minute rollups before that. Throws ``SeriesQueryLimit`` when more
    /// than `query.maxSeries` series match; a cancelled task stops the query (and its SQL).
    func query(_ query: SeriesQuery) async throws -> [SeriesResult]
    /// Rolls raw samples up into 1-minute buckets up to `upTo`, and whole hours of those into
    /// 1-hour buckets, then deletes raw samples older than `rawBefore`, 1-minute rollups older
    /// than `rollupsBefore`, 1-hour rollups older than `hoursBefore`, and series left with none.
    func rollUp(upTo: Date, rawBefore: Date, rollupsBefore: Date, hoursBefore: Date) async throws -> RollupReport
    /// Waits for pending writes and releases the database.
    func close() async throws
}

extension Store {
    /// Deletes every event older than `cutoff`; returns how many.
    public func deleteEvents(before cutoff: Date) async throws -> Int {
        try await deleteEvents(before: cutoff, upTo: nil, sparingRecords: false)
    }

    public func deleteEvents(before cutoff: Date, upTo: Int64?) async throws -> Int {
        try await deleteEvents(before: cutoff, upTo: upTo, sparingRecords: false)
    }
}

/// The event kinds that are records, never telemetry: a full fleet outbox drops other events
/// first and these never (their type's first word).
public enum RecordKinds {
    public static let all = ["incident", "ban", "audit", "silence"]
}

extension Store {
    /// ``rollUp(upTo:rawBefore:rollupsBefore:hoursBefore:)`` keeping both rollups alike.
    public func rollUp(upTo: Date, rawBefore: Date, rollupsBefore: Date) async throws -> RollupReport {
        try await rollUp(upTo: upTo, rawBefore: rawBefore, rollupsBefore: rollupsBefore, hoursBefore: rollupsBefore)
    }
}
