import ArgumentParser
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

@main
struct Warden: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "warden",
        abstract: "A self-healing, self-defending agent for Linux hosts.",
        discussion:
            "Supervises a node's services from one spec file (warden.yaml), restarts them when they die or hang, and records everything it does.",
        version: "0.1.0",
        subcommands: [
            RunCommand.self, ValidateCommand.self, StatusCommand.self, EventsCommand.self, LogsCommand.self,
            SeriesCommand.self, StartCommand.self, StopCommand.self, RestartCommand.self, IncidentsCommand.self,
            IncidentCommand.self, ApproveCommand.self, CancelCommand.self, BansCommand.self, BanCommand.self,
            UnbanCommand.self, DefenseCommand.self, SimulateCommand.self, DemoCommand.self, NabCommand.self,
            DetectCommand.self, ControlCommand.self, NodesCommand.self, AuditCommand.self,
            SLOCommand.self, InstallCommand.self, RunsCommand.self, RunShowCommand.self, RunApproveCommand.self,
            RunStartCommand.self, QueueBenchCommand.self, AlertsCommand.self, SilenceCommand.self, BackupCommand.self,
            RestoreCommand.self, DiffCommand.self, GitOpsCommand.self,
        ]
    )
}

/// Where to find the spec (and through it the state directory).
struct SpecOptions: ParsableArguments {
    @Option(
        name: [.short, .customLong("config")],
        help: "The spec file (default: $WARDEN_CONFIG, ./warden.yaml, /etc/warden/warden.yaml)."
    )
    var config: String?

    @Option(name: .customLong("state-dir"), help: "Use this state directory instead of the spec's.")
    var stateDir: String?

    @Option(name: .customLong("url"), help: "The API of the running Warden (default: api.listen of the spec).")
    var url: String?

    @Option(name: .customLong("token"), help: "Bearer token for the API (default: $WARDEN_TOKEN).")
    var token: String?

    /// The spec path to use.
    func specPath() -> String {
        if let config { return config }
        if let env = ProcessInfo.processInfo.environment["WARDEN_CONFIG"], !env.isEmpty { return env }
        if FileManager.default.fileExists(atPath: "warden.yaml") { return "warden.yaml" }
        return "/etc/warden/warden.yaml"
    }
}

/// Prints to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// What every long-running command does first: a closed pipe is an error, not a signal, and logs
/// go to standard error at `level` (`fallback` when it is not a level's name). The PostgreSQL
/// client's retries of a failing connection are information: it logs at warning and above.
func startLogging(_ level: String, default fallback: Logger.Level) {
    signal(SIGPIPE, SIG_IGN)
    let level = Logger.Level(rawValue: level) ?? fallback
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = label == "warden.postgres" ? max(level, .warning) : level
        return handler
    }
}
