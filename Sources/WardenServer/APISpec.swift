import Foundation
import WardenCore
import WardenIdentity

/// The HTTP API: where it listens, who may use it, and its limits.
public struct APISpec: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// Let requests without a token read (never write).
    public var anonymousRead: Bool
    public var tokens: [TokenSpec]
    /// Largest accepted request body, in bytes.
    public var maxBody: Int
    /// Requests per second each token (or anonymous address) may make on average.
    public var rate: Double
    /// Requests a token may make at once before the rate applies.
    public var burst: Int
    /// A connection that sends nothing for this long is closed.
    public var idleTimeout: Duration
    /// A series query that runs longer than this is stopped (503).
    public var queryTimeout: Duration
    /// A series query may match at most this many series.
    public var maxQuerySeries: Int
    /// A series answer may hold at most this many points (series × steps).
    public var maxQueryPoints: Int
    /// Failed authentications an address may make (`allow` in `per`) before it must wait.
    public var authFailures: AuthFailureLimit
    /// HTTPS instead of HTTP, when set.
    public var tls: APITLS?
    /// Single sign-on: ID tokens of these OpenID providers, and the dashboard's sign-in.
    public var oidc: OIDCSpec?

    public init(
        host: String = "127.0.0.1",
        port: Int = 7070,
        anonymousRead: Bool = false,
        tokens: [TokenSpec] = [],
        maxBody: Int = 8 * 1024 * 1024,
        rate: Double = 1000,
        burst: Int = 2000,
        idleTimeout: Duration = .seconds(30),
        queryTimeout: Duration = .seconds(10),
        maxQuerySeries: Int = 1000,
        maxQueryPoints: Int = 500_000,
        authFailures: AuthFailureLimit = AuthFailureLimit()
    ) {
        self.host = host
        self.port = port
        self.anonymousRead = anonymousRead
        self.tokens = tokens
        self.maxBody = maxBody
        self.rate = rate
        self.burst = burst
        self.idleTimeout = idleTimeout
        self.queryTimeout = queryTimeout
        self.maxQuerySeries = maxQuerySeries
        self.maxQueryPoints = maxQueryPoints
        self.authFailures = authFailures
    }
}

/// `api.tls`: the API and the dashboard over HTTPS. The certificate and key files are read again
/// when they change on disk (a renewed certificate serves new connections; open ones go on).
public struct APITLS: Sendable, Equatable {
    /// PEM: the server's certificate, then any intermediates.
    public var cert: String
    /// PEM: its private key.
    public var key: String
    /// PEM: the authority Warden's own CLI trusts for this API (the certificate itself when nil,
    /// as for a self-signed one).
    public var ca: String?

    public init(cert: String, key: String, ca: String? = nil) {
        self.cert = cert
        self.key = key
        self.ca = ca
    }

    /// What the local CLI trusts when it calls this API.
    public var trustFile: String { ca ?? cert }
}

/// How many wrong tokens an address may send before it has to wait: `allow` within `per` (the
/// allowance refills evenly over that time); each further failure doubles the wait, from one
/// second up to `maxPenalty`.
public struct AuthFailureLimit: Sendable, Equatable {
    public var allow: Int
    public var per: Duration
    public var maxPenalty: Duration

    public init(allow: Int = 10, per: Duration = .seconds(60), maxPenalty: Duration = .seconds(900)) {
        self.allow = allow
        self.per = per
        self.maxPenalty = maxPenalty
    }
}

/// A bearer token declared in the spec. The secret itself is referenced (`env:NAME`,
/// `file:PATH`) and resolved when the spec is loaded; it is never printed.
public struct TokenSpec: Sendable, Equatable {
    public var name: String
    public var role: Role
    /// Where the secret came from, for messages: `env:WARDEN_OPS_TOKEN`.
    public var reference: String
    public var secret: Secret

    public init(name: String, role: Role, reference: String, secret: Secret) {
        self.name = name
        self.role = role
        self.reference = reference
        self.secret = secret
    }
}
