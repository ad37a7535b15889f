import Foundation
internal import GRDB
import Synchronization
import WardenCore

/// The audit chain in the embedded store: links written with their events, read back in order,
/// pruned with the events they record.
extension SQLiteStore {
    /// Appends a link for each of `events` not chained yet (an event written again keeps its link).
    static func chain(_ events: [Event], _ db: Database) throws -> Int {
        if events.isEmpty { return 0 }
        var last: (seq: Int64, hash: [UInt8])?
        if let row = try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1") {
            last = (row[0], [UInt8](row[1] as Data))
        } else if let row = try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_anchor LIMIT 1") {
            last = (row[0], [UInt8](row[1] as Data))
        }
        let insert = try db.cachedStatement(
            sql: """
                INSERT OR IGNORE INTO audit_chain (seq, event_id, time, type, source, subject, payload, previous, hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        )
        var added = 0
        for e in events {
            let link = AuditLink(event: e, after: last)
            try insert.execute(arguments: [
                link.seq, link.eventID, link.timeMicros, link.type, link.source, link.subject, link.payload,
                Data(link.previous), Data(link.hash),
            ])
            if db.changesCount > 0 {
                last = (link.seq, link.hash)
                added += 1
            }
        }
        return added
    }

    /// Up to `limit` links after number `seq`, in order, each with the event its id names in the
    /// events table (nil when that is gone).
    public func auditLinks(after seq: Int64, limit: Int) async throws -> [(link: AuditLink, stored: Event?)] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT c.seq, c.event_id, c.time, c.type, c.source, c.subject, c.payload, c.previous, c.hash,
                        e.id, e.time, e.type, e.source, e.subject, e.payload
                    FROM audit_chain c LEFT JOIN events e ON e.id = c.event_id
                    WHERE c.seq > ? ORDER BY c.seq LIMIT ?
                    """,
                arguments: [seq, max(0, limit)]
            )
            .map { row in
                let link = AuditLink(
                    seq: row[0],
                    eventID: row[1],
                    timeMicros: row[2],
                    type: row[3],
                    source: row[4],
                    subject: row[5],
                    payload: row[6],
                    previous: [UInt8](row[7] as Data),
                    hash: [UInt8](row[8] as Data)
                )
                var stored: Event?
                if let id: Int64 = row[9] {
                    let text: String = row[14]
                    stored = Event(
                        id: id,
                        time: Self.date(row[10]),
                        type: row[11],
                        source: row[12],
                        subject: row[13],
                        payload: JSONValue.parse(text) ?? .string(text)
                    )
                }
                return (link, stored)
            }
        }
    }

    /// The link of number `seq`, if stored.
    public func auditLink(_ seq: Int64) async throws -> AuditLink? {
        try await auditLinks(after: seq - 1, limit: 1).first.flatMap { $0.link.seq == seq ? $0.link : nil }
    }

    /// Where the stored chain begins when older links were pruned.
    public func auditAnchor() async throws -> AuditAnchor? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_anchor LIMIT 1").map {
                AuditAnchor(seq: $0[0], hash: [UInt8]($0[1] as Data))
            }
        }
    }

    /// The highest link number ever written (it stays when links are deleted).
    public func auditHighestWritten() async throws -> Int64 {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'audit_chain'") ?? 0
        }
    }

    /// Deletes the links of events older than `cutoff`, keeping the newest link, and records
    /// where the chain now begins; returns how many went.
    func pruneAuditChain(before cutoff: Date) async throws -> Int {
        try await pool.write { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT seq, hash FROM audit_chain WHERE time < ? AND seq < (SELECT MAX(seq) FROM audit_chain)
                        ORDER BY seq DESC LIMIT 1
                        """,
                    arguments: [Self.micros(cutoff)]
                )
            else { return 0 }
            let seq: Int64 = row[0]
            let hash: Data = row[1]
            try db.execute(sql: "DELETE FROM audit_chain WHERE seq <= ?", arguments: [seq])
            let deleted = db.changesCount
            try db.execute(sql: "DELETE FROM audit_anchor")
            try db.execute(sql: "INSERT INTO audit_anchor (seq, hash) VALUES (?, ?)", arguments: [seq, hash])
            return deleted
        }
    }

    /// A stream that yields after each commit that added links to the chain (the latest only, when
    /// the reader is behind). It ends when the task iterating it is cancelled.
    public func auditCommits() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = auditBell.add(continuation)
        continuation.onTermination = { [bell = auditBell] _ in bell.remove(id) }
        return stream
    }
}

/// Wakes the readers of ``SQLiteStore/auditCommits()``.
final class AuditBell: Sendable {
    private let waiters = Mutex<(next: Int, all: [Int: AsyncStream<Void>.Continuation])>((0, [:]))

    func add(_ c: AsyncStream<Void>.Continuation) -> Int {
        waiters.withLock {
            $0.next += 1
            $0.all[$0.next] = c
            return $0.next
        }
    }

    func remove(_ id: Int) { _ = waiters.withLock { $0.all.removeValue(forKey: id) } }

    func ring() {
        for c in waiters.withLock({ Array($0.all.values) }) { c.yield() }
    }
}
