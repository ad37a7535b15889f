import CWardenSys
import Foundation
import Synchronization
import WardenCore

/// Warden's own nftables table (`inet warden` by default): one timeout set per family and one
/// drop rule per family in an input chain. Changes go in as one batch (one transaction), through
/// libnftables in-process when it is installed, else through `nft -f -`. No other table is ever
/// touched.
public final class NFTablesFirewall: Firewall {
    public let name = "nftables"
    public let table: String
    let library: Library
    let nftPath: String?
    let runner: CommandRunner

    /// Fails when neither libnftables nor the `nft` program is there. `runner` runs `nft -f -`
    /// when the library is missing.
    public init(table: String = "warden", runner: @escaping CommandRunner) throws(FirewallError) {
        self.table = table
        self.runner = runner
        library = Library()
        nftPath = SystemTool.path("nft")
        if library.handle == nil && nftPath == nil {
            throw FirewallError("nftables is not installed (neither libnftables.so.1 nor nft was found)")
        }
    }

    /// libnftables' context: used by one thread at a time.
    final class Library: @unchecked Sendable {
        let handle: OpaquePointer?
        let lock = NSLock()
        init() { handle = warden_nft_open() }
        deinit { if let handle { warden_nft_close(handle) } }

        func run(_ commands: String) -> (Int32, String, String)? {
            guard let handle else { return nil }
            lock.lock()
            defer { lock.unlock() }
            var out: UnsafeMutablePointer<CChar>?
            var err: UnsafeMutablePointer<CChar>?
            let rc = warden_nft_run(handle, commands, &out, &err)
            defer {
                free(out)
                free(err)
            }
            return (rc, out.map { String(cString: $0) } ?? "", err.map { String(cString: $0) } ?? "")
        }
    }

    /// Whether changes go through libnftables (no process per batch).
    public var inProcess: Bool { library.handle != nil }

    func run(_ commands: String) async throws(FirewallError) -> String {
        if let (rc, out, err) = library.run(commands) {
            if rc != 0 { throw FirewallError("nft: \(err.trimmingCharacters(in: .whitespacesAndNewlines))") }
            return out
        }
        guard let nftPath else { throw FirewallError("nft is not installed") }
        let (status, output) = await runner([nftPath, "-f", "-"], commands)
        if status != 0 { throw FirewallError("nft: \(output.trimmingCharacters(in: .whitespacesAndNewlines))") }
        return output
    }

    static func set(_ a: IPAddress) -> String { a.isV4 ? "ban4" : "ban6" }

    /// The timeout of an element added only to be deleted in the same transaction.
    static let clearingTimeout = "1d"

    /// The batch as a few commands per set, whatever its size (a blocklist of 100,000 addresses
    /// is a few commands, not 300,000): what the batch leaves each address in (its last change) is
    /// what is applied. An added address is added (with a day's timeout), deleted and added with
    /// its own, so that its timeout is set whether or not it was in the set; a new one
    /// (``FirewallChange/addNew(_:seconds:)``) is just added; a removed one is added (so that
    /// the delete cannot fail) and deleted. The clearing timeout is long because the kernel checks
    /// expiry while it works through the transaction: a batch of a million elements takes
    /// seconds, and an element added with a 1 s timeout at its start is gone (ENOENT, the whole
    /// transaction refused) by the time its delete comes.
    func commands(_ changes: [FirewallChange]) -> String {
        enum Last {
            case add(Int)
            case new(Int)
            case remove
        }
        var last: [IPAddress: Last] = [:]
        var order: [IPAddress] = []
        for c in changes {
            var (a, state): (IPAddress, Last)
            switch c {
            case .add(let address, let s): (a, state) = (address, .add(max(1, s)))
            case .addNew(let address, let s): (a, state) = (address, .new(max(1, s)))
            case .remove(let address): (a, state) = (address, .remove)
            }
            if last[a] == nil {
                order.append(a)
            } else if case .new(let s) = state {
                // Changed before in the same batch: not known to be absent any more.
                state = .add(s)
            }
            last[a] = state
        }
        var out = ""
        func element(_ list: [String]) -> String { "{ " + list.joined(separator: ", ") + " }" }
        for set in ["ban4", "ban6"] {
            var cleared: [IPAddress] = []
            var added: [String] = []
            for a in order where Self.set(a) == set {
                switch last[a]! {
                case .add(let s):
                    cleared.append(a)
                    added.append("\(a) timeout \(s)s")
                case .new(let s): added.append("\(a) timeout \(s)s")
                case .remove: cleared.append(a)
                }
            }
            if !cleared.isEmpty {
                out +=
                    "add element inet \(table) \(set) \(element(cleared.map { "\($0) timeout \(Self.clearingTimeout)" }))\n"
                out += "delete element inet \(table) \(set) \(element(cleared.map { "\($0)" }))\n"
            }
            if !added.isEmpty { out += "add element inet \(table) \(set) \(element(added))\n" }
        }
        return out
    }

    public func prepare(_ bans: [FirewallChange]) async throws(FirewallError) {
        let script = """
            add table inet \(table)
            delete table inet \(table)
            table inet \(table) {
                set ban4 { type ipv4_addr; flags timeout; }
                set ban6 { type ipv6_addr; flags timeout; }
                chain input {
                    type filter hook input priority filter - 10; policy accept;
                    ip saddr @ban4 drop
                    ip6 saddr @ban6 drop
                }
            }

            """
        _ = try await run(script + commands(bans))
    }

    public func apply(_ changes: [FirewallChange]) async throws(FirewallError) {
        guard !changes.isEmpty else { return }
        _ = try await run(commands(changes))
    }

    public func list() async throws(FirewallError) -> [IPAddress: Int] {
        var result: [IPAddress: Int] = [:]
        for set in ["ban4", "ban6"] {
            let out = try await run("list set inet \(table) \(set)\n")
            // elements = { 10.0.0.2 timeout 10m expires 9m58s, … }
            guard let open = out.range(of: "elements = {") else { continue }
            let body = out[open.upperBound...].prefix { $0 != "}" }
            for item in body.split(separator: ",") {
                let words = item.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
                guard let first = words.first, let a = IPAddress(first) else { continue }
                var left = 0
                if let i = words.firstIndex(of: "expires"), i + 1 < words.count {
                    left = Int(((DurationFormat.parseNFT(String(words[i + 1])) ?? .zero).seconds).rounded(.up))
                }
                result[a] = left
            }
        }
        return result
    }

    public func remove() async throws(FirewallError) {
        _ = try await run("add table inet \(table)\ndelete table inet \(table)\n")
    }
}

extension DurationFormat {
    /// nft's durations: `9m58s`, `1h`, `2d3h`, `500ms`.
    static func parseNFT(_ text: String) -> Duration? {
        var total = 0.0
        var number = ""
        var unit = ""
        func flush() -> Bool {
            guard let n = Double(number) else { return number.isEmpty && unit.isEmpty }
            switch unit {
            case "d": total += n * 86_400
            case "h": total += n * 3600
            case "m": total += n * 60
            case "s": total += n
            case "ms": total += n / 1000
            default: return false
            }
            number = ""
            unit = ""
            return true
        }
        for c in text {
            if c.isNumber {
                if !unit.isEmpty { guard flush() else { return nil } }
                number.append(c)
            } else {
                unit.append(c)
            }
        }
        guard flush() else { return nil }
        return .milliseconds(Int64(total * 1000))
    }
}
