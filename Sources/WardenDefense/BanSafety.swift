import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// The addresses Warden must never ban: loopback and unspecified addresses, multicast and
/// broadcast addresses (groups, not hosts: banning one would cut the node off from its network's
/// own traffic), the spec's `allow` blocks, the node's own addresses and its networks' broadcast
/// addresses, and the peers of SSH sessions that were open when Warden started (whoever is logged
/// in to fix things stays logged in).
public struct BanSafety: Sendable {
    public var allow: [CIDR]
    public var own: Set<IPAddress>
    public var sshPeers: Set<IPAddress>

    public init(allow: [CIDR], own: Set<IPAddress> = [], sshPeers: Set<IPAddress> = []) {
        self.allow = allow
        self.own = own
        self.sshPeers = sshPeers
    }

    /// Why `address` may not be banned, or nil when it may.
    public func refusal(_ address: IPAddress) -> String? {
        if address.isLoopback { return "loopback" }
        if address.isUnspecified { return "unspecified address" }
        if address.isMulticast { return "a multicast address" }
        if address.isBroadcastOrThisNetwork { return "a broadcast or this-network address" }
        if own.contains(address) { return "one of this node's own addresses" }
        if let block = allow.first(where: { $0.contains(address) }) { return "allowlisted (\(block))" }
        if sshPeers.contains(address) { return "had an SSH session open when Warden started" }
        return nil
    }

    /// The addresses of this node's interfaces, and the broadcast addresses of their networks.
    public static func ownAddresses() -> Set<IPAddress> {
        var result: Set<IPAddress> = []
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return result }
        defer { freeifaddrs(list) }
        var p: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = p {
            if let sa = entry.pointee.ifa_addr {
                switch Int32(sa.pointee.sa_family) {
                case AF_INET:
                    sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                        result.insert(.v4(UInt32(bigEndian: $0.pointee.sin_addr.s_addr)))
                    }
                    if let mask = entry.pointee.ifa_netmask, Int32(mask.pointee.sa_family) == AF_INET {
                        let m = mask.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                            UInt32(bigEndian: $0.pointee.sin_addr.s_addr)
                        }
                        let a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                            UInt32(bigEndian: $0.pointee.sin_addr.s_addr)
                        }
                        if m != 0xFFFF_FFFF { result.insert(.v4(a | ~m)) }
                    }
                case AF_INET6:
                    sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { s6 in
                        var addr = s6.pointee.sin6_addr
                        result.insert(withUnsafeBytes(of: &addr) { IPAddress(v6Bytes: $0) })
                    }
                default: break
                }
            }
            p = entry.pointee.ifa_next
        }
        return result
    }

    /// The remote addresses of established connections to `ports` on this node.
    public static func sshPeers(ports: [Int], in entries: [TCPEntry]) -> Set<IPAddress> {
        let set = Set(ports.map { UInt16($0) })
        return Set(entries.filter { $0.state == .established && set.contains($0.localPort) }.map(\.remote))
    }
}
