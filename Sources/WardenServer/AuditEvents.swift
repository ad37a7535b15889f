import WardenCore

/// The audit trail: what callers of the API asked for. Most are ``AuditRequest``s about what was
/// acted on; ingest calls are summed per caller and auth failures per address.
extension EventType {
    /// A request the routes below do not name.
    public static let auditRequest = "audit.request"
    public static let auditIngest = IngestTally.type
    public static let auditReload = "audit.reload"
    public static let auditBan = "audit.ban"
    public static let auditUnban = "audit.unban"
    public static let auditAuthFailed = AuthFailures.type
    public static let auditSecretRead = SecretRead.type

    /// A command to a service, such as `audit.service.restart`.
    public static func auditService(_ verb: String) -> String { "audit.service.\(verb)" }
    /// A command to an incident, such as `audit.incident.approve`.
    public static func auditIncident(_ verb: String) -> String { "audit.incident.\(verb)" }
}

/// One API request that changed something (or tried to).
public struct AuditRequest: EventPayload {
    public static let type = EventType.auditRequest
    /// The token's name.
    public var actor: String
    public var method: String
    public var path: String
    public var status: Int
    public var remote: String
    /// `ok` for a 2xx answer, else `refused`.
    public var result: String

    init(actor: String, method: String, path: String, status: Int, remote: String) {
        self.actor = actor
        self.method = method
        self.path = path
        self.status = status
        self.remote = remote
        self.result = (200..<300).contains(status) ? "ok" : "refused"
    }
}

/// What one caller ingested since the last summary.
public struct IngestTally: EventPayload {
    public static let type = "audit.ingest"
    public var actor: String
    public var requests: Int
    public var samples: Int
    public var rejected: Int
    /// Requests by HTTP status (as text: JSON keys are strings).
    public var statuses: [String: Int]
}

/// Failed authentication from one address (or, as `others`, from many) since the last summary.
public struct AuthFailures: EventPayload {
    public static let type = "audit.auth.failed"
    public var remote: String
    /// Wrong tokens.
    public var failures: Int
    /// Requests refused while the address was made to wait.
    public var refused: Int
    /// Requests without a token.
    public var unauthenticated: Int
    public var result = "refused"
    /// How many addresses this sums.
    public var addresses: Int
    public var problem: String?
    /// The longest wait imposed, in milliseconds.
    public var waitMs: Int64?

    enum CodingKeys: String, CodingKey {
        case remote, failures, refused, unauthenticated, result, addresses, problem
        case waitMs = "wait_ms"
    }
}

/// A secret the spec references was read (at start or at a reload): which reference, never the
/// value.
public struct SecretRead: EventPayload {
    public static let type = "audit.secret.read"
    /// `env:NAME` or `file:PATH`.
    public var reference: String
    /// `start` or `reload`.
    public var when: String
    public var result = "ok"

    public init(reference: String, when: String) {
        self.reference = reference
        self.when = when
    }
}

/// A person signed in to the dashboard through an OpenID provider, or tried to.
public struct LoginRecord: EventPayload {
    public static let type = "audit.login"
    /// Who (the provider's username claim), when known.
    public var actor: String
    public var issuer: String
    /// The role granted.
    public var role: String?
    /// Whether the token showed a second factor.
    public var mfa: Bool?
    public var remote: String
    /// `ok`, or `refused` with the reason.
    public var result: String
    public var problem: String?
}
