import Foundation
import Logging
import ServiceLifecycle
import WardenCore
import WardenPostgres

/// Keeps the fleet's telemetry and events bounded, every minute: each node's raw samples are
/// rolled up into 1-minute buckets (and whole hours of those into 1-hour buckets) and go after
/// `raw`, the 1-minute rollups after `rollups`, the 1-hour ones after `hours`, and events after
/// `events`. Several replicas may run it over one database: a node's rollup runs under a
/// lock and is idempotent.
public struct FleetMaintenance: Service {
    public struct Retention: Sendable {
        public var raw: Duration
        public var rollups: Duration
        /// 1-hour rollups (never less than `rollups`).
        public var hours: Duration
        public var events: Duration

        public init(
            raw: Duration = .seconds(86_400),
            rollups: Duration = .seconds(30 * 86_400),
            hours: Duration = .seconds(365 * 86_400),
            events: Duration = .seconds(30 * 86_400)
        ) {
            self.raw = raw
            self.rollups = rollups
            self.hours = max(hours, rollups)
            self.events = events
        }
    }

    let database: FailoverStore
    let retention: Retention
    let clock: any WardenClock
    let logger: Logger

    public init(database: FailoverStore, retention: Retention, clock: any WardenClock = SystemClock(), logger: Logger) {
        self.database = database
        self.retention = retention
        self.clock = clock
        self.logger = logger
    }

    /// One pass: every node's old events in one statement, then the telemetry of each node that
    /// has some (nodes that ship only events cost nothing here).
    public func pass() async throws {
        let now = clock.wallTime()
        let retention = self.retention
        try await database.run { store in
            _ = try await store.deleteEventsOfEveryNode(before: now.addingTimeInterval(-retention.events.seconds))
            for node in try await store.nodesWithTelemetry() {
                // Late samples have two minutes to arrive before their minute is rolled up.
                _ = try await store.rollUp(
                    upTo: now.addingTimeInterval(-120),
                    rawBefore: now.addingTimeInterval(-retention.raw.seconds),
                    rollupsBefore: now.addingTimeInterval(-retention.rollups.seconds),
                    hoursBefore: now.addingTimeInterval(-retention.hours.seconds),
                    node: node
                )
            }
        }
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await pass()
            } catch {
                logger.warning("fleet maintenance failed", metadata: ["warden.error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await clock.sleep(for: .seconds(60)) }
        }
    }
}
