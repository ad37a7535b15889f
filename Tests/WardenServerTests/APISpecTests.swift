import Foundation
import Testing
import WardenCore
import WardenServer

/// The `api:` section of the spec, read by the server's own section.
@Suite("The api section of the spec")
struct APISpecTests {
    let loader = SpecLoader(
        environment: ["PATH": "/usr/bin:/bin", "HOME": "/root", "OPS_TOKEN": "s3cret"],
        sections: [APISection.self]
    )

    @Test func readsEveryField() throws {
        let spec = try loader.parse(
            """
            api:
              listen: 0.0.0.0:8080
              anonymous_read: true
              tokens: [{ name: ops, role: operator, secret: "env:OPS_TOKEN" }]
              max_body: 1MB
              rate: 50/s
              burst: 10
              auth_failures: { allow: 3, per: 2m, max_penalty: 1h }
            services:
              api:
                run: [/bin/sleep, "100"]
            """,
            file: "warden.yaml",
            baseDir: "/tmp"
        )
        #expect(spec.api.host == "0.0.0.0" && spec.api.port == 8080)
        #expect(spec.api.anonymousRead)
        #expect(spec.api.tokens.first?.role == .operator)
        #expect(spec.api.tokens.first?.secret.matches(Array("s3cret".utf8)) == true)
        #expect(spec.api.maxBody == 1024 * 1024 && spec.api.rate == 50 && spec.api.burst == 10)
        #expect(spec.api.authFailures == AuthFailureLimit(allow: 3, per: .seconds(120), maxPenalty: .seconds(3600)))
    }

    /// Without `api:`, the defaults: loopback, port 7070, no anonymous reads.
    @Test func noSectionMeansTheDefaults() throws {
        let spec = try loader.parse("services: {}\n", file: "warden.yaml", baseDir: "/tmp")
        #expect(spec.api == APISpec())
        #expect(spec.api.host == "127.0.0.1" && spec.api.port == 7070 && !spec.api.anonymousRead)
    }

    @Test(arguments: [
        (
            "api: { listen: localhost }\n",
            "warden.yaml:1:16: api.listen: found 'localhost'; expected host:port such as 127.0.0.1:7070"
        ),
        (
            "api: { tokens: [{ name: ops, role: operator, secret: hunter2 }] }\n",
            "api.tokens[0].secret: secrets are referenced, never written in the spec: use env:NAME, file:PATH or vault:PATH#FIELD"
        ),
        (
            "api: { tokens: [{ name: ops, role: operator, secret: 'env:NO_SUCH_VARIABLE_SET' }] }\n",
            "api.tokens[0].secret: the environment variable NO_SUCH_VARIABLE_SET is not set (or empty); export it before starting Warden"
        ),
        (
            "api: { tokens: [{ name: ops, role: operater, secret: 'env:HOME' }] }\n",
            "api.tokens[0].role: found 'operater'; expected one of viewer, operator, admin (did you mean 'operator'?)"
        ),
        ("api: { tokens: [{ name: ops, secret: 'env:HOME' }] }\n", "api.tokens[0]: missing required key 'role'"),
        (
            "api: { tokens: [{ name: a, role: viewer, secret: \"file:/dev/zero\" }] }\n",
            "warden.yaml:1:50: api.tokens[0].secret: the secret file /dev/zero is larger than 64KB; it must hold one secret"
        ),
        ("api: { rate: fast }\n", "api.rate: found 'fast'; expected requests per second such as 100/s"),
    ])
    func badAPISectionsAreExplained(yaml: String, expected: String) {
        do {
            _ = try loader.parse(yaml + "services: {}\n", file: "warden.yaml", baseDir: "/tmp")
            Issue.record("accepted: \(yaml)")
        } catch {
            let found = error.issues.map(\.description)
            #expect(found.contains { $0.hasSuffix(expected) || $0.contains(expected) }, "\(found)")
        }
    }
}
