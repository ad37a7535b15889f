import Foundation
import Synchronization
import Testing
import WardenCore
import WardenHTTP
import WardenServer
import WardenStore
import WardenSupervisor
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The API of a real `warden run`: durability across kill -9, slow clients, the series CLI, and
/// schemathesis against the OpenAPI document.
@Suite("API of a running Warden", .timeLimit(.minutes(5)))
struct APILiveTests {
    init() { becomeSubreaper() }

    @Test func everyAcknowledgedSampleSurvivesKill9() async throws {
        let f = Fixture("services: {}\n")
        let w = try f.start()
        try await eventually("the API is up") {
            (try? await f.client().send("GET", "/healthz"))?.status == 200
        }
        let api = try f.client()
        let stop = StopFlag()
        let progress = Counters(4)
        // Several writers post batches as fast as they can; each records the batches acknowledged.
        let writers = (0..<4).map { writer in
            Task { () -> [Int] in
                var acknowledged: [Int] = []
                var batch = 0
                while !stop.isSet {
                    let now = Date().timeIntervalSince1970
                    let items = (0..<100).map { i in
                        #"{"series":"dur.w\#(writer)","labels":{"batch":"\#(batch)"},"t":\#(now),"v":\#(i)}"#
                    }
                    let body = Data(("[" + items.joined(separator: ",") + "]").utf8)
                    guard let r = try? await api.send("POST", "/v1/ingest", body: body) else { break }
                    if r.status == 200 {
                        acknowledged.append(batch)
                        progress.increment(writer)
                    }
                    batch += 1
                }
                return acknowledged
            }
        }
        // Kill mid-stream, once every writer has had twenty batches acknowledged.
        try await eventually("every writer has twenty batches acknowledged") {
            progress.all(atLeast: 20)
        }
        w.signal(SIGKILL)
        _ = try await w.wait()
        stop.set()
        var acknowledged: [[Int]] = []
        for t in writers { acknowledged.append(try await t.value) }

        #expect(acknowledged.allSatisfy { $0.count >= 20 }, "each writer got some batches acknowledged before the kill")

        // A new Warden (or the store directly) has every acknowledged batch, complete.
        let second = try f.start()
        try await eventually("the API is up again") {
            (try? await f.client().send("GET", "/healthz"))?.status == 200
        }
        #expect(try await second.stop() == .exited(0))
        let store = try SQLiteStore(path: f.stateDir + "/warden.db", readOnly: true)
        for (writer, batches) in acknowledged.enumerated() {
            let stored = try await store.series(prefix: "dur.w\(writer)", limit: 100_000)
            let present = Set(stored.compactMap { $0.key.labelDictionary["batch"].flatMap(Int.init) })
            let missing = Set(batches).subtracting(present)
            #expect(missing.isEmpty, "writer \(writer) lost acknowledged batches \(missing.sorted().prefix(10))")
            for batch in batches.prefix(5) {
                let r = try await store.query(
                    SeriesQuery(
                        name: "dur.w\(writer)",
                        labels: ["batch": "\(batch)"],
                        from: Date().addingTimeInterval(-3600),
                        to: Date(),
                        step: .seconds(3600)
                    )
                )
                #expect(r.first?.buckets.first?.count == 100, "batch \(batch) of writer \(writer) is complete")
            }
        }
        try await store.close()
    }

    @Test func aSlowClientIsCutOffAfterTheIdleTimeout() async throws {
        let f = Fixture("api: { idle_timeout: 1s }\nservices: {}\n")
        // The fixture's own api line comes first; the second api key would be a duplicate, so
        // rewrite the spec with the timeout in the single api mapping.
        var text = try String(contentsOfFile: f.config, encoding: .utf8)
        text = text.replacingOccurrences(of: "api: { listen: 127.0.0.1:\(f.port) }\n", with: "")
            .replacingOccurrences(
                of: "api: { idle_timeout: 1s }",
                with: "api: { listen: 127.0.0.1:\(f.port), idle_timeout: 1s }"
            )
        try text.write(toFile: f.config, atomically: true, encoding: .utf8)
        let w = try f.start()
        try await eventually("the API is up") {
            (try? await f.client().send("GET", "/healthz"))?.status == 200
        }
        let port = f.port
        let closedAfter = try await onThread { () -> Double in
            let fd = loopbackConnect(port)
            defer { close(fd) }
            // Half a request, then silence.
            let partial = "GET /healthz HTTP/1.1\r\nHost: x\r\n"
            _ = partial.withCString { send(fd, $0, strlen($0), 0) }
            let start = Date()
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, 10_000)
            var byte: UInt8 = 0
            _ = recv(fd, &byte, 1, 0)
            return Date().timeIntervalSince(start)
        }
        #expect(closedAfter >= 0.9 && closedAfter < 5, "closed after \(closedAfter)s")
        #expect(try await w.stop() == .exited(0))
    }

    @Test func seriesCommandShowsIngestedTelemetry() async throws {
        let f = Fixture("services: {}\n")
        let w = try f.start()
        try await eventually("the API is up") {
            (try? await f.client().send("GET", "/healthz"))?.status == 200
        }
        let api = try f.client()
        let now = Int(Date().timeIntervalSince1970)
        let lines = (0..<60).map { "room,site=lab temp=\(20 + $0 % 3) \(now - 60 + $0)" }.joined(separator: "\n")
        let r = try await api.send(
            "POST",
            "/v1/ingest/influx?precision=s",
            body: Data(lines.utf8),
            contentType: "text/plain"
        )
        #expect(r.status == 200)
        let list = try await warden("series", "-c", f.config)
        #expect(list.stdout.contains(#"room.temp{site="lab"}"#))
        let one = try await warden("series", "room.temp", "-c", f.config, "--since", "2m", "--step", "2m", "--json")
        let body = try #require(JSONValue.parse(one.stdout))
        let points = body["series"]?.arrayValue?.first?["points"]?.arrayValue ?? []
        #expect(points.reduce(0) { $0 + ($1["count"]?.intValue ?? 0) } == 60)
        #expect(points.compactMap { $0["max"]?.doubleValue }.max() == 22)
        #expect(try await w.stop() == .exited(0))
        // Down: the same command reads the store.
        let offline = try await warden("series", "room.temp", "-c", f.config, "--since", "2m", "--step", "2m")
        #expect(offline.exitCode == 0)
        #expect(offline.stdout.contains("COUNT"))
    }

    /// With TLS and single sign-on on (`api.tls`, `api.oidc` with a real provider), as a platform
    /// runs it: schemathesis calls with an admin's ID token from the provider.
    @Test func schemathesisFindsNoServerErrorAndNoResponseOutsideTheDocument() async throws {
        let ca = try await TestAuthority()
        let pair = try await ca.issue("warden-api")
        let f = Fixture("services: {}\n")
        let provider = try await OpenIDProvider(authority: ca, redirect: "https://127.0.0.1:\(f.port)/auth/callback")
        let secret = f.dir.write("client-secret", provider.clientSecret)
        // Defense in dry-run, so that the ban routes exist and the host's firewall is not touched;
        // a workflow, so that the run routes do.
        try """
        state_dir: \(f.stateDir)
        api:
          listen: 127.0.0.1:\(f.port)
          tls: { cert: \(pair.cert), key: \(pair.key), ca: \(ca.caFile) }
          oidc:
            issuers:
              - { url: \(provider.issuer), audience: warden, ca: \(ca.caFile), roles: { admin: [warden-admins] } }
            login:
              issuer: \(provider.issuer)
              client_id: \(provider.clientID)
              client_secret: file:\(secret)
              redirect: https://127.0.0.1:\(f.port)/auth/callback
        services:
          svc:
            run: [\(Binaries.sample)]
        defense: { firewall: dry-run }
        workflows:
          note:
            on: [custom.note]
            steps:
              ask: { approve: "{{event.payload.text}}?" }
              say: { needs: [ask], publish: { type: custom.noted, subject: note } }
        """.write(toFile: f.config, atomically: true, encoding: .utf8)
        let w = try f.start()
        try await eventually("the API is up over HTTPS") {
            guard let token = LocalToken.read(in: f.stateDir + "/run") else { return false }
            let client = WardenAPIClient(host: "127.0.0.1", port: f.port, token: token, trust: ca.caFile)
            return (try? await client.send("GET", "/healthz"))?.status == 200
        }
        let token = try await provider.token(for: "admin")
        let me = try await WardenAPIClient(host: "127.0.0.1", port: f.port, token: token, trust: ca.caFile)
            .send("GET", "/v1/session")
        #expect(JSONValue.parse(String(decoding: me.body, as: UTF8.self))?["role"]?.stringValue == "admin")
        let result = try await schemathesis(
            port: f.port,
            token: token,
            excluding: ["/v1/events/stream", "/v1/reload"],
            ca: ca.caFile
        )
        #expect(
            result.exitCode == 0,
            "schemathesis failed:\n\(result.stdout.suffix(6000))\n\(result.stderr.suffix(2000))"
        )
        // Every selected operation was reached over HTTPS (`Selected: N/M` and `Tested: N`).
        let selected = result.stdout.firstMatch(of: /Selected: (\d+)\//).map { String($0.1) }
        let tested = result.stdout.firstMatch(of: /Tested: (\d+)/).map { String($0.1) }
        #expect(selected != nil && selected == tested && (Int(tested ?? "") ?? 0) >= 20, "\(result.stdout.suffix(800))")
        #expect(try await w.stop() == .exited(0))
    }
}

/// A flag set once from any thread.
final class StopFlag: Sendable {
    private let flag = Mutex(false)
    var isSet: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}

/// schemathesis against the OpenAPI document served at `port`: no server error, and every status,
/// content type and body as the document says.
/// With `ca`, over HTTPS verified against that authority.
func schemathesis(port: Int, token: String, excluding paths: [String], ca: String? = nil) async throws -> CommandResult
{
    let schemathesis = try #require(
        findExecutable("schemathesis"),
        "schemathesis is not installed (pip install schemathesis); .ci/run installs it"
    )
    return try await runCommand(
        schemathesis,
        [
            "run", "\(ca == nil ? "http" : "https")://127.0.0.1:\(port)/v1/openapi.yaml",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--header", "Authorization: Bearer \(token)",
            // One worker: hypothesis' lambda introspection is not thread-safe.
            "--max-examples", "30", "--workers", "1",
        ] + paths.flatMap { ["--exclude-path", $0] } + (ca.map { ["--tls-verify", $0] } ?? []),
        timeout: .seconds(240)
    )
}

/// A program in PATH, in the usual pip script directories, or next to the python3 in PATH.
func findExecutable(_ name: String) -> String? {
    var dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
    dirs += ["/usr/local/bin", "/root/.local/bin", "/root/.pyenv/shims"]
    if let versions = try? FileManager.default.contentsOfDirectory(atPath: "/root/.pyenv/versions") {
        dirs += versions.map { "/root/.pyenv/versions/\($0)/bin" }
    }

    for dir in dirs {
        let path = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

/// Per-writer counters shared between tasks.
final class Counters: Sendable {
    private let counts: Mutex<[Int]>
    init(_ n: Int) { counts = Mutex([Int](repeating: 0, count: n)) }
    func increment(_ i: Int) { counts.withLock { $0[i] += 1 } }
    func all(atLeast n: Int) -> Bool { counts.withLock { $0.allSatisfy { $0 >= n } } }
}
