/// A circuit breaker as a pure state machine over an injected time: closed until `failures`
/// consecutive failures, then open (calls refused at once) for `cooldown`, then half-open: one
/// trial call; its success closes the circuit, its failure opens it again.
public struct CircuitBreaker: Sendable, Hashable {
    public enum State: Sendable, Hashable {
        case closed(failures: Int)
        case open(until: ContinuousClock.Instant)
        case halfOpen(trialOut: Bool)
    }

    public let failures: Int
    public let cooldown: Duration
    public private(set) var state: State = .closed(failures: 0)

    public init(failures: Int, cooldown: Duration) {
        self.failures = max(1, failures)
        self.cooldown = cooldown
    }

    /// Whether a call may go now; a half-open circuit lets exactly one through.
    public mutating func allow(now: ContinuousClock.Instant) -> Bool {
        switch state {
        case .closed: return true
        case .open(let until):
            guard now >= until else { return false }
            state = .halfOpen(trialOut: true)
            return true
        case .halfOpen(let out):
            if out { return false }
            state = .halfOpen(trialOut: true)
            return true
        }
    }

    /// Records how an allowed call went.
    public mutating func record(success: Bool, now: ContinuousClock.Instant) {
        switch (state, success) {
        case (_, true): state = .closed(failures: 0)
        case (.closed(let n), false):
            state = n + 1 >= failures ? .open(until: now + cooldown) : .closed(failures: n + 1)
        case (.halfOpen, false), (.open, false): state = .open(until: now + cooldown)
        }
    }

    public var isOpen: Bool {
        if case .open = state { return true }
        return false
    }
}
