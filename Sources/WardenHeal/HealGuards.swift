import WardenCore

/// The limits on acting on one target, as a pure value: when it may act next (cooldown) and
/// whether it has acted too often (at most N actions per window).
public struct HealGuards: Sendable, Hashable {
    public let cooldown: Duration
    public let max: GiveUp
    /// When recent actions started, oldest first.
    public private(set) var actions: [Instant] = []

    public init(cooldown: Duration, max: GiveUp) {
        self.cooldown = cooldown
        self.max = max
    }

    public enum Decision: Sendable, Hashable {
        /// Act now.
        case act
        /// Wait until then (the cooldown after the last action).
        case wait(until: Instant)
        /// Stop: `count` actions already happened within the window.
        case hold(count: Int)
    }

    /// Whether an action may start at `now`.
    public func decide(now: Instant) -> Decision {
        let recent = actions.filter { now - $0 < max.window }
        if recent.count >= max.count { return .hold(count: recent.count) }
        if let last = actions.last, now - last < cooldown { return .wait(until: last + cooldown) }
        return .act
    }

    /// Records that an action started at `now`.
    public mutating func record(now: Instant) {
        actions.append(now)
        actions.removeAll { now - $0 >= max.window && now - $0 >= cooldown }
    }
}
