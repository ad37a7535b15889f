import ArgumentParser
import Foundation
import WardenCore

/// `warden diff`: what the repository's head would change on this node.
struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract:
            "What the followed branch's head would change on this node (gitops:), and whether it would be applied.",
        discussion:
            "Exit status: 0 when nothing would change, 1 when something would, 2 when the head would be refused."
    )

    @OptionGroup var spec: SpecOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let target = try Target(spec)
        let response = try await target.call("GET", "/v1/gitops/diff")
        let o = JSONValue.parse(String(decoding: response.body, as: UTF8.self)) ?? .null
        if json { print(o.jsonText) }
        if let error = o["error"]?.stringValue {
            if !json { print(error) }
            throw ExitCode(2)
        }
        let changes = o["changes"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let refused = o["refused"]?.stringValue ?? o["invalid"]?.stringValue
        if !json {
            let head = o["head"]?.stringValue.map { String($0.prefix(12)) } ?? "?"
            let applied = o["applied"]?.stringValue.map { String($0.prefix(12)) } ?? "the node's own spec"
            print("head \(head) (signed by \(o["signed_by"]?.stringValue ?? "nobody trusted")), running \(applied)")
            if let refused { print("would be refused: \(refused)") }
            for e in o["errors"]?.arrayValue?.compactMap(\.stringValue) ?? [] { print("  \(e)") }
            if o["rewritten"]?.boolValue == true {
                print("the branch's history was rewritten since the running commit")
            }
            print(changes.isEmpty ? "no changes" : changes.joined(separator: "\n"))
        }
        if refused != nil { throw ExitCode(2) }
        if !changes.isEmpty { throw ExitCode(1) }
    }
}

/// `warden gitops [status|sync]`.
struct GitOpsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gitops",
        abstract: "The node against its spec repository: where it stands, and fetching now.",
        subcommands: [GitOpsStatusCommand.self, GitOpsSyncCommand.self],
        defaultSubcommand: GitOpsStatusCommand.self
    )
}

struct GitOpsStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "The branch's head, the commit applied, the last good one, drift."
    )
    @OptionGroup var spec: SpecOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let target = try Target(spec)
        let response = try await target.call("GET", "/v1/gitops")
        let o = JSONValue.parse(String(decoding: response.body, as: UTF8.self)) ?? .null
        if json {
            print(o.jsonText)
            return
        }
        func commit(_ key: String) -> String { o[key]?.stringValue.map { String($0.prefix(12)) } ?? "-" }
        print(
            "repository  \(o["repository"]?.stringValue ?? "") \(o["branch"]?.stringValue ?? "") \(o["path"]?.stringValue ?? "")"
        )
        print("head        \(commit("head"))")
        print("applied     \(o["applied"]?.stringValue == nil ? "the node's own spec" : commit("applied"))")
        print("last good   \(commit("good"))")
        if let s = o["settling"]?["commit"]?.stringValue { print("settling    \(s.prefix(12))") }
        if let r = o["refused"] {
            print("refused     \(r["commit"]?.stringValue?.prefix(12) ?? ""): \(r["reason"]?.stringValue ?? "")")
        }
        if let u = o["unreachable"]?.stringValue { print("unreachable \(u)") }
        let drift = o["drift"]?.arrayValue?.compactMap(\.stringValue) ?? []
        print(drift.isEmpty ? "in sync" : "drift:\n" + drift.map { "  \($0)" }.joined(separator: "\n"))
    }
}

struct GitOpsSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Fetch the branch and apply its head now (as SIGHUP does with gitops:)."
    )
    @OptionGroup var spec: SpecOptions

    func run() async throws {
        let target = try Target(spec)
        let response = try await target.call("POST", "/v1/gitops/sync")
        let o = JSONValue.parse(String(decoding: response.body, as: UTF8.self)) ?? .null
        let outcome = o["outcome"]?.stringValue ?? "?"
        let commit = o["commit"]?.stringValue.map { " " + $0.prefix(12) } ?? ""
        let reason = o["reason"]?.stringValue.map { ": " + $0 } ?? ""
        print("\(outcome)\(commit)\(reason)")
        if outcome == "refused" || outcome == "unreachable" { throw ExitCode(1) }
    }
}
