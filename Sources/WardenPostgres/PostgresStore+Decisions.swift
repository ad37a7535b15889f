import Foundation
import PostgresNIO
import WardenCore
import WardenStore

/// A decision of the fleet as stored: a ban or lift one node made, for every other node.
public struct StoredDecision: Sendable, Hashable {
    public var id: Int64
    public var kind: String
    public var address: String
    /// For a ban: when it ends.
    public var until: Date?
    public var reason: String
    public var origin: String
}

/// The fleet's decisions, drawn from the events nodes ship: a `ban.applied` or `ban.lifted` that
/// the node decided itself (not one the fleet made it apply) becomes a decision for every other
/// node. Shipping the same event twice records the decision once.
extension PostgresStore {
    /// The id of the newest decision (0 when there is none).
    public func newestDecisionID() async throws -> Int64 {
        try await one("SELECT COALESCE(MAX(id), 0)::bigint FROM fleet_decisions", Int64.self) ?? 0
    }

    /// The decisions after `afterID` that `node` did not make itself (every node's when nil), oldest first; bans that
    /// have ended by `now` are left out.
    public func decisions(
        after afterID: Int64,
        for node: String?,
        now: Date,
        limit: Int = 1000
    ) async throws
        -> [StoredDecision]
    {
        var result: [StoredDecision] = []
        let rows = try await client.query(
            """
            SELECT id, kind, address, until, reason, origin FROM fleet_decisions
            WHERE id > \(afterID) AND origin <> \(node ?? "") AND (kind = 'lift' OR until > \(StoreValues.micros(now)))
            ORDER BY id LIMIT \(Int64(max(1, limit)))
            """,
            logger: logger
        )
        for try await (id, kind, address, until, reason, origin) in rows.decode(
            (Int64, String, String, Int64, String, String).self
        ) {
            result.append(
                StoredDecision(
                    id: id,
                    kind: kind,
                    address: address,
                    until: kind == "ban" ? StoreValues.date(until) : nil,
                    reason: reason,
                    origin: origin
                )
            )
        }
        return result
    }
}
