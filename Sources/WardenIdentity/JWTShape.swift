import Foundation
import WardenCore

/// A compact JWS (`header.payload.signature`) taken apart before any key is touched: what the
/// header asks for and the claims it carries, none of it trusted yet.
///
/// The limits are checked first: a token longer than ``maxLength`` bytes, a header or claims set
/// that is not a JSON object, or an algorithm outside ``acceptedAlgorithms`` is refused here, so
/// `alg: none` and the HMAC algorithms (which would turn a public key into a shared secret) never
/// reach signature verification.
public struct JWTShape: Sendable {
    /// The algorithm the header names.
    public var algorithm: String
    /// The key id the header names.
    public var keyID: String?
    /// The claims set (unverified).
    public var claims: [String: JSONValue]

    /// Longest token taken: ID tokens are a few kilobytes.
    public static let maxLength = 16 * 1024
    /// Signatures made with a provider's private key, checked with its published public key.
    public static let acceptedAlgorithms: Set<String> = [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    ]

    /// Whether `token` has the shape of a JWT at all (three base64url parts, a JSON header):
    /// tokens that do not are static bearer tokens.
    public static func looksLikeJWT<C: Collection>(_ token: C) -> Bool where C.Element == UInt8 {
        // "eyJ" is the base64url of `{"`, how every JWT header starts.
        token.count > 10 && token.starts(with: [0x65, 0x79, 0x4A]) && token.lazy.filter { $0 == 0x2E }.count == 2
    }

    /// Takes `token` apart; the error says what is wrong with it.
    public static func parse(_ token: [UInt8]) -> Result<JWTShape, OIDCRejection> {
        guard token.count <= maxLength else {
            return .failure(.malformed("the token is longer than \(maxLength) bytes"))
        }
        let parts = token.split(separator: 0x2E, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            return .failure(.malformed("a JWT has three dot-separated parts (header.payload.signature)"))
        }
        guard let headerBytes = base64URL(parts[0]), case .object(let header)? = JSONValue.parse(bytes: headerBytes)
        else { return .failure(.malformed("the JWT header is not base64url JSON")) }
        guard let algorithm = header["alg"]?.stringValue else {
            return .failure(.malformed("the JWT header names no algorithm (alg)"))
        }
        guard acceptedAlgorithms.contains(algorithm) else {
            return .failure(
                .algorithm(
                    "the algorithm '\(String(algorithm.prefix(20)))' is not accepted; tokens must be signed with the provider's key (\(acceptedAlgorithms.sorted().joined(separator: ", ")))"
                )
            )
        }
        if let crit = header["crit"], crit != .array([]) {
            return .failure(.malformed("the JWT header has critical extensions (crit) Warden does not know"))
        }
        var keyID: String?
        if let kid = header["kid"] {
            guard let text = kid.stringValue, !text.isEmpty, text.utf8.count <= 256 else {
                return .failure(.malformed("the JWT header's kid must be a string of 1 to 256 bytes"))
            }
            keyID = text
        }
        guard parts[2].count >= 16 else { return .failure(.malformed("the JWT has no signature")) }
        guard let payload = base64URL(parts[1]), case .object(let claims)? = JSONValue.parse(bytes: payload) else {
            return .failure(.malformed("the JWT claims are not base64url JSON"))
        }
        return .success(JWTShape(algorithm: algorithm, keyID: keyID, claims: claims))
    }

    /// Decodes unpadded base64url; nil for anything else.
    static func base64URL(_ part: ArraySlice<UInt8>) -> [UInt8]? {
        var text = ""
        text.reserveCapacity(part.count + 3)
        for byte in part {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                text.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "-"): text += "+"
            case UInt8(ascii: "_"): text += "/"
            default: return nil
            }
        }
        if part.count % 4 == 1 { return nil }
        text += String(repeating: "=", count: (4 - part.count % 4) % 4)
        return Data(base64Encoded: text).map { Array($0) }
    }
}

/// Why a token was refused; the message is safe to show the caller (it never echoes the token).
public struct OIDCRejection: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case malformed, algorithm, signature, issuer, audience, expired, notYetValid, keys, role, nonce
    }
    public var kind: Kind
    public var message: String

    public var description: String { message }

    static func malformed(_ m: String) -> Self { .init(kind: .malformed, message: m) }
    static func algorithm(_ m: String) -> Self { .init(kind: .algorithm, message: m) }
}
