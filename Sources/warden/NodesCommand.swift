import ArgumentParser
import Foundation
import WardenCore
import WardenHTTP

/// `warden nodes`: the fleet's nodes, from a control plane.
struct NodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "List the fleet's nodes from a control plane: name, labels, last contact, events shipped."
    )

    @Option(help: "The control plane, host:port.") var control: String = "127.0.0.1:7080"
    @Option(help: "A reader's token: env:NAME or file:PATH.") var token: String
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        guard let (host, port) = HostPort.parse(control) else {
            printError(
                "warden nodes: --control: found '\(control.prefix(200))'; expected host:port such as 127.0.0.1:7080"
            )
            throw ExitCode(1)
        }
        let secret: Secret
        switch SpecLoader().resolveSecret(token) {
        case .success(let s): secret = s
        case .failure(let problem):
            printError("warden nodes: --token: \(problem.message)")
            throw ExitCode(1)
        }
        let client = WardenAPIClient(host: host, port: port, token: String(decoding: secret.bytes, as: UTF8.self))
        let response: WardenAPIClient.Response
        do {
            response = try await client.send("GET", "/v1/nodes")
        } catch {
            printError("warden nodes: cannot reach the control plane at \(host):\(port): \(error.message)")
            throw ExitCode(1)
        }
        guard response.status == 200 else {
            printError("warden nodes: the control plane answered \(response.status): \(response.errorMessage)")
            throw ExitCode(1)
        }
        let nodes = JSONValue.parse(String(decoding: response.body, as: UTF8.self))?["nodes"]?.arrayValue ?? []
        if json {
            print(JSONValue.array(nodes).jsonText)
            return
        }
        if nodes.isEmpty {
            print("no node has called the control plane yet")
            return
        }
        let now = Date()
        var table = Table(header: ["NODE", "LAST CONTACT", "EVENTS", "ADDRESS", "LABELS"])
        for n in nodes {
            let contact = n["last_contact"]?.stringValue.flatMap(ISOTime.parse)
            let ago = contact.map { DurationFormat.format(.seconds(Int64(max(0, now.timeIntervalSince($0))))) + " ago" }
            let labels = (n["labels"]?.objectValue ?? [:]).sorted { $0.key < $1.key }
                .map { "\($0.key)=\($0.value.stringValue ?? "")" }.joined(separator: ",")
            table.rows.append([
                n["name"]?.stringValue ?? "", ago ?? "-", String(n["last_event_id"]?.intValue ?? 0),
                n["address"]?.stringValue ?? "", labels,
            ])
        }
        print(table.render())
    }
}
