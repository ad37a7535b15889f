import HTTPTypes
import Hummingbird
import Synchronization
import WardenCore

/// Resolves the bearer token of each request to an ``Identity``, and makes addresses that keep
/// sending wrong tokens wait.
///
/// Every declared token is compared, in constant time, whatever matches first, so timing does not
/// reveal which token (or how much of one) was right. A request without a token is anonymous when
/// the spec allows anonymous reads, else unauthenticated; a request with a wrong token is always
/// unauthenticated. Routes then call ``APIContext/require(_:write:)``.
///
/// Wrong tokens are counted per address (``AuthThrottle``): past the allowance, any request that
/// carries a token from that address is answered 429 with `Retry-After` before its token is even
/// compared, so guessing costs time, not just requests. Failures are summed for the audit trail
/// (``AuthAudit``).
public struct AuthMiddleware: RouterMiddleware {
    public typealias Context = APIContext

    let tokens: [TokenSpec]
    let anonymousRead: Bool
    let throttle: Throttle
    let audit: AuthAudit?
    let clock: any WardenClock

    /// The shared throttle table.
    final class Throttle: Sendable {
        let table: Mutex<AuthThrottle>
        init(_ limit: AuthFailureLimit) { table = Mutex(AuthThrottle(limit: limit)) }
    }

    public init(
        tokens: [TokenSpec],
        anonymousRead: Bool,
        failures: AuthFailureLimit = AuthFailureLimit(),
        audit: AuthAudit? = nil,
        clock: any WardenClock = SystemClock()
    ) {
        self.tokens = tokens
        self.anonymousRead = anonymousRead
        self.throttle = Throttle(failures)
        self.audit = audit
        self.clock = clock
    }

    public func handle(
        _ request: Request,
        context: APIContext,
        next: (Request, APIContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        if let header = request.headers[.authorization] {
            let key = AuthThrottle.key(context.remoteAddress)
            let now = clock.now()
            if let wait = throttle.table.withLock({ $0.wait(key, now: now) }) {
                audit?.refused(key)
                let seconds = max(1, Int(wait.seconds.rounded(.up)))
                throw APIError(
                    .tooManyRequests,
                    "auth_backoff",
                    "too many failed authentications from this address; retry in \(seconds)s"
                )
                .with(header: .retryAfter, String(seconds))
            }
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                context.identity = identify(Array(parts[1].utf8))
                if context.identity == nil { context.authProblem = "the bearer token is not valid" }
            } else {
                context.authProblem = "the Authorization header must be 'Bearer <token>'"
            }
            if let problem = context.authProblem {
                let earned = throttle.table.withLock { $0.failed(key, now: now) }
                audit?.failed(key, problem: problem, earned: earned)
            }
        } else if anonymousRead {
            context.identity = Identity(name: "anonymous", role: .viewer, anonymous: true)
        }
        return try await next(request, context)
    }

    func identify(_ candidate: [UInt8]) -> Identity? {
        var found: TokenSpec?
        for token in tokens where token.secret.matches(candidate) {
            if found == nil { found = token }
        }
        return found.map { Identity(name: $0.name, role: $0.role) }
    }
}
