import Foundation
import Testing
import WardenCore
import WardenSupervisor
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `warden run` with services in cgroups: usage from the cgroup in the API and as series, and the
/// cgroup found again by the next Warden after kill -9, so that its stop still reaches a process
/// that escaped the service's group and tags.
@Suite("Cgroups under warden run", .timeLimit(.minutes(3)))
struct CgroupRunLiveTests {
    init() { becomeSubreaper() }

    @Test func usageComesFromTheCgroupAndTheNextWardenTakesItOver() async throws {
        let f = Fixture("services: {}\n")
        let marker = f.dir.file("escaped")
        try """
        state_dir: \(f.stateDir)
        stats: { every: 200ms }
        api: { listen: 127.0.0.1:\(f.port) }
        services:
          esc:
            run: [sh, -c, "env -i setsid sh -c 'echo $$ > \(marker); exec sleep 300' & exec sleep 301"]
            limits: { memory_max: 128MiB, tasks_max: 32 }
        """.write(toFile: f.config, atomically: true, encoding: .utf8)
        let first = try f.start()
        _ = try await f.waitRunning(["esc"])
        var escaped: pid_t = 0
        try await eventually("the escaped process wrote its pid") {
            escaped =
                pid_t(
                    (try? String(contentsOfFile: marker, encoding: .utf8))?.trimmingCharacters(
                        in: .whitespacesAndNewlines
                    ) ?? ""
                ) ?? 0
            return escaped > 0
        }
        var status: ServiceStatus?
        try await eventually("usage is read from the cgroup") {
            status = try await f.status().first { $0.name == "esc" }
            return status?.tasks == 2 && (status?.memoryBytes ?? 0) > 0
        }
        let cgroup = try #require(status?.cgroup)
        #expect(cgroup.hasSuffix("/esc"))
        #expect(status?.limitsUnenforced == nil)
        try await eventually("service.memory_bytes and service.tasks are stored") {
            let r = try await f.client().send("GET", "/v1/series?prefix=service.&limit=100")
            let names = Set(
                (JSONValue.parse(String(decoding: r.body, as: UTF8.self))?["series"]?.arrayValue ?? []).compactMap {
                    $0["name"]?.stringValue
                }
            )
            return names.isSuperset(of: ["service.memory_bytes", "service.tasks", "service.cpu_percent"])
        }

        first.signal(SIGKILL)
        _ = try await first.wait()
        #expect(processAlive(escaped), "services outlive their supervisor")
        let second = try f.start()
        try await f.waitFor(EventType.serviceAdopted, "esc")
        try await eventually("the adopted service has its cgroup again") {
            try await f.status().first { $0.name == "esc" }?.cgroup == cgroup
        }
        #expect(try await second.stop() == .exited(0))
        try await eventually("the escaped process went with its service") { !processAlive(escaped) }
        try await eventually("the cgroup is removed") { !FileManager.default.fileExists(atPath: cgroup) }
    }
}
