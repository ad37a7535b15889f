import Foundation
import Testing
import WardenCore
import WardenHeal
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Notifications are retried with exponential backoff, on a manual clock (no real waiting).
@Suite("Notifications", .timeLimit(.minutes(1)))
struct NotifierTests {
    @Test func failuresAreRetriedWithGrowingWaitsUntilOneIsTaken() async throws {
        let server = HookListener(statuses: [503, 500, 200])
        let clock = ManualClock()
        let target = NotifySpec(name: "oncall", url: "http://127.0.0.1:\(server.port)/hook", attempts: 5)
        let delivery = Task { await Notifier(clock: clock).post(["text": "hello"], to: target) }
        // After each failure the notifier sleeps: 0.5 s, then 1 s (doubling), then it is taken.
        for (attempt, wait) in [(1, Duration.milliseconds(500)), (2, .seconds(1))] {
            try await eventually("attempt \(attempt) and its wait") {
                server.received.count == attempt && clock.sleeperCount == 1
            }
            let deadline = try #require(clock.nextDeadline)
            #expect(deadline - clock.now() == wait, "the wait after attempt \(attempt)")
            clock.advance(by: wait)
        }
        let result = await delivery.value
        #expect(result.delivered)
        #expect(result.attempts == 3)
        #expect(result.last == "HTTP 200")
        #expect(server.received.count == 3)
        #expect(server.received[0].contains("\"text\":\"hello\""))
    }

    @Test func theAttemptsRunOutAndTheLastAnswerIsReported() async throws {
        let server = HookListener(statuses: [502])
        let clock = ManualClock()
        let target = NotifySpec(name: "oncall", url: "http://127.0.0.1:\(server.port)/hook", attempts: 3)
        let delivery = Task { await Notifier(clock: clock).post(["text": "x"], to: target) }
        var waits: [Duration] = []
        for attempt in 1...2 {
            try await eventually("attempt \(attempt) and its wait") {
                server.received.count == attempt && clock.sleeperCount == 1
            }
            let wait = try #require(clock.nextDeadline) - clock.now()
            waits.append(wait)
            clock.advance(by: wait)
        }
        let result = await delivery.value
        #expect(!result.delivered)
        #expect(result.attempts == 3)
        #expect(result.last == "HTTP 502")
        #expect(waits == [.milliseconds(500), .seconds(1)])
        #expect(server.received.count == 3, "no wait after the last attempt, and no fourth")
    }
}
