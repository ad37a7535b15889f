import Foundation
import Logging
import Testing
import WardenCore
import WardenStore
import WardenTestSupport

@Suite("SQLite store", .timeLimit(.minutes(1)))
struct SQLiteStoreTests {
    func event(_ id: Int64, _ type: String, _ subject: String, at seconds: Double, payload: JSONValue = [:]) -> Event {
        testEvent(id, type, subject, at: seconds, payload: payload)
    }

    @Test func aDatabaseThatCannotBeOpenedIsExplained() {
        #expect(throws: WardenError.self) { try SQLiteStore(path: "/proc/no/such/dir/warden.db") }
        do {
            _ = try SQLiteStore(path: "/proc/no/such/dir/warden.db")
        } catch let error as WardenError {
            #expect(error.code == .store)
            #expect(error.message.contains("cannot open the database at /proc/no/such/dir/warden.db"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func writesAfterCloseAreRefused() async throws {
        let dir = TempDir()
        let store = try SQLiteStore(path: dir.file("warden.db"))
        try await store.close()
        await #expect(throws: StoreClosedError.self) { try await store.append([event(1, "x", "y", at: 0)]) }
    }

    @Test func theRecorderStoresEveryPublishedEvent() async throws {
        let dir = TempDir()
        let store = try SQLiteStore(path: dir.file("warden.db"))
        let bus = EventBus()
        let recorder = EventRecorder(bus: bus, store: store, logger: Logger(label: "test"))
        let running = Task { try await recorder.run() }
        for i in 0..<2000 {
            bus.publish("test.event", source: "test", subject: "s\(i % 7)", payload: ["i": .int(Int64(i))])
        }
        try await eventually("all events are stored") {
            (try await store.lastEventID()) == 2000
        }
        let stored = try await store.events(matching: EventQuery(limit: 5000))
        #expect(stored.map(\.id) == Array(1...2000))
        #expect(stored[1234].payload["i"]?.intValue == 1234)
        running.cancel()
        try await store.close()
    }

    /// `store: { durability: full }` makes every commit survive a power loss (synchronous=FULL);
    /// the default survives a crash of Warden (synchronous=NORMAL in WAL mode).
    @Test func durabilityChoosesTheSynchronousLevel() async throws {
        let dir = TempDir("warden-store")
        let normal = try SQLiteStore(path: dir.file("normal.db"))
        #expect(try await normal.synchronousLevel() == 1)
        try await normal.close()
        let full = try SQLiteStore(path: dir.file("full.db"), durability: .full)
        #expect(try await full.synchronousLevel() == 2)
        try await full.close()
        let loader = SpecLoader(sections: [StoreSection.self])
        let spec = try loader.parse(
            "store: { durability: full }\nservices: {}\n",
            file: "w.yaml",
            baseDir: "/tmp"
        )
        #expect(spec.store.durability == .full)
        do {
            _ = try loader.parse(
                "store: { durability: paranoid }\nservices: {}\n",
                file: "w.yaml",
                baseDir: "/tmp"
            )
            Issue.record("accepted an unknown durability")
        } catch {
            #expect(error.issues.first?.message == "found 'paranoid'; expected normal or full")
        }
    }
}
