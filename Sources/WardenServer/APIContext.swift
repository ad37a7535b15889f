import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import WardenCore
import WardenIdentity

/// Who is making a request.
public struct Identity: Sendable, Hashable {
    /// The token's name, or `anonymous`.
    public var name: String
    public var role: Role
    /// A reader without a token (only when the spec allows anonymous reads).
    public var anonymous: Bool
    /// Why the caller has less than their provider's groups grant (a second factor missing):
    /// what a route needing more answers with its 403.
    public var limitedBecause: String?
    /// Signed in to the dashboard (a session cookie) rather than sending a bearer token.
    public var session: Bool

    public init(
        name: String,
        role: Role,
        anonymous: Bool = false,
        limitedBecause: String? = nil,
        session: Bool = false
    ) {
        self.name = name
        self.role = role
        self.anonymous = anonymous
        self.limitedBecause = limitedBecause
        self.session = session
    }
}

/// The request context of every API route: Hummingbird's core plus the caller's identity.
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by ``AuthMiddleware``; nil when the request carries no valid token.
    public var identity: Identity?
    /// Why authentication failed (a token that matched nothing), for the 401 message.
    public var authProblem: String?
    /// The peer's address, for rate limits of anonymous readers and for audit records.
    public var remoteAddress: String
    /// The client's connection: long work is cancelled when it closes.
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// Bodies are collected by the routes with the spec's limit; this is the hard ceiling.
    public var maxUploadSize: Int { 64 * 1024 * 1024 }

    /// Requires at least `role`; throws 401 without a usable identity and 403 for a role too low.
    /// Anonymous identities can only read.
    public func require(_ role: Role, write: Bool = false) throws -> Identity {
        guard let identity else {
            throw APIError(
                .unauthorized,
                "unauthorized",
                authProblem ?? "this route needs a bearer token (Authorization: Bearer …)"
            )
            .with(header: .wwwAuthenticate, "Bearer realm=\"warden\"")
        }
        if identity.anonymous && write {
            throw APIError(.unauthorized, "unauthorized", "writes need a bearer token; anonymous access is read-only")
                .with(header: .wwwAuthenticate, "Bearer realm=\"warden\"")
        }
        guard identity.role >= role else {
            if let why = identity.limitedBecause { throw APIError(.forbidden, "mfa_required", why) }
            throw APIError(
                .forbidden,
                "forbidden",
                "the token '\(identity.name)' has the role \(identity.role.rawValue); this needs \(role.rawValue)"
            )
        }
        return identity
    }
}

extension APIError {
    func with(header: HTTPField.Name, _ value: String) -> APIError {
        var copy = self
        copy.headers[header] = value
        return copy
    }
}
