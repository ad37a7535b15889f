import Foundation
import PostgresNIO
import Testing
import WardenCore
import WardenPostgres
import WardenStore
import WardenTestSupport

/// What only the PostgreSQL store has to do: share one database between nodes, migrate safely
/// when several processes open it at once, and explain a database it cannot reach.
@Suite("PostgreSQL store", .timeLimit(.minutes(2)))
struct PostgresStoreTests {
    func event(_ id: Int64, _ subject: String) -> Event {
        Event(id: id, time: Date(timeIntervalSince1970: 1_800_000_000), type: "t.x", source: "s", subject: subject)
    }

    /// Two nodes write the same event ids, series and addresses into one database: nothing
    /// collides, and each reads back only its own.
    @Test func nodesShareADatabaseWithoutColliding() async throws {
        let place = try await StorePlace(.postgres)
        // Both open (and migrate) at once.
        async let first = place.open(node: "a")
        async let second = place.open(node: "b")
        let (a, b) = try await (first, second)
        try await a.append((1...3).map { event($0, "from-a") })
        try await b.append((1...5).map { event($0, "from-b") })
        #expect(try await a.events(matching: EventQuery()).map(\.subject) == ["from-a", "from-a", "from-a"])
        #expect(try await b.events(matching: EventQuery()).count == 5)
        #expect(try await a.lastEventID() == 3)
        #expect(try await b.lastEventID() == 5)
        var batch = SampleBatch()
        batch.append(SeriesKey(name: "cpu"), time: 1_800_000_000_000_000, value: 1)
        try await a.appendSamples(batch)
        #expect(try await a.series(prefix: nil, limit: 10).count == 1)
        #expect(try await b.series(prefix: nil, limit: 10).isEmpty)
        let address = try #require(IPAddress("198.51.100.9"))
        _ = try await a.saveBan(
            Ban(
                address: address,
                reason: "r",
                source: "s",
                createdAt: Date(timeIntervalSince1970: 1_800_000_000),
                expiresAt: Date(timeIntervalSince1970: 1_800_000_600),
                offence: 1
            )
        )
        #expect(try await a.banCount(of: address) == 1)
        #expect(try await b.banCount(of: address) == 0)
        // Migrating twice more changes nothing.
        let c = try await place.open(node: "a")
        #expect(try await c.lastEventID() == 3)
        let versions = try await server(place).psql(
            "SELECT COUNT(*) || ',' || COUNT(DISTINCT version) || ',' || MAX(version) FROM warden_schema",
            database: "warden"
        )
        let n = PostgresStore.schemaVersion
        #expect(versions == "\(n),\(n),\(n)", "each step of the schema is applied once")
        for store in [a, b, c] { try await store.close() }
        await place.stop()
    }

    /// A database that cannot be reached is named in the error, with what went wrong.
    @Test func anUnreachableDatabaseIsExplained() async throws {
        let port = freePort()
        let configuration = PostgresClient.Configuration(
            host: "127.0.0.1",
            port: port,
            username: "warden",
            password: nil,
            database: "warden",
            tls: .disable
        )
        do {
            let store = try await PostgresStore.open(configuration, node: "a", timeout: .seconds(2))
            try await store.close()
            Issue.record("opened a database nobody serves")
        } catch let error as WardenError {
            #expect(error.code == .store)
            #expect(
                error.message.contains("cannot open the PostgreSQL database at 127.0.0.1:\(port)/warden"),
                "\(error)"
            )
            #expect(error.message.contains("no answer within 2s"), "\(error)")
        }
    }

    func server(_ place: StorePlace) throws -> PostgresServer { try #require(place.server) }
}

/// Database URLs as libpq writes them, with several hosts for a primary and its standbys.
@Suite("PostgreSQL URLs")
struct PostgresURLTests {
    @Test func hostsPortsAndDatabase() throws {
        let url = try PostgresURL.parse("postgres://warden@10.0.0.1:5433,db2,[::1]:6000/fleet?sslmode=prefer").get()
        #expect(url.user == "warden" && url.database == "fleet")
        #expect(url.hosts.map(\.description) == ["10.0.0.1:5433", "db2:5432", "[::1]:6000"])
    }

    @Test(arguments: [
        ("mysql://u@h/db", "must start with postgres://"),
        ("postgres://h/db", "give the user"),
        ("postgres://u:secret@h/db", "no password in the URL"),
        ("postgres://u@h", "give the database"),
        ("postgres://u@h:99999/db", "is not HOST or HOST:PORT"),
        ("postgres://u@h,,h2/db", "is not HOST or HOST:PORT"),
        ("postgres://u@h x/db", "is not HOST or HOST:PORT"),
    ])
    func badURLsAreExplained(text: String, expected: String) {
        guard case .failure(let problem) = PostgresURL.parse(text) else {
            Issue.record("accepted \(text)")
            return
        }
        #expect(problem.description.contains(expected), "\(problem)")
    }
}

/// Fleet decisions drawn from the events nodes ship.
@Suite("Fleet decisions in PostgreSQL", .timeLimit(.minutes(2)))
struct FleetDecisionStoreTests {
    @Test func bansAndLiftsBecomeDecisionsOnceAndNeverEcho() async throws {
        let place = try await StorePlace(.postgres)
        let store = try #require(try await place.open(node: "control") as? PostgresStore)
        let base = Date().addingTimeInterval(-60)
        func ban(_ id: Int64, _ address: String, by: String, seconds: Int64, at offset: Double = 0) -> Event {
            Event(
                id: id,
                time: base.addingTimeInterval(offset),
                type: "ban.applied",
                source: "defense",
                subject: address,
                payload: ["by": .string(by), "seconds": .int(seconds), "reason": "ssh"]
            )
        }
        let events = [
            ban(1, "203.0.113.5", by: "scenario", seconds: 3600),
            ban(2, "203.0.113.6", by: "fleet", seconds: 3600),  // made by the fleet: no echo
            ban(3, "203.0.113.7", by: "alice", seconds: 10),  // over before now
            ban(4, "not an address", by: "scenario", seconds: 3600),
            Event(
                id: 5,
                time: base,
                type: "ban.lifted",
                source: "defense",
                subject: "203.0.113.8",
                payload: ["by": "bob"]
            ),
            Event(id: 6, time: base, type: "service.exited", source: "supervisor", subject: "api"),
        ]
        for _ in 0..<2 {  // shipped twice
            try await store.ingest(events, node: "edge-a", labels: [:], address: "127.0.0.1", at: Date())
        }
        let now = Date()
        let forB = try await store.decisions(after: 0, for: "edge-b", now: now)
        #expect(forB.map(\.address) == ["203.0.113.5", "203.0.113.8"])
        #expect(forB.map(\.kind) == ["ban", "lift"] && forB.allSatisfy { $0.origin == "edge-a" })
        #expect(forB[0].until.map { abs($0.timeIntervalSince(base.addingTimeInterval(3600))) < 0.001 } == true)
        #expect(try await store.decisions(after: 0, for: "edge-a", now: now).isEmpty, "not back to its origin")
        #expect(try await store.decisions(after: forB[0].id, for: "edge-b", now: now).map(\.kind) == ["lift"])
        #expect(try await store.decisions(after: 0, for: nil, now: now).count == 2)
        try await store.close()
        await place.stop()
    }
}
