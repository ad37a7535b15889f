import Foundation
import PostgresNIO
import WardenCore
import WardenPostgres
import WardenStore
import WardenTestSupport

/// The backends every store test runs against, unchanged.
enum Backend: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgres
    var description: String { rawValue }
}

/// Everything a store of either backend does.
typealias FullStore = Store & BanStore & IncidentStore & JobStore & RunStore

/// Where a test's store keeps its data: a SQLite file in a temporary directory, or a database on
/// a PostgreSQL server of the test's own (stopped by ``stop()``, or when the value goes).
/// ``open(node:)`` may be called again to reopen the same data.
final class StorePlace: Sendable {
    let backend: Backend
    let dir = TempDir("warden-store")
    let server: PostgresServer?

    init(_ backend: Backend) async throws {
        self.backend = backend
        if backend == .postgres {
            let server = try await PostgresServer()
            try await server.createDatabase("warden")
            self.server = server
        } else {
            server = nil
        }
    }

    /// The connection settings of the test server's `warden` database.
    var configuration: PostgresClient.Configuration {
        PostgresClient.Configuration(
            host: "127.0.0.1",
            port: server?.port ?? 0,
            username: server?.user ?? "",
            password: nil,
            database: "warden",
            tls: .disable
        )
    }

    /// A store over this place's data; on PostgreSQL, `node` owns what it writes.
    func open(node: String = "node-a") async throws -> any FullStore {
        switch backend {
        case .sqlite: try SQLiteStore(path: dir.file("warden.db"))
        case .postgres: try await PostgresStore.open(configuration, node: node)
        }
    }

    func stop() async { await server?.stop() }
}

/// Runs `body` with a store of `backend`, closing it and stopping its server afterwards.
func withStore(
    _ backend: Backend,
    _ body: (any FullStore, StorePlace) async throws -> Void
) async throws {
    let place = try await StorePlace(backend)
    let store = try await place.open()
    do {
        try await body(store, place)
    } catch {
        try? await store.close()
        await place.stop()
        throw error
    }
    try await store.close()
    await place.stop()
}

/// An event of the store tests, `seconds` after 2027-01-15 08:00:00 UTC.
func testEvent(_ id: Int64, _ type: String, _ subject: String, at seconds: Double, payload: JSONValue = [:]) -> Event {
    Event(
        id: id,
        time: Date(timeIntervalSince1970: 1_800_000_000 + seconds),
        type: type,
        source: "test",
        subject: subject,
        payload: payload
    )
}
