import Foundation
import Testing
import WardenCore
import WardenHTTP
import WardenServer
import WardenStore
import WardenTestSupport

/// Monitors of a real `warden run`, fed over the ingest API.
@Suite("Monitors of a running Warden", .timeLimit(.minutes(3)))
struct MonitorLiveTests {
    init() { becomeSubreaper() }

    static let spec = """
        monitors:
          life-support:
            series: [vitals.hr, vitals.spo2, vitals.temp]
            model: one-class-svm
            train: 5m
            threshold: 0.9
            for: 5s
            heal: rebuild api
        healing: { verify: 10s, settle: 300ms }
        services:
          api:
            run: [SAMPLE]
            rebuild:
              - [/bin/sh, -c, "touch $REBUILT; echo rebuilt"]
        """

    /// Posts one sample per series per second for `seconds`, starting at `start`.
    func post(_ api: WardenAPIClient, from start: Double, seconds: Range<Int>, spo2: (Int) -> Double) async throws {
        var rng = SplitMix64(seed: UInt64(seconds.lowerBound))
        var items: [String] = []
        for s in seconds {
            let t = start + Double(s)
            items.append(
                #"{"series":"vitals.hr","labels":{"crew":"a"},"t":\#(t),"v":\#(72 + (rng.nextUnit() - 0.5) * 6)}"#
            )
            items.append(
                #"{"series":"vitals.spo2","labels":{"crew":"a"},"t":\#(t),"v":\#(spo2(s) + (rng.nextUnit() - 0.5) * 1.5)}"#
            )
            items.append(
                #"{"series":"vitals.temp","labels":{"crew":"a"},"t":\#(t),"v":\#(36.8 + (rng.nextUnit() - 0.5) * 0.4)}"#
            )
        }
        let body = Data(("[" + items.joined(separator: ",") + "]").utf8)
        let response = try await api.send("POST", "/v1/ingest", body: body)
        #expect(response.status == 200, "\(response.errorMessage)")
    }

    /// Values near the largest Double, posted to a monitor (the ensemble's context view used to
    /// trap on them, taking the agent down), are refused by ingest with the field at fault; values
    /// at the limit, ±1e150, are taken and scored, and the agent goes on taking samples and stops
    /// cleanly.
    @Test(arguments: ["ensemble", "one-class-svm"])
    func valuesNearTheLargestDoubleDoNotStopAMonitor(model: String) async throws {
        let spec = """
            monitors:
              edge:
                series: [vitals.hr]
                model: \(model)
                train: 1m
                threshold: 0.9
                for: 5s
            services:
              api:
                run: [SAMPLE]
            """
        let f = Fixture(spec)
        let w = try f.start()
        try await f.waitUp()
        let api = try f.client()
        let start = Date().timeIntervalSince1970 - 400
        @discardableResult
        func post(_ seconds: Range<Int>, _ value: (Int) -> String) async throws -> JSONValue? {
            let items = seconds.map { s in
                #"{"series":"vitals.hr","labels":{"crew":"a"},"t":\#(start + Double(s)),"v":\#(value(s))}"#
            }
            let response = try await api.send(
                "POST",
                "/v1/ingest",
                body: Data(("[" + items.joined(separator: ",") + "]").utf8)
            )
            #expect(response.status == 200, "\(response.errorMessage)")
            return JSONValue.parse(String(decoding: response.body, as: UTF8.self))
        }
        // Two of three refused, the batch taken (a batch refused whole is a 400).
        let largest = try await post(0..<3) { s in ["1.7976931348623157e308", "-1.7976931348623157e308", "70"][s] }
        #expect(largest?["rejected_count"]?.intValue == 2)
        #expect(largest?["rejected"]?.arrayValue?.first?["field"]?.stringValue == "v")
        // Values at the limit arrive while the monitor trains and again once it scores.
        try await post(3..<20) { s in "\(70 + s % 5)" }
        try await post(20..<24) { s in s % 2 == 0 ? "1e150" : "-1e150" }
        try await post(24..<200) { s in "\(70 + s % 5)" }
        try await f.waitFor("monitor.trained", "edge")
        try await post(200..<204) { s in s % 2 == 0 ? "1e150" : "-1e150" }
        try await post(204..<300) { s in "\(70 + s % 5)" }
        try await eventually("the agent still answers") {
            (try? await api.send("GET", "/healthz"))?.status == 200
        }
        #expect(try await w.stop() == .exited(0))
    }

    @Test func samplesPostedOverTheAPITrainTheMonitorAndRaiseAnAlert() async throws {
        let f = Fixture(Self.spec)
        f.write(Self.spec.replacingOccurrences(of: "$REBUILT", with: f.dir.file("rebuilt")))
        let w = try f.start()
        try await eventually("the token exists") { LocalToken.read(in: f.stateDir + "/run") != nil }
        let api = WardenAPIClient(host: "127.0.0.1", port: f.port, token: LocalToken.read(in: f.stateDir + "/run"))
        try await eventually("the API is up") {
            (try? await api.send("GET", "/healthz"))?.status == 200
        }
        let start = Date().timeIntervalSince1970 - 500
        try await post(api, from: start, seconds: 0..<400) { _ in 97.5 }
        try await f.waitFor("monitor.trained", "life-support")
        try await post(api, from: start, seconds: 400..<420) { s in 97 - Double(s - 400) * 0.7 }
        let alert = try await f.waitFor("monitor.alert", "life-support")
        #expect(alert[0].payload["heal"]?.stringValue == "rebuild api")
        #expect(alert[0].payload["probability"]?.doubleValue ?? 0 >= 0.9)

        // The alert heals: api is rebuilt, and the incident says so.
        let resolved = try await f.waitFor("incident.resolved", "api")
        #expect(FileManager.default.fileExists(atPath: f.dir.file("rebuilt")))
        let id = try #require(resolved[0].payload["id"]?.stringValue)
        let shown = try await warden("incident", id, "-c", f.config)
        #expect(shown.stdout.contains("life-support predicts a failure (probability"))
        #expect(shown.stdout.contains("1. rebuild api"))
        #expect(shown.stdout.contains("samples  vitals.spo2 over the 2 minutes before the alert"))
        let listed = try await warden("incidents", "-c", f.config)
        #expect(listed.stdout.contains(id) && listed.stdout.contains("resolved"))

        // The probability is a series like any other.
        let series = try await warden(
            "series",
            "monitor.probability",
            "-c",
            f.config,
            "--since",
            "10m",
            "--step",
            "10m",
            "--json"
        )
        #expect(
            JSONValue.parse(series.stdout)?["series"]?.arrayValue?.first?["points"]?.arrayValue?.first?["max"]?
                .doubleValue ?? 0 >= 0.9
        )

        // After a restart the trained monitor goes on without training again.
        #expect(try await w.stop() == .exited(0))
        let second = try f.start()
        try await eventually("the API is up again") {
            (try? await api.send("GET", "/healthz"))?.status == 200
        }
        let api2 = WardenAPIClient(host: "127.0.0.1", port: f.port, token: LocalToken.read(in: f.stateDir + "/run"))
        // The rebuild ran: the monitor went back to its resting probability (not the slow fall
        // of a probability left alone), and that was saved with its state.
        let before = try await f.events().filter { $0.type == "anomaly.scored" }.count
        try await post(api2, from: start, seconds: 420..<421) { _ in 97.5 }
        try await eventually("a score after the restart") {
            try await f.events().filter { $0.type == "anomaly.scored" }.count > before
        }
        let rested = try await f.events().filter { $0.type == "anomaly.scored" }.last
        #expect(rested?.payload["probability"]?.doubleValue ?? 1 < 0.05, "\(String(describing: rested?.payload))")
        try await post(api2, from: start, seconds: 421..<450) { _ in 97.5 }
        try await post(api2, from: start, seconds: 450..<470) { _ in 84 }
        try await f.waitFor("monitor.alert", "life-support", count: 2)
        #expect(
            try await f.events().filter { $0.type == "monitor.trained" }.count == 1,
            "trained once, restored after the restart"
        )
        #expect(try await second.stop() == .exited(0))
    }
}
