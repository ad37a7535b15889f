import Foundation
import Logging
import Testing
import WardenCore
import WardenStore
import WardenTestSupport

@testable import WardenDefense

/// Bans over a real SQLite store, with the dry-run firewall (the real ones are exercised inside
/// network namespaces by the integration tests).
@Suite("Bans")
struct BanManagerTests {
    struct Node {
        let dir = TempDir("warden-bans")
        let store: SQLiteStore
        let bus = EventBus()
        let firewall = DryRunFirewall()
        let clock = ManualClock()
        let bans: BanManager
        let log: EventLog

        init(_ spec: DefenseSpec = DefenseSpec(), safety: BanSafety? = nil, store: SQLiteStore? = nil) throws {
            self.store = try store ?? SQLiteStore(path: dir.file("warden.db"))
            log = EventLog(bus.subscribe(name: "test"))
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            bans = BanManager(
                spec: spec,
                firewall: firewall,
                store: self.store,
                safety: safety ?? BanSafety(allow: spec.allow),
                bus: bus,
                clock: clock,
                logger: logger
            )
        }
    }

    let attacker = IPAddress("203.0.113.5")!

    /// A list ends together: a hundred `ban.expired` events, then one that counts the rest; the
    /// next expiry is the list's, and a ban replaced since expires at its new time.
    @Test func aListThatEndsTogetherIsAnnouncedOnce() async throws {
        let n = try Node()
        await n.bans.start()
        let list = (0..<150).map { IPAddress("45.0.0.\($0 + 1)")! }
        let outcome = await n.bans.banList(list, duration: .seconds(60), reason: "feed", source: "list:ops")
        #expect(outcome.banned == 150)
        #expect(try await n.firewall.list().count == 150)
        // One of them is banned again by hand for longer: its old expiry is stale.
        _ = await n.bans.ban(list[0], reason: "again", source: "manual:ops", duration: .seconds(600), manual: true)
        let next = try #require(await n.bans.nextExpiry())
        #expect(abs(next.timeIntervalSince(n.clock.wallTime()) - 60) < 1)
        n.clock.advance(by: .seconds(61))
        #expect(await n.bans.expireDue() == 149)
        #expect(await n.bans.isBanned(list[0]))
        try await n.log.wait(for: "ban.expired", count: 100)
        let rest = try await n.log.wait(for: "ban.list.expired")
        #expect(rest.first?.payload["count"]?.intValue == 49)
        let listed = try await n.log.wait(for: "ban.list")
        #expect(listed.first?.payload["banned"]?.intValue == 150)
        #expect(await n.bans.expireDue() == 0)
        // Just ended: the kernel may still hold them; ten seconds on, they are known to be gone.
        #expect(await n.bans.mayBeInFirewall(list[1], now: n.clock.wallTime()))
        #expect(await !n.bans.mayBeInFirewall(IPAddress("45.0.1.1")!, now: n.clock.wallTime()))
        n.clock.advance(by: .seconds(11))
        #expect(await n.bans.expireDue() == 0)
        #expect(await !n.bans.mayBeInFirewall(list[1], now: n.clock.wallTime()))
        #expect(await n.bans.mayBeInFirewall(list[0], now: n.clock.wallTime()), "banned again by hand")
        n.clock.advance(by: .seconds(600))
        #expect(await n.bans.expireDue() == 1)
    }

    @Test func repeatOffendersAreBannedLongerUpToTheMaximum() async throws {
        var spec = DefenseSpec()
        spec.ban = BanSpec(first: .seconds(600), multiplier: 4, max: .seconds(86_400))
        let n = try Node(spec)
        await n.bans.start()
        var lengths: [Int] = []
        for _ in 0..<5 {
            guard case .banned(let ban) = await n.bans.ban(attacker, reason: "ssh-bruteforce", source: "scenario")
            else {
                Issue.record("not banned")
                return
            }
            lengths.append(Int(ban.expiresAt.timeIntervalSince(ban.createdAt).rounded()))
            #expect(try await n.firewall.list()[attacker] != nil)
            n.clock.advance(by: .seconds(90_000))
            #expect(await n.bans.expireDue() == 1)
        }
        #expect(lengths == [600, 2400, 9600, 38400, 86400])
        try await n.log.wait(for: "ban.expired", "203.0.113.5", count: 5)
        let applied = try await n.log.wait(for: "ban.applied", "203.0.113.5", count: 5)
        #expect(applied.map { $0.payload["offence"]?.intValue } == [1, 2, 3, 4, 5])
    }

    @Test func aBanInForceIsNotRepeatedAndAPersonCanLiftIt() async throws {
        let n = try Node()
        await n.bans.start()
        guard case .banned = await n.bans.ban(attacker, reason: "x", source: "scenario") else {
            Issue.record("not banned")
            return
        }
        guard case .already = await n.bans.ban(attacker, reason: "x", source: "scenario") else {
            Issue.record("banned twice")
            return
        }
        let lifted = await n.bans.unban(attacker, by: "alice")
        #expect(lifted?.liftedBy == "alice")
        #expect(try await n.firewall.list()[attacker] == nil)
        #expect(await n.bans.unban(attacker, by: "alice") == nil)
        #expect(try await n.store.activeBans(at: Date()).isEmpty)
    }

    @Test func bansAreRestoredWithTheirRemainingTime() async throws {
        let dir = TempDir("warden-bans-restore")
        let store = try SQLiteStore(path: dir.file("warden.db"))
        let first = try Node(store: store)
        await first.bans.start()
        _ = await first.bans.ban(attacker, reason: "x", source: "scenario", duration: .seconds(3600))
        // Ten minutes later a new Warden starts on the same store.
        let second = try Node(store: store)
        second.clock.advance(by: .seconds(600))
        await second.bans.start()
        #expect(await second.bans.isBanned(attacker))
        let left = try #require(try await second.firewall.list()[attacker])
        #expect(left <= 3000 && left > 2990)
        try await second.log.wait(for: "ban.restored")
    }

    @Test func safetyRefusesLoopbackAllowlistOwnAndSSHPeers() async throws {
        var spec = DefenseSpec()
        spec.allow = [CIDR("10.0.0.0/8")!]
        let safety = BanSafety(
            allow: spec.allow,
            own: [IPAddress("192.0.2.1")!],
            sshPeers: [IPAddress("198.51.100.9")!]
        )
        let n = try Node(spec, safety: safety)
        await n.bans.start()
        for text in ["127.0.0.1", "::1", "10.200.0.3", "192.0.2.1", "198.51.100.9", "0.0.0.0"] {
            let a = IPAddress(text)!
            guard case .refused = await n.bans.ban(a, reason: "x", source: "manual:root", manual: true) else {
                Issue.record("\(text) was banned")
                continue
            }
        }
        #expect(try await n.firewall.list().isEmpty)
        try await n.log.wait(for: "ban.refused", count: 6)
    }

    @Test func newBansAreCappedPerWindow() async throws {
        var spec = DefenseSpec()
        spec.maxBans = GiveUp(count: 3, window: .seconds(60))
        let n = try Node(spec)
        await n.bans.start()
        var outcomes: [String] = []
        for i in 1...5 {
            switch await n.bans.ban(IPAddress("203.0.113.\(i)")!, reason: "x", source: "scenario") {
            case .banned: outcomes.append("banned")
            case .capped: outcomes.append("capped")
            default: outcomes.append("other")
            }
        }
        #expect(outcomes == ["banned", "banned", "banned", "capped", "capped"])
        // A person is not capped, and the window moves on.
        guard
            case .banned = await n.bans.ban(IPAddress("203.0.113.9")!, reason: "x", source: "manual:root", manual: true)
        else {
            Issue.record("manual ban capped")
            return
        }
        n.clock.advance(by: .seconds(61))
        guard case .banned = await n.bans.ban(IPAddress("203.0.113.10")!, reason: "x", source: "scenario") else {
            Issue.record("still capped")
            return
        }
    }
}
