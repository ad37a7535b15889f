import Foundation
import Testing
import WardenCore
import WardenTestSupport

@Suite("Event bus")
struct EventBusTests {
    @Test func everySubscriberSeesEveryEventInOrder() async {
        let bus = EventBus(firstID: 100)
        let a = bus.subscribe(name: "a")
        let b = bus.subscribe(name: "b")
        for i in 0..<50 { bus.publish("test.event", source: "t", subject: "s\(i)") }
        let fromA = await a.nextBatch(max: 100)
        let fromB = await b.nextBatch(max: 100)
        #expect(fromA.map(\.id) == Array(100..<150))
        #expect(fromB.map(\.id) == Array(100..<150))
        #expect(bus.lastID == 149)
    }

    @Test func concurrentPublishersStillDeliverInIdOrder() async {
        let bus = EventBus()
        let sub = bus.subscribe(name: "reader", capacity: 100_000)
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<8 {
                group.addTask {
                    for i in 0..<1000 { bus.publish("test.event", source: "t\(t)", subject: "\(i)") }
                }
            }
        }
        var ids: [Int64] = []
        while ids.count < 8000 { ids += await sub.nextBatch(max: 10_000).map(\.id) }
        #expect(ids == Array(1...8000))
    }

    @Test func aSlowSubscriberNeverBlocksThePublisherAndItsDropsAreCounted() async throws {
        let bus = EventBus()
        let slow = bus.subscribe(name: "slow", capacity: 10)
        let fast = bus.subscribe(name: "fast", capacity: 10_000)
        // Nobody reads `slow`; publishing must still complete at once.
        for i in 0..<1000 { bus.publish("test.event", source: "t", subject: "\(i)") }
        let stats = Dictionary(uniqueKeysWithValues: bus.stats().map { ($0.name, $0) })
        // 1000 events plus the bus.dropped report; the slow reader kept the first 10.
        #expect(bus.lastID == 1001)
        #expect(stats["slow"]?.dropped == 991)
        #expect(stats["slow"]?.buffered == 10)
        #expect(stats["fast"]?.dropped == 0)
        #expect(bus.totalDropped == 991)
        // The drop is reported on the bus itself, so the recorder stores it.
        let seen = await fast.nextBatch(max: 2000)
        let report = try #require(seen.first { $0.type == EventType.busDropped })
        #expect(report.payload["subscribers"]?["slow"]?.intValue ?? 0 > 0)
        // The slow reader gets the oldest events it had room for, in order.
        #expect(await slow.nextBatch(max: 100).map(\.subject) == (0..<10).map(String.init))
    }

    @Test func filtersSelectWhatIsBuffered() async {
        let bus = EventBus()
        let sub = bus.subscribe(name: "exits") { $0.type == "service.exited" }
        bus.publish("service.started", source: "t", subject: "a")
        bus.publish("service.exited", source: "t", subject: "a")
        #expect(await sub.next()?.type == "service.exited")
    }

    @Test(.timeLimit(.minutes(1))) func finishingASubscriptionDrainsItsBuffer() async {
        let bus = EventBus()
        let sub = bus.subscribe(name: "r")
        bus.publish("a", source: "t", subject: "x")
        bus.publish("b", source: "t", subject: "x")
        sub.finish()
        bus.publish("c", source: "t", subject: "x")
        var types: [String] = []
        for await e in sub { types.append(e.type) }
        #expect(types == ["a", "b"])
    }

    @Test(.timeLimit(.minutes(1))) func cancellingAWaitingReaderReturnsNil() async {
        let bus = EventBus()
        let sub = bus.subscribe(name: "r")
        let task = Task { await sub.next() }
        try? await Task.sleep(for: .milliseconds(20))
        task.cancel()
        #expect(await task.value == nil)
    }

    @Test func queriesMatchTypesByPrefix() {
        let e = Event(id: 1, time: Date(), type: "service.exited", source: "s", subject: "api")
        #expect(EventQuery(types: ["service.*"]).matches(e))
        #expect(EventQuery(types: ["probe.*", "service.exited"]).matches(e))
        #expect(!EventQuery(types: ["service.started"]).matches(e))
        #expect(!EventQuery(subject: "db").matches(e))
        #expect(!EventQuery(afterID: 1).matches(e))
    }

    @Test(.timeLimit(.minutes(1))) func manualClockWakesSleepersWhenTimeMoves() async throws {
        let clock = ManualClock()
        let start = clock.now()
        let woke = Task { try await clock.sleep(until: start + .seconds(5)) }
        // The sleeper registers itself; advance only once it has.
        while clock.sleeperCount == 0 { await Task.yield() }
        clock.advance(by: .seconds(4))
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .seconds(1))
        try await woke.value
        #expect(clock.sleeperCount == 0)
        #expect(clock.now() - start == .seconds(5))
    }
}
