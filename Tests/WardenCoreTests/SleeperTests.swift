import Synchronization
import Testing
import WardenCore

@Suite("Sleeper", .timeLimit(.minutes(1)))
struct SleeperTests {
    final class Order: Sendable { let list = Mutex<[Int]>([]) }

    func now() -> Int64 { SystemClock().now().nanoseconds }

    @Test func sleepersWakeNeverEarlyAndAllOfThem() async throws {
        let sleeper = Sleeper()
        let order = Order()
        let start = now()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for offset in [30, 10, 20] {
                let deadline = start + Int64(offset) * 1_000_000
                group.addTask {
                    try await sleeper.sleep(until: deadline)
                    #expect(SystemClock().now().nanoseconds >= deadline, "woke before its deadline")
                    order.list.withLock { $0.append(offset) }
                }
            }
            try await group.waitForAll()
        }
        // Which finishes first is up to the scheduler when the machine is loaded; that each woke,
        // and none before its deadline, is not.
        #expect(order.list.withLock { $0 }.sorted() == [10, 20, 30])
        #expect(sleeper.pending == 0)
    }

    @Test func anEarlierSleeperIsNotHeldBehindALaterOne() async throws {
        let sleeper = Sleeper()
        let long = Task { try await sleeper.sleep(until: now() + 3_600_000_000_000) }
        while sleeper.pending == 0 { await Task.yield() }
        // The thread now waits for the hour; this must wake it for the earlier deadline.
        try await sleeper.sleep(until: now() + 20_000_000)
        #expect(sleeper.pending == 1)
        long.cancel()
        await #expect(throws: CancellationError.self) { try await long.value }
        #expect(sleeper.pending == 0)
    }

    @Test func cancellingEndsTheSleepAtOnce() async throws {
        let sleeper = Sleeper()
        let task = Task { try await sleeper.sleep(until: now() + 3_600_000_000_000) }
        while sleeper.pending == 0 { await Task.yield() }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(sleeper.pending == 0)
        // A task cancelled before it sleeps does not sleep.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await sleeper.sleep(until: now() + 3_600_000_000_000)
        }
        await #expect(throws: CancellationError.self) { try await early.value }
        #expect(sleeper.pending == 0)
    }

    @Test func theSystemClockSleepsThroughIt() async throws {
        let clock = SystemClock()
        let before = clock.now()
        try await clock.sleep(for: .milliseconds(15))
        #expect(clock.now() - before >= .milliseconds(15))
    }
}
