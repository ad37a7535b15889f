import Foundation
import Logging
import Testing
import WardenCore
import WardenSupervisor
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A supervisor running in the test process over a spec written for the test, with every event
/// it publishes recorded.
final class Harness: Sendable {
    let dir: TempDir
    let spec: Spec
    let bus: EventBus
    let log: EventLog
    let supervisor: Supervisor
    private let running: Task<Void, any Error>

    /// Writes `yaml` (with `SAMPLE` replaced by the warden-sample path and `STATE` by a fresh
    /// state directory), loads it and starts supervising.
    init(_ yaml: String, seed: UInt64 = 7) throws {
        dir = TempDir("warden-sup")
        let text = yaml.replacingOccurrences(of: "SAMPLE", with: Binaries.sample)
            .replacingOccurrences(of: "STATE", with: dir.file("state"))
        let path = dir.write("warden.yaml", "state_dir: \(dir.file("state"))\n" + text)
        spec = try SpecLoader().load(path: path)
        try FileManager.default.createDirectory(atPath: spec.stateDir, withIntermediateDirectories: true)
        bus = EventBus()
        log = EventLog(bus.subscribe(name: "test", capacity: 100_000))
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        supervisor = Supervisor(spec: spec, bus: bus, logger: logger, options: .init(seed: seed))
        let supervisor = self.supervisor
        running = Task { try await supervisor.run() }
    }

    func status(_ name: String) async -> ServiceStatus? {
        await supervisor.status().first { $0.name == name }
    }

    /// The pid of the current instance, once running.
    func pid(_ name: String) async throws -> pid_t {
        var pid: pid_t?
        try await eventually("\(name) has a pid") {
            pid = await status(name)?.pid
            return pid != nil
        }
        return pid!
    }

    /// Stops everything as SIGTERM would and checks that nothing of this spec is left running.
    func shutdown() async throws {
        supervisor.requestShutdown()
        try await running.value
        try await eventually("no process of \(spec.stateDir) is left", timeout: .seconds(5)) {
            processesTagged(stateDir: spec.stateDir).isEmpty
        }
    }
}
