#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address as a value: hashable, comparable, cheap to copy.
///
/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are normalised to IPv4, so an address is the same
/// key whether a log or the kernel wrote it in either form.
public enum IPAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    case v4(UInt32)
    /// High and low 64 bits, network order.
    case v6(UInt64, UInt64)

    /// Parses dotted-quad IPv4 or any textual IPv6 form (including `::ffff:a.b.c.d` and zone-less
    /// scoped forms). Returns nil for anything else, including a trailing port.
    public init?(_ text: some StringProtocol) {
        var copy = String(text)
        let parsed: IPAddress? = copy.withUTF8 { IPAddress(bytes: $0) }
        guard let parsed else { return nil }
        self = parsed
    }

    /// Parses from UTF-8 bytes without allocating for IPv4 (the common case in logs).
    public init?(bytes: UnsafeBufferPointer<UInt8>) {
        if let v4 = Self.parseV4(bytes) {
            self = .v4(v4)
            return
        }
        guard bytes.count >= 2, bytes.count <= 45, bytes.contains(UInt8(ascii: ":")) else { return nil }
        // Only what an IPv6 address is written with: inet_pton would stop at a NUL and accept
        // `200::5\0garbage` as 200::5.
        for b in bytes {
            guard (48...57).contains(b) || (97...102).contains(b) || (65...70).contains(b) || b == 58 || b == 46 else {
                return nil
            }
        }
        var buffer = [CChar](repeating: 0, count: 48)
        for (i, b) in bytes.enumerated() { buffer[i] = CChar(bitPattern: b) }
        var raw = in6_addr()
        guard inet_pton(AF_INET6, buffer, &raw) == 1 else { return nil }
        self = withUnsafeBytes(of: &raw) { Self(v6Bytes: $0) }
    }

    /// From the 16 bytes of an IPv6 address in network order.
    public init(v6Bytes b: UnsafeRawBufferPointer) {
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        for i in 0..<8 { hi = hi << 8 | UInt64(b[i]) }
        for i in 8..<16 { lo = lo << 8 | UInt64(b[i]) }
        if hi == 0 && lo >> 32 == 0xFFFF {
            self = .v4(UInt32(truncatingIfNeeded: lo))
        } else {
            self = .v6(hi, lo)
        }
    }

    static func parseV4(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32? {
        var value: UInt32 = 0
        var octet: UInt32 = 0
        var digits = 0
        var dots = 0
        for b in bytes {
            if b >= 48 && b <= 57 {
                // No leading zeros beyond a single 0 (as inet_pton).
                if digits == 1 && octet == 0 { return nil }
                octet = octet * 10 + UInt32(b - 48)
                digits += 1
                if digits > 3 || octet > 255 { return nil }
            } else if b == UInt8(ascii: ".") {
                if digits == 0 || dots == 3 { return nil }
                value = value << 8 | octet
                octet = 0
                digits = 0
                dots += 1
            } else {
                return nil
            }
        }
        guard dots == 3, digits > 0 else { return nil }
        return value << 8 | octet
    }

    public var isV4: Bool { if case .v4 = self { true } else { false } }

    /// 127.0.0.0/8 or ::1.
    public var isLoopback: Bool {
        switch self {
        case .v4(let a): return a >> 24 == 127
        case .v6(let hi, let lo): return hi == 0 && lo == 1
        }
    }

    /// 0.0.0.0 or ::.
    public var isUnspecified: Bool {
        switch self {
        case .v4(let a): return a == 0
        case .v6(let hi, let lo): return hi == 0 && lo == 0
        }
    }

    /// 224.0.0.0/4 or ff00::/8: a group, not a host.
    public var isMulticast: Bool {
        switch self {
        case .v4(let a): return a >> 28 == 0xE
        case .v6(let hi, _): return hi >> 56 == 0xFF
        }
    }

    /// 255.255.255.255 (the limited broadcast) or an address in 0.0.0.0/8 ("this network"):
    /// neither is a host that could attack.
    public var isBroadcastOrThisNetwork: Bool {
        switch self {
        case .v4(let a): return a == 0xFFFF_FFFF || a >> 24 == 0
        case .v6: return false
        }
    }

    public var description: String {
        switch self {
        case .v4(let a):
            return "\(a >> 24).\(a >> 16 & 0xFF).\(a >> 8 & 0xFF).\(a & 0xFF)"
        case .v6(let hi, let lo):
            var raw = in6_addr()
            withUnsafeMutableBytes(of: &raw) { p in
                for i in 0..<8 { p[i] = UInt8(truncatingIfNeeded: hi >> (56 - 8 * UInt64(i))) }
                for i in 0..<8 { p[8 + i] = UInt8(truncatingIfNeeded: lo >> (56 - 8 * UInt64(i))) }
            }
            var out = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            inet_ntop(AF_INET6, &raw, &out, socklen_t(out.count))
            return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        switch (a, b) {
        case (.v4(let x), .v4(let y)): return x < y
        case (.v4, .v6): return true
        case (.v6, .v4): return false
        case (.v6(let h1, let l1), .v6(let h2, let l2)): return (h1, l1) < (h2, l2)
        }
    }
}

/// An address block such as `10.0.0.0/8` or `2001:db8::/32`; a bare address is a /32 or /128.
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    public let base: IPAddress
    public let prefix: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(parts[0]) else { return nil }
        let maxPrefix = address.isV4 ? 32 : 128
        var prefix = maxPrefix
        if parts.count == 2 {
            guard let p = Int(parts[1]), (0...maxPrefix).contains(p) else { return nil }
            prefix = p
        }
        self.init(address, prefix: prefix)
    }

    public init(_ address: IPAddress, prefix: Int) {
        self.prefix = prefix
        self.base = Self.mask(address, prefix)
    }

    static func mask(_ a: IPAddress, _ prefix: Int) -> IPAddress {
        switch a {
        case .v4(let v):
            return .v4(prefix == 0 ? 0 : v & ~UInt32(0) << (32 - prefix))
        case .v6(let hi, let lo):
            let hiMask: UInt64 = prefix >= 64 ? ~0 : (prefix == 0 ? 0 : ~UInt64(0) << (64 - prefix))
            let loMask: UInt64 = prefix <= 64 ? 0 : (prefix == 128 ? ~0 : ~UInt64(0) << (128 - prefix))
            return .v6(hi & hiMask, lo & loMask)
        }
    }

    public func contains(_ address: IPAddress) -> Bool {
        guard address.isV4 == base.isV4 else { return false }
        return Self.mask(address, prefix) == base
    }

    public var description: String { "\(base)/\(prefix)" }
}
