import ArgumentParser
import Foundation
import WardenCore

/// `warden alerts`: what fires now, and what is muted by what.
struct AlertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts",
        abstract: "The alerts firing now: labels, since when, and whether a silence or an inhibition mutes them."
    )

    @OptionGroup var spec: SpecOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let target = try Target(spec)
        let response = try await target.call("GET", "/v1/alerts")
        let rows = JSONValue.parse(String(decoding: response.body, as: UTF8.self))?["alerts"]?.arrayValue ?? []
        if json {
            print(JSONValue.array(rows).jsonText)
            return
        }
        if rows.isEmpty {
            print("no alerts")
            return
        }
        var table = Table(header: ["ALERT", "STATE", "SINCE", "LABELS", "SUMMARY"])
        for r in rows {
            let labels = (r["labels"]?.objectValue ?? [:]).filter { $0.key != "alertname" }.sorted { $0.key < $1.key }
                .map { "\($0.key)=\($0.value.stringValue ?? "")" }.joined(separator: " ")
            var state = r["state"]?.stringValue ?? ""
            if let by = r["silenced_by"]?.arrayValue?.first?.stringValue { state += " by \(by.prefix(8))" }
            table.rows.append([
                r["labels"]?["alertname"]?.stringValue ?? "", state, r["starts_at"]?.stringValue ?? "", labels,
                r["annotations"]?["summary"]?.stringValue ?? "",
            ])
        }
        print(table.render())
    }
}

/// `warden silence add|list|expire`.
struct SilenceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "silence",
        abstract: "Mute notifications of the alerts that match, for a while.",
        subcommands: [SilenceAddCommand.self, SilenceListCommand.self, SilenceExpireCommand.self],
        defaultSubcommand: SilenceListCommand.self
    )
}

struct SilenceAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Silence the alerts whose labels match every matcher (service=api, severity!=info, node=~\"web-.*\")."
    )
    @OptionGroup var spec: SpecOptions
    @Argument(help: "Matchers: name=value, name!=value, name=~regex, name!~regex.") var matchers: [String]
    @Option(name: .customLong("for"), help: "How long (2h, 30m, 1d).") var duration = "1h"
    @Option(help: "Why (required).") var comment: String

    func run() async throws {
        let target = try Target(spec)
        let body: JSONValue = .object([
            "matchers": .array(matchers.map { .string($0) }),
            "for": .string(duration),
            "comment": .string(comment),
        ])
        let response = try await target.call("POST", "/v1/silences", body: body)
        let s = JSONValue.parse(String(decoding: response.body, as: UTF8.self))
        print("\(s?["id"]?.stringValue ?? "?"): silenced until \(s?["ends_at"]?.stringValue ?? "?")")
    }
}

struct SilenceListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "The silences, newest first.")
    @OptionGroup var spec: SpecOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let target = try Target(spec)
        let response = try await target.call("GET", "/v1/silences")
        let rows = JSONValue.parse(String(decoding: response.body, as: UTF8.self))?["silences"]?.arrayValue ?? []
        if json {
            print(JSONValue.array(rows).jsonText)
            return
        }
        var table = Table(header: ["ID", "STATE", "MATCHERS", "ENDS", "BY", "COMMENT"])
        for r in rows {
            table.rows.append([
                r["id"]?.stringValue ?? "", r["state"]?.stringValue ?? "",
                (r["matchers"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: " "),
                r["ends_at"]?.stringValue ?? "", r["created_by"]?.stringValue ?? "", r["comment"]?.stringValue ?? "",
            ])
        }
        print(rows.isEmpty ? "no silences" : table.render())
    }
}

struct SilenceExpireCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "expire", abstract: "End a silence now.")
    @OptionGroup var spec: SpecOptions
    @Argument(help: "The silence's id.") var id: String

    func run() async throws {
        let target = try Target(spec)
        _ = try await target.call("DELETE", "/v1/silences/\(queryValue(id))")
        print("\(id): expired")
    }
}
