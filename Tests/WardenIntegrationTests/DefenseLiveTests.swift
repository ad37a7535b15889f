import Foundation
import Testing
import WardenCore
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The active defense of a real `warden run` inside a network namespace, attacked with real
/// packets and real log lines from a second namespace; bans checked in the kernel's nftables (or
/// ipset) and by whether the attacker's next connection gets through.
@Suite("Defense with real packets", .serialized, .timeLimit(.minutes(3)))
struct DefenseLiveTests {
    init() { becomeSubreaper() }

    func spec(_ lab: NetLab, _ f: Fixture, defense: String) -> String {
        """
        services:
          web:
            run: [SAMPLE, --host, \(lab.defendedIP), --port, "8080"]
            ready: { tcp: "\(lab.defendedIP):8080" }
        defense:
        \(defense)
        """
    }

    func events(_ lab: NetLab, _ f: Fixture, _ type: String) async throws -> [JSONValue] {
        let r = try await lab.warden("events", "-c", f.config, "--json", "--type", type, "--limit", "1000")
        return r.stdout.split(separator: "\n").compactMap { JSONValue.parse(String($0)) }
    }

    /// A lab for `body`, removed afterwards whatever happens (a Warden still running in it is
    /// killed when its process object goes).
    func withLab(_ body: (NetLab) async throws -> Void) async throws {
        let lab = try await NetLab()
        do {
            try await body(lab)
        } catch {
            await lab.remove()
            throw error
        }
        await lab.remove()
    }

    /// Waits until the defended service answers the attacker and the defense watches its sources.
    func waitUp(_ lab: NetLab, _ f: Fixture) async throws {
        try await eventually("web is up", timeout: .seconds(20)) { try await lab.attackerCanConnect(8080) }
        try await eventually("the defense started", timeout: .seconds(20)) {
            try await events(lab, f, "defense.started").count >= 1
        }
    }

    func failedLogins(_ path: String, from address: String, count: Int) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        defer { close(fd) }
        // Stamped now: lines older than every scenario's window would count for nothing.
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "MMM dd HH:mm:ss"
        let stamp = f.string(from: Date())
        for i in 0..<count {
            let line =
                "\(stamp) node sshd[4242]: Failed password for root from \(address) port \(50000 + i) ssh2\n"
            _ = line.withCString { write(fd, $0, strlen($0)) }
        }
    }

    @Test func aConnectionFloodIsBannedDroppedAndTheBanExpires() async throws {
        try await withLab { lab in
            let f = Fixture("")
            f.write(
                spec(
                    lab,
                    f,
                    defense: """
                          firewall: nftables
                          watch: [{ connections: true, every: 200ms }]
                          ban: { first: 15s }
                        """
                )
            )
            let warden = try lab.startWarden(f.config)
            do {
                try await waitUp(lab, f)
                // On an idle machine a namespace serves 20,000 connections in about a second, and
                // the connection table is read every 200 ms: room for the ban to land.
                let flood = try await lab.flood(8080, count: 200_000)
                let served = Int(flood.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
                #expect(served >= 100 && served < 200_000, "the flood was cut off part-way: \(served) answered")
                #expect(try await lab.banned().contains(lab.attackerIP))
                #expect(try await !lab.attackerCanConnect(8080), "the next connection is dropped")
                let threat = try #require(try await events(lab, f, "threat.detected").first)
                #expect(threat["subject"]?.stringValue == lab.attackerIP)
                #expect(threat["payload"]?["scenarios"]?.arrayValue?.contains("conn-flood") == true)
                // Fifteen seconds after the ban (long enough to outlast the checks above on a
                // loaded machine) the kernel has dropped it and Warden has recorded it.
                try await eventually("the ban expired", timeout: .seconds(30)) {
                    !(try await lab.banned().contains(lab.attackerIP))
                }
                try await eventually("ban.expired recorded", timeout: .seconds(5)) {
                    !(try await events(lab, f, "ban.expired").isEmpty)
                }
                #expect(try await lab.attackerCanConnect(8080))
                #expect(try await warden.stop() == .exited(0))
            }
        }
    }

    @Test func failedLoginsInAWatchedLogAreBannedAndTheBanSurvivesARestart() async throws {
        try await withLab { lab in
            let f = Fixture("")
            let log = f.dir.file("auth.log")
            f.write(
                spec(
                    lab,
                    f,
                    defense: """
                          watch: [{ log: \(log), parser: sshd }]
                          ban: { first: 1h }
                        """
                )
            )
            FileManager.default.createFile(
                atPath: log,
                contents: Data("Nov 24 09:00:00 node sshd[1]: Server listening on 0.0.0.0 port 22.\n".utf8)
            )
            var warden = try lab.startWarden(f.config)
            do {
                try await waitUp(lab, f)
                failedLogins(log, from: lab.attackerIP, count: 4)
                try await Task.sleep(for: .milliseconds(300))
                #expect(try await !lab.banned().contains(lab.attackerIP), "four failures are not enough")
                let start = ContinuousClock.now
                failedLogins(log, from: lab.attackerIP, count: 1)
                try await eventually("banned", timeout: .seconds(5)) { try await lab.banned().contains(lab.attackerIP) }
                print("defense: fifth failed login to ban in the kernel: \(ContinuousClock.now - start) (polling nft)")
                #expect(try await !lab.attackerCanConnect(8080))
                let bans =
                    JSONValue.parse(try await lab.warden("bans", "-c", f.config, "--json").stdout)?.arrayValue ?? []
                #expect(bans.first?["address"]?.stringValue == lab.attackerIP)
                #expect(bans.first?["reason"]?.stringValue == "ssh-bruteforce")
                #expect(bans.first?["evidence"]?["lines"]?.arrayValue?.count == 5, "all five lines are evidence")

                // Warden stops; the machine "reboots" (the kernel table is gone): the attacker gets in.
                #expect(try await warden.stop() == .exited(0))
                _ = try await lab.inDefended(["nft", "delete", "table", "inet", "warden"])
                warden = try lab.startWarden(f.config)
                // The new Warden puts the ban back, with what is left of the hour, and does not read
                // the old lines again (no second ban).
                try await eventually("restored", timeout: .seconds(20)) {
                    try await lab.banned().contains(lab.attackerIP)
                }
                let set = try await lab.banned()
                #expect(set.contains("expires 59m") || set.contains("expires 58m"), "\(set)")
                #expect(try await !lab.attackerCanConnect(8080))
                // Lines are read in order: once a later address's threat is in, a second reading of
                // the old lines would have shown up before it. (A re-read would not show as a second
                // ban.applied: the ban in force is restored, and banning again is `.already`.)
                failedLogins(log, from: "198.51.100.99", count: 5)
                try await eventually("the later address's threat", timeout: .seconds(20)) {
                    !(try await events(lab, f, "threat.detected").filter {
                        $0["subject"]?.stringValue == "198.51.100.99"
                    }.isEmpty)
                }
                let threats = try await events(lab, f, "threat.detected").filter {
                    $0["subject"]?.stringValue == lab.attackerIP
                }
                #expect(threats.count == 1, "the old lines were not read again")
                #expect(try await events(lab, f, "ban.restored").count == 1)

                // A person lifts it.
                let unban = try await lab.warden("unban", lab.attackerIP, "-c", f.config)
                #expect(unban.exitCode == 0, "\(unban.stderr)")
                #expect(try await !lab.banned().contains(lab.attackerIP))
                #expect(try await lab.attackerCanConnect(8080))
                #expect(try await warden.stop() == .exited(0))
            }
        }
    }

    @Test func anAllowlistedAttackerIsNeverBanned() async throws {
        try await withLab { lab in
            let f = Fixture("")
            let log = f.dir.file("auth.log")
            FileManager.default.createFile(atPath: log, contents: nil)
            f.write(
                spec(
                    lab,
                    f,
                    defense: """
                          allow: [\(lab.attackerIP)/32]
                          watch: [{ log: \(log), parser: sshd }, { connections: true, every: 200ms }]
                        """
                )
            )
            let warden = try lab.startWarden(f.config)
            do {
                try await waitUp(lab, f)
                failedLogins(log, from: lab.attackerIP, count: 5)
                try await eventually("a refusal recorded", timeout: .seconds(10)) {
                    try await events(lab, f, "ban.refused").count >= 1
                }
                let flood = try await lab.flood(8080, count: 2000)
                #expect(flood.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "2000", "nothing was dropped")
                try await eventually("a second refusal recorded", timeout: .seconds(10)) {
                    try await events(lab, f, "ban.refused").count >= 2
                }
                let refused = try await events(lab, f, "ban.refused")
                #expect(refused.allSatisfy { $0["payload"]?["reason"]?.stringValue?.hasPrefix("allowlisted") == true })
                #expect(try await !lab.banned().contains(lab.attackerIP))
                #expect(try await lab.attackerCanConnect(8080))
                // A person cannot ban it either.
                let manual = try await lab.warden("ban", lab.attackerIP, "--for", "1h", "-c", f.config)
                #expect(manual.exitCode == 1)
                #expect(manual.stderr.contains("may not be banned: allowlisted"))
                #expect(try await warden.stop() == .exited(0))
            }
        }
    }

    @Test func theIptablesBackendBansTooAndDryRunChangesNothing() async throws {
        try await withLab { lab in
            let f = Fixture("")
            f.write(spec(lab, f, defense: "  firewall: iptables\n"))
            var warden = try lab.startWarden(f.config)
            do {
                try await waitUp(lab, f)
                let ban = try await lab.warden("ban", lab.attackerIP, "--for", "1h", "--reason", "test", "-c", f.config)
                #expect(ban.exitCode == 0, "\(ban.stderr)")
                let set = try await lab.inDefended(["ipset", "list", "warden-ban4"]).stdout
                #expect(set.contains(lab.attackerIP))
                #expect(try await !lab.attackerCanConnect(8080))
                _ = try await lab.warden("unban", lab.attackerIP, "-c", f.config)
                #expect(try await lab.attackerCanConnect(8080))
                #expect(try await warden.stop() == .exited(0))

                // dry-run: the ban is decided and recorded, the kernel is not touched.
                f.write(spec(lab, f, defense: "  firewall: dry-run\n"))
                warden = try lab.startWarden(f.config)
                try await waitUp(lab, f)
                let dry = try await lab.warden("ban", lab.attackerIP, "--for", "1h", "-c", f.config)
                #expect(dry.exitCode == 0, "\(dry.stderr)")
                #expect(try await lab.attackerCanConnect(8080))
                let applied = try await events(lab, f, "ban.applied")
                #expect(applied.last?["payload"]?["firewall"]?.stringValue == "dry-run")
                #expect(try await warden.stop() == .exited(0))
            }
        }
    }

    /// A blocklist of 20,000 addresses, the attacker's among them, goes into the kernel's set in
    /// one batch: the attacker is dropped, and the set holds every address.
    @Test func aListOfAddressesIsBannedInTheKernelInOneGo() async throws {
        try await withLab { lab in
            let f = Fixture("")
            f.write(spec(lab, f, defense: "  firewall: nftables\n"))
            let warden = try lab.startWarden(f.config)
            do {
                try await waitUp(lab, f)
                #expect(try await lab.attackerCanConnect(8080))
                let others = (0..<19_999).map { "45.0.\($0 / 250).\($0 % 250 + 1)" }
                let list = f.dir.file("blocklist.txt")
                try ("# test list\n" + (others + [lab.attackerIP]).joined(separator: "\n") + "\n")
                    .write(toFile: list, atomically: true, encoding: .utf8)
                let ban = try await lab.warden("ban", "--file", list, "--for", "1h", "--reason", "list", "-c", f.config)
                #expect(ban.exitCode == 0, "\(ban.stderr)")
                #expect(ban.stdout.contains("20000 banned"), "\(ban.stdout)")
                #expect(try await !lab.attackerCanConnect(8080))
                let set = try await lab.inDefended(["nft", "list", "set", "inet", "warden", "ban4"]).stdout
                #expect(set.components(separatedBy: "expires").count - 1 == 20_000)
                #expect(set.contains(others[others.count - 1]) && set.contains(lab.attackerIP))
                _ = try await lab.warden("unban", lab.attackerIP, "-c", f.config)
                #expect(try await lab.attackerCanConnect(8080))
                #expect(try await warden.stop() == .exited(0))
            }
        }
    }

    /// Another tool flushes the ruleset (Warden's table with it): the next batch is refused, and
    /// Warden rebuilds its table with every ban in force instead of giving up on the firewall.
    @Test func aTableDeletedBehindWardensBackIsRebuiltWithEveryBan() async throws {
        try await withLab { lab in
            let f = Fixture("")
            f.write(spec(lab, f, defense: "  firewall: nftables\n"))
            let warden = try lab.startWarden(f.config)
            do {
                try await waitUp(lab, f)
                let first = try await lab.warden("ban", "45.0.0.1", "--for", "1h", "-c", f.config)
                #expect(first.exitCode == 0, "\(first.stderr)")
                let flushed = try await lab.inDefended(["nft", "flush", "ruleset"])
                #expect(flushed.exitCode == 0, "\(flushed.stderr)")
                #expect(try await lab.attackerCanConnect(8080))
                let second = try await lab.warden("ban", lab.attackerIP, "--for", "1h", "-c", f.config)
                #expect(second.exitCode == 0, "\(second.stderr)")
                let rebuilt = try #require(try await events(lab, f, "firewall.rebuilt").first)
                #expect(rebuilt["payload"]?["bans"]?.intValue == 2)
                #expect(rebuilt["payload"]?["error"]?.stringValue?.contains("No such file or directory") == true)
                #expect(try await events(lab, f, "firewall.failed").isEmpty, "not dry-run")
                let set = try await lab.inDefended(["nft", "list", "set", "inet", "warden", "ban4"]).stdout
                #expect(set.contains("45.0.0.1") && set.contains(lab.attackerIP), "\(set)")
                #expect(try await !lab.attackerCanConnect(8080))
                #expect(try await warden.stop() == .exited(0))
            }
        }
    }

    @Test func aFirewallThatFailsIsReportedAndWardenGoesOnInDryRun() async throws {
        try await withLab { lab in
            let f = Fixture("")
            f.write(spec(lab, f, defense: "  firewall: iptables\n"))
            // Something else already owns a set of that name, of another type: ipset refuses Warden's.
            let taken = try await lab.inDefended(["ipset", "create", "warden-ban4", "hash:net"])
            #expect(taken.exitCode == 0, "\(taken.stderr)")
            let warden = try lab.startWarden(f.config)
            do {
                try await waitUp(lab, f)
                let failed = try #require(try await events(lab, f, "firewall.failed").first)
                #expect(failed["payload"]?["now"]?.stringValue == "dry-run")
                #expect(failed["payload"]?["error"]?.stringValue?.contains("ipset") == true)
                #expect(warden.output.contains("firewall failed"))
                let ban = try await lab.warden("ban", lab.attackerIP, "--for", "1h", "-c", f.config)
                #expect(ban.exitCode == 0, "\(ban.stderr)")
                let list = JSONValue.parse(try await lab.warden("bans", "-c", f.config, "--json").stdout)?.arrayValue
                #expect(list?.count == 1, "the ban is on record")
                #expect(try await lab.attackerCanConnect(8080), "but not enforced")
                #expect(try await warden.stop() == .exited(0))
            }
        }
    }

    /// IPv6 attackers go into `ban6`, and repeat offenders get longer bans in the kernel: a
    /// second ban of the same address lasts `repeat` times the first.
    @Test func ipv6BansAndEscalationInTheKernel() async throws {
        try await withLab { lab in
            let f = Fixture("")
            let log = f.dir.file("auth.log")
            FileManager.default.createFile(atPath: log, contents: nil)
            let python = try #require(which("python3"))
            f.write(
                """
                services:
                  web6:
                    run: [\(python), -c, "import socket, time\\ns = socket.socket(socket.AF_INET6)\\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\\ns.bind(('::', 8081))\\ns.listen(64)\\nwhile True: s.accept()"]
                    ready: { tcp: "[\(lab.defendedIP6)]:8081" }
                defense:
                  firewall: nftables
                  watch: [{ log: \(log), parser: sshd }]
                  ban: { first: 3s, repeat: x4, max: 1h }
                """
            )
            let warden = try lab.startWarden(f.config)
            do {
                try await eventually("web6 is up", timeout: .seconds(20)) {
                    try await lab.attackerCanConnect(8081, v6: true)
                }
                try await eventually("the defense started", timeout: .seconds(20)) {
                    try await events(lab, f, "defense.started").count >= 1
                }
                failedLogins(log, from: lab.attackerIP6, count: 5)
                try await eventually("banned in ban6", timeout: .seconds(10)) {
                    try await lab.banned6().contains(lab.attackerIP6)
                }
                #expect(try await !lab.banned().contains(lab.attackerIP6), "not in the IPv4 set")
                #expect(try await !lab.attackerCanConnect(8081, v6: true), "the next IPv6 connection is dropped")
                try await eventually("the first ban expired", timeout: .seconds(20)) {
                    !(try await events(lab, f, "ban.expired").isEmpty)
                }
                #expect(try await lab.attackerCanConnect(8081, v6: true))

                // Again: the second ban is four times the first, in the kernel's own timeout.
                failedLogins(log, from: lab.attackerIP6, count: 5)
                try await eventually("banned again", timeout: .seconds(10)) {
                    try await lab.banned6().contains(lab.attackerIP6)
                }
                let set = try await lab.banned6()
                #expect(set.contains("timeout 12s"), "\(set)")
                let applied = try await events(lab, f, "ban.applied")
                #expect(applied.map { $0["payload"]?["seconds"]?.intValue } == [3, 12])
                #expect(try await warden.stop() == .exited(0))
            }
        }
    }

    /// The connection scenarios from real traffic, each from an address of its own: many open
    /// connections (conn-hog), connections to many ports (port-scan), and half-open connections
    /// (syn-flood).
    @Test func hogsScansAndSynFloodsAreBannedFromRealTraffic() async throws {
        try await withLab { lab in
            let f = Fixture("")
            let python = try #require(which("python3"))
            let listeners = f.dir.write(
                "listen.py",
                """
                import socket, select
                socks = []
                for port in [8090] + list(range(9000, 9012)):
                    s = socket.socket()
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind(("0.0.0.0", port))
                    s.listen(512)
                    socks.append(s)
                held = []
                while True:
                    ready, _, _ = select.select(socks, [], [])
                    for s in ready:
                        held.append(s.accept()[0])
                """
            )
            f.write(
                """
                services:
                  listeners:
                    run: [\(python), \(listeners)]
                    ready: { tcp: "\(lab.defendedIP):8090" }
                defense:
                  firewall: nftables
                  watch: [{ connections: true, every: 200ms }]
                  ban: { first: 1h }
                """
            )
            let warden = try lab.startWarden(f.config)
            func banned(_ address: String, for scenario: String) async throws {
                try await eventually("\(address) banned for \(scenario)", timeout: .seconds(20)) {
                    try await events(lab, f, "ban.applied").contains {
                        $0["subject"]?.stringValue == address && $0["payload"]?["reason"]?.stringValue == scenario
                    }
                }
                #expect(try await lab.banned().contains(address))
            }
            do {
                try await eventually("listening", timeout: .seconds(20)) { try await lab.attackerCanConnect(8090) }
                try await eventually("the defense started", timeout: .seconds(20)) {
                    try await events(lab, f, "defense.started").count >= 1
                }
                let (hogger, scanner) = (lab.otherAttackerIPs[0], lab.otherAttackerIPs[1])
                // conn-hog: sixty connections to one port, held open.
                async let hog = lab.attack(
                    """
                    import socket, time
                    held = [socket.create_connection(("DEFENDED", 8090), timeout=2, source_address=("SOURCE", 0))
                            for _ in range(60)]
                    time.sleep(6)
                    """,
                    from: hogger
                )
                // port-scan: one connection to each of twelve ports, held open.
                async let scan = lab.attack(
                    """
                    import socket, time
                    held = [socket.create_connection(("DEFENDED", p), timeout=2, source_address=("SOURCE", 0))
                            for p in range(9000, 9012)]
                    time.sleep(6)
                    """,
                    from: scanner
                )
                try await banned(hogger, for: "conn-hog")
                try await banned(scanner, for: "port-scan")
                _ = try await (hog, scan)

                // syn-flood: the attacker's kernel never answers the SYN-ACKs, so thirty
                // connections stay half-open on the defended side.
                let drop = try await lab.inAttacker([
                    "iptables", "-A", "INPUT", "-p", "tcp", "--tcp-flags", "SYN,ACK", "SYN,ACK", "-j", "DROP",
                ])
                #expect(drop.exitCode == 0, "\(drop.stderr)")
                async let flood = lab.attack(
                    """
                    import socket, time
                    socks = []
                    for _ in range(30):
                        s = socket.socket()
                        s.setblocking(False)
                        s.connect_ex(("DEFENDED", 8090))
                        socks.append(s)
                    time.sleep(6)
                    """
                )
                try await banned(lab.attackerIP, for: "syn-flood")
                _ = try await flood
                // Nobody else was banned on the way.
                let subjects = Set(try await events(lab, f, "ban.applied").compactMap { $0["subject"]?.stringValue })
                #expect(subjects == [hogger, scanner, lab.attackerIP])
                #expect(try await warden.stop() == .exited(0))
            }
        }
    }
}
