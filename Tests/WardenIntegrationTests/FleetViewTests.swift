import Foundation
import Synchronization
import Testing
import WardenCore
import WardenHTTP
import WardenSupervisor
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Events gathered by a stream reader.
final class Events: Sendable {
    private let events = Mutex<[Event]>([])
    func add(_ e: Event) { events.withLock { $0.append(e) } }
    var all: [Event] { events.withLock { $0 } }
}

/// The fleet as people see it: a real agent ships to a `warden control` over PostgreSQL, and its
/// services, ban and telemetry are read back through the fleet API, the CLI's `--node`, the
/// dashboard in a real headless Chromium, and schemathesis against the control plane's OpenAPI
/// document.
@Suite("The fleet, seen", .timeLimit(.minutes(6)))
struct FleetViewTests {
    init() { becomeSubreaper() }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test func aNodesServicesBansAndTelemetryAreSeenAtTheControlPlane() async throws {
        let (pg, control) = try await FleetLiveTests.fleet()
        setenv("WARDEN_TEST_READER_TOKEN", FleetLiveTests.readerToken, 1)
        let f = FleetLiveTests.agent(
            "edge-1",
            of: control,
            """
            defense: { firewall: dry-run }
            services:
              api:
                run: [SAMPLE]
              broken:
                run: [/bin/sh, -c, "exit 3"]
                restart: { backoff: 20ms..20ms, give_up: 2 in 10s }
            """
        )
        let agent = try f.start()
        try await eventually("the agent's API is up") { (try? await f.client().send("GET", "/healthz"))?.status == 200 }
        // Known telemetry, through the node's own ingest API.
        let now = Date().timeIntervalSince1970.rounded(.down)
        let values = [3.5, 7.25, -1, 1e6, 0]
        let items = values.enumerated().map { i, v in
            #"{"series":"test.temp","labels":{"room":"a"},"t":\#(now - 50 + Double(i) * 10),"v":\#(v)}"#
        }
        let ingest = try await f.client().send(
            "POST",
            "/v1/ingest",
            body: Data(("[" + items.joined(separator: ",") + "]").utf8)
        )
        #expect(ingest.status == 200, "\(ingest.errorMessage)")
        // A follower of the node's bans, through the control plane's event stream.
        let followed = Events()
        let follower = Task {
            try await eventually("the control plane is up") {
                (try? await control.client().send("GET", "/healthz"))?.status == 200
            }
            _ = try? await control.client().stream("/v1/fleet/events/stream?node=edge-1&type=ban.*", lastEventID: 0) {
                _,
                data in
                if let e = try? JSONDecoder.iso.decode(Event.self, from: Data(data.utf8)) { followed.add(e) }
                return !Task.isCancelled
            }
        }
        defer { follower.cancel() }
        let ban = try await f.client().send(
            "POST",
            "/v1/bans",
            body: Data(#"{"address": "203.0.113.9", "for": "1h", "reason": "seen scanning"}"#.utf8)
        )
        #expect(ban.status == 200 || ban.status == 201, "\(ban.errorMessage)")

        // The control plane's view of the node.
        let reader = control.client()
        var detail: JSONValue = .null
        try await eventually("the control plane has the node's services and ban", timeout: .seconds(60)) {
            let r = try await reader.send("GET", "/v1/nodes/edge-1")
            guard r.status == 200, let d = JSONValue.parse(bytes: Array(r.body)) else { return false }
            detail = d
            let states = Dictionary(
                (d["services"]?.arrayValue ?? []).map {
                    ($0["name"]?.stringValue ?? "", $0["state"]?.stringValue ?? "")
                },
                uniquingKeysWith: { a, _ in a }
            )
            return states == ["api": "running", "broken": "failed"]
                && d["bans"]?.arrayValue?.first?["address"]?.stringValue == "203.0.113.9"
        }
        #expect(detail["bans"]?.arrayValue?.first?["reason"]?.stringValue == "seen scanning")
        try await eventually("the stream delivers the ban") {
            followed.all.contains { $0.type == "ban.applied" && $0.subject == "203.0.113.9" }
        }
        #expect(followed.all.allSatisfy { $0.type.hasPrefix("ban.") }, "only what the filter asks for")
        // `warden events --node --follow` prints what arrives after it started.
        let followPath = f.dir.file("follow.out")
        let followOut = open(followPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        var followRequest = SpawnRequest(
            executable: Binaries.warden,
            arguments: [
                Binaries.warden, "events", "--follow", "--json", "--limit", "1", "--type", "audit.*", "--node",
                "edge-1",
                "--control", "127.0.0.1:\(control.port)", "--token", "env:WARDEN_TEST_READER_TOKEN",
            ],
            environment: ProcessInfo.processInfo.environment
        )
        followRequest.stdout = followOut
        followRequest.stderr = followOut
        let followCLI = try ChildProcess.spawn(followRequest)
        close(followOut)
        defer { followCLI.signalGroup(SIGKILL) }
        try await Task.sleep(for: .milliseconds(500))
        // Something the node audits: a lift of a ban that does not exist is still a request.
        _ = try await f.client().send("DELETE", "/v1/bans/198.51.100.99")
        try await eventually("warden events --follow prints the new audit event", timeout: .seconds(30)) {
            let text = (try? String(contentsOfFile: followPath, encoding: .utf8)) ?? ""
            return text.contains("198.51.100.99")
        }
        #expect(detail["incidents"]?.arrayValue?.isEmpty == true)
        let listed = try await reader.send("GET", "/v1/nodes")
        let node = JSONValue.parse(bytes: Array(listed.body))?["nodes"]?.arrayValue?.first
        #expect(node?["services"]?.intValue == 2 && node?["failed"]?.intValue == 1)
        #expect(node?["active_bans"]?.intValue == 1 && node?["open_incidents"]?.intValue == 0)
        #expect(try await reader.send("GET", "/v1/nodes/edge-2").status == 404)
        // The control plane's own metrics time what agents ship.
        let metrics = try await reader.send("GET", "/metrics")
        let metricsText = String(decoding: metrics.body, as: UTF8.self)
        #expect(metrics.status == 200)
        #expect(
            metricsText.split(separator: "\n").contains {
                $0.hasPrefix("http_server_request_duration_seconds_count{")
                    && $0.contains(#"http_route="/v1/fleet/events""#) && $0.contains(#"http_request_method="POST""#)
            },
            "\(metricsText.prefix(2000))"
        )
        #expect(try await reader.send("GET", "/v1/nodes/bad%20name").status == 400)

        // The telemetry, point for point.
        let since = ISOTime.format(Date(timeIntervalSince1970: now - 60))
        let until = ISOTime.format(Date(timeIntervalSince1970: now + 1))
        let range = "since=\(since)&until=\(until)&step=10s"
        var points: [Double] = []
        try await eventually("the control plane has the node's telemetry", timeout: .seconds(60)) {
            let r = try await reader.send("GET", "/v1/fleet/series/test.temp?node=edge-1&label=room=a&\(range)")
            guard r.status == 200 else { return false }
            points = (JSONValue.parse(bytes: Array(r.body))?["series"]?.arrayValue?.first?["points"]?.arrayValue ?? [])
                .compactMap { $0["last"]?.doubleValue }
            return points.count == values.count
        }
        #expect(points == values)
        let wrong = try await reader.send("GET", "/v1/fleet/series/test.temp?\(range)")
        #expect(wrong.status == 400 && wrong.errorMessage.contains("node"))

        // The CLI, with --node.
        let cli = [
            "--node", "edge-1", "--control", "127.0.0.1:\(control.port)", "--token", "env:WARDEN_TEST_READER_TOKEN",
        ]
        func warden(_ arguments: [String]) async throws -> CommandResult {
            try await runCommand(Binaries.warden, arguments)
        }
        let status = try await warden(["status"] + cli)
        #expect(status.exitCode == 0, "\(status.stderr)")
        let statusLines = status.stdout.split(separator: "\n")
        #expect(statusLines.contains { $0.hasPrefix("api ") && $0.contains(" running ") }, "\(status.stdout)")
        #expect(statusLines.contains { $0.hasPrefix("broken ") && $0.contains(" failed ") }, "\(status.stdout)")
        let bans = try await warden(["bans"] + cli)
        #expect(bans.exitCode == 0 && bans.stdout.contains("203.0.113.9"), "\(bans.stdout)\(bans.stderr)")
        let incidents = try await warden(["incidents"] + cli)
        #expect(incidents.stdout.contains("no open incidents on edge-1"), "\(incidents.stdout)\(incidents.stderr)")
        let series = try await warden(
            [
                "series", "test.temp", "--since", since, "--until", until, "--step", "10s", "--json",
            ] + cli
        )
        #expect(series.exitCode == 0, "\(series.stderr)")
        let cliPoints = (JSONValue.parse(series.stdout)?["series"]?.arrayValue?.first?["points"]?.arrayValue ?? [])
            .compactMap { $0["last"]?.doubleValue }
        #expect(cliPoints == values)
        let unknown = try await warden(["status"] + cli.map { $0 == "edge-1" ? "edge-9" : $0 })
        #expect(unknown.exitCode == 1 && unknown.stderr.contains("404"), "\(unknown.stderr)")

        // The dashboard, in a browser.
        let python = try #require(which("python3"), "python3 is not installed")
        #expect(which("chromium") != nil, "chromium is not installed (apt-get install chromium); .ci/run installs it")
        let out =
            ProcessInfo.processInfo.environment["WARDEN_TEST_OUTPUT"].map { $0 + "/fleet" }
            ?? f.dir.file("screenshots")
        let check = try await runCommand(
            python,
            [
                Self.repository + "/Tests/browser/fleet_check.py", "http://127.0.0.1:\(control.port)/",
                FleetLiveTests.readerToken, out, "edge-1", "api", "broken", "203.0.113.9", "test.temp",
            ],
            timeout: .seconds(180)
        )
        let result = JSONValue.parse(check.stdout.split(separator: "\n").last.map(String.init) ?? "")
        #expect(check.exitCode == 0, "\(check.stdout)\n\(check.stderr.suffix(3000))")
        for name in [
            "asks_for_a_token", "node_listed_with_counts", "services_in_their_state", "ban_shown", "series_shown",
            "events_shown", "address_names_the_node", "no_console_errors",
        ] {
            #expect(result?["checks"]?[name]?.boolValue == true, "\(name)")
        }

        // The control plane's answers conform to its OpenAPI document.
        // (The stream never ends: it is tested above.)
        let conformance = try await schemathesis(
            port: control.port,
            token: FleetLiveTests.readerToken,
            excluding: ["/v1/fleet/events/stream"]
        )
        #expect(
            conformance.exitCode == 0,
            "schemathesis failed:\n\(conformance.stdout.suffix(6000))\n\(conformance.stderr.suffix(2000))"
        )
        #expect(try await agent.stop() == .exited(0))
        await control.kill(SIGTERM)
        await pg.stop()
    }
}
