import HTTPTypes
import Hummingbird
import Synchronization
import WardenCore
import WardenIdentity

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
    /// ID tokens of the spec's OpenID providers (nil: static tokens only).
    let oidc: OIDCVerifier?
    /// The dashboard's sign-in sessions (nil: no sign-in).
    let sessions: LoginSessions?

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
        clock: any WardenClock = SystemClock(),
        oidc: OIDCVerifier? = nil,
        sessions: LoginSessions? = nil
    ) {
        self.tokens = tokens
        self.anonymousRead = anonymousRead
        self.throttle = Throttle(failures)
        self.audit = audit
        self.clock = clock
        self.oidc = oidc
        self.sessions = sessions
    }

    public func handle(
        _ request: Request,
        context: APIContext,
        next: (Request, APIContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        // A webhook proves itself its own way (its route checks it); its Authorization header, when
        // it has one, is the hook's token, not a token of the API's.
        if request.uri.path.hasPrefix("/v1/hooks/") { return try await next(request, context) }
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
            var providerDown = false
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                let token = Array(parts[1].utf8)
                context.identity = identify(token)
                if context.identity == nil, let oidc, JWTShape.looksLikeJWT(token) {
                    switch await oidc.verify(token) {
                    case .success(let who):
                        context.identity = Identity(
                            name: who.qualifiedName,
                            role: who.role,
                            limitedBecause: who.mfaProblem
                        )
                    case .failure(let rejection):
                        context.authProblem = "the ID token is refused: \(rejection.message)"
                        providerDown = rejection.kind == .keys
                    }
                } else if context.identity == nil {
                    context.authProblem = "the bearer token is not valid"
                }
            } else {
                context.authProblem = "the Authorization header must be 'Bearer <token>'"
            }
            // A provider that cannot be reached is not the caller's fault: no penalty for it.
            if let problem = context.authProblem, !providerDown {
                let earned = throttle.table.withLock { $0.failed(key, now: now) }
                audit?.failed(key, problem: problem, earned: earned)
            }
        } else if let sessions, let id = SessionCookie.value(of: request.headers[values: .cookie]) {
            guard let session = sessions.session(id) else {
                context.authProblem = "the dashboard session has ended; sign in again at /auth/login"
                return try await next(request, context)
            }
            if !Self.safe(request.method) { try Self.checkCSRF(request, session: session) }
            context.identity = Identity(
                name: session.identity.qualifiedName,
                role: session.identity.role,
                limitedBecause: session.identity.mfaProblem,
                session: true
            )
        } else if anonymousRead {
            context.identity = Identity(name: "anonymous", role: .viewer, anonymous: true)
        }
        return try await next(request, context)
    }

    static func safe(_ method: HTTPRequest.Method) -> Bool {
        method == .get || method == .head || method == .options
    }

    /// A browser's state-changing request must carry the session's CSRF token in `X-CSRF-Token`
    /// (which a page of another site cannot read or set), and, when it says where it comes from,
    /// come from this server's own origin.
    static func checkCSRF(_ request: Request, session: LoginSessions.Session) throws {
        let sent = request.headers[.csrfToken].map { Array($0.utf8) } ?? []
        guard Secret(session.csrf).matches(sent) else {
            throw APIError(
                .forbidden,
                "csrf",
                "a signed-in request that changes something must carry the session's X-CSRF-Token (GET /v1/session gives it)"
            )
        }
        if let origin = request.headers[.origin], let host = request.head.authority {
            guard origin == "https://\(host)" else {
                throw APIError(.forbidden, "csrf", "the request comes from another origin (\(origin.prefix(100)))")
            }
        }
    }

    func identify(_ candidate: [UInt8]) -> Identity? {
        var found: TokenSpec?
        for token in tokens where token.secret.matches(candidate) {
            if found == nil { found = token }
        }
        return found.map { Identity(name: $0.name, role: $0.role) }
    }
}

extension HTTPField.Name {
    static let csrfToken = HTTPField.Name("X-CSRF-Token")!
}
