import CWardenSys
import Foundation
import Synchronization
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// A change to the firewall's ban sets.
public enum FirewallChange: Sendable, Hashable {
    /// Ban for `seconds` (the kernel drops the entry by itself when it runs out).
    case add(IPAddress, seconds: Int)
    /// The same, for an address known not to be in the set (never put there since the table was
    /// made, lifted, or ended long enough ago): it goes in without first clearing its place,
    /// which makes long lists several times cheaper.
    case addNew(IPAddress, seconds: Int)
    case remove(IPAddress)
}

/// Where bans take effect. Implementations own their table or sets and touch nothing else.
public protocol Firewall: Sendable {
    var name: String { get }
    /// Creates Warden's table or sets afresh (dropping what a previous run left) and puts `bans`
    /// in place.
    func prepare(_ bans: [FirewallChange]) async throws(FirewallError)
    /// Applies changes as one batch.
    func apply(_ changes: [FirewallChange]) async throws(FirewallError)
    /// The addresses in the sets, with their remaining seconds.
    func list() async throws(FirewallError) -> [IPAddress: Int]
    /// Removes Warden's table or sets.
    func remove() async throws(FirewallError)
}

public struct FirewallError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Decides, records, changes nothing: `firewall: dry-run`, and the fallback when the real one fails.
public final class DryRunFirewall: Firewall {
    public let name = "dry-run"
    let entries = Mutex<[IPAddress: ContinuousClock.Instant]>([:])

    public init() {}

    public func prepare(_ bans: [FirewallChange]) async throws(FirewallError) {
        entries.withLock { $0 = [:] }
        try await apply(bans)
    }

    public func apply(_ changes: [FirewallChange]) async throws(FirewallError) {
        let now = ContinuousClock.now
        entries.withLock { e in
            for c in changes {
                switch c {
                case .add(let a, let s), .addNew(let a, let s): e[a] = now + .seconds(s)
                case .remove(let a): e[a] = nil
                }
            }
        }
    }

    public func list() async throws(FirewallError) -> [IPAddress: Int] {
        let now = ContinuousClock.now
        return entries.withLock { e in
            e.compactMapValues { until in
                let left = until - now
                return left > .zero ? Int(left.components.seconds) + 1 : nil
            }
        }
    }

    public func remove() async throws(FirewallError) { entries.withLock { $0 = [:] } }
}

/// Runs a program (absolute path first) with `input` on stdin and returns its exit status and
/// output. Injected, so that commands go through the caller's process machinery (Warden's own
/// spawner and reaper).
public typealias CommandRunner = @Sendable (_ argv: [String], _ input: String) async -> (status: Int32, output: String)

enum SystemTool {
    /// Where a system program (`nft`, `ipset`, `journalctl`) is installed, or nil.
    static func path(_ name: String) -> String? {
        try? Executables.resolve(name, cwd: "/", path: "/usr/sbin:/sbin:/usr/bin:/bin:/usr/local/sbin").get()
    }
}
