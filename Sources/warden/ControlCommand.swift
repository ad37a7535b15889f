import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import WardenControl
import WardenCore
import WardenPostgres
import WardenServer

#if canImport(Glibc)
import Glibc
#endif

struct ControlCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "control",
        abstract: "Run the fleet's control plane over a PostgreSQL database.",
        discussion: """
            Agents (warden run with a fleet: section) ship their events and telemetry to it; the
            fleet API (/v1/nodes, /v1/fleet/events, /v1/fleet/series) and the dashboard at / show
            every node. It keeps nothing of its own: run as
            many as you like over the same database, behind a load balancer or listed in each
            agent's fleet.control. Secrets are referenced, never written: env:NAME or file:PATH.
            """
    )

    @Option(help: "Where to listen, host:port.")
    var listen: String = "127.0.0.1:7080"
    @Option(name: .customLong("tls-cert"), help: "HTTPS: the PEM certificate chain (read again when it changes).")
    var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "HTTPS: the PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(
        help:
            "The database: postgres://USER@HOST:PORT[,HOST:PORT…]/DATABASE; with several hosts (a primary and its standbys) the writable one is used. The password is --database-password."
    )
    var database: String

    @Option(name: .customLong("database-password"), help: "The database password: env:NAME or file:PATH.")
    var databasePassword: String?

    @Option(name: .customLong("agent-token"), help: "A credential any node may ship with: env:NAME or file:PATH.")
    var agentToken: String?

    @Option(
        name: .customLong("node-token"),
        help: "A node's own credential, NODE=env:NAME or NODE=file:PATH: that node ships only with it. Repeatable."
    )
    var nodeTokens: [String] = []

    @Option(name: .customLong("token"), help: "A reader's token (admin): env:NAME or file:PATH. Repeatable.")
    var tokens: [String] = []

    @Option(help: "How long the fleet keeps events and 1-minute rollups of telemetry, such as 30d.")
    var retention: String = "30d"

    @Option(name: .customLong("raw"), help: "How long the fleet keeps raw telemetry samples, such as 1d.")
    var raw: String = "1d"

    @Option(help: "How long the fleet keeps 1-hour rollups of telemetry (at least --retention), such as 365d.")
    var hourly: String = "365d"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func run() async throws {
        startLogging(logLevel, default: .info)
        WardenMetrics.bootstrap()
        let logger = Logger(label: "warden.control")
        let loader = SpecLoader()
        func secret(_ reference: String, _ option: String) throws -> Secret {
            switch loader.resolveSecret(reference) {
            case .success(let s): return s
            case .failure(let problem):
                printError("warden control: \(option): \(problem.message)")
                throw ExitCode(1)
            }
        }
        guard let (host, port) = HostPort.parse(listen) else {
            printError("warden control: --listen: found '\(listen)'; expected host:port such as 127.0.0.1:7080")
            throw ExitCode(1)
        }
        func duration(_ text: String, _ option: String) throws -> Duration {
            guard let d = DurationFormat.parse(text), d >= .seconds(60) else {
                printError(
                    "warden control: \(option): found '\(text.prefix(40))'; expected a duration of at least 1m, such as 30d"
                )
                throw ExitCode(1)
            }
            return d
        }
        let keep = FleetMaintenance.Retention(
            raw: try duration(raw, "--raw"),
            rollups: try duration(retention, "--retention"),
            hours: try duration(hourly, "--hourly"),
            events: try duration(retention, "--retention")
        )
        let url: PostgresURL
        switch PostgresURL.parse(database) {
        case .success(let parsed): url = parsed
        case .failure(let problem):
            printError("warden control: --database: found '\(database.prefix(200))': \(problem)")
            throw ExitCode(1)
        }
        let password = try databasePassword.map {
            String(decoding: try secret($0, "--database-password").bytes, as: UTF8.self)
        }
        let agents = try agentToken.map { try secret($0, "--agent-token") }
        var nodes: [String: Secret] = [:]
        for item in nodeTokens {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, SpecLoader.isValidName(parts[0]), nodes[parts[0]] == nil else {
                printError(
                    "warden control: --node-token: found '\(item.prefix(100))'; expected NODE=env:NAME, each node once"
                )
                throw ExitCode(1)
            }
            nodes[parts[0]] = try secret(parts[1], "--node-token \(parts[0])")
        }
        guard agents != nil || !nodes.isEmpty else {
            printError("warden control: give --agent-token or --node-token: agents need a credential to ship")
            throw ExitCode(1)
        }
        let readers = try tokens.enumerated().map { i, reference in
            TokenSpec(
                name: "reader\(i + 1)",
                role: .admin,
                reference: reference,
                secret: try secret(reference, "--token")
            )
        }
        // The database must answer before the control plane listens (and migrates it once).
        let database = FailoverStore(
            url: url,
            password: password,
            node: "control",
            searchFor: .seconds(15),
            logger: Logger(label: "warden.control")
        )
        do {
            _ = try await database.run { $0.node }
        } catch {
            printError("warden control: \(error)")
            throw ExitCode(1)
        }
        var settings = ControlPlane.Settings(
            host: host,
            port: port,
            agentToken: agents,
            nodeTokens: nodes,
            tokens: readers
        )
        switch (tlsCert, tlsKey) {
        case (nil, nil): break
        case (let cert?, let key?):
            do {
                settings.tls = try TLSCertificates(cert: cert, key: key, logger: logger)
            } catch {
                printError("warden control: --tls-cert: \(error.message)")
                throw ExitCode(1)
            }
        default:
            printError("warden control: give --tls-cert and --tls-key together")
            throw ExitCode(1)
        }
        let plane = ControlPlane(
            settings: settings,
            database: database,
            logger: logger
        )
        logger.info("control plane listening", metadata: ["warden.listen": "\(host):\(port)"])
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: FleetMaintenance(database: database, retention: keep, logger: logger)),
                    .init(service: plane.application()), .init(service: plane.listener()),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
        await database.close()
    }
}
