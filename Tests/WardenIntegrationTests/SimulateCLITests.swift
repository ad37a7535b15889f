import Foundation
import Testing
import WardenCore
import WardenHTTP
import WardenServer
import WardenTestSupport

/// `warden simulate` posting to a real `warden run`.
@Suite("warden simulate", .timeLimit(.minutes(2)))
struct SimulateCLITests {
    init() { becomeSubreaper() }

    /// A `warden run` with no services, its API up, and its local token.
    static func runningWarden() async throws -> (Fixture, WardenProcess, String) {
        let f = Fixture("services: {}\n")
        let w = try f.start()
        try await eventually("the token exists") { LocalToken.read(in: f.stateDir + "/run") != nil }
        let token = try #require(LocalToken.read(in: f.stateDir + "/run"))
        try await eventually("the API is up") {
            (try? await WardenAPIClient(host: "127.0.0.1", port: f.port, token: nil).send("GET", "/healthz"))?.status
                == 200
        }
        return (f, w, token)
    }

    /// `warden simulate` feeding the Warden listening on `port`, with `arguments` after.
    static func simulate(to port: Int, token: String, _ arguments: [String]) async throws -> CommandResult {
        try await runCommand(
            Binaries.warden,
            ["simulate", "--to", "http://127.0.0.1:\(port)", "--token", token] + arguments,
            timeout: .seconds(60)
        )
    }

    @Test func simulatedVitalsArriveWithTheirFault() async throws {
        let (f, w, token) = try await Self.runningWarden()
        // 40 simulated minutes at 600x: 4 s; a hypoxia from minute 10.
        let sim = try await Self.simulate(
            to: f.port,
            token: token,
            [
                "--speed", "600", "--duration", "40m", "--faults", "hypoxia", "--first", "10m", "--every", "1h",
                "--seed", "3",
            ]
        )
        #expect(sim.exitCode == 0, "\(sim.stderr)")
        #expect(sim.stdout.contains("fault started: hypoxia"))
        let series = try await warden(
            "series",
            "vitals.spo2",
            "-c",
            f.config,
            "--since",
            "5m",
            "--step",
            "1s",
            "--json"
        )
        let points = JSONValue.parse(series.stdout)?["series"]?.arrayValue?.first?["points"]?.arrayValue ?? []
        #expect(points.count >= 3, "\(series.stdout.prefix(500))")
        let lows = points.compactMap { $0["min"]?.doubleValue }
        #expect((lows.min() ?? 100) < 93, "the fault shows in the samples")
        for name in ["vitals.heart_rate", "vitals.temperature", "vitals.respiration"] {
            let r = try await warden("series", name, "-c", f.config, "--since", "5m", "--json")
            #expect(JSONValue.parse(r.stdout)?["series"]?.arrayValue?.isEmpty == false, "\(name)")
        }
        #expect(try await w.stop() == .exited(0))
    }

    /// `--faults-per-day` draws the scorecard's schedule; `--record` writes every reading and event
    /// with its simulated and wall time, which is what scores a live agent.
    @Test func aRunIsRecordedReadingByReading() async throws {
        let (f, w, token) = try await Self.runningWarden()
        let record = f.dir.file("record.jsonl")
        let sim = try await Self.simulate(
            to: f.port,
            token: token,
            ["--speed", "36000", "--duration", "6h", "--faults-per-day", "48", "--seed", "5", "--record", record]
        )
        #expect(sim.exitCode == 0, "\(sim.stderr)")
        #expect(try await w.stop() == .exited(0))
        let lines = try String(contentsOfFile: record, encoding: .utf8).split(separator: "\n")
        let items = lines.compactMap { JSONValue.parse(String($0)) }
        #expect(items.count == lines.count)
        let readings = items.filter { $0["event"] == nil }
        let events = items.filter { $0["event"] != nil }
        #expect(readings.count == 6 * 720, "one reading every 5 simulated seconds")
        let times = readings.compactMap { $0["t"]?.doubleValue }
        #expect(times.first == 5 && times.last == 21_600)
        let walls = readings.compactMap { $0["wall"]?.doubleValue }
        #expect(zip(walls, walls.dropFirst()).allSatisfy { $0 <= $1 }, "wall times in order")
        // The schedule begins with a hypoxia after the first hour; with no life-support service to
        // rebuild, it never ends, so the day's other faults wait behind it.
        let started = events.filter { $0["event"]?.stringValue == "started" }
        #expect(started.count == 1)
        #expect(started.first?["kind"]?.stringValue == "hypoxia")
        #expect(started.allSatisfy { ($0["t"]?.doubleValue ?? 0) > 3600 })
        let hypoxia = try #require(started.first)
        let critical = try #require(hypoxia["critical_at"]?.doubleValue)
        // Nothing repairs it here: it reaches its critical point, and the readings before that
        // (within 15 minutes of it) say a failure was coming.
        #expect(events.contains { $0["event"]?.stringValue == "critical" && $0["kind"]?.stringValue == "hypoxia" })
        let coming = readings.filter { $0["coming"]?.boolValue == true }.compactMap { $0["t"]?.doubleValue }
        #expect(!coming.isEmpty && coming.allSatisfy { $0 <= critical + 5 })
        #expect(coming.contains { critical - $0 < 10 })
    }

    @Test func badOptionsAreExplained() async throws {
        let bad = try await warden("simulate", "--faults", "hypoxia,meteor", "--duration", "1m")
        #expect(bad.exitCode == 1)
        #expect(bad.stderr.contains("found 'meteor'; expected kinds among hypoxia, fever"))
        let url = try await warden("simulate", "--to", "https://example.com")
        #expect(url.exitCode == 1)
        #expect(url.stderr.contains("expected an http:// URL"))
        let perDay = try await warden("simulate", "--faults-per-day", "48")
        #expect(perDay.exitCode == 1 && perDay.stderr.contains("needs --duration"), "\(perDay.stderr)")
        let tooMany = try await warden("simulate", "--faults-per-day", "99999", "--duration", "1h")
        #expect(tooMany.exitCode == 1 && tooMany.stderr.contains("0 to 10000"), "\(tooMany.stderr)")
        let unwritable = try await warden(
            "simulate",
            "--duration",
            "1m",
            "--record",
            "/nonexistent-dir/record.jsonl"
        )
        #expect(
            unwritable.exitCode == 1 && unwritable.stderr.contains("--record: cannot write"),
            "\(unwritable.stderr)"
        )
    }
}
