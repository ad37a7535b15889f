import Crypto
import Foundation
import Synchronization
import WardenCore

/// The dashboard's sign-ins in progress and its sessions, in memory (a restart signs everyone
/// out).
///
/// A sign-in starts with ``begin()``: a random `state` (which also goes in a cookie, so that the
/// callback only completes in the browser that started it), a PKCE verifier and a nonce, kept for
/// ten minutes. ``finish(_:)`` takes them back exactly once. A session is a random 256-bit id
/// (the cookie) with the signed-in identity, its own CSRF token and an expiry. Both tables are
/// bounded: past the limit the oldest entries go (sign-ins in the order they began, at a constant
/// cost each; sessions, which only a signed-in person can add, by a scan).
public final class LoginSessions: Sendable {
    public struct Pending: Sendable {
        public var verifier: String
        public var nonce: String
        var created: Instant
    }

    public struct Session: Sendable {
        public var identity: OIDCIdentity
        /// What a state-changing request must repeat in `X-CSRF-Token`.
        public var csrf: String
        public var expires: Instant
        /// The wall-clock expiry, for the dashboard.
        public var expiresAt: Date
    }

    private struct State {
        var pending: [String: Pending] = [:]
        /// Pending sign-ins in the order they began (some already finished), oldest at `head`.
        var order: [String] = []
        var head = 0
        var sessions: [String: Session] = [:]

        /// Drops finished and expired sign-ins from the front, then the oldest while there are
        /// more than `limit`: O(1) amortised, so a flood of sign-ins costs each one little.
        mutating func trim(now: Instant, limit: Int) {
            while head < order.count {
                let id = order[head]
                guard let p = pending[id] else {
                    head += 1
                    continue
                }
                guard now - p.created >= LoginSessions.pendingLifetime || pending.count > limit else { break }
                pending[id] = nil
                head += 1
            }
            if head > 1024 && head * 2 > order.count {
                order.removeFirst(head)
                head = 0
            }
        }
    }

    private let state = Mutex(State())
    let clock: any WardenClock
    let maxPending: Int
    let maxSessions: Int
    /// How long a sign-in may take.
    public static let pendingLifetime = Duration.seconds(600)

    public init(clock: any WardenClock, maxPending: Int = 10_000, maxSessions: Int = 100_000) {
        self.clock = clock
        self.maxPending = maxPending
        self.maxSessions = maxSessions
    }

    /// Starts a sign-in: its state, PKCE verifier and challenge (S256), and nonce.
    public func begin() -> (state: String, verifier: String, challenge: String, nonce: String) {
        let id = Self.randomToken()
        let verifier = Self.randomToken() + Self.randomToken()
        let nonce = Self.randomToken()
        let now = clock.now()
        state.withLock { s in
            s.pending[id] = Pending(verifier: verifier, nonce: nonce, created: now)
            s.order.append(id)
            s.trim(now: now, limit: maxPending)
        }
        return (id, verifier, Self.challenge(for: verifier), nonce)
    }

    /// The sign-in `state` started, once; nil when unknown, used or older than ten minutes.
    public func finish(_ id: String) -> Pending? {
        let now = clock.now()
        return state.withLock { s in
            guard let pending = s.pending.removeValue(forKey: id), now - pending.created < Self.pendingLifetime else {
                return nil
            }
            return pending
        }
    }

    /// Opens a session for `identity`: its id (the cookie's value) and the session.
    public func open(_ identity: OIDCIdentity, lifetime: Duration) -> (id: String, session: Session) {
        let id = Self.randomToken()
        let session = Session(
            identity: identity,
            csrf: Self.randomToken(),
            expires: clock.now() + lifetime,
            expiresAt: clock.wallTime().addingTimeInterval(lifetime.seconds)
        )
        let now = clock.now()
        state.withLock { s in
            if s.sessions.count >= maxSessions {
                s.sessions = s.sessions.filter { $0.value.expires > now }
                if s.sessions.count >= maxSessions,
                    let oldest = s.sessions.min(by: { $0.value.expires < $1.value.expires })
                {
                    s.sessions[oldest.key] = nil
                }
            }
            s.sessions[id] = session
        }
        return (id, session)
    }

    /// The live session with this id.
    public func session(_ id: String) -> Session? {
        let now = clock.now()
        return state.withLock { s in
            guard let session = s.sessions[id] else { return nil }
            guard session.expires > now else {
                s.sessions[id] = nil
                return nil
            }
            return session
        }
    }

    /// Ends a session.
    public func close(_ id: String) { _ = state.withLock { $0.sessions.removeValue(forKey: id) } }

    /// 256 random bits, base64url.
    public static func randomToken() -> String {
        var g = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &g) }
        return base64URL(bytes)
    }

    /// The PKCE S256 challenge of `verifier` (RFC 7636).
    public static func challenge(for verifier: String) -> String {
        base64URL(Array(SHA256.hash(data: Array(verifier.utf8))))
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
