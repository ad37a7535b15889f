import Foundation
import Logging
import WardenCore
import WardenSupervisor

/// A supervisor in the test process over a spec written for the test, with every event it
/// publishes recorded: what the supervisor, healing and API tests build on.
///
/// In the spec text, `SAMPLE` becomes the warden-sample binary, `STATE` the state directory and
/// `DIR` the test's directory; `state_dir:` is added.
public final class SupervisedNode: Sendable {
    public let dir: TempDir
    /// The spec file.
    public let path: String
    public let spec: Spec
    /// What read the spec (and reads it again on a reload).
    public let loader: SpecLoader
    public let bus: EventBus
    public let log: EventLog
    public let logger: Logger
    public let supervisor: Supervisor
    private let running: Task<Void, any Error>?

    /// - Parameters:
    ///   - supervise: run the supervisor now (false when something else runs it as a service).
    ///   - environment: what `env:` references in the spec read (default: this process's).
    ///   - sections: the domains' spec sections to read besides the core ones.
    ///   - cgroups: where services' cgroups go (nil: the host's).
    public init(
        _ yaml: String,
        prefix: String = "warden-node",
        environment: [String: String] = ProcessInfo.processInfo.environment,
        sections: [any SpecSection.Type] = [],
        seed: UInt64 = 7,
        logLevel: Logger.Level = .warning,
        supervise: Bool = true,
        cgroups: Result<CgroupTree, CgroupError>? = nil
    ) throws {
        dir = TempDir(prefix)
        let text = yaml.replacingOccurrences(of: "SAMPLE", with: Binaries.sample)
            .replacingOccurrences(of: "STATE", with: dir.file("state"))
            .replacingOccurrences(of: "DIR", with: dir.path)
        path = dir.write("warden.yaml", "state_dir: \(dir.file("state"))\n" + text)
        loader = SpecLoader(environment: environment, sections: sections)
        spec = try loader.load(path: path)
        try FileManager.default.createDirectory(atPath: spec.stateDir, withIntermediateDirectories: true)
        bus = EventBus()
        log = EventLog(bus.subscribe(name: "test", capacity: 100_000))
        var logger = Logger(label: "test")
        logger.logLevel = logLevel
        self.logger = logger
        let supervisor = Supervisor(spec: spec, bus: bus, logger: logger, options: .init(seed: seed, cgroups: cgroups))
        self.supervisor = supervisor
        running = supervise ? Task { try await supervisor.run() } : nil
    }

    public func status(_ name: String) async -> ServiceStatus? {
        await supervisor.status().first { $0.name == name }
    }

    /// The pid of the current instance, once running.
    public func pid(_ name: String) async throws -> pid_t {
        var pid: pid_t?
        try await eventually("\(name) has a pid") {
            pid = await status(name)?.pid
            return pid != nil
        }
        return pid!
    }

    /// Stops everything as SIGTERM would and checks that nothing of this spec is left running.
    public func shutdown() async throws {
        supervisor.requestShutdown()
        try await running?.value
        try await eventually("no process of \(spec.stateDir) is left", timeout: .seconds(5)) {
            processesTagged(stateDir: spec.stateDir).isEmpty
        }
    }
}
