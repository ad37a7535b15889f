import Foundation
import Logging
import Testing
import WardenCore
import WardenStore
import WardenTestSupport

@Suite("SQLite store", .timeLimit(.minutes(1)))
struct SQLiteStoreTests {
    func event(_ id: Int64, _ type: String, _ subject: String, at seconds: Double, payload: JSONValue = [:]) -> Event {
        Event(
            id: id,
            time: Date(timeIntervalSince1970: 1_800_000_000 + seconds),
            type: type,
            source: "test",
            subject: subject,
            payload: payload
        )
    }

    @Test func eventsRoundTripWithTheirPayload() async throws {
        let dir = TempDir()
        let store = try SQLiteStore(path: dir.file("warden.db"))
        let original = event(
            1,
            "service.exited",
            "api",
            at: 1.25,
            payload: ["code": 3, "reason": "crash", "nested": ["a": [1, 2]]]
        )
        try await store.append([original])
        let read = try await store.events(matching: EventQuery())
        #expect(read == [original])
        try await store.close()
    }

    @Test func queriesFilterByTimeTypeSubjectAndId() async throws {
        let dir = TempDir()
        let store = try SQLiteStore(path: dir.file("warden.db"))
        try await store.append([
            event(1, "service.started", "api", at: 0), event(2, "service.exited", "api", at: 10),
            event(3, "probe.failed", "web", at: 20), event(4, "service.started", "web", at: 30),
            event(5, "service.exited", "web", at: 40),
        ])
        func ids(_ q: EventQuery) async throws -> [Int64] { try await store.events(matching: q).map(\.id) }
        #expect(try await ids(EventQuery(types: ["service.*"])) == [1, 2, 4, 5])
        #expect(try await ids(EventQuery(types: ["service.exited", "probe.failed"])) == [2, 3, 5])
        #expect(try await ids(EventQuery(subject: "web")) == [3, 4, 5])
        let base = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(
            try await ids(EventQuery(since: base.addingTimeInterval(10), until: base.addingTimeInterval(40))) == [
                2, 3, 4,
            ]
        )
        #expect(try await ids(EventQuery(afterID: 3)) == [4, 5])
        #expect(try await ids(EventQuery(limit: 2)) == [1, 2])
        #expect(try await ids(EventQuery(limit: 2, newestFirst: true)) == [5, 4])
        #expect(try await ids(EventQuery(types: ["service.*"], subject: "web", afterID: 4)) == [5])
        #expect(try await store.lastEventID() == 5)
        try await store.close()
    }

    @Test func whatWasCommittedSurvivesReopening() async throws {
        let dir = TempDir()
        let path = dir.file("warden.db")
        do {
            let store = try SQLiteStore(path: path)
            try await store.append((1...100).map { event($0, "test.event", "s", at: Double($0)) })
            try await store.close()
        }
        let again = try SQLiteStore(path: path)
        #expect(try await again.events(matching: EventQuery(limit: 1000)).count == 100)
        #expect(try await again.lastEventID() == 100)
        try await again.close()
    }

    @Test func concurrentAppendsAreAllCommitted() async throws {
        let dir = TempDir()
        let store = try SQLiteStore(path: dir.file("warden.db"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<20 {
                group.addTask {
                    for batch in 0..<10 {
                        let base = Int64(writer * 1000 + batch * 100)
                        try await store.append(
                            (1...50).map { event(base + $0, "test.event", "w\(writer)", at: Double(base + $0)) }
                        )
                    }
                }
            }
            try await group.waitForAll()
        }
        let all = try await store.events(matching: EventQuery(limit: 100_000))
        #expect(all.count == 20 * 10 * 50)
        #expect(Set(all.map(\.id)).count == all.count)
        try await store.close()
    }

    @Test func retentionDeletesOnlyWhatIsOld() async throws {
        let dir = TempDir()
        let store = try SQLiteStore(path: dir.file("warden.db"))
        try await store.append((1...25_000).map { event($0, "test.event", "s", at: Double($0)) })
        let deleted = try await store.deleteEvents(before: Date(timeIntervalSince1970: 1_800_000_000 + 20_000.5))
        #expect(deleted == 20_000)
        let left = try await store.events(matching: EventQuery(limit: 100_000))
        #expect(left.count == 5_000)
        #expect(left.first?.id == 20_001)
        try await store.close()
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
