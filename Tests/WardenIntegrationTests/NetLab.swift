import Foundation
import Testing
import WardenCore
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Two network namespaces of the test's own, joined by a veth pair: `defended` (where Warden and
/// its firewall run) and `attacker`. Nothing here touches the host's network or firewall.
final class NetLab: Sendable {
    let defended: String
    let attacker: String
    let defendedIP: String
    let attackerIP: String
    /// More addresses of the attacker's side, for attacks that must not share a ban.
    var otherAttackerIPs: [String] {
        let prefix = attackerIP.split(separator: ".").dropLast().joined(separator: ".")
        return ["\(prefix).3", "\(prefix).4"]
    }
    /// IPv6 (unique local) addresses of the same two ends.
    let defendedIP6: String
    let attackerIP6: String
    let ip: String
    let python: String

    struct Missing: Error, CustomStringConvertible {
        var description: String
    }

    init() async throws {
        guard let ip = which("ip") else { throw Missing(description: "iproute2 (ip) is not installed") }
        guard let python = which("python3") else { throw Missing(description: "python3 is not installed") }
        guard which("nft") != nil else { throw Missing(description: "nftables (nft) is not installed") }
        self.ip = ip
        self.python = python
        var rng = SystemRandomNumberGenerator()
        let id = String(rng.next() % 0xFFFFFF, radix: 16)
        let a = Int(rng.next() % 200) + 20
        let b = Int(rng.next() % 250) + 1
        defended = "wdd\(id)"
        attacker = "wda\(id)"
        defendedIP = "10.\(a).\(b).1"
        attackerIP = "10.\(a).\(b).2"
        defendedIP6 = "fd00:\(String(a, radix: 16)):\(String(b, radix: 16))::1"
        attackerIP6 = "fd00:\(String(a, radix: 16)):\(String(b, radix: 16))::2"
        let steps: [[String]] = [
            ["netns", "add", defended], ["netns", "add", attacker],
            ["link", "add", "vd\(id)", "type", "veth", "peer", "name", "va\(id)"],
            ["link", "set", "vd\(id)", "netns", defended], ["link", "set", "va\(id)", "netns", attacker],
            ["-n", defended, "addr", "add", "\(defendedIP)/24", "dev", "vd\(id)"],
            ["-n", attacker, "addr", "add", "\(attackerIP)/24", "dev", "va\(id)"],
            ["-n", attacker, "addr", "add", "10.\(a).\(b).3/24", "dev", "va\(id)"],
            ["-n", attacker, "addr", "add", "10.\(a).\(b).4/24", "dev", "va\(id)"],
            // nodad: usable at once, without waiting for duplicate address detection.
            ["-n", defended, "addr", "add", "\(defendedIP6)/64", "dev", "vd\(id)", "nodad"],
            ["-n", attacker, "addr", "add", "\(attackerIP6)/64", "dev", "va\(id)", "nodad"],
            ["-n", defended, "link", "set", "vd\(id)", "up"], ["-n", attacker, "link", "set", "va\(id)", "up"],
            ["-n", defended, "link", "set", "lo", "up"], ["-n", attacker, "link", "set", "lo", "up"],
        ]
        for step in steps {
            let r = try await runCommand(ip, step)
            if r.exitCode != 0 {
                await remove()
                throw Missing(description: "ip \(step.joined(separator: " ")): \(r.stderr)")
            }
        }
    }

    /// Deletes both namespaces (and with them the veth pair and every rule made inside).
    func remove() async {
        _ = try? await runCommand(ip, ["netns", "del", defended])
        _ = try? await runCommand(ip, ["netns", "del", attacker])
    }

    /// Runs a program inside the defended namespace.
    func inDefended(_ argv: [String], timeout: Duration = .seconds(60)) async throws -> CommandResult {
        try await runCommand(ip, ["netns", "exec", defended] + argv, timeout: timeout)
    }

    /// The `warden` CLI inside the defended namespace.
    func warden(_ args: String...) async throws -> CommandResult {
        try await inDefended([Binaries.warden] + args)
    }

    /// `warden run` inside the defended namespace.
    func startWarden(_ config: String) throws -> WardenProcess {
        try WardenProcess(config: config, prefix: [ip, "netns", "exec", defended])
    }

    /// The addresses in Warden's nftables set for IPv4.
    func banned(table: String = "warden") async throws -> String {
        try await inDefended(["nft", "list", "set", "inet", table, "ban4"]).stdout
    }

    /// The addresses in Warden's nftables set for IPv6.
    func banned6(table: String = "warden") async throws -> String {
        try await inDefended(["nft", "list", "set", "inet", table, "ban6"]).stdout
    }

    /// Whether the attacker can open a TCP connection to `port` on the defended side (1 s timeout),
    /// over IPv6 when `v6`.
    func attackerCanConnect(_ port: Int, v6: Bool = false) async throws -> Bool {
        let script = """
            import socket, sys
            try:
                socket.create_connection(("\(v6 ? defendedIP6 : defendedIP)", \(port)), timeout=1).close()
            except OSError:
                sys.exit(1)
            """
        let r = try await runCommand(ip, ["netns", "exec", attacker, python, "-c", script])
        return r.exitCode == 0
    }

    /// Runs a Python script in the attacker's namespace: `DEFENDED` stands for the defended
    /// address, `SOURCE` for the attacker address to send from.
    func attack(
        _ script: String,
        from source: String? = nil,
        timeout: Duration = .seconds(120)
    ) async throws
        -> CommandResult
    {
        let text = script.replacingOccurrences(of: "DEFENDED", with: defendedIP)
            .replacingOccurrences(of: "SOURCE", with: source ?? attackerIP)
        return try await runCommand(ip, ["netns", "exec", attacker, python, "-c", text], timeout: timeout)
    }

    /// Runs a program in the attacker's namespace.
    func inAttacker(_ argv: [String]) async throws -> CommandResult {
        try await runCommand(ip, ["netns", "exec", attacker] + argv)
    }

    /// From the attacker: up to `count` quick HTTP requests to `port`, one connection each,
    /// stopping at the first that fails; prints how many were answered.
    func flood(_ port: Int, count: Int) async throws -> CommandResult {
        let script = """
            import socket
            ok = 0
            for i in range(\(count)):
                try:
                    s = socket.create_connection(("\(defendedIP)", \(port)), timeout=0.5)
                    s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
                    s.recv(100)
                    s.close()
                    ok += 1
                except OSError:
                    break
            print(ok)
            """
        return try await runCommand(ip, ["netns", "exec", attacker, python, "-c", script], timeout: .seconds(120))
    }
}
