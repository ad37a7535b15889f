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
        for i in 0..<count {
            let line =
                "Nov 24 10:00:0\(i) node sshd[4242]: Failed password for root from \(address) port \(50000 + i) ssh2\n"
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
                let flood = try await lab.flood(8080, count: 20000)
                let served = Int(flood.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
                #expect(served >= 100 && served < 20000, "the flood was cut off part-way: \(served) answered")
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
}
