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
    /// Records the decisions among `events` of `node`.
    public func recordDecisions(from events: [Event], node: String) async throws {
        guard let query = Self.decisionsQuery(from: events, node: node, at: clock.wallTime()) else { return }
        try await client.query(query, logger: logger)
    }

    /// The insert of the decisions among `events`; nil when there are none.
    static func decisionsQuery(from events: [Event], node: String, at now: Date) -> PostgresQuery? {
        var kinds: [String] = []
        var addresses: [String] = []
        var untils: [Int64] = []
        var reasons: [String] = []
        var originEvents: [Int64] = []
        for e in events where e.type == "ban.applied" || e.type == "ban.lifted" {
            let by = e.payload["by"]?.stringValue ?? ""
            guard by != "fleet", IPAddress(e.subject) != nil else { continue }
            if e.type == "ban.applied" {
                guard let seconds = e.payload["seconds"]?.intValue, seconds > 0 else { continue }
                kinds.append("ban")
                untils.append(StoreValues.micros(e.time) + seconds * 1_000_000)
                reasons.append(e.payload["reason"]?.stringValue ?? "")
            } else {
                kinds.append("lift")
                untils.append(0)
                reasons.append("lifted by \(by) on \(node)")
            }
            addresses.append(e.subject)
            originEvents.append(e.id)
        }
        guard !kinds.isEmpty else { return nil }
        let created = StoreValues.micros(now)
        return """
            INSERT INTO fleet_decisions (kind, address, until, reason, origin, origin_event, created)
            SELECT k, a, u, r, \(node), o, \(created)
            FROM unnest(\(kinds)::text[], \(addresses)::text[], \(untils)::bigint[], \(reasons)::text[],
                \(originEvents)::bigint[]) AS d(k, a, u, r, o)
            ON CONFLICT (origin, origin_event) DO NOTHING
            """
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
