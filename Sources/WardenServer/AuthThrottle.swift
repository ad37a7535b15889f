import WardenCore

/// Failed authentications by address, and the wait they earn. Pure: the caller passes the time.
///
/// Each address has an allowance of `allow` failures that refills evenly over `per` (a leaky
/// bucket). Past it, every further failure doubles the wait before a token from that address is
/// even compared, from one second up to `maxPenalty`; the doubling starts over once the bucket
/// has drained. IPv6 clients are counted by /64, so rotating addresses within one network does not
/// buy new guesses. The table is bounded: drained entries go first, then the least recent.
public struct AuthThrottle: Sendable {
    struct Entry: Sendable {
        var level: Double
        var updated: Instant
        var strikes: Int
        var blockedUntil: Instant
    }

    public let limit: AuthFailureLimit
    public let capacity: Int
    private(set) var entries: [String: Entry] = [:]

    public init(limit: AuthFailureLimit, capacity: Int = 100_000) {
        self.limit = limit
        self.capacity = capacity
    }

    /// The key an address is counted under: the address itself for IPv4, its /64 for IPv6.
    public static func key(_ remote: String) -> String {
        guard let address = IPAddress(remote) else { return remote }
        if address.isV4 { return address.description }
        return "\(CIDR(address, prefix: 64))"
    }

    /// How long requests with a token from `key` must still wait, or nil when they may try.
    public func wait(_ key: String, now: Instant) -> Duration? {
        guard let e = entries[key], now < e.blockedUntil else { return nil }
        return e.blockedUntil - now
    }

    /// Records a failed authentication; returns the wait it earned, or nil while the address is
    /// within its allowance.
    public mutating func failed(_ key: String, now: Instant) -> Duration? {
        var e = entries[key] ?? Entry(level: 0, updated: now, strikes: 0, blockedUntil: now)
        drain(&e, now: now)
        e.level += 1
        var earned: Duration?
        if e.level > Double(limit.allow) {
            e.strikes += 1
            let seconds = min(limit.maxPenalty.seconds, Double(1 << min(e.strikes - 1, 30)))
            let penalty = Duration.milliseconds(Int64(seconds * 1000))
            e.blockedUntil = now + penalty
            earned = penalty
        }
        if entries[key] == nil && entries.count >= capacity { evict(now: now) }
        entries[key] = e
        return earned
    }

    /// Addresses currently tracked.
    public var count: Int { entries.count }

    private func drain(_ e: inout Entry, now: Instant) {
        let rate = Double(limit.allow) / max(limit.per.seconds, 0.001)
        let elapsed = max(0, (now - e.updated).seconds)
        e.level = max(0, e.level - elapsed * rate)
        e.updated = now
        if e.level == 0 && now >= e.blockedUntil { e.strikes = 0 }
    }

    /// Makes room: forgets every drained, unblocked entry, or else the least recently updated eighth.
    private mutating func evict(now: Instant) {
        let rate = Double(limit.allow) / max(limit.per.seconds, 0.001)
        let before = entries.count
        entries = entries.filter { _, e in
            now < e.blockedUntil || e.level - max(0, (now - e.updated).seconds) * rate > 0
        }
        if entries.count < before { return }
        let oldest = entries.sorted { $0.value.updated < $1.value.updated }.prefix(max(1, entries.count / 8))
        for (key, _) in oldest { entries.removeValue(forKey: key) }
    }
}
