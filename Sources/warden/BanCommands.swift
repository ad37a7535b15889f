import ArgumentParser
import Foundation
import WardenCore
import WardenServer
import WardenStore

struct BansCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bans",
        abstract: "List the bans in force (or every ban with --all): address, until when, why."
    )

    @OptionGroup var spec: SpecOptions
    @Flag(help: "Every ban, expired and lifted ones too, newest first.") var all = false
    @Option(help: "At most this many.") var limit: Int = 100
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var fleet: FleetOptions

    func run() async throws {
        if let node = fleet.node { return try await fleetBans(of: node) }
        let target = try Target(spec)
        var rows: [JSONValue] = []
        if target.isRunning {
            let response = try await target.call("GET", "/v1/bans?all=\(all)&limit=\(limit)")
            rows = JSONValue.parse(String(decoding: response.body, as: UTF8.self))?["bans"]?.arrayValue ?? []
        } else {
            let store = try target.store()
            let now = Date()
            let bans = all ? try await store.bans(limit: limit) : try await store.activeBans(at: now)
            rows = bans.prefix(limit).map { $0.json(now: now) }
            try await store.close()
        }
        if json {
            print(JSONValue.array(rows).jsonText)
            return
        }
        if rows.isEmpty {
            print(all ? "no bans" : "no bans in force")
            return
        }
        var table = Table(header: ["ADDRESS", "STATE", "UNTIL", "LEFT", "OFFENCE", "BY", "REASON"])
        for r in rows {
            let left = r["remaining_seconds"]?.intValue ?? 0
            let state =
                r["lifted_at"] != nil ? "lifted" : (r["active"]?.boolValue == true ? "active" : "expired")
            table.rows.append([
                r["address"]?.stringValue ?? "", state, r["expires_at"]?.stringValue ?? "",
                left > 0 ? DurationFormat.format(.seconds(left)) : "-", String(r["offence"]?.intValue ?? 0),
                r["source"]?.stringValue ?? "", r["reason"]?.stringValue ?? "",
            ])
        }
        print(table.render())
    }

    /// A fleet node's bans in force as the control plane last heard of them.
    func fleetBans(of node: String) async throws {
        guard !all else {
            printError("warden bans: with --node, the bans in force are listed; leave --all out")
            throw ExitCode(1)
        }
        let rows = Array(
            (try await FleetReader("bans", fleet, spec).node(node)["bans"]?.arrayValue ?? []).prefix(limit)
        )
        if json {
            print(JSONValue.array(rows).jsonText)
            return
        }
        if rows.isEmpty {
            print("no bans in force on \(node)")
            return
        }
        var table = Table(header: ["ADDRESS", "SINCE", "UNTIL", "REASON"])
        for r in rows {
            table.rows.append([
                r["address"]?.stringValue ?? "", r["since"]?.stringValue ?? "", r["until"]?.stringValue ?? "",
                r["reason"]?.stringValue ?? "",
            ])
        }
        print(table.render())
    }
}

struct BanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ban",
        abstract: "Ban an address, or a list of them, now (never loopback, allowlisted or this node's own addresses).",
        discussion: """
            With --file, every address of the file (one per line, # comments, as blocklists are
            published; - for standard input) is banned for --for, in one transaction and one
            firewall batch.
            """
    )
    @OptionGroup var spec: SpecOptions
    @Argument(help: "An IPv4 or IPv6 address.") var address: String?
    @Option(help: "A file of addresses to ban at once (- for standard input).") var file: String?
    @Option(
        name: .customLong("for"),
        help: "How long (1s to 365d); default: the spec's ban.first, escalating (required with --file)."
    )
    var duration: String?
    @Option(help: "Why, for the record.") var reason: String?

    func run() async throws {
        guard (address == nil) != (file == nil) else {
            printError("warden ban: give an address or --file, not both")
            throw ExitCode(1)
        }
        let target = try Target(spec)
        if let file {
            guard let duration else {
                printError("warden ban: --file needs --for (how long the list is banned)")
                throw ExitCode(1)
            }
            // At most 64 MiB (a million addresses fit in a quarter of it): `--file /dev/zero` is
            // refused, not read for ever.
            let limit = 64 << 20
            guard let handle = file == "-" ? FileHandle.standardInput : FileHandle(forReadingAtPath: file) else {
                printError("warden ban: cannot read \(file)")
                throw ExitCode(1)
            }
            var data = Data()
            while data.count <= limit, let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                data.append(chunk)
            }
            guard data.count <= limit else {
                printError("warden ban: \(file) is larger than 64 MiB; split the list")
                throw ExitCode(1)
            }
            var params = ["for=\(queryValue(duration))"]
            if let reason { params.append("reason=\(queryValue(reason))") }
            let response = try await target.call("POST", "/v1/bans/list?" + params.joined(separator: "&"), raw: data)
            let answer = JSONValue.parse(String(decoding: response.body, as: UTF8.self))
            print(
                "\(answer?["banned"]?.intValue ?? 0) banned, \(answer?["already"]?.intValue ?? 0) already banned, "
                    + "\(answer?["refused_count"]?.intValue ?? 0) refused"
            )
            for r in answer?["refused"]?.arrayValue ?? [] {
                print("  \(r["address"]?.stringValue ?? ""): \(r["reason"]?.stringValue ?? "")")
            }
            return
        }
        let address = address ?? ""
        var body: [String: JSONValue] = ["address": .string(address)]
        if let duration { body["for"] = .string(duration) }
        if let reason { body["reason"] = .string(reason) }
        let response = try await target.call("POST", "/v1/bans", body: .object(body))
        let ban = JSONValue.parse(String(decoding: response.body, as: UTF8.self))
        print("\(address): banned until \(ban?["expires_at"]?.stringValue ?? "?")")
    }
}

struct UnbanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unban",
        abstract: "Lift the ban in force on an address."
    )
    @OptionGroup var spec: SpecOptions
    @Argument(help: "An IPv4 or IPv6 address.") var address: String

    func run() async throws {
        let target = try Target(spec)
        _ = try await target.call("DELETE", "/v1/bans/\(queryValue(address))")
        print("\(address): ban lifted")
    }
}
