import Foundation
import Logging
import Testing
import WardenCore
import WardenDefense
import WardenStore
import WardenTestSupport

/// The allowlist holds whatever happens: a million random signals, many of them from addresses
/// that may never be banned, through the threat engine and the ban manager.
/// A million signals take about 1.5 minutes alone on 2 cores and over 3 in the full suite's
/// company: the limit guards against a hang, not a slow machine.
@Suite("Ban safety, as a property", .timeLimit(.minutes(6)))
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
            case 6:
                switch (r >> 8) % 6 {
                case 0: return IPAddress("::1")!
                case 1: return .v4(0)
                case 2: return .v4(0xE000_0000 | UInt32(truncatingIfNeeded: r >> 16) & 0x0FFF_FFFF)  // 224/4
                case 3: return IPAddress("ff02::\(String((r >> 16) & 0xFFFF, radix: 16))")!
                case 4: return .v4(0xFFFF_FFFF)
                default: return .v4(UInt32(truncatingIfNeeded: r >> 16) & 0x00FF_FFFF)  // 0/8
                }
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
            // A long loop with few suspensions: let the other tests' tasks run now and then.
            if i % 5000 == 0 { await Task.yield() }
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
        // Judged by a reference written apart from BanSafety (text prefixes and explicit sets, no
        // masks), so that a wrong prefix match in BanSafety cannot pass its own test.
        func protected(_ a: IPAddress) -> Bool {
            let text = a.description
            if own.contains(a) || ssh.contains(a) { return true }
            if a.isV4 {
                let first = Int(text.split(separator: ".")[0])!
                return first == 10 || first == 127 || first == 0 || (224...239).contains(first)
                    || text == "255.255.255.255"
            }
            return text == "::1" || text == "::" || text.hasPrefix("2001:db8:aa:") || text.hasPrefix("ff")
        }
        let inFirewall = try await firewall.list().keys
        #expect(!inFirewall.isEmpty)
        #expect(inFirewall.filter(protected).isEmpty)
        let stored = try await store.bans(limit: 1_000_000)
        #expect(stored.count == banned)
        #expect(stored.filter { protected($0.address) }.isEmpty)
    }

    /// The reference itself, and BanSafety, on an explicit table of the edges.
    @Test func theEdgesOfEveryProtectedBlock() {
        let safety = BanSafety(
            allow: [CIDR("10.0.0.0/8")!, CIDR("2001:db8:aa::/48")!, CIDR("192.0.2.128/25")!],
            own: [IPAddress("198.51.100.10")!, IPAddress("198.51.100.255")!]
        )
        let table: [(String, Bool)] = [
            ("10.0.0.0", true), ("10.255.255.255", true), ("9.255.255.255", false), ("11.0.0.0", false),
            ("192.0.2.128", true), ("192.0.2.255", true), ("192.0.2.127", false),
            ("2001:db8:aa::", true), ("2001:db8:aa:ffff:ffff:ffff:ffff:ffff", true), ("2001:db8:ab::", false),
            ("2001:db8:a9:ffff::1", false), ("127.0.0.1", true), ("127.255.255.254", true), ("128.0.0.1", false),
            ("::1", true), ("::2", false), ("0.0.0.0", true), ("0.1.2.3", true), ("1.0.0.0", false),
            ("224.0.0.1", true), ("239.255.255.255", true), ("240.0.0.1", false), ("223.255.255.255", false),
            ("255.255.255.255", true), ("ff02::1", true), ("fe80::1", false), ("198.51.100.10", true),
            ("198.51.100.255", true), ("198.51.100.11", false), ("::ffff:127.0.0.1", true), ("::ffff:10.1.2.3", true),
        ]
        for (text, protected) in table {
            let address = IPAddress(text)!
            #expect((safety.refusal(address) != nil) == protected, "\(text)")
        }
    }

    /// The node's own networks' broadcast addresses are its own too.
    @Test func ownAddressesIncludeTheBroadcastOfEachNetwork() {
        let own = BanSafety.ownAddresses()
        #expect(own.contains(IPAddress("127.0.0.1")!))
        // Loopback is 127.0.0.1/8 on Linux: its broadcast is 127.255.255.255.
        #expect(own.contains(IPAddress("127.255.255.255")!))
    }

    /// Only established sessions to the SSH ports protect their peers: not a listening socket,
    /// not a half-open handshake, not a session to another port.
    @Test func sshPeersAreTheRemotesOfEstablishedSessionsToTheSSHPorts() {
        let me = IPAddress("192.0.2.1")!
        func entry(_ remote: String, _ port: UInt16, _ state: TCPEntry.State) -> TCPEntry {
            TCPEntry(local: me, localPort: port, remote: IPAddress(remote)!, remotePort: 40_000, state: state)
        }
        let entries = [
            entry("198.51.100.1", 22, .established),
            entry("198.51.100.2", 2222, .established),
            entry("198.51.100.3", 22, .synRecv),
            entry("0.0.0.0", 22, .listen),
            entry("198.51.100.4", 443, .established),
            entry("198.51.100.5", 22, .timeWait),
        ]
        #expect(
            BanSafety.sshPeers(ports: [22, 2222], in: entries)
                == [IPAddress("198.51.100.1")!, IPAddress("198.51.100.2")!]
        )
        #expect(BanSafety.sshPeers(ports: [22], in: entries) == [IPAddress("198.51.100.1")!])
        #expect(BanSafety.sshPeers(ports: [], in: entries).isEmpty)
    }
}
