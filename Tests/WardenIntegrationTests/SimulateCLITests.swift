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

    @Test func simulatedVitalsArriveWithTheirFault() async throws {
        let f = Fixture("services: {}\n")
        let w = try f.start()
        try await eventually("the token exists") { LocalToken.read(in: f.stateDir + "/run") != nil }
        let token = try #require(LocalToken.read(in: f.stateDir + "/run"))
        try await eventually("the API is up") {
            (try? await WardenAPIClient(host: "127.0.0.1", port: f.port, token: nil).send("GET", "/healthz"))?.status
                == 200
        }
        // 40 simulated minutes at 600x: 4 s; a hypoxia from minute 10.
        let sim = try await warden(
            "simulate",
            "--to",
            "http://127.0.0.1:\(f.port)",
            "--token",
            token,
            "--speed",
            "600",
            "--duration",
            "40m",
            "--faults",
            "hypoxia",
            "--first",
            "10m",
            "--every",
            "1h",
            "--seed",
            "3"
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

    @Test func badOptionsAreExplained() async throws {
        let bad = try await warden("simulate", "--faults", "hypoxia,meteor", "--duration", "1m")
        #expect(bad.exitCode == 1)
        #expect(bad.stderr.contains("found 'meteor'; expected kinds among hypoxia, fever"))
        let url = try await warden("simulate", "--to", "https://example.com")
        #expect(url.exitCode == 1)
        #expect(url.stderr.contains("expected an http:// URL"))
    }
}
