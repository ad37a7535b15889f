import WardenCore

/// When an issuer's signing keys are fetched, used or refused. Pure: the caller gives the time.
///
/// Keys are fetched when first needed, again once they are `refresh` old, and at once for a key id
/// not among them (a rotation) — but never more than once per `minInterval`, so tokens with
/// made-up key ids cannot make Warden hammer the provider. When the provider cannot be reached the
/// keys already fetched keep working until they are `maxAge` old; after that the issuer's tokens are
/// refused (a clear 401, never an open door) until a fetch succeeds.
public struct KeyFreshness: Sendable, Equatable {
    public let refresh: Duration
    public let maxAge: Duration
    public let minInterval: Duration
    /// When the keys in use were fetched.
    public private(set) var fetchedAt: Instant?
    public private(set) var lastAttempt: Instant?
    /// Why the last fetch failed (nil after a success).
    public private(set) var lastError: String?

    public enum Decision: Sendable, Equatable {
        /// Verify with the keys held.
        case use
        /// Fetch the keys first, then decide again.
        case fetch
        /// Refuse the token, saying why.
        case refuse(String)
    }

    public init(refresh: Duration, maxAge: Duration, minInterval: Duration = .seconds(10)) {
        self.refresh = refresh
        self.maxAge = maxAge
        self.minInterval = minInterval
    }

    /// What to do for a token whose key id is (`knownKey`) or is not among the keys held.
    public func decide(now: Instant, knownKey: Bool) -> Decision {
        let mayFetch = lastAttempt.map { now - $0 >= minInterval } ?? true
        guard let fetchedAt else {
            return mayFetch
                ? .fetch : .refuse("the provider's signing keys could not be fetched: \(lastError ?? "no answer yet")")
        }
        let age = now - fetchedAt
        if mayFetch, !knownKey || age >= refresh { return .fetch }
        if age >= maxAge {
            return .refuse(
                "the provider's signing keys are older than \(DurationFormat.format(maxAge)) and could not be fetched again (\(lastError ?? "not tried yet")); its tokens are refused until they can"
            )
        }
        return knownKey ? .use : .refuse("the token was signed with a key the provider does not publish")
    }

    public mutating func fetched(at now: Instant) {
        fetchedAt = now
        lastAttempt = now
        lastError = nil
    }

    public mutating func failed(at now: Instant, _ error: String) {
        lastAttempt = now
        lastError = error
    }
}
