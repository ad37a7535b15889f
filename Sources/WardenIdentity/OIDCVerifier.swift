import WardenCore

/// Checks ID tokens of the trusted issuers: the shape (``JWTShape``), the signature with the
/// issuer's published key (``IssuerKeys``), then the claims (``ClaimCheck``).
///
/// The token's `iss` picks the issuer before anything is verified; a token naming an issuer that
/// is not configured is refused without any fetch, so tokens cannot make Warden call out to
/// addresses of their choosing.
public final class OIDCVerifier: Sendable {
    public let issuers: [String: IssuerKeys]
    let clock: any WardenClock

    public init(spec: OIDCSpec, transport: any HTTPTransport, clock: any WardenClock) {
        var issuers: [String: IssuerKeys] = [:]
        for issuer in spec.issuers {
            issuers[issuer.issuer] = IssuerKeys(spec: issuer, transport: transport, clock: clock)
        }
        self.issuers = issuers
        self.clock = clock
    }

    /// Verifies `token`. `audiences`: accept these instead of the issuer's (the login client's id);
    /// `nonce`: the sign-in's nonce, which an ID token from that sign-in must repeat.
    public func verify(
        _ token: [UInt8],
        audiences: [String]? = nil,
        nonce: String? = nil
    ) async -> Result<OIDCIdentity, OIDCRejection> {
        let shape: JWTShape
        switch JWTShape.parse(token) {
        case .success(let s): shape = s
        case .failure(let rejection): return .failure(rejection)
        }
        guard let iss = shape.claims["iss"]?.stringValue, let keys = issuers[iss] else {
            return .failure(.init(kind: .issuer, message: "the token's issuer (iss) is not one Warden trusts"))
        }
        if case .failure(let rejection) = await keys.verifySignature(token, shape: shape) {
            return .failure(rejection)
        }
        let now = clock.wallTime().timeIntervalSince1970
        return ClaimCheck.check(shape.claims, against: keys.spec, audiences: audiences, now: now, nonce: nonce)
    }
}
