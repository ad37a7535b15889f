import ArgumentParser
import Foundation
import WardenCore
import WardenServer
import WardenStore
import WardenSupervisor

#if canImport(Glibc)
import Glibc
#endif

/// Finds a Warden: its state directory and, when it runs, its control socket.
struct Target {
    let stateDir: String
    let specPath: String

    init(_ options: SpecOptions) throws {
        specPath = options.specPath()
        if let dir = options.stateDir {
            stateDir = dir
        } else {
            do {
                stateDir = try SpecLoader().stateDir(path: specPath)
            } catch {
                printError("warden: \(error.description)")
                printError("warden: pass --config FILE or --state-dir DIR")
                throw ExitCode(1)
            }
        }
    }

    var client: ControlClient { ControlClient(path: StateDirectory.controlSocket(stateDir)) }

    /// Whether a Warden holds the state directory's lock.
    var isRunning: Bool { StateDirectory.runningWarden(at: stateDir) != nil }

    /// The store, opened read-only; nil (with a message) when there is none yet.
    func store() throws -> SQLiteStore {
        let path = (stateDir as NSString).appendingPathComponent("warden.db")
        guard FileManager.default.fileExists(atPath: path) else {
            printError("warden: no Warden has run with the state directory \(stateDir) yet")
            throw ExitCode(1)
        }
        return try SQLiteStore(path: path, readOnly: true)
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every service: state, pid, uptime, restarts, CPU and memory."
    )

    @OptionGroup var spec: SpecOptions
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() async throws {
        let target = try Target(spec)
        var services: [ServiceStatus]
        var live = true
        if target.isRunning, let response = try? target.client.send(ControlRequest(command: .status)), response.ok {
            services = response.services ?? []
        } else {
            live = false
            services = try await offlineStatus(target)
        }
        if json {
            print(String(decoding: try ControlCoding.encoder().encode(services), as: UTF8.self))
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
        if let spec = try? SpecLoader().load(path: target.specPath) {
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

    func run() async throws {
        let target = try Target(spec)
        var query = EventQuery(types: types, subject: service, limit: limit)
        if let since {
            guard let d = DurationFormat.parse(since) else {
                printError("warden: --since: found '\(since)'; expected \(DurationFormat.expected)")
                throw ExitCode(1)
            }
            query.since = Date().addingTimeInterval(-d.seconds)
        }
        let request = ControlRequest(
            command: .events,
            types: types,
            subject: service,
            since: query.since,
            limit: limit,
            follow: follow
        )
        if target.isRunning {
            do {
                if follow {
                    try target.client.stream(request) { response in
                        for e in response.events ?? [] { emit(e) }
                        if let e = response.event { emit(e) }
                        return true
                    }
                    return
                }
                let response = try target.client.send(request)
                if response.ok {
                    for e in response.events ?? [] { emit(e) }
                    return
                }
            } catch {
                if follow { printError("warden: lost the connection to Warden: \(error)") }
            }
        }
        // Warden is down: read the store; with --follow, keep polling it.
        let store = try target.store()
        query.newestFirst = true
        var events = try await store.events(matching: query).reversed() as [Event]
        for e in events { emit(e) }
        guard follow else { return }
        var last = events.last?.id ?? 0
        if last == 0 { last = try await store.lastEventID() }
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

    func emit(_ e: Event) {
        if json {
            print(String(decoding: (try? ControlCoding.encoder().encode(e)) ?? Data(), as: UTF8.self))
        } else {
            print(EventFormat.line(e))
        }
        fflush(nil)
    }
}

/// How events read in a terminal.
enum EventFormat {
    static func line(_ e: Event) -> String {
        let time = e.time.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
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
            "\(time)  \(e.type.padding(toLength: 20, withPad: " ", startingAt: 0))  \(e.subject.padding(toLength: 12, withPad: " ", startingAt: 0))  \(details.joined(separator: " "))"
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
            let spec = try SpecLoader().load(path: file)
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

/// start, stop and restart share everything but the verb.
protocol ServiceAction: AsyncParsableCommand {
    static var verb: ControlRequest.Command { get }
    var spec: SpecOptions { get }
    var service: String { get }
    var json: Bool { get }
}

extension ServiceAction {
    func run() async throws {
        let target = try Target(spec)
        guard target.isRunning else {
            printError("warden: Warden is not running (state directory \(target.stateDir)); start it with 'warden run'")
            throw ExitCode(1)
        }
        let response = try target.client.send(ControlRequest(command: Self.verb, service: service))
        guard response.ok else {
            printError("warden: \(response.error ?? "failed")")
            throw ExitCode(1)
        }
        if json {
            print(String(decoding: try ControlCoding.encoder().encode(response.services ?? []), as: UTF8.self))
        } else {
            let state = response.services?.first.map { "\($0.state)\($0.pid.map { " (pid \($0))" } ?? "")" } ?? "ok"
            print("\(service): \(Self.verb.rawValue) requested; now \(state)")
        }
    }
}

struct StartCommand: ServiceAction {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start a stopped or failed service."
    )
    static let verb = ControlRequest.Command.start
    @OptionGroup var spec: SpecOptions
    @Argument(help: "The service.") var service: String
    @Flag(help: "Print JSON.") var json = false
}

struct StopCommand: ServiceAction {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Stop a service and keep it stopped."
    )
    static let verb = ControlRequest.Command.stop
    @OptionGroup var spec: SpecOptions
    @Argument(help: "The service.") var service: String
    @Flag(help: "Print JSON.") var json = false
}

struct RestartCommand: ServiceAction {
    static let configuration = CommandConfiguration(
        commandName: "restart",
        abstract: "Restart a service now, clearing its failure history."
    )
    static let verb = ControlRequest.Command.restart
    @OptionGroup var spec: SpecOptions
    @Argument(help: "The service.") var service: String
    @Flag(help: "Print JSON.") var json = false
}
