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
    @Option(help: "The control plane speaks HTTPS: trust this PEM authority (and nothing else).") var ca: String?
    @Option(help: "A reader's token, env:NAME or file:PATH (default: $WARDEN_TOKEN).") var token: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let nodes =
            try await FleetReader("nodes", control: control, token: token, ca: ca).json("/v1/nodes")["nodes"]?
            .arrayValue ?? []
        if json {
            print(JSONValue.array(nodes).jsonText)
            return
        }
        if nodes.isEmpty {
            print("no node has called the control plane yet")
            return
        }
        let now = Date()
        var table = Table(header: [
            "NODE", "LAST CONTACT", "SERVICES", "FAILED", "INCIDENTS", "BANS", "EVENTS", "ADDRESS", "LABELS",
        ])
        for n in nodes {
            let contact = n["last_contact"]?.stringValue.flatMap(ISOTime.parse)
            let ago = contact.map { DurationFormat.format(.seconds(Int64(max(0, now.timeIntervalSince($0))))) + " ago" }
            let labels = (n["labels"]?.objectValue ?? [:]).sorted { $0.key < $1.key }
                .map { "\($0.key)=\($0.value.stringValue ?? "")" }.joined(separator: ",")
            table.rows.append([
                n["name"]?.stringValue ?? "", ago ?? "-", String(n["services"]?.intValue ?? 0),
                String(n["failed"]?.intValue ?? 0), String(n["open_incidents"]?.intValue ?? 0),
                String(n["active_bans"]?.intValue ?? 0), String(n["last_event_id"]?.intValue ?? 0),
                n["address"]?.stringValue ?? "", labels,
            ])
        }
        print(table.render())
    }
}
