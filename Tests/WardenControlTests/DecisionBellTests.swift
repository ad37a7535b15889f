import Foundation
import Testing

@testable import WardenControl

/// The bell that wakes long-polling agents: a ring is never lost between looking and waiting.
@Suite("The decision bell", .timeLimit(.minutes(1)))
struct DecisionBellTests {
    /// A ring after the version a waiter saw wakes it even when the ring came before the wait.
    @Test func aRingBeforeTheWaitIsNotLost() async {
        let bell = DecisionBell()
        let seen = bell.version
        bell.ring()
        // Would wait an hour (and fail the time limit) if the ring were lost.
        await bell.wait(after: seen, timeout: .seconds(3600))
        #expect(bell.version == seen + 1)
    }

    @Test func aRingWakesEveryWaiter() async {
        let bell = DecisionBell()
        let seen = bell.version
        let waiters = (0..<50).map { _ in Task { await bell.wait(after: seen, timeout: .seconds(3600)) } }
        // Rings until every waiter has returned (a waiter that registers after a ring still sees it).
        let all = Task { for w in waiters { await w.value } }
        bell.ring()
        await all.value
    }

    @Test func aWaitEndsAtItsTimeoutOrWhenCancelled() async {
        let bell = DecisionBell()
        await bell.wait(after: bell.version, timeout: .milliseconds(20))
        let waiting = Task { await bell.wait(after: bell.version, timeout: .seconds(3600)) }
        waiting.cancel()
        await waiting.value
    }

    /// At shutdown every long poll answers at once.
    @Test func closingEndsEveryWait() async {
        let bell = DecisionBell()
        let seen = bell.version
        let waiting = Task { await bell.wait(after: seen + 1000, timeout: .seconds(3600)) }
        bell.close()
        await waiting.value
        #expect(bell.isClosed)
        await bell.wait(after: bell.version + 1000, timeout: .seconds(3600))
    }
}
