import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import WardenPostgres

/// Listens on the database for new fleet decisions (`LISTEN warden_decisions`; the control plane
/// that stores one notifies in the same transaction) and rings the bell, so that every replica's
/// long-polling agents hear of a decision made through any replica. A lost connection is made
/// again (and the bell rung, since a notification may have been missed); every few seconds it
/// also looks for a decision newer than the last it saw, so that a missed notification costs
/// seconds, not a ban.
struct DecisionListener: Service {
    let database: FailoverStore
    let bell: DecisionBell
    /// Closed at shutdown with the bell, so that event streams end too.
    let followers: NodeBells
    let logger: Logger

    func run() async throws {
        // The safety net for a missed notification: every few seconds, one look at the newest
        // decision, and a ring only when there is a new one (a ring wakes every waiting agent).
        let ticker = Task {
            var newest: Int64?
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(5))
                guard let latest = try? await database.run({ try await $0.newestDecisionID() }) else { continue }
                if let seen = newest, latest != seen { bell.ring() }
                newest = latest
            }
        }
        let listener = Task { await listen() }
        // Until shutdown (or cancellation), then both stop.
        try? await gracefulShutdown()
        // Long polls answer now, so that the server's graceful shutdown does not wait for them.
        bell.close()
        followers.closeAll()
        ticker.cancel()
        listener.cancel()
    }

    func listen() async {
        while !Task.isCancelled {
            do {
                let configuration = try await database.connectionConfiguration()
                let connection = try await PostgresConnection.connect(
                    configuration: configuration,
                    id: 7070,
                    logger: logger
                )
                bell.ring()
                do {
                    for try await _ in try await connection.listen(PostgresStore.decisionChannel) { bell.ring() }
                } catch {
                    logger.info("the decision listener lost its connection", metadata: ["warden.error": "\(error)"])
                }
                try? await connection.close()
            } catch {
                logger.info("the decision listener cannot connect yet", metadata: ["warden.error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
