import Testing
import WardenCore
import WardenTestSupport

/// Secret references in a service's environment: kept as references (never read at load), and
/// located errors for the ones that cannot work.
@Suite("Service secrets in the spec")
struct ServiceSecretSpecTests {
    let loader = SpecLoader(environment: [:])

    @Test func referencesAreKeptApartFromPlainValues() throws {
        let spec = try loader.parse(
            """
            services:
              s:
                run: [/bin/true]
                env: { PLAIN: "vaulty", TOKEN: { secret: env:APP_TOKEN }, KEY: { secret: "file:/run/key" } }
            """,
            file: "w.yaml",
            baseDir: "/tmp"
        )
        let s = try #require(spec.services.first)
        #expect(s.env == ["PLAIN": "vaulty"])
        #expect(s.secretEnv == ["TOKEN": "env:APP_TOKEN", "KEY": "file:/run/key"])
    }

    @Test func badReferencesAreLocated() {
        let found = loader.problems(
            """
            services:
              s:
                run: [/bin/true]
                env:
                  A: "vault:secret/data/db#password"
                  B: { secret: "plain-text" }
                  C: { secret: env:X, other: 1 }
            """
        )
        #expect(
            found.contains(
                "warden.yaml:5:10: services.s.env.A: a vault: reference needs the spec's vault: section (address and auth)"
            ),
            "\(found)"
        )
        #expect(
            found.contains(
                "warden.yaml:6:20: services.s.env.B.secret: expected a secret reference: vault:PATH#FIELD, env:NAME or file:PATH"
            ),
            "\(found)"
        )
        #expect(
            found.contains { $0.hasPrefix("warden.yaml:7:27: services.s.env.C.other: unknown key 'other'") },
            "\(found)"
        )
    }
}
