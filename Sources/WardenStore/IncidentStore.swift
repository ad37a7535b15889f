import Foundation
internal import GRDB
import WardenCore

/// An incident as stored: the columns queries filter on, and the whole incident as JSON.
public struct IncidentRecord: Sendable, Hashable {
    public var id: String
    public var target: String
    public var policy: String
    public var status: String
    public var opened: Date
    public var closed: Date?
    public var data: JSONValue

    public init(
        id: String,
        target: String,
        policy: String,
        status: String,
        opened: Date,
        closed: Date?,
        data: JSONValue
    ) {
        self.id = id
        self.target = target
        self.policy = policy
        self.status = status
        self.opened = opened
        self.closed = closed
        self.data = data
    }
}

/// Where incidents are kept. Every save is committed before it returns, so an incident never
/// holds an action that is not recorded.
public protocol IncidentStore: Sendable {
    func saveIncident(_ record: IncidentRecord) async throws
    /// Newest first; only those in `statuses` when given.
    func incidents(statuses: [String]?, limit: Int) async throws -> [IncidentRecord]
    func incident(id: String) async throws -> IncidentRecord?
}

extension SQLiteStore: IncidentStore {
    public func saveIncident(_ record: IncidentRecord) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO incidents (id, target, policy, status, opened, closed, data) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET target = excluded.target, policy = excluded.policy, status = excluded.status,
                        opened = excluded.opened, closed = excluded.closed, data = excluded.data
                    """,
                arguments: [
                    record.id, record.target, record.policy, record.status, Self.micros(record.opened),
                    record.closed.map(Self.micros),
                    record.data.jsonText,
                ]
            )
        }
    }

    public func incidents(statuses: [String]?, limit: Int) async throws -> [IncidentRecord] {
        try await pool.read { db in
            var sql = "SELECT id, target, policy, status, opened, closed, data FROM incidents"
            var args: [any DatabaseValueConvertible] = []
            if let statuses, !statuses.isEmpty {
                sql += " WHERE status IN (" + statuses.map { _ in "?" }.joined(separator: ",") + ")"
                args += statuses
            }
            sql += " ORDER BY opened DESC LIMIT ?"
            args.append(max(0, limit))
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map(Self.incident(row:))
        }
    }

    public func incident(id: String) async throws -> IncidentRecord? {
        try await pool.read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT id, target, policy, status, opened, closed, data FROM incidents WHERE id = ?",
                arguments: [id]
            )
            .map(Self.incident(row:))
        }
    }

    static func incident(row: Row) -> IncidentRecord {
        let closed: Int64? = row[5]
        return IncidentRecord(
            id: row[0],
            target: row[1],
            policy: row[2],
            status: row[3],
            opened: date(row[4]),
            closed: closed.map(date),
            data: JSONValue.parse(row[6]) ?? .null
        )
    }
}
