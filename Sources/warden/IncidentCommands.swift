import ArgumentParser
import Foundation
import WardenCore
import WardenHeal
import WardenServer
import WardenStore

struct IncidentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incidents",
        abstract: "List incidents, newest first: what broke, what Warden did, how long recovery took."
    )

    @OptionGroup var spec: SpecOptions
    @Option(
        help:
            "Only these statuses (open, awaiting_approval, resolved, escalated, held, cancelled, dry_run). Repeatable."
    )
    var status: [String] = []
    @Option(help: "At most this many.") var limit: Int = 50
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var fleet: FleetOptions

    func run() async throws {
        if let node = fleet.node { return try await fleetIncidents(of: node) }
        let target = try Target(spec)
        var rows: [JSONValue] = []
        if target.isRunning {
            var params = ["limit=\(limit)"] + status.map { "status=\(queryValue($0))" }
            params.sort()
            let response = try await target.call("GET", "/v1/incidents?" + params.joined(separator: "&"))
            rows = JSONValue.parse(String(decoding: response.body, as: UTF8.self))?["incidents"]?.arrayValue ?? []
        } else {
            let store = try target.store()
            rows = try await store.incidents(statuses: status.isEmpty ? nil : status, limit: limit).compactMap {
                Incident(json: $0.data)?.summary
            }
            try await store.close()
        }
        if json {
            print(JSONValue.array(rows).jsonText)
            return
        }
        if rows.isEmpty {
            print("no incidents")
            return
        }
        var table = Table(header: ["ID", "STATUS", "TARGET", "OPENED", "MTTR", "ACTIONS", "TITLE"])
        for r in rows {
            table.rows.append([
                r["id"]?.stringValue ?? "", r["status"]?.stringValue ?? "", r["target"]?.stringValue ?? "",
                r["opened_at"]?.stringValue ?? "",
                r["mttr_ms"]?.intValue.map { DurationFormat.format(.milliseconds($0)) } ?? "-",
                String(r["actions"]?.intValue ?? 0), r["title"]?.stringValue ?? "",
            ])
        }
        print(table.render())
    }

    /// A fleet node's open incidents as the control plane last heard of them.
    func fleetIncidents(of node: String) async throws {
        guard status.isEmpty else {
            printError("warden incidents: with --node, the open incidents are listed; leave --status out")
            throw ExitCode(1)
        }
        let rows = Array(
            (try await FleetReader("incidents", fleet, spec).node(node)["incidents"]?.arrayValue ?? []).prefix(limit)
        )
        if json {
            print(JSONValue.array(rows).jsonText)
            return
        }
        if rows.isEmpty {
            print("no open incidents on \(node)")
            return
        }
        var table = Table(header: ["ID", "STATUS", "TARGET", "OPENED", "TITLE"])
        for r in rows {
            table.rows.append([
                r["id"]?.stringValue ?? "", r["status"]?.stringValue ?? "", r["target"]?.stringValue ?? "",
                r["opened"]?.stringValue ?? "", r["title"]?.stringValue ?? "",
            ])
        }
        print(table.render())
    }
}

struct IncidentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incident",
        abstract: "Show one incident: its evidence and every action with its outcome."
    )

    @OptionGroup var spec: SpecOptions
    @Argument(help: "The incident id.") var id: String
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let target = try Target(spec)
        var found: JSONValue?
        if target.isRunning {
            found = JSONValue.parse(
                String(decoding: try await target.call("GET", "/v1/incidents/\(queryValue(id))").body, as: UTF8.self)
            )
        } else {
            let store = try target.store()
            found = try await store.incident(id: id)?.data
            try await store.close()
        }
        guard let found, let inc = Incident(json: found) else {
            printError("warden: no incident '\(id)'")
            throw ExitCode(1)
        }
        if json {
            print(found.jsonText)
            return
        }
        print(Self.render(inc))
    }

    /// An incident as people read it.
    static func render(_ inc: Incident) -> String {
        var lines = ["Incident \(inc.id): \(inc.title)"]
        var status = inc.status.rawValue.replacingOccurrences(of: "_", with: " ")
        if let mttr = inc.mttrMs { status += " in \(DurationFormat.format(.milliseconds(mttr)))" }
        lines.append("  status   \(status)\(inc.dryRun ? " (dry-run)" : "")")
        lines.append("  target   \(inc.target)")
        lines.append("  policy   \(inc.policy)")
        lines.append("  opened   \(ISOTime.format(inc.openedAt))")
        if let closed = inc.closedAt { lines.append("  closed   \(ISOTime.format(closed))") }
        lines.append("")
        lines.append("Evidence")
        for e in inc.evidence {
            var line =
                "  \(ISOTime.format(e.time))  \(e.kind.padding(toLength: 7, withPad: " ", startingAt: 0))  \(e.summary)"
            if e.kind == "event", case .object(let fields)? = e.data, !fields.isEmpty {
                let details = fields.keys.sorted().compactMap { k -> String? in
                    guard let v = fields[k], v != .null else { return nil }
                    if case .object = v { return nil }
                    return "\(k)=\(v.stringValue ?? v.jsonText)"
                }
                if !details.isEmpty { line += "  " + details.joined(separator: " ") }
            }
            lines.append(line)
        }
        lines.append("")
        lines.append("Actions")
        if inc.steps.isEmpty { lines.append("  (none yet)") }
        for (i, s) in inc.steps.enumerated() {
            let took = s.startedAt.flatMap { start in
                s.finishedAt.map { DurationFormat.format(.milliseconds(Int64($0.timeIntervalSince(start) * 1000))) }
            }
            lines.append(
                "  \(i + 1). \(s.action.padding(toLength: 18, withPad: " ", startingAt: 0)) \(s.state.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(took ?? "")"
            )
            if let outcome = s.outcome { lines.append("       \(outcome)") }
        }
        return lines.joined(separator: "\n")
    }
}

/// A verb of `warden approve|cancel INCIDENT`.
protocol IncidentVerb {
    static var name: String { get }
    static var abstract: String { get }
    /// What is printed after the incident's id.
    static var done: String { get }
}

enum ApproveVerb: IncidentVerb {
    static let name = "approve"
    static let abstract = "Let the action an incident waits on go ahead."
    static let done = "approved"
}

enum CancelVerb: IncidentVerb {
    static let name = "cancel"
    static let abstract = "Close an incident without further action."
    static let done = "cancelled"
}

/// approve and cancel share everything but the verb.
struct IncidentActionCommand<Verb: IncidentVerb>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: Verb.name, abstract: Verb.abstract)
    }
    @OptionGroup var spec: SpecOptions
    @Argument(help: "The incident id.") var id: String

    func run() async throws {
        let target = try Target(spec)
        _ = try await target.call("POST", "/v1/incidents/\(queryValue(id))/\(Verb.name)")
        print("\(id): \(Verb.done)")
    }
}

typealias ApproveCommand = IncidentActionCommand<ApproveVerb>
typealias CancelCommand = IncidentActionCommand<CancelVerb>
