import HTTPTypes
import Hummingbird
import WardenCore

/// Resolves the bearer token of each request to an ``Identity``.
///
/// Every declared token is compared, in constant time, whatever matches first, so timing does not
/// reveal which token (or how much of one) was right. A request without a token is anonymous when
/// the spec allows anonymous reads, else unauthenticated; a request with a wrong token is always
/// unauthenticated. Routes then call ``APIContext/require(_:write:)``.
public struct AuthMiddleware: RouterMiddleware {
    public typealias Context = APIContext

    let tokens: [TokenSpec]
    let anonymousRead: Bool

    public init(tokens: [TokenSpec], anonymousRead: Bool) {
        self.tokens = tokens
        self.anonymousRead = anonymousRead
    }

    public func handle(
        _ request: Request,
        context: APIContext,
        next: (Request, APIContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                context.identity = identify(Array(parts[1].utf8))
                if context.identity == nil { context.authProblem = "the bearer token is not valid" }
            } else {
                context.authProblem = "the Authorization header must be 'Bearer <token>'"
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
