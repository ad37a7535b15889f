import Foundation
import HTTPTypes
import Hummingbird
import WardenCore
import WardenIdentity

extension APIServer {
    /// The dashboard's sign-in through the OpenID provider of `api.oidc.login` (authorization
    /// code with PKCE, RFC 7636), and `GET /v1/session`: who the caller is.
    ///
    /// - `GET /auth/login` sends the browser to the provider with a fresh state, nonce and PKCE
    ///   challenge; the state also goes in a short-lived cookie.
    /// - `GET /auth/callback` takes the provider's code back (only in the browser that started
    ///   the sign-in), exchanges it with the client secret and the PKCE verifier, verifies the ID
    ///   token like any other (issuer, signature, audience = the client id, nonce, roles, MFA),
    ///   and opens a session: a cookie that is HttpOnly, Secure and SameSite=Strict.
    /// - `POST /auth/logout` ends the session (it needs the CSRF token, as every signed-in write).
    func addLoginRoutes(_ router: Router<APIContext>) {
        // Public: whether the dashboard offers single sign-on.
        router.get("/auth") { _, _ -> Response in
            try APIServer.json(JSONValue.object(["signIn": .bool(sessions != nil)]))
        }
        router.get("/v1/session") { request, context -> Response in
            let identity = try context.require(.viewer)
            var answer: [String: JSONValue] = [
                "name": .string(identity.name),
                "role": .string(identity.role.rawValue),
                "anonymous": .bool(identity.anonymous),
                "session": .bool(identity.session),
                "signInAvailable": .bool(sessions != nil),
            ]
            if let why = identity.limitedBecause { answer["limitedBecause"] = .string(why) }
            if identity.session, let sessions, let id = SessionCookie.value(of: request.headers[values: .cookie]),
                let session = sessions.session(id)
            {
                answer["csrf"] = .string(session.csrf)
                answer["expires"] = .string(ISO8601DateFormatter().string(from: session.expiresAt))
            }
            return try APIServer.json(JSONValue.object(answer))
        }
        guard let login = dependencies.api.oidc?.login, let sessions, let oidc,
            let keys = oidc.issuers[login.issuer]
        else { return }
        let bus = dependencies.bus
        let logger = dependencies.logger
        let transport = dependencies.transport ?? NoTransport()

        router.get("/auth/login") { _, _ -> Response in
            let endpoints: OIDCEndpoints
            switch await keys.discovered() {
            case .success(let e): endpoints = e
            case .failure(let rejection):
                logger.warning("cannot start a sign-in", metadata: ["warden.reason": "\(rejection.message)"])
                throw APIError(
                    .serviceUnavailable,
                    "provider_unavailable",
                    "cannot reach the sign-in provider; try again later"
                )
            }
            let start = sessions.begin()
            let query = FormEncoding.encode([
                ("response_type", "code"),
                ("client_id", login.clientID),
                ("redirect_uri", login.redirect),
                ("scope", (["openid"] + login.scopes).joined(separator: " ")),
                ("state", start.state),
                ("nonce", start.nonce),
                ("code_challenge", start.challenge),
                ("code_challenge_method", "S256"),
            ])
            let separator = endpoints.authorization.contains("?") ? "&" : "?"
            var headers = HTTPFields()
            headers[.location] = endpoints.authorization + separator + query
            headers[.cacheControl] = "no-store"
            headers.append(
                HTTPField(
                    name: .setCookie,
                    value: SessionCookie.set(
                        SessionCookie.loginName,
                        start.state,
                        maxAge: Int(LoginSessions.pendingLifetime.seconds),
                        sameSite: "Lax"
                    )
                )
            )
            return Response(status: .found, headers: headers)
        }

        router.get("/auth/callback") { request, context -> Response in
            let params = request.uri.queryParameters
            let state = params["state"].map(String.init) ?? ""
            let cookie = SessionCookie.value(of: request.headers[values: .cookie], name: SessionCookie.loginName)
            // Refusals after the state was found are sign-ins that failed: audited. One without a
            // known state is only a bad request (not recorded, so it cannot flood the trail).
            func refuse(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> APIError {
                let record = LoginRecord(
                    actor: "unknown",
                    issuer: login.issuer,
                    remote: context.remoteAddress,
                    result: "refused",
                    problem: message
                )
                bus.publish(LoginRecord.type, source: "api", subject: "dashboard", payload: record.json)
                return APIError(status, code, message)
            }
            guard !state.isEmpty, state.utf8.count <= 128, cookie == state, let pending = sessions.finish(state) else {
                throw APIError(
                    .badRequest,
                    "sign_in_unknown",
                    "this sign-in is unknown, expired or from another browser; start again at /auth/login"
                )
            }
            if let error = params["error"] {
                throw refuse(.unauthorized, "sign_in_refused", "the provider refused the sign-in: \(error.prefix(100))")
            }
            guard let code = params["code"], !code.isEmpty, code.utf8.count <= 4096 else {
                throw refuse(.badRequest, "code", "the provider sent no authorization code")
            }
            guard case .success(let endpoints) = await keys.discovered() else {
                throw refuse(.serviceUnavailable, "provider_unavailable", "cannot reach the sign-in provider")
            }
            var exchange = OutboundRequest(url: endpoints.token)
            exchange.caFile = keys.spec.caFile
            exchange.timeout = .seconds(10)
            exchange.maxResponse = 256 * 1024
            let basic =
                FormEncoding.escape(login.clientID) + ":"
                + FormEncoding.escape(String(decoding: login.clientSecret.bytes, as: UTF8.self))
            exchange.headers = [
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Accept", "application/json"),
                ("Authorization", "Basic " + Data(basic.utf8).base64EncodedString()),
            ]
            exchange.body = Array(
                FormEncoding.encode([
                    ("grant_type", "authorization_code"),
                    ("code", String(code)),
                    ("redirect_uri", login.redirect),
                    ("code_verifier", pending.verifier),
                ]).utf8
            )
            let answer: OutboundResponse
            do throws(OutboundError) {
                answer = try await transport.send(exchange)
            } catch {
                throw refuse(.badGateway, "token_exchange", "the provider's token endpoint failed: \(error.message)")
            }
            guard answer.status == 200, let body = JSONValue.parse(bytes: answer.body),
                let idToken = body["id_token"]?.stringValue
            else {
                throw refuse(
                    .badGateway,
                    "token_exchange",
                    "the provider's token endpoint answered HTTP \(answer.status) without an ID token"
                )
            }
            let identity: OIDCIdentity
            switch await oidc.verify(Array(idToken.utf8), audiences: [login.clientID], nonce: pending.nonce) {
            case .success(let who) where who.issuer == login.issuer: identity = who
            case .success:
                throw refuse(.unauthorized, "id_token", "the ID token is not from the sign-in's provider")
            case .failure(let rejection):
                throw refuse(.unauthorized, "id_token", "the provider's ID token is refused: \(rejection.message)")
            }
            // A new sign-in ends the browser's earlier session.
            if let earlier = SessionCookie.value(of: request.headers[values: .cookie]) { sessions.close(earlier) }
            let opened = sessions.open(identity, lifetime: login.session)
            let record = LoginRecord(
                actor: identity.qualifiedName,
                issuer: identity.issuer,
                role: identity.role.rawValue,
                mfa: identity.mfa,
                remote: context.remoteAddress,
                result: "ok",
                problem: identity.mfaProblem
            )
            bus.publish(LoginRecord.type, source: "api", subject: "dashboard", payload: record.json)
            var headers = HTTPFields()
            headers[.location] = "/"
            headers[.cacheControl] = "no-store"
            headers.append(
                HTTPField(
                    name: .setCookie,
                    value: SessionCookie.set(
                        SessionCookie.name,
                        opened.id,
                        maxAge: Int(login.session.seconds),
                        sameSite: "Strict"
                    )
                )
            )
            headers.append(
                HTTPField(
                    name: .setCookie,
                    value: SessionCookie.set(SessionCookie.loginName, "", maxAge: 0, sameSite: "Lax")
                )
            )
            return Response(status: .seeOther, headers: headers)
        }

        router.post("/auth/logout") { request, context -> Response in
            let identity = try context.require(.viewer)
            guard identity.session, let id = SessionCookie.value(of: request.headers[values: .cookie]) else {
                throw APIError(.badRequest, "no_session", "there is no dashboard session to end")
            }
            sessions.close(id)
            var headers = HTTPFields()
            headers.append(
                HTTPField(
                    name: .setCookie,
                    value: SessionCookie.set(SessionCookie.name, "", maxAge: 0, sameSite: "Strict")
                )
            )
            return Response(status: .noContent, headers: headers)
        }
    }
}

/// `application/x-www-form-urlencoded`, for the provider's URLs and token requests.
enum FormEncoding {
    /// Every byte but the unreserved ones (RFC 3986) percent-encoded.
    static func escape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { escape($0.0) + "=" + escape($0.1) }.joined(separator: "&")
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
