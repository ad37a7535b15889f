import WardenCore

/// Who a verified token says the caller is, and what Warden lets them do.
public struct OIDCIdentity: Sendable, Equatable {
    /// The person, from the issuer's username claim (or `sub`).
    public var name: String
    /// How Warden names them (in audit records, rate limits, `GET /v1/session`): `oidc:<name>`,
    /// apart from the static tokens' names, which a person cannot choose to take.
    public var qualifiedName: String { "oidc:" + name }
    public var subject: String
    public var issuer: String
    /// What the caller may do: the mapped role, or `viewer` when the mapped role needs a second
    /// factor the token does not show (then ``mfaProblem`` says so).
    public var role: Role
    /// The role the claims map to.
    public var mappedRole: Role
    /// Whether the token shows a second factor.
    public var mfa: Bool
    /// Why the caller has less than ``mappedRole``: the message a refused write carries.
    public var mfaProblem: String?
    /// When the token expires (Unix seconds).
    public var expires: Int64
}

/// The claim checks after the signature is verified: issuer, audience, validity window, then
/// roles and the second factor. Pure: the time is given.
public enum ClaimCheck {
    /// `now` in Unix seconds. `nonce`: the one the sign-in sent, which the token must repeat.
    public static func check(
        _ claims: [String: JSONValue],
        against spec: OIDCIssuerSpec,
        audiences: [String]? = nil,
        now: Double,
        nonce: String? = nil
    ) -> Result<OIDCIdentity, OIDCRejection> {
        guard claims["iss"]?.stringValue == spec.issuer else {
            return .failure(.init(kind: .issuer, message: "the token's issuer is not \(spec.issuer)"))
        }
        let accepted = audiences ?? spec.audiences
        let aud: [String]
        switch claims["aud"] {
        case .string(let one)?: aud = [one]
        case .array(let many)?: aud = many.compactMap(\.stringValue)
        default: aud = []
        }
        guard aud.contains(where: accepted.contains) else {
            return .failure(
                .init(
                    kind: .audience,
                    message:
                        "the token is not meant for Warden: its audience (aud) names none of \(accepted.joined(separator: ", "))"
                )
            )
        }
        if let azp = claims["azp"], aud.count > 1 || azp.stringValue != nil {
            guard let presenter = azp.stringValue, accepted.contains(presenter) else {
                return .failure(
                    .init(kind: .audience, message: "the token was issued to another client (azp)")
                )
            }
        }
        let leeway = spec.leeway.seconds
        guard let exp = claims["exp"]?.doubleValue, exp.isFinite else {
            return .failure(.init(kind: .expired, message: "the token has no expiry (exp)"))
        }
        guard now < exp + leeway else {
            return .failure(.init(kind: .expired, message: "the token has expired; sign in again"))
        }
        if let nbf = claims["nbf"] {
            guard let at = nbf.doubleValue, at.isFinite, now >= at - leeway else {
                return .failure(.init(kind: .notYetValid, message: "the token is not valid yet (nbf)"))
            }
        }
        if let iat = claims["iat"] {
            guard let at = iat.doubleValue, at.isFinite, at <= now + leeway else {
                return .failure(.init(kind: .notYetValid, message: "the token was issued in the future (iat)"))
            }
        }
        if let nonce, claims["nonce"]?.stringValue != nonce {
            return .failure(.init(kind: .nonce, message: "the ID token does not repeat this sign-in's nonce"))
        }
        guard let subject = claims["sub"]?.stringValue, !subject.isEmpty else {
            return .failure(.init(kind: .malformed, message: "the token names no subject (sub)"))
        }
        let granted = strings(at: spec.roles.claim, in: claims)
        guard let mapped = spec.roles.role(for: granted) else {
            return .failure(
                .init(
                    kind: .role,
                    message: "the token's \(spec.roles.claim) claim maps to no Warden role; ask for a group that does"
                )
            )
        }
        let methods = strings(at: spec.mfa.claim, in: claims)
        let mfa = methods.contains(where: spec.mfa.methods.contains)
        var role = mapped
        var problem: String?
        if let from = spec.mfa.requiredFrom, mapped >= from, !mfa {
            let shown = methods.isEmpty ? "no methods" : methods.prefix(10).joined(separator: ", ")
            problem =
                "the role \(mapped.rawValue) needs multi-factor authentication: the token's \(spec.mfa.claim) claim shows \(shown), none of \(spec.mfa.methods.joined(separator: ", ")); sign in again with a second factor"
            guard let below = Role.allCases.last(where: { $0 < from }) else {
                return .failure(.init(kind: .role, message: problem ?? ""))
            }
            role = below
        }
        let name = claims[spec.usernameClaim]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? subject
        return .success(
            OIDCIdentity(
                name: String(name.prefix(200)),
                subject: String(subject.prefix(200)),
                issuer: spec.issuer,
                role: role,
                mappedRole: mapped,
                mfa: mfa,
                mfaProblem: problem,
                expires: Int64(exp.clamped(to: 0...9e15))
            )
        )
    }

    /// The strings at a dotted claim path: a string, or the strings of a list.
    public static func strings(at path: String, in claims: [String: JSONValue]) -> [String] {
        var value: JSONValue? = .object(claims)
        for part in path.split(separator: ".") { value = value?[String(part)] }
        switch value {
        case .string(let s)?: return [s]
        case .array(let items)?: return items.prefix(1000).compactMap(\.stringValue)
        default: return []
        }
    }
}

extension Double {
    fileprivate func clamped(to range: ClosedRange<Double>) -> Double {
        Swift.min(Swift.max(self, range.lowerBound), range.upperBound)
    }
}
