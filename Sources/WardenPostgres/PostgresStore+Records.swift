import Foundation
import PostgresNIO
import WardenCore
import WardenStore

/// Incidents and bans, as in the SQLite store, each belonging to this node.
extension PostgresStore {
    public func saveIncident(_ record: IncidentRecord) async throws {
        try await client.query(
            """
            INSERT INTO incidents (node, id, target, policy, status, opened, closed, data)
            VALUES (\(node), \(record.id), \(record.target), \(record.policy), \(record.status),
                \(StoreValues.micros(record.opened)), \(record.closed.map(StoreValues.micros)), \(record.data.jsonText))
            ON CONFLICT (node, id) DO UPDATE SET target = excluded.target, policy = excluded.policy,
                status = excluded.status, opened = excluded.opened, closed = excluded.closed, data = excluded.data
            """,
            logger: logger
        )
    }

    public func incidents(statuses: [String]?, limit: Int) async throws -> [IncidentRecord] {
        let all = (statuses ?? []).isEmpty
        return try await incidentRows(
            """
            SELECT id, target, policy, status, opened, closed, data FROM incidents
            WHERE node = \(node) AND (\(all) OR status = ANY(\(statuses ?? [])::text[]))
            ORDER BY opened DESC LIMIT \(Int64(max(0, limit)))
            """
        )
    }

    public func incident(id: String) async throws -> IncidentRecord? {
        try await incidentRows(
            "SELECT id, target, policy, status, opened, closed, data FROM incidents WHERE node = \(node) AND id = \(id)"
        ).first
    }

    private func incidentRows(_ query: PostgresQuery) async throws -> [IncidentRecord] {
        var result: [IncidentRecord] = []
        for try await (id, target, policy, status, opened, closed, data) in try await client.query(
            query,
            logger: logger
        ).decode((String, String, String, String, Int64, Int64?, String).self) {
            result.append(
                IncidentRecord(
                    id: id,
                    target: target,
                    policy: policy,
                    status: status,
                    opened: StoreValues.date(opened),
                    closed: closed.map(StoreValues.date),
                    data: JSONValue.parse(data) ?? .null
                )
            )
        }
        return result
    }

    @discardableResult
    public func saveBan(_ ban: Ban) async throws -> Int64 {
        let (address, created, expires) = (
            ban.address.description, StoreValues.micros(ban.createdAt), StoreValues.micros(ban.expiresAt)
        )
        let lifted = ban.liftedAt.map(StoreValues.micros)
        if let id = ban.id {
            try await client.query(
                """
                UPDATE bans SET address = \(address), reason = \(ban.reason), source = \(ban.source), created = \(created),
                    expires = \(expires), offence = \(Int32(clamping: ban.offence)), evidence = \(ban.evidence.jsonText),
                    lifted = \(lifted), lifted_by = \(ban.liftedBy)
                WHERE node = \(node) AND id = \(id)
                """,
                logger: logger
            )
            return id
        }
        return try await one(
            """
            INSERT INTO bans (node, address, reason, source, created, expires, offence, evidence, lifted, lifted_by)
            VALUES (\(node), \(address), \(ban.reason), \(ban.source), \(created), \(expires),
                \(Int32(clamping: ban.offence)), \(ban.evidence.jsonText), \(lifted), \(ban.liftedBy))
            RETURNING id
            """,
            Int64.self
        ) ?? 0
    }

    public func insertBans(_ bans: [Ban]) async throws -> [Int64] {
        guard !bans.isEmpty else { return [] }
        let addresses = bans.map(\.address.description)
        let reasons = bans.map(\.reason)
        let sources = bans.map(\.source)
        let created = bans.map { StoreValues.micros($0.createdAt) }
        let expires = bans.map { StoreValues.micros($0.expiresAt) }
        let offences = bans.map { Int64($0.offence) }
        let evidence = bans.map(\.evidence.jsonText)
        var ids: [Int64] = []
        ids.reserveCapacity(bans.count)
        for try await id in try await client.query(
            """
            INSERT INTO bans (node, address, reason, source, created, expires, offence, evidence)
            SELECT \(node), a, r, s, c, e, o, v FROM unnest(\(addresses)::text[], \(reasons)::text[], \(sources)::text[],
                \(created)::bigint[], \(expires)::bigint[], \(offences)::int[], \(evidence)::text[])
                WITH ORDINALITY AS b(a, r, s, c, e, o, v, n)
            ORDER BY n
            RETURNING id
            """,
            logger: logger
        ).decode(Int64.self) {
            ids.append(id)
        }
        // Ids are drawn in the order the rows go in (the ordinality): sorted, they are in order.
        return ids.sorted()
    }

    public func activeBans(at now: Date) async throws -> [Ban] {
        try await banRows(
            """
            SELECT \(unescaped: Self.banColumns) FROM bans
            WHERE node = \(node) AND lifted IS NULL AND expires > \(StoreValues.micros(now))
              AND id IN (SELECT MAX(id) FROM bans WHERE node = \(node) GROUP BY address)
            ORDER BY created
            """
        )
    }

    public func banCount(of address: IPAddress) async throws -> Int {
        try await one(
            "SELECT COUNT(*)::bigint FROM bans WHERE node = \(node) AND address = \(address.description)",
            Int64.self
        ).map(Int.init) ?? 0
    }

    public func bans(limit: Int) async throws -> [Ban] {
        try await banRows(
            """
            SELECT \(unescaped: Self.banColumns) FROM bans WHERE node = \(node)
            ORDER BY id DESC LIMIT \(Int64(max(0, limit)))
            """
        )
    }

    static let banColumns = "id, address, reason, source, created, expires, offence, evidence, lifted, lifted_by"

    private func banRows(_ query: PostgresQuery) async throws -> [Ban] {
        var result: [Ban] = []
        for try await row in try await client.query(query, logger: logger).decode(
            (Int64, String, String, String, Int64, Int64, Int32, String, Int64?, String?).self
        ) {
            guard let address = IPAddress(row.1) else { continue }
            result.append(
                Ban(
                    id: row.0,
                    address: address,
                    reason: row.2,
                    source: row.3,
                    createdAt: StoreValues.date(row.4),
                    expiresAt: StoreValues.date(row.5),
                    offence: Int(row.6),
                    evidence: JSONValue.parse(row.7) ?? .null,
                    liftedAt: row.8.map(StoreValues.date),
                    liftedBy: row.9
                )
            )
        }
        return result
    }
}
