import ArgumentParser
import Foundation
import WardenCore

struct SLOCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slo",
        abstract: "The spec's SLOs: their SLI, the error budget left, and each burn-rate alert (needs Warden running).",
        subcommands: [SLOShowCommand.self, SLOReplayCommand.self],
        defaultSubcommand: SLOShowCommand.self
    )
}

struct SLOShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "The spec's SLOs as the running Warden last evaluated them."
    )

    @OptionGroup var spec: SpecOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let target = try Target(spec)
        guard target.isRunning else {
            printError("warden slo: Warden is not running; SLOs are computed by the running agent")
            throw ExitCode(1)
        }
        let response = try await target.call("GET", "/v1/slos")
        let rows = JSONValue.parse(String(decoding: response.body, as: UTF8.self))?["slos"]?.arrayValue ?? []
        if json {
            print(JSONValue.array(rows).jsonText)
            return
        }
        if rows.isEmpty {
            print("no SLOs in the spec")
            return
        }
        var table = Table(header: ["SLO", "SERVICE", "OBJECTIVE", "SLI", "BUDGET LEFT", "EVENTS", "ALERTS"])
        for r in rows {
            let alerts = (r["alerts"]?.arrayValue ?? []).map { a -> String in
                let burn = String(format: "%.1f", a["longBurn"]?.doubleValue ?? 0)
                let mark = a["firing"]?.boolValue == true ? "FIRING" : "ok"
                return "\(a["severity"]?.stringValue ?? "") \(burn)x/\(a["threshold"]?.doubleValue ?? 0)x \(mark)"
            }
            table.rows.append([
                r["name"]?.stringValue ?? "", r["service"]?.stringValue ?? "",
                percent(r["objective"]?.doubleValue), percent(r["sli"]?.doubleValue),
                percent(r["budgetLeft"]?.doubleValue), String(Int(r["events"]?.doubleValue ?? 0)),
                alerts.joined(separator: "; "),
            ])
        }
        print(table.render())
    }

    func percent(_ v: Double?) -> String { v.map { String(format: "%.3f%%", $0 * 100) } ?? "-" }
}
