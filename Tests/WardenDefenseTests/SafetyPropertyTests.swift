import Foundation
import Logging
import Testing
import WardenCore
import WardenDefense
import WardenStore
import WardenTestSupport

/// The allowlist holds whatever happens: a million random signals, many of them from addresses
/// that may never be banned, through the threat engine and the ban manager.
@Suite("Ban safety, as a property", .timeLimit(.minutes(2)))
struct SafetyPropertyTests {
    @Test func noRandomStreamOfEventsEverBansAProtectedAddress() async throws {
        var spec = DefenseSpec()
        spec.allow = [CIDR("10.0.0.0/8")!, CIDR("2001:db8:aa::/48")!]
        spec.maxBans = GiveUp(count: 1_000_000, window: .seconds(60))
        let own: Set<IPAddress> = [IPAddress("192.0.2.10")!, IPAddress("2001:db8:1::10")!]
        let ssh: Set<IPAddress> = [IPAddress("198.51.100.77")!]
        let safety = BanSafety(allow: spec.allow, own: own, sshPeers: ssh)
        let dir = TempDir("warden-safety")
        let store = try SQLiteStore(path: dir.file("warden.db"))
        let firewall = DryRunFirewall()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let bans = BanManager(
            spec: spec,
            firewall: firewall,
            store: store,
            safety: safety,
            bus: EventBus(),
            clock: ManualClock(),
            logger: logger
        )
        await bans.start()
        var engine = ThreatEngine(spec)
        var rng = SplitMix64(seed: 2026)
        let signals = ScenarioSpec.builtInSignals
        func address() -> IPAddress {
            let r = rng.next()
            switch r % 10 {
            case 0, 1: return .v4(0x7F00_0000 | UInt32(truncatingIfNeeded: r >> 8) & 0x00FF_FFFF)  // 127/8
            case 2: return .v4(0x0A00_0000 | UInt32(truncatingIfNeeded: r >> 8) & 0x00FF_FFFF)  // 10/8
            case 3: return IPAddress("2001:db8:aa::\(String(r >> 48, radix: 16))")!
            case 4: return own.randomElement(using: &rng)!
            case 5: return ssh.first!
            case 6: return r & 0x100 == 0 ? IPAddress("::1")! : .v4(0)
            default:
                // A small pool of outsiders, so that many of them cross the threshold.
                return r & 1 == 0
                    ? .v4(0xCB00_7100 | UInt32(truncatingIfNeeded: r >> 16) & 0xFF)  // 203.0.113.0/24
                    : IPAddress("2001:db8:ff::\(String((r >> 16) & 0xFF, radix: 16))")!
            }
        }
        var threats = 0
        var refused = 0
        var banned = 0
        for i in 0..<1_000_000 {
            let s = DefenseSignal(
                address: address(),
                name: signals[Int(rng.next() % UInt64(signals.count))],
                value: Double(rng.next() % 120),
                evidence: ""
            )
            guard let t = engine.observe(s, now: Double(i) / 1000), t.atThreshold else { continue }
            threats += 1
            switch await bans.ban(t.address, reason: t.scenarios.last ?? "", source: "scenario") {
            case .refused: refused += 1
            case .banned:
                banned += 1
                engine.forget(t.address)
            default: break
            }
        }
        #expect(threats > 1000, "the stream must actually produce threats")
        #expect(refused > 100 && banned > 100, "both sides of the rule are exercised")
        let inFirewall = try await firewall.list().keys
        #expect(!inFirewall.isEmpty)
        #expect(inFirewall.allSatisfy { safety.refusal($0) == nil })
        let stored = try await store.bans(limit: 1_000_000)
        #expect(stored.count == banned)
        #expect(stored.allSatisfy { safety.refusal($0.address) == nil })
    }
}
