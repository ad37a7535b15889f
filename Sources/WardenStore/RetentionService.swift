import Foundation
import Logging
import ServiceLifecycle
import WardenCore

/// Deletes records older than the retention period: at start, then every hour.
///
/// On a node of a fleet, events the control plane has not acknowledged are its outbox: they are
/// kept past the retention period (`outbox.shipped` is the last acknowledged id), up to
/// `outbox.limit` of them; beyond that the oldest go, except records (incidents, bans, audit),
/// and that is said loudly (an error in the log and a `fleet.outbox.dropped` event).
public struct RetentionService: Service {
    let store: any Store
    let keep: Duration
    let every: Duration
    let clock: any WardenClock
    let logger: Logger
    let outbox: Outbox?

    /// The unshipped events a node keeps.
    public struct Outbox: Sendable {
        /// The last id the control plane acknowledged.
        public var shipped: @Sendable () -> Int64
        /// At most this many unshipped events are kept past the retention period.
        public var limit: Int64
        /// Where the drop is announced.
        public var bus: EventBus

        public init(shipped: @escaping @Sendable () -> Int64, limit: Int64, bus: EventBus) {
            self.shipped = shipped
            self.limit = limit
            self.bus = bus
        }
    }

    public init(
        store: any Store,
        keep: Duration,
        every: Duration = .seconds(3600),
        outbox: Outbox? = nil,
        clock: any WardenClock = SystemClock(),
        logger: Logger
    ) {
        self.store = store
        self.keep = keep
        self.every = every
        self.outbox = outbox
        self.clock = clock
        self.logger = logger
    }

    /// One pass; returns how many events were deleted.
    @discardableResult
    public func prune() async throws -> Int {
        let cutoff = clock.wallTime().addingTimeInterval(-keep.seconds)
        guard let outbox else { return try await store.deleteEvents(before: cutoff) }
        let shipped = outbox.shipped()
        let last = try await store.lastEventID()
        // Unshipped events beyond the limit go (the oldest first), whatever their age.
        let keepFrom = max(shipped, last - outbox.limit)
        var deleted = try await store.deleteEvents(before: cutoff, upTo: shipped)
        if keepFrom > shipped {
            // Records (incidents, bans, audit) are kept whatever the limit.
            let dropped = try await store.deleteEvents(before: .distantFuture, upTo: keepFrom, sparingRecords: true)
            if dropped > 0 {
                deleted += dropped
                logger.error(
                    "the fleet outbox is full: unshipped events dropped, the oldest first",
                    metadata: ["warden.dropped": "\(dropped)", "warden.limit": "\(outbox.limit)"]
                )
                outbox.bus.publish(
                    OutboxDropped(dropped: dropped, limit: outbox.limit, upTo: keepFrom),
                    source: "fleet",
                    subject: "outbox"
                )
            }
        }
        return deleted
    }

    /// Deletes the jobs and workflow runs that ended more than the retention period ago (a
    /// store without a queue has none); returns how many of each.
    @discardableResult
    public func pruneJobsAndRuns() async throws -> (jobs: Int, runs: Int) {
        guard let queue = store as? any JobStore & RunStore else { return (0, 0) }
        let cutoff = clock.wallTime().addingTimeInterval(-keep.seconds)
        // Jobs (and their idempotency keys) stay at least a day: at start, the workflow triggers
        // queue again the runs of the last day's recorded events, and a key gone sooner would
        // start such a run twice.
        let jobsCutoff = min(cutoff, clock.wallTime().addingTimeInterval(-86400))
        return (try await queue.deleteEndedJobs(before: jobsCutoff), try await queue.deleteEndedRuns(before: cutoff))
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                // Interrupted by shutdown (a long pass would hold up the services stopped after it).
                let deleted = try await cancelWhenGracefulShutdown { try await self.prune() }
                if deleted > 0 { logger.info("old events deleted", metadata: ["warden.deleted": "\(deleted)"]) }
                let ended = try await cancelWhenGracefulShutdown { try await self.pruneJobsAndRuns() }
                if ended.jobs + ended.runs > 0 {
                    logger.info(
                        "old jobs and workflow runs deleted",
                        metadata: ["warden.jobs": "\(ended.jobs)", "warden.runs": "\(ended.runs)"]
                    )
                }
            } catch {
                if Task.isShuttingDownGracefully { return }
                logger.warning("retention pass failed", metadata: ["warden.error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await clock.sleep(for: every) }
        }
    }
}

/// Unshipped events were dropped because the fleet outbox was full (`fleet.outbox.dropped`).
public struct OutboxDropped: EventPayload {
    public static let type = "fleet.outbox.dropped"
    public var dropped: Int
    public var limit: Int64
    /// Every event up to this id that was not shipped is gone.
    public var upTo: Int64

    enum CodingKeys: String, CodingKey {
        case dropped, limit
        case upTo = "up_to"
    }

    public init(dropped: Int, limit: Int64, upTo: Int64) {
        self.dropped = dropped
        self.limit = limit
        self.upTo = upTo
    }
}
