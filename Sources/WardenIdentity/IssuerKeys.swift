import Foundation
import JWTKit
import WardenCore

/// The endpoints an issuer's discovery document names.
public struct OIDCEndpoints: Sendable, Equatable {
    public var authorization: String
    public var token: String
    public var jwks: String
}

/// One issuer's discovery document and signing keys, fetched over HTTPS (with the issuer's CA
/// file when it has one), cached and refreshed as ``KeyFreshness`` decides; one fetch at a time.
///
/// The discovery document must name the configured issuer exactly and HTTPS endpoints. Only
/// asymmetric signing keys (RSA, EC, OKP) with a key id are taken from the key set; a key that
/// says which algorithm it is for is used with that algorithm only.
public actor IssuerKeys {
    public nonisolated let spec: OIDCIssuerSpec
    let transport: any HTTPTransport
    let clock: any WardenClock
    private var freshness: KeyFreshness
    private var keys = JWTKeyCollection()
    /// Key id → (key type, the algorithm the key set names for it).
    private var published: [String: (kty: String, alg: String)] = [:]
    private var endpoints: OIDCEndpoints?
    private var inflight: Task<Void, Never>?

    /// Largest discovery document or key set read.
    static let maxDocument = 256 * 1024
    /// Most keys taken from one key set.
    static let maxKeys = 100

    public init(spec: OIDCIssuerSpec, transport: any HTTPTransport, clock: any WardenClock) {
        self.spec = spec
        self.transport = transport
        self.clock = clock
        self.freshness = KeyFreshness(refresh: spec.refresh, maxAge: spec.keysMaxAge)
    }

    /// Verifies the token's signature with the issuer's key its header names.
    public func verifySignature(_ token: [UInt8], shape: JWTShape) async -> Result<Void, OIDCRejection> {
        var fetchedOnce = false
        while true {
            let known = shape.keyID.map { published[$0] != nil } ?? (published.count == 1)
            switch freshness.decide(now: clock.now(), knownKey: known) {
            case .fetch where !fetchedOnce:
                fetchedOnce = true
                await fetch()
                continue
            case .fetch:
                // Fetched just now and still told to fetch: only when the fetch failed.
                return .failure(.init(kind: .keys, message: freshness.lastError ?? "the keys could not be fetched"))
            case .refuse(let why):
                if shape.keyID == nil, published.count > 1 {
                    return .failure(
                        .init(
                            kind: .signature,
                            message: "the token names no key (kid) and the provider publishes several"
                        )
                    )
                }
                return .failure(.init(kind: .keys, message: why))
            case .use:
                break
            }
            let kid = shape.keyID ?? published.keys.first ?? ""
            if let key = published[kid] {
                guard key.alg == shape.algorithm else {
                    return .failure(
                        .init(kind: .algorithm, message: "the token's algorithm does not match its key's (\(key.alg))")
                    )
                }
            }
            do {
                _ = try await keys.verify(token, as: SignatureOnly.self)
                return .success(())
            } catch {
                return .failure(.init(kind: .signature, message: "the token's signature does not verify"))
            }
        }
    }

    /// The issuer's endpoints (fetching its discovery document when not yet known).
    public func discovered() async -> Result<OIDCEndpoints, OIDCRejection> {
        // Not known yet: fetch, but no more often than keys are (sign-ins cannot hammer the provider).
        if endpoints == nil, freshness.decide(now: clock.now(), knownKey: false) == .fetch { await fetch() }
        guard let endpoints else {
            return .failure(
                .init(
                    kind: .keys,
                    message: freshness.lastError ?? "the provider's discovery document could not be read"
                )
            )
        }
        return .success(endpoints)
    }

    private func fetch() async {
        if let inflight {
            await inflight.value
            return
        }
        let task = Task { await self.fetchNow() }
        inflight = task
        await task.value
        inflight = nil
    }

    private func fetchNow() async {
        let now = clock.now()
        switch await load() {
        case .success(let (found, collection, published)):
            self.endpoints = found
            self.keys = collection
            self.published = published
            freshness.fetched(at: now)
        case .failure(let error):
            freshness.failed(at: now, error.message)
        }
    }

    private func load() async -> Result<
        (OIDCEndpoints, JWTKeyCollection, [String: (kty: String, alg: String)]), OutboundError
    > {
        let discoveryURL =
            spec.issuer.hasSuffix("/")
            ? spec.issuer + ".well-known/openid-configuration"
            : spec.issuer + "/.well-known/openid-configuration"
        let document: JSONValue
        switch await get(discoveryURL) {
        case .success(let value): document = value
        case .failure(let e): return .failure(e)
        }
        guard document["issuer"]?.stringValue == spec.issuer else {
            return .failure(OutboundError("the discovery document at \(discoveryURL) names another issuer"))
        }
        var urls: [String] = []
        for key in ["authorization_endpoint", "token_endpoint", "jwks_uri"] {
            guard let url = document[key]?.stringValue, url.hasPrefix("https://"), url.utf8.count <= 2048 else {
                return .failure(OutboundError("the discovery document's \(key) is missing or not an https:// URL"))
            }
            urls.append(url)
        }
        let endpoints = OIDCEndpoints(authorization: urls[0], token: urls[1], jwks: urls[2])
        let set: JSONValue
        switch await get(endpoints.jwks) {
        case .success(let value): set = value
        case .failure(let e): return .failure(e)
        }
        guard let entries = set["keys"]?.arrayValue else {
            return .failure(OutboundError("the key set at \(endpoints.jwks) has no keys list"))
        }
        let collection = JWTKeyCollection()
        var published: [String: (kty: String, alg: String)] = [:]
        for entry in entries.prefix(Self.maxKeys) {
            guard let kty = entry["kty"]?.stringValue, ["RSA", "EC", "OKP"].contains(kty),
                let kid = entry["kid"]?.stringValue, !kid.isEmpty, kid.utf8.count <= 256,
                entry["use"] == nil || entry["use"]?.stringValue == "sig"
            else { continue }
            // A key that names no algorithm gets its type's usual one, fixed now: left open,
            // the first token's header would choose it (and a junk token could pin a wrong one).
            guard
                let alg = entry["alg"]?.stringValue
                    ?? Self.defaultAlgorithm(kty: kty, curve: entry["crv"]?.stringValue),
                JWTShape.acceptedAlgorithms.contains(alg), Self.fits(kty: kty, algorithm: alg),
                case .object(var fields) = entry
            else { continue }
            fields["alg"] = .string(alg)
            do {
                let jwk = try JSONDecoder().decode(JWK.self, from: Data(JSONValue.object(fields).jsonText.utf8))
                try await collection.add(jwk: jwk)
                published[kid] = (kty, alg)
            } catch {
                continue
            }
        }
        guard !published.isEmpty else {
            return .failure(OutboundError("the key set at \(endpoints.jwks) holds no usable signing key"))
        }
        return .success((endpoints, collection, published))
    }

    private func get(_ url: String) async -> Result<JSONValue, OutboundError> {
        var request = OutboundRequest(url: url)
        request.method = "GET"
        request.caFile = spec.caFile
        request.timeout = .seconds(5)
        request.maxResponse = Self.maxDocument
        request.headers = [("Accept", "application/json")]
        do {
            let answer = try await transport.send(request)
            guard answer.status == 200 else { return .failure(OutboundError("\(url) answered HTTP \(answer.status)")) }
            guard let value = JSONValue.parse(bytes: answer.body), value.objectValue != nil else {
                return .failure(OutboundError("\(url) did not answer a JSON object"))
            }
            return .success(value)
        } catch {
            return .failure(OutboundError("\(url): \(error.message)"))
        }
    }

    /// The algorithm a key that names none is used with.
    static func defaultAlgorithm(kty: String, curve: String?) -> String? {
        switch (kty, curve) {
        case ("RSA", _): return "RS256"
        case ("EC", "P-256"): return "ES256"
        case ("EC", "P-384"): return "ES384"
        case ("EC", "P-521"): return "ES512"
        case ("OKP", "Ed25519"): return "EdDSA"
        default: return nil
        }
    }

    /// Whether a key of type `kty` can make signatures of `algorithm`.
    static func fits(kty: String, algorithm: String) -> Bool {
        switch kty {
        case "RSA": return algorithm.hasPrefix("RS") || algorithm.hasPrefix("PS")
        case "EC": return algorithm.hasPrefix("ES")
        case "OKP": return algorithm == "EdDSA"
        default: return false
        }
    }
}

/// The payload type for signature verification alone: the claims are read and checked by
/// ``ClaimCheck`` from the same bytes.
struct SignatureOnly: JWTPayload {
    init() {}
    init(from decoder: any Decoder) throws {}
    func encode(to encoder: any Encoder) throws {}
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
