import ArgumentParser
import CWardenSys
import Foundation
import WardenCore
import WardenHTTP
import WardenServer
import WardenStore
import WardenSupervisor

#if canImport(Glibc)
import Glibc
#endif

/// Finds a Warden: its state directory and, when it runs, its API.
struct Target {
    let stateDir: String
    let specPath: String
    let client: WardenAPIClient

    init(_ options: SpecOptions) throws {
        specPath = options.specPath()
        var location: SpecLoader.Location
        do {
            location = try SpecLoader.warden().locate(path: specPath)
        } catch {
            if let dir = options.stateDir {
                location = .init(stateDir: dir, host: "127.0.0.1", port: 7070)
            } else {
                printError("warden: \(error.description)")
                printError("warden: pass --config FILE or --state-dir DIR")
                throw ExitCode(1)
            }
        }
        if let dir = options.stateDir { location.stateDir = dir }
        if let url = options.url {
            let secure = url.hasPrefix("https://")
            let stripped =
                url.replacingOccurrences(of: "https://", with: "").replacingOccurrences(of: "http://", with: "")
                .split(separator: "/").first.map(String.init) ?? ""
            guard let (host, port) = HostPort.parse(stripped, defaultPort: secure ? 443 : 80) else {
                printError("warden: --url: found '\(url)'; expected http://HOST:PORT or https://HOST:PORT")
                throw ExitCode(1)
            }
            if !secure { location.trust = nil }
            location.host = host
            location.port = port
        }
        stateDir = location.stateDir
        let token =
            options.token ?? ProcessInfo.processInfo.environment["WARDEN_TOKEN"]
            ?? LocalToken.read(in: StateDirectory.runDirectory(location.stateDir))
        client = WardenAPIClient(
            host: location.host,
            port: location.port,
            token: token?.isEmpty == false ? token : nil,
            trust: location.trust
        )
    }

    /// Whether a Warden holds the state directory's lock (on this machine).
    var isRunning: Bool { StateDirectory.runningWarden(at: stateDir) != nil }

    /// Sends a request to the running Warden; exits with a clear message on an error answer.
    func call(
        _ method: String,
        _ path: String,
        body: JSONValue? = nil,
        raw: Data? = nil
    ) async throws -> WardenAPIClient.Response {
        let response: WardenAPIClient.Response
        do {
            response = try await client.send(method, path, body: raw ?? body.map { Data($0.jsonText.utf8) })
        } catch {
            printError("warden: \(error.message)")
            throw ExitCode(1)
        }
        guard (200..<300).contains(response.status) else {
            printError("warden: \(response.errorMessage)")
            if response.status == 401 {
                printError("warden: set WARDEN_TOKEN or pass --token with a token from the spec's api.tokens")
            }
            throw ExitCode(1)
        }
        return response
    }

    /// The store, opened read-only; exits with a message when there is none yet.
    func store() throws -> SQLiteStore {
        let path = (stateDir as NSString).appendingPathComponent("warden.db")
        guard FileManager.default.fileExists(atPath: path) else {
            printError("warden: no Warden has run with the state directory \(stateDir) yet")
            throw ExitCode(1)
        }
        return try SQLiteStore(path: path, readOnly: true)
    }
}

/// Percent-encodes a query value.
func queryValue(_ text: String) -> String {
    text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~"))) ?? text
}

struct StatusCommand: AsyncParsableCommand {
    /// A fleet node's services as the control plane last heard of them.
    func fleetStatus(of node: String) async throws {
        let detail = try await FleetReader("status", fleet, spec).node(node)
        let services = detail["services"]?.arrayValue ?? []
        if json {
            print(JSONValue.array(services).jsonText)
            return
        }
        let contact = detail["last_contact"]?.stringValue.flatMap(ISOTime.parse)
        let ago = contact.map { DurationFormat.format(.seconds(Int64(max(0, Date().timeIntervalSince($0))))) }
        print("node \(node), last contact \(ago.map { $0 + " ago" } ?? "unknown"):\n")
        var table = Table(header: ["SERVICE", "STATE", "SINCE", "EVENT"])
        for s in services {
            let since = s["since"]?.stringValue.flatMap(ISOTime.parse).map {
                DurationFormat.format(.seconds(Int64(max(0, Date().timeIntervalSince($0))))) + " ago"
            }
            table.rows.append([
                s["name"]?.stringValue ?? "", s["state"]?.stringValue ?? "", since ?? "-",
                s["event"]?.stringValue ?? "",
            ])
        }
        print(table.render())
    }

    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every service: state, pid, uptime, restarts, CPU and memory."
    )

    @OptionGroup var spec: SpecOptions
    @OptionGroup var fleet: FleetOptions
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() async throws {
        if let node = fleet.node { return try await fleetStatus(of: node) }
        let target = try Target(spec)
        var services: [ServiceStatus]
        var live = true
        if target.isRunning {
            let response = try await target.call("GET", "/v1/services")
            services =
                try APICoding.decoder().decode([String: [ServiceStatus]].self, from: response.body)["services"] ?? []
        } else {
            live = false
            services = try await offlineStatus(target)
        }
        if json {
            print(String(decoding: try APICoding.encoder().encode(services), as: UTF8.self))
            return
        }
        if !live { print("Warden is not running (state directory \(target.stateDir)); last known state:\n") }
        var table = Table(header: [
            "SERVICE", "STATE", "PID", "UPTIME", "RESTARTS", "CPU", "MEMORY", "LAST EXIT", "STATUS",
        ])
        for s in services {
            let uptime =
                s.since.map { DurationFormat.format(.seconds(Int64(max(0, Date().timeIntervalSince($0))))) } ?? "-"
            var state = s.state
            if let health = s.health, s.state == "running", health == "failing" { state += " (unhealthy)" }
            if s.state == "waiting" && !s.waitingFor.isEmpty { state += " for " + s.waitingFor.joined(separator: ",") }
            table.rows.append([
                s.name, state, s.pid.map(String.init) ?? "-", uptime, String(s.restarts),
                s.cpuPercent.map { String(format: "%.1f%%", $0) } ?? "-", s.rssBytes.map(ByteSize.format) ?? "-",
                s.lastExit ?? "-", s.statusText ?? "",
            ])
        }
        print(table.render())
    }

    /// What the records and the store say when no Warden runs.
    func offlineStatus(_ target: Target) async throws -> [ServiceStatus] {
        let records = RuntimeRecords(directory: StateDirectory.runDirectory(target.stateDir)).loadAll()
        var names = records.map(\.service)
        if let spec = try? SpecLoader.warden().load(path: target.specPath) {
            names = spec.services.map(\.name) + names.filter { n in !spec.services.contains { $0.name == n } }
        }
        let store = try? target.store()
        var result: [ServiceStatus] = []
        for name in names {
            var status = ServiceStatus(name: name, state: "stopped")
            if let r = records.first(where: { $0.service == name }), ProcFS.isAlive(pid: r.pid, startTime: r.startTime)
            {
                status.state = "unsupervised"
                status.pid = r.pid
                status.since = r.startedAt
            }
            if let last = try await store?.events(
                matching: EventQuery(types: ["service.*"], subject: name, limit: 1, newestFirst: true)
            ).first {
                if status.since == nil { status.since = last.time }
                status.statusText = "last event: \(last.type)"
            }
            result.append(status)
        }
        try await store?.close()
        return result
    }
}

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Show recorded events, newest last; --follow streams new ones."
    )

    @OptionGroup var spec: SpecOptions
    @Option(name: .customLong("service"), help: "Only events about this service (or other subject).") var service:
        String?
    @Option(name: .customLong("type"), help: "Only this type; 'service.*' matches a prefix. Repeatable.") var types:
        [String] = []
    @Option(help: "Only events newer than this (for example 10m, 2h, 7d).") var since: String?
    @Option(help: "At most this many stored events.") var limit: Int = 50
    @Flag(help: "Keep printing new events as they happen.") var follow = false
    @Flag(help: "One JSON object per line.") var json = false
    @OptionGroup var fleet: FleetOptions

    func run() async throws {
        if let node = fleet.node { return try await fleetEvents(of: node) }
        // Followed events go out as they come, also into a pipe (`warden events --follow | grep`).
        if follow { warden_stdout_line_buffered() }
        let target = try Target(spec)
        var query = EventQuery(types: types, subject: service, limit: limit)
        if let since {
            guard let d = DurationFormat.parse(since) else {
                printError("warden: --since: found '\(since)'; expected \(DurationFormat.expected)")
                throw ExitCode(1)
            }
            query.since = Date().addingTimeInterval(-d.seconds)
        }
        if target.isRunning {
            // The newest id before the stored events are read: following resumes after it, so an
            // event recorded between the two reads is not missed.
            let head = try await target.call("GET", "/v1/events?order=desc&limit=1")
            let headID = (try? APICoding.decoder().decode(EventPageBody.self, from: head.body))?.events.first?.id ?? 0
            var params = ["order=desc", "limit=\(limit)"]
            if let service { params.append("subject=\(queryValue(service))") }
            for t in types { params.append("type=\(queryValue(t))") }
            if let since = query.since { params.append("since=\(queryValue(APICoding.format(since)))") }
            let response = try await target.call("GET", "/v1/events?" + params.joined(separator: "&"))
            let page = try APICoding.decoder().decode(EventPageBody.self, from: response.body)
            let stored = Array(page.events.reversed())
            for e in stored { emit(e) }
            guard follow else { return }
            var streamParams: [String] = []
            if let service { streamParams.append("subject=\(queryValue(service))") }
            for t in types { streamParams.append("type=\(queryValue(t))") }
            let last = max(headID, stored.last?.id ?? 0)
            let path = "/v1/events/stream" + (streamParams.isEmpty ? "" : "?" + streamParams.joined(separator: "&"))
            try await followStream(target.client, path, after: last, what: "the event stream")
        }
        // Warden is down: read the store; with --follow, keep polling it.
        let store = try target.store()
        let before = try await store.lastEventID()
        query.newestFirst = true
        var events = try await store.events(matching: query).reversed() as [Event]
        for e in events { emit(e) }
        guard follow else { return }
        // Resume after what was read, or after the newest id before reading (not the newest id
        // now: an event recorded in between would be skipped).
        var last = max(before, events.last?.id ?? 0)
        while true {
            try await Task.sleep(for: .milliseconds(250))
            var q = query
            q.newestFirst = false
            q.afterID = last
            q.limit = 1000
            events = try await store.events(matching: q)
            for e in events { emit(e) }
            if let id = events.last?.id { last = id }
        }
    }

    /// The events of a fleet node, from the control plane; with --follow, then as they arrive.
    func fleetEvents(of node: String) async throws {
        if follow { warden_stdout_line_buffered() }
        let reader = try FleetReader("events", fleet, spec)
        var filter: [String] = []
        if let service { filter.append("subject=\(queryValue(service))") }
        for t in types { filter.append("type=\(queryValue(t))") }
        let params = ["node=\(queryValue(node))", "order=desc", "limit=\(limit)"] + filter
        let body = try await reader.get("/v1/fleet/events?" + params.joined(separator: "&"))
        let events = try APICoding.decoder().decode([String: [Event]].self, from: body)["events"] ?? []
        for e in events.reversed() { emit(e) }
        guard follow else { return }
        // Resumes after the newest event printed, or from now when none was.
        let path = "/v1/fleet/events/stream?" + (["node=\(queryValue(node))"] + filter).joined(separator: "&")
        try await followStream(reader.client, path, after: events.first?.id, what: "the control plane's event stream")
    }

    /// Prints the events of the stream at `path` as they come, resuming after the last one seen
    /// when the connection is lost; never returns but on an answer that is not 200.
    func followStream(_ client: WardenAPIClient, _ path: String, after: Int64?, what: String) async throws {
        var lastSeen = after
        while true {
            do {
                let status = try await client.stream(path, lastEventID: lastSeen) { id, data in
                    if let event = try? APICoding.decoder().decode(Event.self, from: Data(data.utf8)) {
                        emit(event)
                        lastSeen = event.id
                    } else if let id {
                        lastSeen = id
                    }
                    return true
                }
                if status != 200 {
                    printError("warden events: \(what) answered HTTP \(status)")
                    throw ExitCode(1)
                }
            } catch let failure as OutboundError {
                printError("warden events: lost \(what) (\(failure.message)); reconnecting")
            }
            try await Task.sleep(for: .seconds(1))
        }
    }

    func emit(_ e: Event) {
        if json {
            print(String(decoding: (try? APICoding.encoder().encode(e)) ?? Data(), as: UTF8.self))
        } else {
            print(EventFormat.line(e))
        }
        fflush(nil)
    }
}

/// How events read in a terminal.
enum EventFormat {
    static func line(_ e: Event) -> String {
        let time = ISOTime.format(e.time)
        var details: [String] = []
        if case .object(let fields) = e.payload {
            for key in fields.keys.sorted() {
                let v = fields[key]!
                let text: String
                switch v {
                case .string(let s): text = s.contains(" ") ? "\"\(s)\"" : s
                case .null: continue
                default: text = v.jsonText
                }
                details.append("\(key)=\(text)")
            }
        }
        return
            "\(time)  \(e.type.padding(toLength: max(22, e.type.count), withPad: " ", startingAt: 0))  \(e.subject.padding(toLength: 12, withPad: " ", startingAt: 0))  \(details.joined(separator: " "))"
    }
}

struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print a service's output (stdout and stderr); --follow keeps printing."
    )

    @OptionGroup var spec: SpecOptions
    @Argument(help: "The service.") var service: String
    @Option(
        name: [.customShort("n"), .customLong("lines")],
        help: "How many of the last lines to print (0: all, including rotated files)."
    ) var lines: Int = 100
    @Flag(help: "Keep printing what the service writes, across rotations.") var follow = false

    func run() async throws {
        let target = try Target(spec)
        let log = ServiceLog(
            directory: StateDirectory.logDirectory(target.stateDir),
            service: service,
            policy: LogPolicy(keep: 100)
        )
        guard FileManager.default.fileExists(atPath: log.path) else {
            printError("warden: no output recorded for '\(service)' (looked for \(log.path))")
            throw ExitCode(1)
        }
        if lines == 0 {
            for file in log.allFiles() {
                if let d = FileManager.default.contents(atPath: file) { FileHandle.standardOutput.write(d) }
            }
        } else {
            let data = FileManager.default.contents(atPath: log.path) ?? Data()
            let text = String(decoding: data, as: UTF8.self)
            var all = text.split(separator: "\n", omittingEmptySubsequences: false)
            if all.last == "" { all.removeLast() }
            for line in all.suffix(lines) { print(line) }
        }
        guard follow else { return }
        fflush(nil)
        var offset = UInt64((try? FileManager.default.attributesOfItem(atPath: log.path)[.size] as? UInt64) ?? 0)
        while true {
            try await Task.sleep(for: .milliseconds(200))
            guard let handle = FileHandle(forReadingAtPath: log.path) else { continue }
            let size = (try? handle.seekToEnd()) ?? 0
            if size < offset { offset = 0 }  // rotated (copied and truncated)
            if size > offset {
                try handle.seek(toOffset: offset)
                if let data = try handle.read(upToCount: Int(size - offset)) { FileHandle.standardOutput.write(data) }
                offset = size
            }
            try? handle.close()
        }
    }
}

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a spec file; exit 0 when it is valid, 1 with every problem otherwise."
    )

    @Argument(help: "The spec file.") var file: String

    func run() throws {
        do {
            let spec = try SpecLoader.warden().load(path: file)
            print(
                "\(file): valid (\(spec.services.count) service\(spec.services.count == 1 ? "" : "s"), state in \(spec.stateDir))"
            )
        } catch {
            print(error.description)
            print("\(file): \(error.issues.count) problem\(error.issues.count == 1 ? "" : "s")")
            throw ExitCode(1)
        }
    }
}

/// A verb of `warden start|stop|restart SERVICE`.
protocol ServiceVerb {
    static var name: String { get }
    static var abstract: String { get }
}

enum StartVerb: ServiceVerb {
    static let name = "start"
    static let abstract = "Start a stopped or failed service."
}

enum StopVerb: ServiceVerb {
    static let name = "stop"
    static let abstract = "Stop a service and keep it stopped."
}

enum RestartVerb: ServiceVerb {
    static let name = "restart"
    static let abstract = "Restart a service now, clearing its failure history."
}

/// start, stop and restart share everything but the verb.
struct ServiceActionCommand<Verb: ServiceVerb>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: Verb.name, abstract: Verb.abstract)
    }
    @OptionGroup var spec: SpecOptions
    @Argument(help: "The service.") var service: String
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let target = try Target(spec)
        guard target.isRunning else {
            printError("warden: Warden is not running (state directory \(target.stateDir)); start it with 'warden run'")
            throw ExitCode(1)
        }
        let response = try await target.call("POST", "/v1/services/\(queryValue(service))/\(Verb.name)")
        let status = try APICoding.decoder().decode(ServiceStatus.self, from: response.body)
        if json {
            print(String(decoding: try APICoding.encoder().encode(status), as: UTF8.self))
        } else {
            print("\(service): \(Verb.name) requested; now \(status.state)\(status.pid.map { " (pid \($0))" } ?? "")")
        }
    }
}

typealias StartCommand = ServiceActionCommand<StartVerb>
typealias StopCommand = ServiceActionCommand<StopVerb>
typealias RestartCommand = ServiceActionCommand<RestartVerb>

/// The body of `GET /v1/events`.
struct EventPageBody: Decodable {
    var events: [Event]
}
