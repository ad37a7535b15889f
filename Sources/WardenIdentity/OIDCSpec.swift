import WardenCore

/// `api.oidc`: single sign-on. The API accepts ID tokens (JWTs) of the listed issuers as bearer
/// tokens, the way Kubernetes' API server does; with `login`, the dashboard signs people in
/// through one of them (authorization code with PKCE) and keeps a session cookie.
public struct OIDCSpec: Sendable, Equatable {
    public var issuers: [OIDCIssuerSpec]
    public var login: OIDCLoginSpec?

    public init(issuers: [OIDCIssuerSpec], login: OIDCLoginSpec? = nil) {
        self.issuers = issuers
        self.login = login
    }
}

/// One trusted OpenID provider.
public struct OIDCIssuerSpec: Sendable, Equatable {
    /// The issuer URL, `https://…`, exactly as the provider writes it in `iss` and in its
    /// discovery document (`<issuer>/.well-known/openid-configuration`).
    public var issuer: String
    /// A token's `aud` must name one of these (the client id the provider issued the token to).
    public var audiences: [String]
    /// PEM file of the authorities that sign the provider's certificate (the system's when nil).
    public var caFile: String?
    /// Which claims make which role.
    public var roles: RoleMapping
    /// Which roles need a second factor, and how a token shows one.
    public var mfa: MFARule
    /// The claim that names the person in audit records (`sub` when the token lacks it).
    public var usernameClaim: String
    /// Keys are fetched again when they are this old (sooner for a key id not seen yet).
    public var refresh: Duration
    /// Fetched keys stay usable this long when the provider cannot be reached; after that its
    /// tokens are refused until its keys can be fetched again.
    public var keysMaxAge: Duration
    /// Allowed clock difference for `exp`, `nbf` and `iat`.
    public var leeway: Duration

    public init(
        issuer: String,
        audiences: [String],
        caFile: String? = nil,
        roles: RoleMapping = RoleMapping(),
        mfa: MFARule = MFARule(),
        usernameClaim: String = "preferred_username",
        refresh: Duration = .seconds(3600),
        keysMaxAge: Duration = .seconds(86400),
        leeway: Duration = .seconds(60)
    ) {
        self.issuer = issuer
        self.audiences = audiences
        self.caFile = caFile
        self.roles = roles
        self.mfa = mfa
        self.usernameClaim = usernameClaim
        self.refresh = refresh
        self.keysMaxAge = keysMaxAge
        self.leeway = leeway
    }
}

/// Claim values to roles: the claim at `claim` (a dotted path such as `realm_access.roles`; a
/// string or a list of strings) is compared with each role's values, and the highest role with a
/// match is the token's. A token that matches none is refused.
public struct RoleMapping: Sendable, Equatable {
    public var claim: String
    public var values: [Role: [String]]

    public init(claim: String = "groups", values: [Role: [String]] = [:]) {
        self.claim = claim
        self.values = values
    }

    /// The highest role one of `granted` maps to.
    public func role(for granted: [String]) -> Role? {
        let set = Set(granted)
        return Role.allCases.reversed().first { role in values[role, default: []].contains(where: set.contains) }
    }
}

/// Which roles need multi-factor authentication, shown by the token's `amr` claim (RFC 8176
/// method names) holding one of `methods`.
public struct MFARule: Sendable, Equatable {
    public var claim: String
    public var methods: [String]
    /// The lowest role that needs it (`nil`: none does).
    public var requiredFrom: Role?

    /// RFC 8176's names of second factors and of multi-factor authentication itself.
    public static let defaultMethods = [
        "mfa", "otp", "hwk", "swk", "sms", "sc", "fpt", "face", "iris", "retina", "vbm",
    ]

    public init(claim: String = "amr", methods: [String] = MFARule.defaultMethods, requiredFrom: Role? = .operator) {
        self.claim = claim
        self.methods = methods
        self.requiredFrom = requiredFrom
    }
}

/// `api.oidc.login`: the dashboard's sign-in, as a confidential client of one issuer.
public struct OIDCLoginSpec: Sendable, Equatable {
    /// One of the issuers' URLs.
    public var issuer: String
    public var clientID: String
    public var clientSecret: Secret
    /// Where the provider sends the browser back: Warden's `/auth/callback` as the browser
    /// reaches it (registered with the provider).
    public var redirect: String
    /// Scopes asked for besides `openid`.
    public var scopes: [String]
    /// How long a session lasts after sign-in.
    public var session: Duration

    public init(
        issuer: String,
        clientID: String,
        clientSecret: Secret,
        redirect: String,
        scopes: [String] = ["profile"],
        session: Duration = .seconds(8 * 3600)
    ) {
        self.issuer = issuer
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.redirect = redirect
        self.scopes = scopes
        self.session = session
    }
}
