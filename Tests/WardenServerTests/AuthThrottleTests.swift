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
}
