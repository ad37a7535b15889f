import Foundation
import Testing
import WardenCore
import WardenTestSupport

@Suite("Spec loading and validation")
struct SpecLoaderTests {
    let loader = SpecLoader(environment: ["PATH": "/usr/bin:/bin", "HOME": "/root"])

    func load(_ yaml: String) throws(SpecErrors) -> Spec {
        try loader.parse(yaml, file: "warden.yaml", baseDir: "/tmp")
    }

    /// The problems a spec has, as printed.
    func problems(_ yaml: String) -> [String] { loader.problems(yaml) }

    @Test func readsEveryFieldOfAService() throws {
        let spec = try load(
            """
            state_dir: state
            logs: { max_size: 1MB, keep: 3 }
            retention: { events: 7d }
            stats: { every: 2s }
            services:
              db:
                run: /bin/sleep 1000
                ready: { tcp: 127.0.0.1:5432, within: 30s }
              api:
                run: [/bin/sh, -c, "exec sleep 1000"]
                env: { PORT: "9000", MODE: prod }
                cwd: /tmp
                after: [db]
                restart: { policy: on-failure, backoff: 200ms..30s, jitter: 10%, reset: 2m, give_up: 5 in 60s }
                health: { http: "http://127.0.0.1:9000/healthz", every: 2s, timeout: 500ms, failures: 3, successes: 2, grace: 5s }
                watchdog: 10s
                stop: { signal: SIGINT, timeout: 3s }
                logs: { max_size: 64KB }
              worker:
                run: [/bin/true]
                ready: notify
                restart: never
            """
        )
        #expect(spec.stateDir == "/tmp/state")
        #expect(spec.logs == LogPolicy(maxSize: 1024 * 1024, keep: 3))
        #expect(spec.retention.events == .seconds(7 * 86400))
        #expect(spec.statsEvery == .seconds(2))
        #expect(spec.services.map(\.name) == ["db", "api", "worker"])

        let db = try #require(spec.service(named: "db"))
        #expect(db.run == ["/bin/sleep", "1000"])
        #expect(db.executable == "/bin/sleep")
        #expect(
            db.ready
                == ReadySpec(
                    kind: .probe(
                        ProbeSpec(
                            check: .tcp(host: "127.0.0.1", port: 5432),
                            every: .milliseconds(100),
                            timeout: .seconds(1),
                            failures: 1,
                            successes: 1
                        )
                    ),
                    within: .seconds(30)
                )
        )

        let api = try #require(spec.service(named: "api"))
        #expect(api.env == ["PORT": "9000", "MODE": "prod"])
        #expect(api.after == ["db"])
        #expect(
            api.restart
                == RestartSpec(
                    policy: .onFailure,
                    backoffMin: .milliseconds(200),
                    backoffMax: .seconds(30),
                    jitter: 0.1,
                    resetAfter: .seconds(120),
                    giveUp: GiveUp(count: 5, window: .seconds(60))
                )
        )
        #expect(
            api.health?.check
                == .http(
                    HTTPTarget(url: "http://127.0.0.1:9000/healthz", host: "127.0.0.1", port: 9000, path: "/healthz")
                )
        )
        #expect(api.health?.every == .seconds(2))
        #expect(api.health?.timeout == .milliseconds(500))
        #expect(api.health?.successes == 2)
        #expect(api.health?.grace == .seconds(5))
        #expect(api.watchdog == .seconds(10))
        #expect(api.stop == StopSpec(signal: 2, timeout: .seconds(3)))
        #expect(api.logs == LogPolicy(maxSize: 64 * 1024, keep: 3))

        let worker = try #require(spec.service(named: "worker"))
        #expect(worker.executable == "/bin/true" || worker.executable == "/usr/bin/true")
        #expect(worker.usesNotify)
        #expect(worker.restart.policy == .never)
    }

    @Test func relativeProgramsResolveAgainstTheSpecDirectory() throws {
        let dir = TempDir()
        let script = dir.write("run.sh", "#!/bin/sh\nexec sleep 100\n")
        chmod(script, 0o755)
        let spec = try loader.parse(
            "services:\n  s:\n    run: ./run.sh\n",
            file: dir.file("warden.yaml"),
            baseDir: dir.path
        )
        #expect(spec.services[0].executable == script)
        #expect(spec.services[0].cwd == dir.path)
    }

    @Test func statsCanBeTurnedOff() throws {
        #expect(try load("stats: { every: off }\nservices: {}\n").statsOn == false)
        #expect(try load("stats: { every: 1s }\nservices: {}\n").statsOn)
    }

    /// Bad specs and the message each must produce: place, key, what was found, what is valid.
    @Test(arguments: [
        (
            "stats: { host: true, every: off }\nservices: {}\n",
            "warden.yaml:1:29: stats.every: found off, but stats.host is true: host metrics are recorded every stats.every"
        ),
        (
            "stats: { every: sometimes }\nservices: {}\n",
            "warden.yaml:1:17: stats.every: found 'sometimes'; expected off or a duration such as 500ms"
        ),
        (
            "services:\n  api:\n    run: [/bin/true]\n    restrat: always\n",
            "warden.yaml:4:5: services.api.restrat: unknown key 'restrat'; did you mean 'restart'? Valid keys: run, env"
        ),
        (
            "services:\n  api:\n    run: [/bin/true]\n    restart: sometimes\n",
            "warden.yaml:4:14: services.api.restart: found 'sometimes'; expected one of always, on-failure, never"
        ),
        (
            "services:\n  api:\n    run: [/bin/true]\n    restart: { policy: on-falure }\n",
            "services.api.restart.policy: found 'on-falure'; expected one of always, on-failure, never (did you mean 'on-failure'?)"
        ),
        (
            "services:\n  api:\n    run: [/no/such/program]\n",
            "warden.yaml:3:10: services.api.run: program '/no/such/program' does not exist (looked for /no/such/program)"
        ),
        (
            "services:\n  api:\n    run: [no-such-program-anywhere]\n",
            "services.api.run: program 'no-such-program-anywhere' was not found in PATH (/usr/bin:/bin)"
        ),
        (
            "services:\n  api:\n    run: [/bin/true]\n    health: { http: http://x/, every: 2 seconds }\n",
            "warden.yaml:4:39: services.api.health.every: found '2 seconds'; expected a duration such as 500ms, 2s"
        ),
        (
            "services:\n  api:\n    run: [/bin/true]\n    health: { every: 2s }\n",
            "services.api.health: missing the check: give one of http, tcp or exec"
        ),
        (
            "services:\n  api:\n    run: [/bin/true]\n    ready: { tcp: localhost }\n",
            "services.api.ready.tcp: found 'localhost'; expected host:port such as 127.0.0.1:5432"
        ),
        (
            "services:\n  api:\n    run: [/bin/true]\n    restart: { give_up: lots }\n",
            "services.api.restart.give_up: found 'lots'; expected 'N in WINDOW' such as '5 in 60s', or 'never'"
        ),
        (
            "services:\n  api:\n    run: [/bin/true]\n    restart: { backoff: 30s..1s }\n",
            "services.api.restart.backoff: found 30s..1s; the longest delay must not be shorter than the first"
        ),
        (
            "services:\n  api:\n    run: [/bin/true]\n    stop: { signal: SIGFOO }\n",
            "services.api.stop.signal: found 'SIGFOO'; expected a signal such as SIGTERM"
        ),
        (
            "services:\n  api:\n    run: [/bin/true]\n    after: [dbb]\n  db:\n    run: [/bin/true]\n",
            "warden.yaml:4:12: services.api.after: no service named 'dbb'; did you mean 'db'?"
        ),
        (
            "services:\n  a:\n    run: [/bin/true]\n    after: [b]\n  b:\n    run: [/bin/true]\n    after: [c]\n  c:\n    run: [/bin/true]\n    after: [a]\n",
            "services.a.after: dependency cycle a → b → c → a; remove one of these 'after' entries"
        ),
        (
            "services:\n  api:\n    env: { PORT: 1 }\n",
            "warden.yaml:3:5: services.api: missing required key 'run'"
        ),
        (
            "services:\n  api:\n    run: {a: b}\n",
            "services.api.run: expected a command (a list such as [./bin/api, --port, \"9000\"] or a string), found a mapping"
        ),
        (
            "services:\n  api:\n    run: [/bin/true]\n    user: no-such-user-here\n",
            "services.api.user: no user named 'no-such-user-here' on this host"
        ),
        (
            "services:\n  api:\n    run: [/bin/true]\n    health: { tcp: 127.0.0.1:80, failures: 0 }\n",
            "services.api.health.failures: found 0; expected a whole number from 1 to 1000"
        ),
        (
            "servics:\n  api:\n    run: [/bin/true]\n",
            "warden.yaml:1:1: servics: unknown key 'servics'; did you mean 'services'?"
        ),
        (
            "services:\n  api:\n    run: [/bin/true\n",
            "warden.yaml:4:1: invalid YAML"
        ),
        (
            "services:\n  api:\n    run: [/bin/true]\n  api:\n    run: [/bin/true]\n",
            "api: the key appears more than once in the same mapping; keep one"
        ),
        (
            "services:\n  'bad name!':\n    run: [/bin/true]\n",
            "services.bad name!: 'bad name!' is not a valid service name"
        ),
        (
            "services:\n  api:\n    run: [/bin/true]\n    cwd: /no/such/dir\n",
            "services.api.cwd: directory '/no/such/dir' does not exist; create it or fix the path"
        ),
        (
            "services:\n  api:\n    run: [/bin/true]\n    logs: { max_size: 10 }\n",
            "services.api.logs.max_size: found 10; expected at least 4KB"
        ),
        (
            "",
            "warden.yaml: the spec is empty; it needs at least a 'services' mapping"
        ),
        (
            "samples: { raw: 2d, retention: 1d }\n",
            "samples.retention: rollups must be kept at least as long as raw samples (2d)"
        ),
        (
            "samples: { retention: 30d, hourly: 7d }\n",
            "samples.hourly: 1-hour rollups must be kept at least as long as 1-minute ones (30d)"
        ),
        (
            "samples: { hourly: 10m }\n",
            "samples.hourly: found 10m"
        ),
    ])

    func badSpecsAreExplained(yaml: String, expected: String) {
        let found = problems(yaml)
        #expect(
            found.contains { $0.contains(expected) },
            "expected a problem containing:\n  \(expected)\ngot:\n  \(found.joined(separator: "\n  "))"
        )
    }

    @Test func aProgramThatIsNotExecutableIsExplained() {
        let dir = TempDir()
        let file = dir.write("notes.txt", "not a program")
        chmod(file, 0o644)
        let found = problems("services:\n  api:\n    run: [\(file)]\n")
        #expect(found == ["warden.yaml:3:10: services.api.run: '\(file)' is not executable (chmod +x it)"])
    }

    @Test func everyProblemIsReportedInOnePass() {
        let found = problems(
            """
            services:
              api:
                run: [/no/such/program]
                restrat: always
                health: { http: "ftp://x", every: soon }
              db:
                run: [/bin/true]
                restart: { policy: sometimes }
            """
        )
        #expect(found.count == 5, "\(found)")
        // Sorted by position in the file.
        #expect(found.first?.hasPrefix("warden.yaml:3:") == true)
    }

    @Test func aMissingFileIsExplained() {
        #expect(throws: SpecErrors.self) { try SpecLoader().load(path: "/no/such/warden.yaml") }
        do {
            _ = try SpecLoader().load(path: "/no/such/warden.yaml")
        } catch {
            #expect(error.description.contains("/no/such/warden.yaml: the spec file does not exist"))
        }
    }

    @Test func dependencyOrder() {
        let g = DependencyGraph(services: [("web", ["api"]), ("api", ["db", "cache"]), ("db", []), ("cache", [])])
        #expect(g.startOrder() == ["db", "cache", "api", "web"])
        #expect(g.findCycle() == nil)
        #expect(g.dependents(of: "api") == ["web"])
        #expect(DependencyGraph(services: [("a", ["b"]), ("b", ["a"])]).findCycle() == ["a", "b", "a"])
    }
}

@Suite("Spec: sections of the domains")
struct DomainSectionTests {
    /// A domain's section (`defense:`, `monitors:`, `api:`, `healing:` with `notify:` and
    /// `policies:`, `store:`) is read only by a loader given it: one that was not given it refuses the key
    /// rather than ignoring what it says.
    @Test(arguments: ["defense", "monitors", "api", "healing", "notify", "policies", "store"])
    func aLoaderNotGivenASectionRefusesItsKey(key: String) {
        do {
            _ = try SpecLoader(environment: ["PATH": "/usr/bin:/bin"]).parse(
                "services:\n  svc:\n    run: /bin/sleep 100\n\(key): {}\n",
                file: "warden.yaml",
                baseDir: "/tmp"
            )
            Issue.record("a loader without the \(key) section accepted it")
        } catch {
            #expect(error.issues.map(\.description).contains { $0.contains("unknown key '\(key)'") }, "\(error)")
        }
    }
}

@Suite("Spec: samples")
struct SpecSectionsTests {
    @Test func readsTheSamplesSection() throws {
        let loader = SpecLoader(environment: ["PATH": "/usr/bin:/bin"])
        let spec = try loader.parse(
            """
            samples: { raw: 2h, retention: 7d, max_future: 1m }
            services:
              api:
                run: [/bin/sleep, "100"]
                rebuild: [[/bin/true]]
            """,
            file: "warden.yaml",
            baseDir: "/tmp"
        )
        #expect(
            spec.samples == SamplesSpec(raw: .seconds(7200), retention: .seconds(7 * 86400), maxFuture: .seconds(60))
        )
    }

    @Test func selectorsMatchByNameAndLabels() throws {
        let s = try #require(SeriesSelector.parse(#"vitals.hr{crew="a"}"#))
        #expect(s.matches(SeriesKey(name: "vitals.hr", labels: ["crew": "a", "deck": "2"])))
        #expect(!s.matches(SeriesKey(name: "vitals.hr", labels: ["crew": "b"])))
        #expect(!s.matches(SeriesKey(name: "vitals.spo2", labels: ["crew": "a"])))
        #expect(SeriesSelector.parse("vitals{bad label=1}") == nil)
    }
}
