import Foundation
import Testing
import WardenCore
import WardenSupervisor
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `warden demo` end to end, looked at through a real headless Chromium: the services are listed,
/// the charts move as samples arrive, the first simulated fault becomes an incident healed by a
/// rebuild, and the page logs no error. Screenshots go to a temporary directory, or to
/// `$WARDEN_TEST_OUTPUT/dashboard/` when that is set.
@Suite("Mission Control in a browser", .timeLimit(.minutes(5)))
struct DashboardTests {
    init() { becomeSubreaper() }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test func theDemoIsSeenLiveInABrowser() async throws {
        let python = try #require(which("python3"), "python3 is not installed")
        #expect(which("chromium") != nil, "chromium is not installed (apt-get install chromium); .ci/run installs it")
        let dir = TempDir("warden-demo")
        let port = freePort()
        // Screenshots go to a temporary directory, or where WARDEN_TEST_OUTPUT says (to refresh
        // the one in docs/): a test does not write into the repository.
        let keep = ProcessInfo.processInfo.environment["WARDEN_TEST_OUTPUT"]
        let out = keep.map { $0 + "/dashboard" } ?? dir.file("screenshots")
        try? FileManager.default.removeItem(atPath: out)
        let log = open(dir.file("demo.log"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        var request = SpawnRequest(
            executable: Binaries.warden,
            arguments: [
                Binaries.warden, "demo", "--port", "\(port)", "--state-dir", dir.file("demo"), "--firewall", "dry-run",
            ],
            environment: ProcessInfo.processInfo.environment
        )
        request.stdout = log
        request.stderr = log
        let demo = try ChildProcess.spawn(request)
        close(log)
        defer { if demo.exitStatus == nil { demo.signalGroup(SIGKILL) } }

        let check = try await runCommand(
            python,
            [Self.repository + "/Tests/browser/dashboard_check.py", "http://127.0.0.1:\(port)/", out],
            timeout: .seconds(240)
        )
        let result = JSONValue.parse(check.stdout.split(separator: "\n").last.map(String.init) ?? "")
        let demoLog = (try? String(contentsOfFile: dir.file("demo.log"), encoding: .utf8)) ?? ""
        #expect(
            check.exitCode == 0,
            "\(check.stdout)\n\(check.stderr.suffix(3000))\n--- demo ---\n\(demoLog.suffix(3000))"
        )
        for name in [
            "services_listed", "charts_update", "probability_chart", "incident_with_rebuild", "no_console_errors",
        ] {
            #expect(result?["checks"]?[name]?.boolValue == true, "\(name)")
        }
        for shot in ["1-overview.png", "2-vitals.png", "3-incident.png", "4-phone.png"] {
            let size = (try? FileManager.default.attributesOfItem(atPath: "\(out)/\(shot)")[.size] as? Int) ?? 0
            #expect(size > 10_000, "\(shot) was saved")
        }
        #expect(demoLog.contains("Mission Control: http://127.0.0.1:\(port)/"))

        // Ctrl-C stops everything cleanly.
        let status = try await warden("status", "-c", dir.file("demo/warden.yaml"), "--json")
        let pid = JSONValue.parse(status.stdout)?.arrayValue?.first?["pid"]?.intValue
        #expect(pid != nil, "\(status.stdout) \(status.stderr)")
        kill(demo.pid, SIGINT)
        #expect(await demo.exit(within: .seconds(60)) == .exited(0))
        if let pid { #expect(!processAlive(pid_t(pid)), "the life-support service stopped with the demo") }
    }
}
