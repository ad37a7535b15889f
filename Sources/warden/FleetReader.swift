import ArgumentParser
import Foundation
import WardenCore
import WardenHTTP
import WardenServer

/// `--node` and `--control` of the read commands: with `--node`, they read that node as the
/// fleet's control plane holds it instead of this machine's Warden.
struct FleetOptions: ParsableArguments {
    @Option(help: "A node of the fleet: read it from the control plane (--control) instead of this machine.")
    var node: String?
    @Option(help: "The fleet's control plane, host:port (with --node).")
    var control: String = "127.0.0.1:7080"
    @Option(help: "The control plane speaks HTTPS: trust this PEM authority (and nothing else).")
    var ca: String?
}

/// Reads of the fleet's control plane for a CLI command: the reader's token is `--token` (or
/// `$WARDEN_TOKEN`), itself a token or `env:NAME` / `file:PATH`. Every failure is a message on
/// standard error and exit status 1.
struct FleetReader {
    let command: String
    let client: WardenAPIClient
    let place: String

    init(_ command: String, control: String, token: String?, ca: String? = nil) throws {
        self.command = command
        guard let (host, port) = HostPort.parse(control) else {
            printError(
                "warden \(command): --control: found '\(control.prefix(200))'; expected host:port such as 127.0.0.1:7080"
            )
            throw ExitCode(1)
        }
        guard let token = token ?? ProcessInfo.processInfo.environment["WARDEN_TOKEN"] else {
            printError("warden \(command): the control plane needs a reader's token: --token (or $WARDEN_TOKEN)")
            throw ExitCode(1)
        }
        let secret: Secret
        if token.hasPrefix("env:") || token.hasPrefix("file:") {
            switch SpecLoader().resolveSecret(token) {
            case .success(let resolved): secret = resolved
            case .failure(let problem):
                printError("warden \(command): --token: \(problem.message)")
                throw ExitCode(1)
            }
        } else {
            secret = Secret(token)
        }
        client = WardenAPIClient(
            host: host,
            port: port,
            token: String(decoding: secret.bytes, as: UTF8.self),
            trust: ca
        )
        place = "\(host):\(port)"
    }

    init(_ command: String, _ fleet: FleetOptions, _ spec: SpecOptions) throws {
        try self.init(command, control: fleet.control, token: spec.token, ca: fleet.ca)
    }

    /// The body of a 200 answer to `GET path`.
    func get(_ path: String) async throws -> Data {
        let response: WardenAPIClient.Response
        do {
            response = try await client.send("GET", path)
        } catch {
            printError("warden \(command): cannot reach the control plane at \(place): \(error.message)")
            throw ExitCode(1)
        }
        guard response.status == 200 else {
            printError("warden \(command): the control plane answered \(response.status): \(response.errorMessage)")
            throw ExitCode(1)
        }
        return response.body
    }

    /// The JSON of a 200 answer to `GET path`.
    func json(_ path: String) async throws -> JSONValue {
        let body = try await get(path)
        guard let value = JSONValue.parse(bytes: Array(body)) else {
            printError("warden \(command): the control plane answered something that is not JSON")
            throw ExitCode(1)
        }
        return value
    }

    /// One node as the control plane knows it: its services, open incidents and bans in force.
    func node(_ name: String) async throws -> JSONValue {
        try await json("/v1/nodes/" + queryValue(name))
    }
}
