import Testing
import WardenCore
import WardenServer

/// The back-off on wrong tokens, on a manual clock.
@Suite("Authentication back-off")
struct AuthThrottleTests {
    let limit = AuthFailureLimit(allow: 5, per: .seconds(60), maxPenalty: .seconds(300))

    @Test func theAllowanceIsFreeThenEachFailureDoublesTheWait() {
        var t = AuthThrottle(limit: limit)
        let now = Instant(nanoseconds: 0)
        for _ in 0..<5 { #expect(t.failed("a", now: now) == nil) }
        #expect(t.wait("a", now: now) == nil)
        #expect(t.failed("a", now: now) == .seconds(1))
        #expect(t.failed("a", now: now) == .seconds(2))
        #expect(t.failed("a", now: now) == .seconds(4))
        #expect(t.wait("a", now: now) == .seconds(4))
        #expect(t.wait("a", now: now + .seconds(3)) == .seconds(1))
        #expect(t.wait("a", now: now + .seconds(4)) == nil)
        // Other addresses are not affected.
        #expect(t.wait("b", now: now) == nil)
        #expect(t.failed("b", now: now) == nil)
    }

    @Test func theWaitIsCappedAndTheDoublingStartsOverOnceDrained() {
        var t = AuthThrottle(limit: limit)
        var now = Instant(nanoseconds: 0)
        var last: Duration?
        for _ in 0..<40 { last = t.failed("a", now: now) }
        #expect(last == .seconds(300), "the penalty stops growing at max_penalty")
        // An hour of silence drains the bucket: five free failures again, then one second.
        now = now + .seconds(3600)
        for _ in 0..<5 { #expect(t.failed("a", now: now) == nil) }
        #expect(t.failed("a", now: now) == .seconds(1))
    }

    @Test func theAllowanceRefillsEvenly() {
        var t = AuthThrottle(limit: limit)
        var now = Instant(nanoseconds: 0)
        for _ in 0..<5 { _ = t.failed("a", now: now) }
        // 12 s later one failure's worth has leaked out (5 per 60 s).
        now = now + .seconds(12)
        #expect(t.failed("a", now: now) == nil)
        #expect(t.failed("a", now: now) == .seconds(1))
    }

    @Test func ipv6AddressesCountByTheirSlash64() {
        #expect(AuthThrottle.key("2001:db8:1:2:aaaa::1") == AuthThrottle.key("2001:db8:1:2:bbbb::9"))
        #expect(AuthThrottle.key("2001:db8:1:2::1") != AuthThrottle.key("2001:db8:1:3::1"))
        #expect(AuthThrottle.key("192.0.2.1") != AuthThrottle.key("192.0.2.2"))
        #expect(AuthThrottle.key("::ffff:192.0.2.1") == AuthThrottle.key("192.0.2.1"))
    }

    @Test func theTableStaysBoundedUnderManyAddresses() {
        var t = AuthThrottle(limit: limit, capacity: 1000)
        let now = Instant(nanoseconds: 0)
        for i in 0..<50_000 { _ = t.failed("10.\(i >> 16).\(i >> 8 & 255).\(i & 255)", now: now) }
        #expect(t.count <= 1000)
    }

    /// The doubling goes on until the bucket has drained completely, not when the wait is over.
    @Test func theDoublingStartsOverOnlyWhenTheBucketIsEmpty() {
        var t = AuthThrottle(limit: limit)
        let t0 = Instant(nanoseconds: 0)
        for _ in 0..<8 { _ = t.failed("a", now: t0) }  // five free, then 1, 2 and 4 s
        // 84 s later seven of the eight have leaked out (5 per 60 s): one is left.
        let later = t0 + .seconds(84)
        for _ in 0..<4 { #expect(t.failed("a", now: later) == nil) }
        #expect(t.failed("a", now: later) == .seconds(8), "the fourth strike, not a first one")
    }

    /// At the very instant the bucket is empty and the wait is over, the doubling starts over.
    @Test func theDoublingStartsOverAtTheInstantBothAreDone() {
        var t = AuthThrottle(limit: AuthFailureLimit(allow: 1, per: .seconds(1), maxPenalty: .seconds(300)))
        let t0 = Instant(nanoseconds: 0)
        #expect(t.failed("a", now: t0) == nil)
        #expect(t.failed("a", now: t0) == .seconds(1))
        #expect(t.failed("a", now: t0) == .seconds(2))
        #expect(t.failed("a", now: t0) == .seconds(4))
        // Four failures drain in 4 s, when the 4 s wait ends too.
        let done = t0 + .seconds(4)
        #expect(t.failed("a", now: done) == nil)
        #expect(t.failed("a", now: done) == .seconds(1))
    }

    /// A full table forgets drained, unblocked addresses first; an address within its allowance
    /// (some failures, not yet drained) is kept, and so is one that is blocked.
    @Test func aFullTableForgetsDrainedAddressesFirst() {
        var t = AuthThrottle(
            limit: AuthFailureLimit(allow: 1, per: .seconds(1), maxPenalty: .seconds(300)),
            capacity: 3
        )
        let t0 = Instant(nanoseconds: 0)
        for _ in 0..<20 { _ = t.failed("blocked", now: t0 - .seconds(1)) }
        for _ in 0..<4 { _ = t.failed("drained", now: t0) }  // empty, and unblocked, at t0 + 4 s
        let now = t0 + .seconds(4)
        _ = t.failed("recent", now: now)  // one failure: within its allowance, not drained
        #expect(t.count == 3)
        _ = t.failed("new", now: now)
        #expect(t.count == 3, "only the drained one went")
        #expect(t.wait("blocked", now: now) != nil, "the blocked one was kept, though least recent")
        #expect(t.failed("recent", now: now) == .seconds(1), "the recent one kept its failure")
    }

    /// When nothing is drained, the least recently updated eighth goes (at least one), and a
    /// failure of an address already in the table makes no room at all.
    @Test func aFullTableOfBlockedAddressesForgetsTheLeastRecent() {
        var t = AuthThrottle(limit: limit, capacity: 3)
        let t0 = Instant(nanoseconds: 0)
        for (i, key) in ["a", "b", "c"].enumerated() {
            for _ in 0..<8 { _ = t.failed(key, now: t0 + .seconds(Int64(i))) }  // blocked for 4 s
        }
        _ = t.failed("c", now: t0 + .seconds(3))
        #expect(t.count == 3, "an address already tracked needs no room")
        _ = t.failed("d", now: t0 + .seconds(3))
        #expect(t.count == 3)
        #expect(t.wait("a", now: t0 + .seconds(3)) == nil, "the least recent went")
        #expect(t.wait("b", now: t0 + .seconds(3)) != nil)
    }
}
