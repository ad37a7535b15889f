import Foundation
import WardenCore

/// iptables + ipset, for hosts without nftables: an ipset per family (`warden-ban4`,
/// `warden-ban6`, with timeouts) and one DROP rule per family at the top of INPUT. Changes go in as
/// one `ipset restore` batch.
public final class IPSetFirewall: Firewall {
    public let name = "iptables"
    public let prefix: String
    let ipset: String
    let iptables: String
    let ip6tables: String?
    let runner: CommandRunner

    public init(prefix: String = "warden", runner: @escaping CommandRunner) throws(FirewallError) {
        self.prefix = prefix
        self.runner = runner
        guard let ipset = SystemTool.path("ipset"), let iptables = SystemTool.path("iptables") else {
            throw FirewallError("iptables and ipset are not both installed")
        }
        self.ipset = ipset
        self.iptables = iptables
        ip6tables = SystemTool.path("ip6tables")
    }

    func set(_ a: IPAddress) -> String { a.isV4 ? "\(prefix)-ban4" : "\(prefix)-ban6" }

    func check(_ argv: [String], input: String = "") async throws(FirewallError) {
        let (status, output) = await runner(argv, input)
        if status != 0 {
            throw FirewallError(
                "\((argv[0] as NSString).lastPathComponent): \(output.trimmingCharacters(in: .whitespacesAndNewlines))"
            )
        }
    }

    public func prepare(_ bans: [FirewallChange]) async throws(FirewallError) {
        for (family, set) in [("inet", "\(prefix)-ban4"), ("inet6", "\(prefix)-ban6")] {
            try await check([ipset, "create", set, "hash:ip", "family", family, "timeout", "0", "-exist"])
            try await check([ipset, "flush", set])
        }
        for (tool, set) in [(iptables, "\(prefix)-ban4"), (ip6tables, "\(prefix)-ban6")] {
            guard let tool else { continue }
            let rule = ["INPUT", "-m", "set", "--match-set", set, "src", "-j", "DROP"]
            if await runner([tool, "-C"] + rule, "").status != 0 { try await check([tool, "-I"] + rule) }
        }
        try await apply(bans)
    }

    public func apply(_ changes: [FirewallChange]) async throws(FirewallError) {
        guard !changes.isEmpty else { return }
        var script = ""
        for c in changes {
            switch c {
            case .add(let a, let s), .addNew(let a, let s): script += "add \(set(a)) \(a) timeout \(max(1, s))\n"
            case .remove(let a): script += "del \(set(a)) \(a)\n"
            }
        }
        try await check([ipset, "restore", "-exist"], input: script)
    }

    public func list() async throws(FirewallError) -> [IPAddress: Int] {
        var result: [IPAddress: Int] = [:]
        for set in ["\(prefix)-ban4", "\(prefix)-ban6"] {
            let (status, output) = await runner([ipset, "save", set], "")
            guard status == 0 else { throw FirewallError("ipset: \(output)") }
            for line in output.split(separator: "\n") where line.hasPrefix("add ") {
                let words = line.split(separator: " ")
                guard words.count >= 3, let a = IPAddress(words[2]) else { continue }
                var left = 0
                if let i = words.firstIndex(of: "timeout"), i + 1 < words.count { left = Int(words[i + 1]) ?? 0 }
                result[a] = left
            }
        }
        return result
    }

    public func remove() async throws(FirewallError) {
        for (tool, set) in [(iptables, "\(prefix)-ban4"), (ip6tables, "\(prefix)-ban6")] {
            guard let tool else { continue }
            let rule = ["INPUT", "-m", "set", "--match-set", set, "src", "-j", "DROP"]
            while await runner([tool, "-C"] + rule, "").status == 0 { _ = await runner([tool, "-D"] + rule, "") }
        }
        for set in ["\(prefix)-ban4", "\(prefix)-ban6"] { _ = await runner([ipset, "destroy", set], "") }
    }
}
