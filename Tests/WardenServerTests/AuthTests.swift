import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import WardenCore
import WardenIdentity
import WardenServer
import WardenTestSupport

/// Every route × no token / viewer / operator / admin.
/// (Five minutes: in a full run, beside the integration suites' browsers and servers on two cores, one
/// of these in-process tests has taken over a minute to tear down; alone it takes a second.)
@Suite("API authentication and roles", .timeLimit(.minutes(5)))
struct AuthTests {
    init() { becomeSubreaper() }

    struct Route: Sendable, CustomStringConvertible {
        var method: HTTPRequest.Method
        var path: String
        /// nil: open to everyone.
        var role: Role?
        var body: String? = nil
        var description: String { "\(method) \(path)" }
    }

    static let routes: [Route] = [
        Route(method: .get, path: "/healthz", role: nil),
        Route(method: .get, path: "/readyz", role: nil),
        Route(method: .get, path: "/v1/openapi.yaml", role: nil),
        Route(method: .get, path: "/ui.css", role: nil),
        Route(method: .get, path: "/metrics", role: .viewer),
        Route(method: .get, path: "/v1/services", role: .viewer),
        Route(method: .get, path: "/v1/services/svc", role: .viewer),
        Route(method: .get, path: "/v1/events", role: .viewer),
        Route(method: .get, path: "/v1/series", role: .viewer),
        Route(method: .get, path: "/v1/series/cpu", role: .viewer),
        Route(method: .post, path: "/v1/services/svc/restart", role: .operator),
        Route(method: .post, path: "/v1/services/svc/stop", role: .operator),
        Route(method: .post, path: "/v1/services/svc/start", role: .operator),
        Route(method: .post, path: "/v1/ingest", role: .operator, body: #"{"samples":[{"series":"cpu","v":1}]}"#),
        Route(method: .post, path: "/v1/ingest/prometheus", role: .operator, body: "cpu 1\n"),
        Route(method: .post, path: "/v1/ingest/influx", role: .operator, body: "cpu value=1\n"),
        Route(method: .post, path: "/v1/reload", role: .admin),
        Route(method: .get, path: "/v1/incidents", role: .viewer),
        Route(method: .get, path: "/v1/incidents/i123", role: .viewer),
        Route(method: .post, path: "/v1/incidents/i123/approve", role: .operator),
        Route(method: .post, path: "/v1/incidents/i123/cancel", role: .operator),
        Route(method: .get, path: "/v1/bans", role: .viewer),
        Route(method: .post, path: "/v1/bans", role: .operator, body: #"{"address":"203.0.113.5","for":"1m"}"#),
        Route(method: .delete, path: "/v1/bans/203.0.113.5", role: .operator),
        Route(method: .get, path: "/v1/alerts", role: .viewer),
        Route(method: .get, path: "/v1/silences", role: .viewer),
        Route(
            method: .post,
            path: "/v1/silences",
            role: .operator,
            body: #"{"matchers":["service=api"],"for":"1h","comment":"x"}"#
        ),
        Route(method: .delete, path: "/v1/silences/s1", role: .operator),
        Route(method: .get, path: "/v1/gitops", role: .viewer),
        Route(method: .get, path: "/v1/gitops/diff", role: .operator),
        Route(method: .post, path: "/v1/gitops/sync", role: .operator),
    ]

    static let callers: [(name: String, secret: String?, role: Role?)] = [
        ("no token", nil, nil), ("viewer", Tokens.viewer, .viewer), ("operator", Tokens.operator, .operator),
        ("admin", Tokens.admin, .admin), ("wrong token", "not-a-token", nil),
    ]

    @Test func everyRouteAnswersEveryRoleAsItShould() async throws {
        // The matrix sends a wrong token to every route from one address: allow them all here
        // (the back-off has its own tests below).
        let node = try APINode(extraAPI: "  auth_failures: 1000 in 1m")
        let failures = try await node.test { client in
            var failures: [String] = []
            for route in Self.routes {
                for caller in Self.callers {
                    let status = try await client.execute(
                        uri: route.path,
                        method: route.method,
                        headers: Tokens.header(caller.secret),
                        body: route.body.map { ByteBuffer(string: $0) }
                    ) { $0.status }
                    let expected: String
                    let ok: Bool
                    if let needed = route.role {
                        if let role = caller.role {
                            if role >= needed {
                                expected = "neither 401 nor 403"
                                ok = status != .unauthorized && status != .forbidden && status.code < 500
                            } else {
                                expected = "403"
                                ok = status == .forbidden
                            }
                        } else {
                            expected = "401"
                            ok = status == .unauthorized
                        }
                    } else {
                        expected = "not 401/403"
                        ok = status != .unauthorized && status != .forbidden && status.code < 500
                    }
                    if !ok { failures.append("\(route) as \(caller.name): \(status.code), expected \(expected)") }
                }
            }
            return failures
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    @Test func anonymousReadersMayReadButNeverWrite() async throws {
        let node = try APINode(extraAPI: "  anonymous_read: true")
        try await node.test { client in
            try await client.execute(uri: "/v1/services", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/services/svc/stop", method: .post) { response in
                #expect(response.status == .unauthorized)
                #expect(
                    response.json?["error"]?["message"]?.stringValue?.contains("anonymous access is read-only") == true
                )
                #expect(response.headers[.wwwAuthenticate] == "Bearer realm=\"warden\"")
            }
            try await client.execute(uri: "/v1/ingest", method: .post, body: ByteBuffer(string: "[]")) {
                #expect($0.status == .unauthorized)
            }
            // A wrong token is refused even where anonymous reads are allowed.
            try await client.execute(uri: "/v1/services", method: .get, headers: Tokens.header("wrong")) {
                #expect($0.status == .unauthorized)
            }
        }
    }

    @Test func mutatingRequestsAreAudited() async throws {
        let node = try APINode()
        let log = EventLog(node.bus.subscribe(name: "audit") { $0.type.hasPrefix("audit.") })
        try await node.test { client in
            try await client.execute(
                uri: "/v1/services/svc/restart",
                method: .post,
                headers: Tokens.header(Tokens.operator)
            ) { _ in }
            try await client.execute(
                uri: "/v1/services/svc/restart",
                method: .post,
                headers: Tokens.header(Tokens.viewer)
            ) { _ in }
            try await client.execute(uri: "/v1/services/svc/stop", method: .post) { _ in }
            try await client.execute(
                uri: "/v1/services/nope/start",
                method: .post,
                headers: Tokens.header(Tokens.admin)
            ) { _ in }
        }
        let audits = try await log.wait(for: "audit.service.restart", count: 2)
        #expect(audits[0].subject == "svc")
        #expect(audits[0].payload["actor"]?.stringValue == "ops")
        #expect(audits[0].payload["status"]?.intValue == 202)
        #expect(audits[0].payload["result"]?.stringValue == "ok")
        #expect(audits[1].payload["actor"]?.stringValue == "watcher")
        #expect(audits[1].payload["status"]?.intValue == 403)
        #expect(audits[1].payload["result"]?.stringValue == "refused")
        let start = try await log.wait(for: "audit.service.start")
        #expect(start[0].subject == "nope")
        #expect(start[0].payload["status"]?.intValue == 404)
        // The write without a token is not a record of its own but part of the address's summary.
        node.server.authAudit.flush()
        let summary = try await log.wait(for: "audit.auth.failed")
        #expect(summary[0].payload["unauthenticated"]?.intValue == 1)
        #expect(summary[0].payload["failures"]?.intValue == 0)
        #expect(log.all.filter { $0.type == "audit.service.stop" }.isEmpty)
    }

    /// Ingest is audited as one summary per caller, with what it stored and refused.
    @Test func ingestIsAuditedAsOneSummaryPerCaller() async throws {
        let node = try APINode()
        let log = EventLog(node.bus.subscribe(name: "audit") { $0.type.hasPrefix("audit.") })
        try await node.test { client in
            for body in [
                #"[{"series":"a","v":1},{"series":"b","v":2}]"#, #"[{"series":"a","v":3},{"series":"9x","v":1}]"#,
            ] {
                try await client.execute(
                    uri: "/v1/ingest",
                    method: .post,
                    headers: Tokens.header(Tokens.operator),
                    body: ByteBuffer(string: body)
                ) { #expect($0.status == .ok) }
            }
            try await client.execute(
                uri: "/v1/ingest/prometheus",
                method: .post,
                headers: Tokens.header(Tokens.admin),
                body: ByteBuffer(string: "c 1\n")
            ) { #expect($0.status == .ok) }
        }
        node.server.ingestAudit.flush()
        let summaries = try await log.wait(for: "audit.ingest", count: 2)
        let ops = try #require(summaries.first { $0.subject == "ops" })
        #expect(ops.payload["requests"]?.intValue == 2)
        #expect(ops.payload["samples"]?.intValue == 3)
        #expect(ops.payload["rejected"]?.intValue == 1)
        #expect(ops.payload["statuses"]?["200"]?.intValue == 2)
        let root = try #require(summaries.first { $0.subject == "root" })
        #expect(root.payload["requests"]?.intValue == 1)
        #expect(log.all.filter { $0.type == "audit.ingest" }.count == 2, "one per caller, not one per request")
    }

    @Test func wrongTokensAreSummedIntoOneAuditRecordPerAddress() async throws {
        let node = try APINode(extraAPI: "  auth_failures: 1000 in 1m")
        let log = EventLog(node.bus.subscribe(name: "audit") { $0.type.hasPrefix("audit.") })
        try await node.test { client in
            for i in 0..<250 {
                let status = try await client.execute(
                    uri: i % 2 == 0 ? "/v1/services" : "/v1/services/svc/stop",
                    method: i % 2 == 0 ? .get : .post,
                    headers: Tokens.header("guess-\(i)")
                ) { $0.status }
                #expect(status == .unauthorized)
            }
        }
        node.server.authAudit.flush()
        let summary = try await log.wait(for: "audit.auth.failed")
        #expect(summary.count == 1)
        #expect(summary[0].payload["failures"]?.intValue == 250)
        #expect(summary[0].payload["problem"]?.stringValue == "the bearer token is not valid")
        // 250 refused requests, and not one audit record each.
        #expect(log.all.filter { $0.type != "audit.auth.failed" }.isEmpty, "\(log.all.map(\.type))")
    }

    @Test func anAddressThatKeepsGuessingMustWaitEvenWithTheRightToken() async throws {
        // Time stands still (a manual clock), so the one-second wait cannot run out mid-test.
        let node = try APINode(extraAPI: "  auth_failures: 3 in 1m", clock: ManualClock())
        try await node.test { client in
            for _ in 0..<3 {
                try await client.execute(uri: "/v1/services", method: .get, headers: Tokens.header("nope")) {
                    #expect($0.status == .unauthorized)
                }
            }
            // The fourth wrong token earns a wait; from then on a token is not even compared.
            try await client.execute(uri: "/v1/services", method: .get, headers: Tokens.header("nope")) {
                #expect($0.status == .unauthorized)
            }
            for secret in ["nope", Tokens.admin] {
                try await client.execute(uri: "/v1/services", method: .get, headers: Tokens.header(secret)) { r in
                    #expect(r.status == .tooManyRequests)
                    #expect(r.json?["error"]?["code"]?.stringValue == "auth_backoff")
                    #expect(Int(r.headers[.retryAfter] ?? "") ?? 0 >= 1)
                }
            }
            // Requests without a token are not guesses: anonymous routes stay open.
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test func secretsNeverAppearInTheSpecsDescription() throws {
        let node = try APINode()
        let dump = "\(node.spec) \(String(reflecting: node.spec))"
        for secret in [Tokens.viewer, Tokens.operator, Tokens.admin] { #expect(!dump.contains(secret)) }
        #expect(node.spec.api.tokens.map(\.name) == ["watcher", "ops", "root"])
    }

    @Test func tokenComparisonIsExactForEveryLength() {
        let s = Secret("abcdef")
        #expect(s.matches(Array("abcdef".utf8)))
        #expect(!s.matches(Array("abcdeg".utf8)))
        #expect(!s.matches(Array("abcde".utf8)))
        #expect(!s.matches(Array("abcdefabcdef".utf8)))
        #expect(!s.matches([UInt8]()))
        #expect(!Secret("").matches([UInt8]()))
    }

    /// The bypass that was: lengths that differ by a multiple of 256 looked equal, and only the
    /// candidate's bytes were compared, so one right character passed for a 257-byte secret.
    @Test func aPrefixOfALongSecretIsNotTheSecret() {
        let long = String(repeating: "k", count: 257)
        let secret = Secret(long)
        #expect(!secret.matches(Array("k".utf8)))
        #expect(!secret.matches(Array(String(repeating: "k", count: 256).utf8)))
        #expect(!secret.matches(Array(String(repeating: "k", count: 513).utf8)))
        #expect(secret.matches(Array(long.utf8)))
    }

    /// Against the plain comparison, over random secrets and candidates of related lengths
    /// (prefixes, repetitions, lengths a multiple of 256 apart).
    @Test func tokenComparisonAgreesWithPlainEquality() {
        var rng = SplitMix64(seed: 7)
        var disagreements = 0
        for _ in 0..<5_000 {
            let length = Int(rng.next() % 600) + 1
            let alphabet = Array("ab".utf8)
            let bytes = (0..<length).map { _ in alphabet[Int(rng.next() % 2)] }
            let secret = Secret(String(decoding: bytes, as: UTF8.self))
            let candidate: [UInt8]
            switch rng.next() % 5 {
            case 0: candidate = bytes
            case 1: candidate = Array(bytes.prefix(Int(rng.next() % UInt64(length + 1))))
            case 2: candidate = bytes + bytes
            case 3: candidate = Array((bytes + bytes + bytes).prefix(length + 256 * Int(1 + rng.next() % 2)))
            default: candidate = (0..<Int(rng.next() % 600)).map { _ in alphabet[Int(rng.next() % 2)] }
            }
            if secret.matches(candidate) != (candidate == bytes) { disagreements += 1 }
        }
        #expect(disagreements == 0)
    }
}
