import Foundation
import JWTKit
import Synchronization
import Testing
import WardenCore
import WardenTestSupport

@testable import WardenIdentity

/// The issuer's published documents, as its HTTPS endpoints would answer them; `down` makes every
/// call fail the way an unreachable provider does. Counts calls per URL.
final class IssuerDocuments: HTTPTransport {
    struct State {
        var documents: [String: String] = [:]
        var down = false
        var calls: [String: Int] = [:]
    }
    let state = Mutex(State())

    func send(_ request: OutboundRequest) async throws(OutboundError) -> OutboundResponse {
        let answer = state.withLock { s -> String?? in
            s.calls[request.url, default: 0] += 1
            if s.down { return .none }
            return .some(s.documents[request.url])
        }
        switch answer {
        case .none: throw OutboundError("connection refused")
        case .some(.none): return OutboundResponse(status: 404, body: [])
        case .some(.some(let text)): return OutboundResponse(status: 200, body: Array(text.utf8))
        }
    }

    func calls(_ url: String) -> Int { state.withLock { $0.calls[url, default: 0] } }
}

struct TestClaims: JWTPayload {
    var iss: String
    var aud: [String]
    var sub = "42"
    var exp: Double
    var nbf: Double?
    var groups: [String]
    var amr: [String]
    var preferred_username = "alice"
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// A provider of the test's own: ES256 keys it signs with and publishes.
struct TestIssuer {
    static let url = "https://id.test/realms/ops"
    let documents = IssuerDocuments()
    var keys: [(kid: String, key: ES256PrivateKey)] = [("k1", ES256PrivateKey())]

    /// `namingAlgorithms: false`: keys without `alg`, as some providers publish them.
    func publish(namingAlgorithms: Bool = true) {
        let jwks = keys.map { entry -> String in
            let p = entry.key.publicKey.parameters!
            let alg = namingAlgorithms ? #","alg":"ES256""# : ""
            return #"{"kty":"EC","crv":"P-256","x":"\#(p.x)","y":"\#(p.y)","kid":"\#(entry.kid)"\#(alg),"use":"sig"}"#
        }
        documents.state.withLock {
            $0.documents[Self.url + "/.well-known/openid-configuration"] = """
                {"issuer":"\(Self.url)","authorization_endpoint":"https://id.test/auth","token_endpoint":"https://id.test/token","jwks_uri":"https://id.test/jwks"}
                """
            $0.documents["https://id.test/jwks"] = #"{"keys":[\#(jwks.joined(separator: ","))]}"#
        }
    }

    func sign(_ claims: TestClaims, with index: Int = 0, kid: String? = nil) async throws -> String {
        let collection = JWTKeyCollection()
        let entry = keys[index]
        await collection.add(ecdsa: entry.key, kid: JWKIdentifier(string: kid ?? entry.kid))
        return try await collection.sign(claims, kid: JWKIdentifier(string: kid ?? entry.kid))
    }
}

@Suite("ID tokens")
struct OIDCVerifierTests {
    let clock = ManualClock()
    var now: Double { clock.wallTime().timeIntervalSince1970 }

    static let spec = OIDCIssuerSpec(
        issuer: TestIssuer.url,
        audiences: ["warden"],
        roles: RoleMapping(values: [.viewer: ["read"], .operator: ["ops"], .admin: ["root"]]),
        refresh: .seconds(3600),
        keysMaxAge: .seconds(7200)
    )

    func claims(groups: [String] = ["ops"], amr: [String] = ["pwd", "otp"], aud: [String] = ["warden"]) -> TestClaims {
        TestClaims(iss: TestIssuer.url, aud: aud, exp: now + 300, groups: groups, amr: amr)
    }

    func verifier(_ issuer: TestIssuer, spec: OIDCIssuerSpec = Self.spec) -> OIDCVerifier {
        OIDCVerifier(spec: OIDCSpec(issuers: [spec]), transport: issuer.documents, clock: clock)
    }

    @Test func aTokenOfTheIssuerMapsToItsRole() async throws {
        let issuer = TestIssuer()
        issuer.publish()
        let token = try await issuer.sign(claims())
        let who = try await verifier(issuer).verify(Array(token.utf8)).get()
        #expect(who.name == "alice")
        #expect(who.role == .operator)
        #expect(who.mfa)
        #expect(who.mfaProblem == nil)
    }

    @Test func theHighestMatchingRoleWins() async throws {
        let issuer = TestIssuer()
        issuer.publish()
        let token = try await issuer.sign(claims(groups: ["read", "root", "ops"]))
        #expect(try await verifier(issuer).verify(Array(token.utf8)).get().role == .admin)
        let none = try await issuer.sign(claims(groups: ["sales"]))
        let refused = await verifier(issuer).verify(Array(none.utf8))
        #expect(refused.failure?.kind == .role)
    }

    @Test func anOperatorWithoutASecondFactorOnlyReadsAndIsToldWhy() async throws {
        let issuer = TestIssuer()
        issuer.publish()
        let token = try await issuer.sign(claims(amr: ["pwd"]))
        let who = try await verifier(issuer).verify(Array(token.utf8)).get()
        #expect(who.role == .viewer)
        #expect(who.mappedRole == .operator)
        #expect(who.mfaProblem?.contains("multi-factor") == true)
        #expect(who.mfaProblem?.contains("pwd") == true)
        // A rule from admin up leaves an operator alone and caps an admin at operator.
        var adminOnly = Self.spec
        adminOnly.mfa.requiredFrom = .admin
        #expect(try await verifier(issuer, spec: adminOnly).verify(Array(token.utf8)).get().role == .operator)
        let admin = try await issuer.sign(claims(groups: ["root"], amr: ["pwd"]))
        #expect(try await verifier(issuer, spec: adminOnly).verify(Array(admin.utf8)).get().role == .operator)
        // From viewer up: no token without a second factor gets in at all.
        var everyone = Self.spec
        everyone.mfa.requiredFrom = .viewer
        #expect(await verifier(issuer, spec: everyone).verify(Array(token.utf8)).failure?.kind == .role)
    }

    @Test func expiredNotYetValidAndForeignTokensAreRefused() async throws {
        let issuer = TestIssuer()
        issuer.publish()
        let v = verifier(issuer)
        var expired = claims()
        expired.exp = now - 61
        #expect(await v.verify(Array(try await issuer.sign(expired).utf8)).failure?.kind == .expired)
        var withinLeeway = claims()
        withinLeeway.exp = now - 30
        #expect(await v.verify(Array(try await issuer.sign(withinLeeway).utf8)).isSuccess)
        var early = claims()
        early.nbf = now + 120
        #expect(await v.verify(Array(try await issuer.sign(early).utf8)).failure?.kind == .notYetValid)
        let otherAudience = claims(aud: ["grafana"])
        #expect(await v.verify(Array(try await issuer.sign(otherAudience).utf8)).failure?.kind == .audience)
        var otherIssuer = claims()
        otherIssuer.iss = "https://evil.test"
        let foreign = await v.verify(Array(try await issuer.sign(otherIssuer).utf8))
        #expect(foreign.failure?.kind == .issuer)
        // The foreign issuer was never asked for anything.
        #expect(issuer.documents.state.withLock { $0.calls.keys.allSatisfy { $0.hasPrefix("https://id.test") } })
    }

    @Test func unsignedHMACAndWronglySignedTokensAreRefused() async throws {
        let issuer = TestIssuer()
        issuer.publish()
        let v = verifier(issuer)
        let good = try await issuer.sign(claims())
        let parts = good.split(separator: ".")
        // alg: none with the real claims and no signature.
        let none = Self.b64(#"{"alg":"none","typ":"JWT"}"#) + "." + parts[1] + "."
        #expect(await v.verify(Array(none.utf8)).failure?.kind == .algorithm)
        // HS256 keyed with the published key's text: the classic confusion.
        let hs = Self.b64(#"{"alg":"HS256","kid":"k1"}"#) + "." + parts[1] + "." + parts[2]
        #expect(await v.verify(Array(hs.utf8)).failure?.kind == .algorithm)
        // Another key under the published kid.
        var impostor = TestIssuer()
        impostor.keys = [("k1", ES256PrivateKey())]
        let forged = try await impostor.sign(claims())
        #expect(await v.verify(Array(forged.utf8)).failure?.kind == .signature)
        // The real signature over changed claims.
        var escalated = claims(groups: ["root"])
        escalated.exp = now + 300
        let tampered = parts[0] + "." + (try await issuer.sign(escalated)).split(separator: ".")[1] + "." + parts[2]
        #expect(await v.verify(Array(tampered.utf8)).failure?.kind == .signature)
        #expect(await v.verify(Array(good.utf8)).isSuccess)
    }

    @Test func aKeyWithoutAnAlgorithmIsFixedToItsTypesOneAndAJunkTokenCannotChangeIt() async throws {
        let issuer = TestIssuer()
        issuer.publish(namingAlgorithms: false)
        let v = verifier(issuer)
        let good = try await issuer.sign(claims())
        let parts = good.split(separator: ".")
        // The same key id with another algorithm of the key's family, and a junk signature.
        let junk =
            Self.b64(#"{"alg":"ES384","kid":"k1"}"#) + "." + parts[1] + "."
            + Self.b64(String(repeating: "x", count: 96))
        #expect(await v.verify(Array(junk.utf8)).failure?.kind == .algorithm)
        #expect(await v.verify(Array(good.utf8)).isSuccess)
    }

    @Test func aRotatedKeyIsFetchedOnceAndMadeUpKeyIdsDoNotHammerTheProvider() async throws {
        var issuer = TestIssuer()
        issuer.publish()
        let v = verifier(issuer)
        #expect(await v.verify(Array(try await issuer.sign(claims()).utf8)).isSuccess)
        #expect(issuer.documents.calls("https://id.test/jwks") == 1)
        issuer.keys.append(("k2", ES256PrivateKey()))
        issuer.publish()
        clock.advance(by: .seconds(11))
        let rotated = try await issuer.sign(claims(), with: 1)
        #expect(await v.verify(Array(rotated.utf8)).isSuccess)
        #expect(issuer.documents.calls("https://id.test/jwks") == 2)
        // Unknown key ids: at most one fetch per ten seconds, however many tokens.
        clock.advance(by: .seconds(11))
        for i in 0..<20 {
            let made = try await issuer.sign(claims(), kid: "made-up-\(i)")
            #expect(await v.verify(Array(made.utf8)).failure != nil)
        }
        #expect(issuer.documents.calls("https://id.test/jwks") == 3)
    }

    @Test func cachedKeysOutliveAnOutageUntilTheyExpireThenTokensAreRefused() async throws {
        let issuer = TestIssuer()
        issuer.publish()
        let v = verifier(issuer)
        let token = { try await issuer.sign(self.claims()) }
        #expect(await v.verify(Array(try await token().utf8)).isSuccess)
        issuer.documents.state.withLock { $0.down = true }
        clock.advance(by: .seconds(3700))  // past refresh: a fetch is tried and fails
        #expect(await v.verify(Array(try await token().utf8)).isSuccess)
        clock.advance(by: .seconds(3600))  // past keys_max_age
        let refused = await v.verify(Array(try await token().utf8))
        #expect(refused.failure?.kind == .keys)
        #expect(refused.failure?.message.contains("connection refused") == true)
        issuer.documents.state.withLock { $0.down = false }
        clock.advance(by: .seconds(11))
        #expect(await v.verify(Array(try await token().utf8)).isSuccess)
    }

    @Test func aDiscoveryDocumentNamingAnotherIssuerIsNotTrusted() async throws {
        let issuer = TestIssuer()
        issuer.publish()
        issuer.documents.state.withLock {
            $0.documents[TestIssuer.url + "/.well-known/openid-configuration"] =
                #"{"issuer":"https://evil.test","authorization_endpoint":"https://id.test/auth","token_endpoint":"https://id.test/token","jwks_uri":"https://id.test/jwks"}"#
        }
        let refused = await verifier(issuer).verify(Array(try await issuer.sign(claims()).utf8))
        #expect(refused.failure?.kind == .keys)
        #expect(refused.failure?.message.contains("another issuer") == true)
    }

    @Test func claimPathsWalkNestedObjects() {
        let claims: [String: JSONValue] = [
            "realm_access": .object(["roles": .array([.string("ops"), .int(3), .string("x")])]), "one": .string("solo"),
        ]
        #expect(ClaimCheck.strings(at: "realm_access.roles", in: claims) == ["ops", "x"])
        #expect(ClaimCheck.strings(at: "one", in: claims) == ["solo"])
        #expect(ClaimCheck.strings(at: "missing.path", in: claims) == [])
    }

    @Test(arguments: [
        "", "a.b", "eyJ.eyJ.", String(repeating: "A", count: 20000), "eyJhbGciOiJSUzI1NiJ9.!!!.sig",
        "eyJhbGciOiJSUzI1NiIsImNyaXQiOlsiYiJdfQ.eyJ9.c2lnbmF0dXJlc2lnbmF0dXJl",
    ])
    func malformedTokensAreRefusedBeforeAnyKeyIsFetched(token: String) async {
        let issuer = TestIssuer()
        issuer.publish()
        let refused = await verifier(issuer).verify(Array(token.utf8))
        #expect(refused.failure != nil)
        #expect(issuer.documents.state.withLock { $0.calls.isEmpty })
    }

    static func b64(_ text: String) -> String {
        Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

@Suite("Key freshness")
struct KeyFreshnessTests {
    @Test func fetchesWhenNeededRefreshesWhenOldAndRefusesWhenTooOld() {
        var f = KeyFreshness(refresh: .seconds(100), maxAge: .seconds(300))
        let t0 = Instant(nanoseconds: 0)
        #expect(f.decide(now: t0, knownKey: false) == .fetch)
        f.fetched(at: t0)
        #expect(f.decide(now: t0 + .seconds(50), knownKey: true) == .use)
        #expect(f.decide(now: t0 + .seconds(100), knownKey: true) == .fetch)
        f.failed(at: t0 + .seconds(100), "down")
        #expect(f.decide(now: t0 + .seconds(105), knownKey: true) == .use)
        #expect(
            f.decide(now: t0 + .seconds(105), knownKey: false)
                == .refuse("the token was signed with a key the provider does not publish")
        )
        #expect(f.decide(now: t0 + .seconds(110), knownKey: true) == .fetch)
        f.failed(at: t0 + .seconds(300), "down")
        guard case .refuse(let why) = f.decide(now: t0 + .seconds(301), knownKey: true) else {
            Issue.record("old keys were used")
            return
        }
        #expect(why.contains("down"))
    }
}

@Suite("Sign-in sessions")
struct LoginSessionsTests {
    @Test func aSignInCompletesOnceAndASessionExpires() throws {
        let clock = ManualClock()
        let sessions = LoginSessions(clock: clock, maxPending: 3)
        let start = sessions.begin()
        #expect(LoginSessions.challenge(for: start.verifier) == start.challenge)
        #expect(start.challenge.count == 43)
        #expect(sessions.finish(start.state)?.verifier == start.verifier)
        #expect(sessions.finish(start.state) == nil)
        let late = sessions.begin()
        clock.advance(by: .seconds(601))
        #expect(sessions.finish(late.state) == nil)
        // Bounded: the oldest pending sign-in goes first.
        let first = sessions.begin()
        clock.advance(by: .seconds(1))
        let others = (0..<3).map { _ in sessions.begin() }
        #expect(sessions.finish(first.state) == nil)
        #expect(sessions.finish(others[2].state) != nil)
        let who = OIDCIdentity(
            name: "alice",
            subject: "1",
            issuer: "x",
            role: .operator,
            mappedRole: .operator,
            mfa: true,
            mfaProblem: nil,
            expires: 0
        )
        let opened = sessions.open(who, lifetime: .seconds(60))
        #expect(sessions.session(opened.id)?.identity == who)
        #expect(opened.session.csrf != opened.id)
        clock.advance(by: .seconds(61))
        #expect(sessions.session(opened.id) == nil)
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let f) = self { return f }
        return nil
    }
    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}
