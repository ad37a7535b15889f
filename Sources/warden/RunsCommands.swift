import ArgumentParser
import Foundation
import WardenCore
import WardenServer
import WardenStore

struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List workflow runs, newest first, with each step's status."
    )

    @OptionGroup var spec: SpecOptions
    @Option(help: "Only these statuses (running, waiting, succeeded, failed). Repeatable.") var status: [String] = []
    @Option(help: "Only runs of this workflow.") var workflow: String?
    @Option(help: "At most this many.") var limit: Int = 50
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let target = try Target(spec)
        var rows: [JSONValue] = []
        if target.isRunning {
            var params = ["limit=\(limit)"] + status.map { "status=\(queryValue($0))" }
            if let workflow { params.append("workflow=\(queryValue(workflow))") }
            let response = try await target.call("GET", "/v1/runs?" + params.joined(separator: "&"))
            rows = JSONValue.parse(String(decoding: response.body, as: UTF8.self))?["runs"]?.arrayValue ?? []
        } else {
            let store = try target.store()
            rows = try await store.runs(statuses: status.isEmpty ? nil : status, workflow: workflow, limit: limit)
                .map(APIServer.runSummary)
            try await store.close()
        }
        if json {
            print(JSONValue.array(rows).jsonText)
            return
        }
        if rows.isEmpty {
            print("no runs")
            return
        }
        var table = Table(header: ["ID", "WORKFLOW", "STATUS", "CREATED", "STEPS"])
        for r in rows {
            let steps = (r["steps"]?.objectValue ?? [:]).sorted { $0.key < $1.key }
                .map { "\($0.key)=\($0.value.stringValue ?? "?")" }.joined(separator: " ")
            table.rows.append([
                r["id"]?.stringValue ?? "", r["workflow"]?.stringValue ?? "", r["status"]?.stringValue ?? "",
                r["created"]?.stringValue ?? "", steps,
            ])
        }
        print(table.render())
    }
}

struct RunShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-show",
        abstract: "Show one workflow run: what started it, and each step's input, output, duration and error."
    )

    @OptionGroup var spec: SpecOptions
    @Argument(help: "The run's id (see `warden runs`).") var id: String
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let target = try Target(spec)
        let run: JSONValue
        if target.isRunning {
            let response = try await target.call("GET", "/v1/runs/\(queryValue(id))")
            run = JSONValue.parse(String(decoding: response.body, as: UTF8.self)) ?? .null
        } else {
            let store = try target.store()
            let record = try await store.run(id: id)
            try await store.close()
            guard let record else {
                printError("warden: no run '\(id)'")
                throw ExitCode(1)
            }
            run = record.data
        }
        if json {
            print(run.jsonText)
            return
        }
        print(
            "run \(run["id"]?.stringValue ?? id): \(run["workflow"]?.stringValue ?? "?") \(run["status"]?.stringValue ?? "?")"
        )
        if let t = run["trigger"] {
            print(
                "  started by \(t["type"]?.stringValue ?? "?") about \(t["subject"]?.stringValue ?? "?") (\(t["source"]?.stringValue ?? "?"))"
            )
        }
        if let e = run["error"]?.stringValue { print("  error: \(e)") }
        if let r = run["result"], r != .null { print("  result: \(r.jsonText)") }
        for (name, step) in (run["steps"]?.objectValue ?? [:]).sorted(by: {
            ($0.value["started"]?.stringValue ?? "~") < ($1.value["started"]?.stringValue ?? "~")
        }) {
            let ms = step["duration_ms"]?.intValue.map { " \($0) ms" } ?? ""
            print("  \(name): \(step["status"]?.stringValue ?? "?")\(ms), attempts \(step["attempts"]?.intValue ?? 0)")
            if let input = step["input"], input != .null { print("    input: \(String(input.jsonText.prefix(300)))") }
            if let output = step["output"], output != .null {
                print("    output: \(String(output.jsonText.prefix(300)))")
            }
            if let detail = step["detail"], detail != .null {
                print("    detail: \(String(detail.jsonText.prefix(300)))")
            }
            if let error = step["error"]?.stringValue { print("    error: \(error)") }
        }
    }
}

struct RunApproveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-approve",
        abstract: "Approve (or, with --reject, reject) a workflow step that waits for a person."
    )

    @OptionGroup var spec: SpecOptions
    @Argument(help: "The run's id.") var id: String
    @Argument(help: "The approval step's name.") var step: String
    @Flag(help: "Reject instead: the step fails, and with it the run.") var reject = false
    @Option(help: "Why, kept with the step.") var comment: String?

    func run() async throws {
        let target = try Target(spec)
        guard target.isRunning else {
            printError("warden: no Warden is running with \(target.specPath); approvals go to a running Warden")
            throw ExitCode(1)
        }
        let verb = reject ? "reject" : "approve"
        let body: JSONValue? = comment.map { ["comment": .string($0)] }
        _ = try await target.call("POST", "/v1/runs/\(queryValue(id))/steps/\(queryValue(step))/\(verb)", body: body)
        print("\(reject ? "rejected" : "approved") \(step) of \(id)")
    }
}

struct RunStartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-start",
        abstract: "Start a workflow by hand, with a JSON object as its input (event.payload)."
    )

    @OptionGroup var spec: SpecOptions
    @Argument(help: "The workflow's name.") var workflow: String
    @Option(help: "The input, a JSON object.") var input: String = "{}"

    func run() async throws {
        let target = try Target(spec)
        guard case .object? = JSONValue.parse(input) else {
            printError("warden: --input must be a JSON object, such as '{\"service\": \"api\"}'")
            throw ExitCode(1)
        }
        let response = try await target.call(
            "POST",
            "/v1/workflows/\(queryValue(workflow))/runs",
            raw: Data(input.utf8)
        )
        let run = JSONValue.parse(String(decoding: response.body, as: UTF8.self))?["run"]?.stringValue ?? "?"
        print(run)
    }
}
