import Foundation
internal import GRDB
import WardenCore

extension SQLiteStore: BanStore {
    @discardableResult
    public func saveBan(_ ban: Ban) async throws -> Int64 {
        try await pool.write { db in
            let args: [any DatabaseValueConvertible & Sendable] = [
                ban.address.description, ban.reason, ban.source, Self.micros(ban.createdAt), Self.micros(ban.expiresAt),
                Int64(ban.offence), ban.evidence.jsonText,
            ]
            let lifted: [(any DatabaseValueConvertible & Sendable)?] = [ban.liftedAt.map(Self.micros), ban.liftedBy]
            if let id = ban.id {
                try db.execute(
                    sql: """
                        UPDATE bans SET address = ?, reason = ?, source = ?, created = ?, expires = ?, offence = ?,
                            evidence = ?, lifted = ?, lifted_by = ? WHERE id = ?
                        """,
                    arguments: StatementArguments(args + lifted + [id])
                )
                return id
            }
            try db.execute(
                sql: """
                    INSERT INTO bans (address, reason, source, created, expires, offence, evidence, lifted, lifted_by)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: StatementArguments(args + lifted)
            )
            return db.lastInsertedRowID
        }
    }

    public func insertBans(_ bans: [Ban]) async throws -> [Int64] {
        try await pool.write { db in
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO bans (address, reason, source, created, expires, offence, evidence)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """
            )
            return try bans.map { ban in
                try insert.execute(arguments: [
                    ban.address.description, ban.reason, ban.source, Self.micros(ban.createdAt),
                    Self.micros(ban.expiresAt), Int64(ban.offence), ban.evidence.jsonText,
                ])
                return db.lastInsertedRowID
            }
        }
    }

    public func activeBans(at now: Date) async throws -> [Ban] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.banColumns) FROM bans WHERE lifted IS NULL AND expires > ?
                    AND id IN (SELECT MAX(id) FROM bans GROUP BY address)
                    ORDER BY created
                    """,
                arguments: [Self.micros(now)]
            )
            .compactMap(Self.ban(row:))
        }
    }

    public func banCount(of address: IPAddress) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM bans WHERE address = ?", arguments: [address.description])
                ?? 0
        }
    }

    public func bans(limit: Int) async throws -> [Ban] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT \(Self.banColumns) FROM bans ORDER BY id DESC LIMIT ?",
                arguments: [max(0, limit)]
            )
            .compactMap(Self.ban(row:))
        }
    }

    static let banColumns = "id, address, reason, source, created, expires, offence, evidence, lifted, lifted_by"

    static func ban(row: Row) -> Ban? {
        guard let address = IPAddress(row[1] as String) else { return nil }
        let lifted: Int64? = row[8]
        return Ban(
            id: row[0],
            address: address,
            reason: row[2],
            source: row[3],
            createdAt: date(row[4]),
            expiresAt: date(row[5]),
            offence: Int(row[6] as Int64),
            evidence: JSONValue.parse(row[7]) ?? .null,
            liftedAt: lifted.map(date),
            liftedBy: row[9]
        )
    }
}
