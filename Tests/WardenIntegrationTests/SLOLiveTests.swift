import Foundation
import Testing
import WardenCore
import WardenServer
import WardenTestSupport

/// An SLO over a real service's health probe: probe runs recorded as telemetry, the budget spent
/// when the probe fails, a burn-rate alert that fires and resolves as events, `/v1/slos` and
/// `warden slo`.
@Suite("SLOs, live", .timeLimit(.minutes(2)))
struct SLOLiveTests {
    @Test func aFailingProbeBurnsTheBudgetAndTheAlertFiresAndResolves() async throws {
        let f = Fixture("services: {}\n")
        let healthy = f.dir.file("healthy")
        FileManager.default.createFile(atPath: healthy, contents: Data())
        f.write(
            """
            services:
              api:
                run: [SAMPLE]
                health: { exec: [/usr/bin/test, -f, \(healthy)], every: 100ms, failures: 1000 }
            slos:
              api-up:
                service: api
                objective: 90%
                window: 1h
                alerts: [{ long: 4s, short: 2s, burn: 2, severity: page }]
            """
        )
        let w = try f.start()
        _ = try await f.waitRunning(["api"])
        // Probe runs are telemetry.
        try await eventually("probe samples are stored") {
            let stored = try await f.client().send("GET", "/v1/series/probe.up?since=1m&step=1m")
            return String(decoding: stored.body, as: UTF8.self).contains("\"health\"")
        }
        try await eventually("some good events are counted") {
            let slo = try await self.slo(f)
            return (slo?["events"]?.doubleValue ?? 0) > 5 && slo?["budgetLeft"]?.doubleValue == 1
        }
        // The probe fails: the budget burns at 10x (every event bad): the page fires.
        try FileManager.default.removeItem(atPath: healthy)
        let firing = try await f.waitFor("slo.burn.firing", "api-up")
        #expect(firing.first?.payload["severity"]?.stringValue == "page")
        #expect((firing.first?.payload["burn"]?.doubleValue ?? 0) >= 2)
        // Mission Control shows it, in a real browser: the budget spent and the alert firing.
        let python = try #require(which("python3"), "python3 is not installed")
        #expect(which("chromium") != nil, "chromium is not installed (apt-get install chromium); .ci/run installs it")
        let out =
            ProcessInfo.processInfo.environment["WARDEN_TEST_OUTPUT"].map { $0 + "/slos" } ?? f.dir.file("screenshots")
        let token = try #require(LocalToken.read(in: f.stateDir + "/run"))
        let check = try await runCommand(
            python,
            [
                DashboardTests.repository + "/Tests/browser/slo_check.py", "http://127.0.0.1:\(f.port)/", token, out,
                "api-up",
            ],
            timeout: .seconds(120)
        )
        let result = JSONValue.parse(check.stdout.split(separator: "\n").last.map(String.init) ?? "")
        #expect(check.exitCode == 0, "\(check.stdout)\n\(check.stderr.suffix(3000))")
        for name in ["slo_row_with_budget_and_firing_alert", "budget_meter", "no_console_errors", "fits_a_phone"] {
            #expect(result?["checks"]?[name]?.boolValue == true, "\(name)")
        }
        // It recovers: the short window clears and the alert is resolved.
        FileManager.default.createFile(atPath: healthy, contents: Data())
        _ = try await f.waitFor("slo.burn.resolved", "api-up")
        let after = try #require(try await slo(f))
        #expect((after["budgetLeft"]?.doubleValue ?? 1) < 1, "the failures spent budget")
        #expect((after["sli"]?.doubleValue ?? 1) < 1)
        let cli = try await warden("slo", "-c", f.config)
        #expect(cli.exitCode == 0, "\(cli.stderr)")
        #expect(cli.stdout.contains("api-up") && cli.stdout.contains("90.000%"), "\(cli.stdout)")
        #expect(try await w.stop() == .exited(0))
    }

    func slo(_ f: Fixture) async throws -> JSONValue? {
        let answer = try await f.client().send("GET", "/v1/slos")
        return JSONValue.parse(String(decoding: answer.body, as: UTF8.self))?["slos"]?.arrayValue?.first
    }
}
