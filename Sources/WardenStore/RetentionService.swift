import Foundation
import Logging
import ServiceLifecycle
import WardenCore

/// Deletes records older than the retention period: at start, then every hour.
public struct RetentionService: Service {
    let store: any Store
    let keep: Duration
    let every: Duration
    let clock: any WardenClock
    let logger: Logger

    public init(
        store: any Store,
        keep: Duration,
        every: Duration = .seconds(3600),
        clock: any WardenClock = SystemClock(),
        logger: Logger
    ) {
        self.store = store
        self.keep = keep
        self.every = every
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let cutoff = clock.wallTime().addingTimeInterval(-keep.seconds)
                let deleted = try await store.deleteEvents(before: cutoff)
                if deleted > 0 { logger.info("old events deleted", metadata: ["warden.deleted": "\(deleted)"]) }
            } catch {
                logger.warning("retention pass failed", metadata: ["warden.error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await clock.sleep(for: every) }
        }
    }
}
