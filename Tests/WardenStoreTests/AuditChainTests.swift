import Foundation
import GRDB
import Testing
import WardenCore
import WardenTestSupport

@testable import WardenStore

/// The audit trail as a hash chain in a real SQLite file: every way of tampering with the file
/// is named by the verifier, with the record it concerns.
@Suite("Audit chain")
struct AuditChainTests {
    let base = Date(timeIntervalSince1970: 1_900_000_000)

    /// Twenty events, every other one an audit record: links 1…10 record events 2, 4, … 20.
    func events(from first: Int64 = 1, count: Int64 = 20, at time: Date? = nil) -> [Event] {
        (first..<first + count).map { id in
            Event(
                id: id,
                time: time ?? base.addingTimeInterval(Double(id)),
                type: id % 2 == 0 ? (id % 4 == 0 ? "audit.ban" : "audit.request") : "service.started",
                source: id % 2 == 0 ? "api" : "supervisor",
                subject: "203.0.113.\(id)",
                payload: .object(["actor": .string("ops-\(id)"), "result": .string(id % 3 == 0 ? "refused" : "ok")])
            )
        }
    }

    /// A store holding the twenty events, closed; its file.
    func chainedFile(_ dir: TempDir) async throws -> String {
        let path = dir.file("warden.db")
        let store = try SQLiteStore(path: path)
        try await store.append(Array(events().prefix(7)))
        try await store.append(Array(events().dropFirst(7)))
        try await store.close()
        return path
    }

    /// What `warden audit verify` does: every link checked in order, then the end.
    func verify(_ path: String, against shipped: [AuditLink] = []) async throws -> AuditVerifier {
        let store = try SQLiteStore(path: path, readOnly: true)
        var v = AuditVerifier(anchor: try await store.auditAnchor())
        for (link, stored) in try await store.auditLinks(after: 0, limit: 1_000) { v.check(link, stored: stored) }
        v.finish(highestWritten: try await store.auditHighestWritten())
        for s in shipped {
            v.compare(shipped: s.seq, hash: AuditLink.hex(s.hash), stored: try await store.auditLink(s.seq))
        }
        try await store.close()
        return v
    }

    func tamper(_ path: String, _ sql: String, _ arguments: StatementArguments = []) throws {
        let db = try DatabaseQueue(path: path)
        try db.write { try $0.execute(sql: sql, arguments: arguments) }
        try db.close()
    }

    func found(_ v: AuditVerifier) -> [String] { v.problems.map { "\($0.kind.rawValue) \($0.seq)" } }

    @Test func auditEventsAreChainedInTheirTransaction() async throws {
        let dir = TempDir("audit")
        let path = try await chainedFile(dir)
        let store = try SQLiteStore(path: path, readOnly: true)
        let links = try await store.auditLinks(after: 0, limit: 100).map(\.link)
        try await store.close()
        #expect(links.map(\.seq) == Array(1...10))
        #expect(links.map(\.eventID) == Array(stride(from: 2, through: 20, by: 2)))
        #expect(links.first?.previous == AuditLink.genesis)
        #expect(zip(links, links.dropFirst()).allSatisfy { $1.previous == $0.hash })
        #expect(links.allSatisfy { $0.expectedHash == $0.hash && $0.hash.count == 32 })
        #expect(Set(links.map(\.hash)).count == 10)
        let v = try await verify(path)
        #expect(v.problems.isEmpty, "\(v.problems)")
        #expect(v.checked == 10 && v.head?.seq == 10)
    }

    @Test func anEditedRecordIsNamed() async throws {
        let dir = TempDir("audit")
        let path = try await chainedFile(dir)
        try tamper(path, "UPDATE audit_chain SET payload = ? WHERE seq = 4", ["{\"actor\":\"someone-else\"}"])
        #expect(found(try await verify(path)) == ["edited 4"])
    }

    @Test func aDeletedRecordIsNamed() async throws {
        let dir = TempDir("audit")
        let path = try await chainedFile(dir)
        try tamper(path, "DELETE FROM audit_chain WHERE seq IN (5, 6)")
        let v = try await verify(path)
        #expect(found(v) == ["deleted 5"])
        #expect(v.problems.first?.message.contains("5…6") == true, "\(v.problems)")
    }

    @Test func recordsCutOffTheEndAreNamed() async throws {
        let dir = TempDir("audit")
        let path = try await chainedFile(dir)
        try tamper(path, "DELETE FROM audit_chain WHERE seq >= 9")
        #expect(found(try await verify(path)) == ["deleted 9"])
    }

    @Test func reorderedRecordsAreNamed() async throws {
        let dir = TempDir("audit")
        let path = try await chainedFile(dir)
        // Records 3 and 6 change places: each takes the other's number.
        try tamper(
            path,
            """
            UPDATE audit_chain SET seq = -3 WHERE seq = 3;
            UPDATE audit_chain SET seq = 3 WHERE seq = 6;
            UPDATE audit_chain SET seq = 6 WHERE seq = -3;
            """
        )
        let names = found(try await verify(path))
        #expect(names.contains("reordered 3") && names.contains("reordered 6"), "\(names)")
        #expect(names.contains("edited 3") && names.contains("edited 6"), "\(names)")
    }

    @Test func anEventEditedInTheEventsTableIsNamed() async throws {
        let dir = TempDir("audit")
        let path = try await chainedFile(dir)
        try tamper(path, "UPDATE events SET subject = '198.51.100.1' WHERE id = 4")
        #expect(found(try await verify(path)) == ["event-edited 2"])
        // An event gone from the events table (retention) is not a problem: the chain keeps it.
        try tamper(path, "DELETE FROM events WHERE id = 6")
        #expect(found(try await verify(path)) == ["event-edited 2"])
    }

    /// Someone who can write the file can recompute the chain from a record on; the verifier
    /// alone cannot tell, a copy shipped as it happened can.
    @Test func aRewrittenChainIsCaughtByTheShippedCopy() async throws {
        let dir = TempDir("audit")
        let path = try await chainedFile(dir)
        let store = try SQLiteStore(path: path, readOnly: true)
        let shipped = try await store.auditLinks(after: 0, limit: 100).map(\.link)
        try await store.close()
        // The attacker's rewrite: record 4 says something else, and every hash from it on is redone.
        var links = shipped
        links[3].payload = "{\"actor\":\"nobody\"}"
        for i in 3..<links.count {
            if i > 0 { links[i].previous = links[i - 1].hash }
            links[i].hash = links[i].expectedHash
        }
        let rewritten = links
        let db = try DatabaseQueue(path: path)
        try await db.write { db in
            for l in rewritten[3...] {
                try db.execute(
                    sql: "UPDATE audit_chain SET payload = ?, previous = ?, hash = ? WHERE seq = ?",
                    arguments: [l.payload, Data(l.previous), Data(l.hash), l.seq]
                )
            }
            try db.execute(sql: "UPDATE events SET payload = ? WHERE id = 8", arguments: [rewritten[3].payload])
        }
        try db.close()
        #expect(try await verify(path).problems.isEmpty, "a consistent rewrite passes on its own")
        #expect(found(try await verify(path, against: shipped)) == (4...10).map { "rewritten \($0)" })
        // Records cut off the end are caught by the copy too, even with the sequence reset.
        try tamper(path, "DELETE FROM audit_chain WHERE seq = 10; UPDATE sqlite_sequence SET seq = 9")
        #expect(found(try await verify(path, against: Array(shipped.prefix(3)) + [shipped[9]])) == ["deleted 10"])
    }

    /// Retention takes old links with their events and leaves where the chain now begins; the
    /// chain goes on from there, and deleting past that point still shows.
    @Test func retentionKeepsTheChainVerifiable() async throws {
        let dir = TempDir("audit")
        let path = dir.file("warden.db")
        let store = try SQLiteStore(path: path)
        let old = Date(timeIntervalSince1970: 1_000_000_000)
        try await store.append(events(count: 10, at: old))
        try await store.append(events(from: 11, count: 10))
        #expect(try await store.deleteEvents(before: base) == 10)
        let anchor = try #require(try await store.auditAnchor())
        #expect(anchor.seq == 5)
        try await store.append(events(from: 21, count: 4))
        try await store.close()
        let v = try await verify(path)
        #expect(v.problems.isEmpty, "\(v.problems)")
        #expect(v.first == 6 && v.head?.seq == 12)
        try tamper(path, "DELETE FROM audit_chain WHERE seq = 6")
        #expect(found(try await verify(path)) == ["deleted 6"])
    }

    /// The same event written twice (a retried batch) keeps its one link.
    @Test func anEventWrittenAgainIsNotChainedTwice() async throws {
        let dir = TempDir("audit")
        let store = try SQLiteStore(path: dir.file("warden.db"))
        try await store.append(events(count: 4))
        try await store.append(events(count: 4))
        #expect(try await store.auditLinks(after: 0, limit: 10).map(\.link.seq) == [1, 2])
        try await store.close()
    }
}
