import ArgumentParser
import CWardenSys
import Foundation
import Logging
import ServiceLifecycle
import WardenCore
import WardenServer
import WardenStore
import WardenSupervisor

#if canImport(Glibc)
import Glibc
#endif

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run Warden in the foreground: supervise every service of the spec.",
        discussion:
            "SIGTERM or SIGINT stops every service in reverse dependency order, then Warden. SIGHUP reloads the spec and applies only what changed."
    )

    @Option(name: [.short, .customLong("config")], help: "The spec file.")
    var config: String = "warden.yaml"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func run() async throws {
        warden_tune_malloc()
        startLogging(logLevel, default: .info)
        let logger = Logger(label: "warden")

        let spec: Spec
        do {
            spec = try SpecLoader.warden().load(path: config)
        } catch {
            printError(error.description)
            printError(
                "warden: the spec has \(error.issues.count) problem\(error.issues.count == 1 ? "" : "s"); nothing was started"
            )
            throw ExitCode(1)
        }
        let agent: Agent
        do {
            agent = try Agent.build(spec: spec, logger: logger)
        } catch {
            printError("warden: \(error)")
            throw ExitCode(1)
        }
        try await agent.run()
    }
}
