import Foundation
import Testing
import WardenCore
import WardenFleet
import WardenHTTP
import WardenServer
import WardenStore
import WardenSupervisor
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A `warden control` over a PostgreSQL server of the test's own, with a real agent shipping to
/// it: the fleet's copy of a node's events is exactly the node's, across a control plane that
/// dies and comes back.
@Suite("The fleet, live", .timeLimit(.minutes(5)))
struct FleetLiveTests {
    init() { becomeSubreaper() }

    static let agentToken = "agent-secret-0123456789"
    static let readerToken = "reader-secret-0123456789"

    /// A `warden control` process.
    final class Control: Sendable {
        let child: ChildProcess
        let port: Int
        let dir = TempDir("warden-control")

        /// With `nodeTokens`, those nodes get credentials of their own.
        /// With `tls`, it speaks HTTPS with that pair; `trust` is what its clients here trust.
        let trust: String?

        init(
            database: String,
            port: Int,
            nodeTokens: [String: String] = [:],
            tls: (cert: String, key: String)? = nil,
            trust: String? = nil
        ) throws {
            self.port = port
            self.trust = trust
            var env = ProcessInfo.processInfo.environment
            env["AGENT_TOKEN"] = FleetLiveTests.agentToken
            env["READER_TOKEN"] = FleetLiveTests.readerToken
            var argv = [
                Binaries.warden, "control", "--listen", "127.0.0.1:\(port)", "--database", database,
                "--agent-token", "env:AGENT_TOKEN", "--token", "env:READER_TOKEN",
            ]
            if let tls { argv += ["--tls-cert", tls.cert, "--tls-key", tls.key] }
            for (i, (node, token)) in nodeTokens.sorted(by: { $0.key < $1.key }).enumerated() {
                env["NODE_TOKEN_\(i)"] = token
                argv += ["--node-token", "\(node)=env:NODE_TOKEN_\(i)"]
            }
            let fd = open(dir.file("control.log"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            defer { close(fd) }
            var request = SpawnRequest(executable: argv[0], arguments: argv, environment: env)
            request.stdout = fd
            request.stderr = fd
            child = try ChildProcess.spawn(request)
        }

        var log: String { (try? String(contentsOfFile: dir.file("control.log"), encoding: .utf8)) ?? "" }

        /// A test that fails half-way must not leave its control plane running.
        deinit { _ = Glibc.kill(child.pid, SIGKILL) }

        func client(_ token: String = FleetLiveTests.readerToken) -> WardenAPIClient {
            WardenAPIClient(host: "127.0.0.1", port: port, token: token, trust: trust)
        }

        /// The highest event id the control plane holds for `node` (nil before it called).
        func lastEventID(of node: String) async throws -> Int64? {
            let r = try await client().send("GET", "/v1/nodes")
            guard r.status == 200, case .object(let o)? = JSONValue.parse(String(decoding: r.body, as: UTF8.self)),
                case .array(let nodes)? = o["nodes"]
            else { return nil }
            return nodes.first { $0["name"]?.stringValue == node }?["last_event_id"]?.intValue
        }

        /// Every event the control plane holds for `node`, page by page.
        func events(of node: String) async throws -> [Event] {
            var all: [Event] = []
            while true {
                let r = try await client().send(
                    "GET",
                    "/v1/fleet/events?node=\(node)&after=\(all.last?.id ?? 0)&limit=500"
                )
                guard r.status == 200 else { throw TimedOut(what: "the fleet's events: \(r.errorMessage)", seen: []) }
                let page = try JSONDecoder.iso.decode([String: [Event]].self, from: r.body)["events"] ?? []
                all += page
                if page.count < 500 { return all }
            }
        }

        func kill(_ sig: Int32) async {
            _ = Glibc.kill(child.pid, sig)
            _ = await child.exit(within: .seconds(60))
        }
    }

    /// A node named `edge-1` that ships to `controls` every `every`, with a service that fails
    /// every `every` or so (events keep coming).
    static func flappingNode(_ controls: [Int], labels: String = "{}", every: String = "100ms") -> Fixture {
        setenv("WARDEN_TEST_AGENT_TOKEN", agentToken, 1)
        let urls = controls.map { "http://127.0.0.1:\($0)" }.joined(separator: ", ")
        return Fixture(
            """
            fleet:
              control: [\(urls)]
              node: edge-1
              labels: \(labels)
              token: env:WARDEN_TEST_AGENT_TOKEN
              every: \(every)
            services:
              flappy:
                run: [/bin/sh, -c, "sleep 0.1; exit 3"]
                restart: { policy: always, backoff: 50ms..50ms, jitter: 0%, give_up: never }
            """
        )
    }

    /// A node called `name` that ships to `control` every 200 ms, with the rest of its spec.
    static func agent(_ name: String, of control: Control, _ rest: String) -> Fixture {
        setenv("WARDEN_TEST_AGENT_TOKEN", agentToken, 1)
        return Fixture(
            """
            fleet:
              control: [http://127.0.0.1:\(control.port)]
              node: \(name)
              token: env:WARDEN_TEST_AGENT_TOKEN
              every: 200ms

            """ + rest
        )
    }

    /// A PostgreSQL server of the test's own with a database `fleet`, and a control plane over it.
    static func fleet(nodeTokens: [String: String] = [:]) async throws -> (PostgresServer, Control) {
        let pg = try await PostgresServer()
        try await pg.createDatabase("fleet")
        let control = try Control(
            database: "postgres://\(pg.user)@127.0.0.1:\(pg.port)/fleet",
            port: freePort(),
            nodeTokens: nodeTokens
        )
        return (pg, control)
    }

    /// Every event a stopped node recorded, from its SQLite file.
    static func recorded(_ f: Fixture) async throws -> [Event] {
        let store = try SQLiteStore(path: f.stateDir + "/warden.db", readOnly: true)
        let local = try await store.events(matching: EventQuery(limit: 1_000_000))
        try await store.close()
        return local
    }

    /// The agent ships while the control plane is up, keeps its events while it is killed, and
    /// catches up when it is back: the fleet then holds exactly the node's events, none missing,
    /// none twice, each as the node stored it.
    /// Agents and the control plane over TLS: a node that trusts the control plane's authority
    /// ships (with its credential, now encrypted); one that trusts another authority refuses the
    /// certificate and ships nothing; the CLI reads the fleet over HTTPS.
    @Test func agentsShipOverTLSAndRefuseACertificateTheyDoNotTrust() async throws {
        let ca = try await TestAuthority()
        let stranger = try await TestAuthority()
        let pair = try await ca.issue("control")
        let pg = try await PostgresServer()
        try await pg.createDatabase("fleet")
        let control = try Control(
            database: "postgres://\(pg.user)@127.0.0.1:\(pg.port)/fleet",
            port: freePort(),
            tls: pair,
            trust: ca.caFile
        )
        setenv("WARDEN_TEST_AGENT_TOKEN", Self.agentToken, 1)
        func node(_ name: String, trusting file: String) -> Fixture {
            Fixture(
                """
                fleet:
                  control: [https://127.0.0.1:\(control.port)]
                  ca: \(file)
                  node: \(name)
                  token: env:WARDEN_TEST_AGENT_TOKEN
                  every: 200ms
                services:
                  s:
                    run: [SAMPLE]
                """
            )
        }
        let trusting = node("edge-tls", trusting: ca.caFile)
        let doubting = node("edge-doubt", trusting: stranger.caFile)
        let a = try trusting.start()
        let b = try doubting.start()
        try await eventually("the trusting node's events reach the fleet", timeout: .seconds(60)) {
            (try await control.lastEventID(of: "edge-tls") ?? 0) >= 1
        }
        try await eventually("the doubting node says it cannot ship", timeout: .seconds(60)) {
            b.output.contains("cannot ship to the control plane")
        }
        #expect(try await control.lastEventID(of: "edge-doubt") == nil, "nothing came from the doubting node")
        // An administrative action on the node is an audit record, and reaches the control plane
        // as the node's other events do.
        _ = try await trusting.waitRunning(["s"])
        #expect(try await trusting.client().send("POST", "/v1/services/s/restart").status == 202)
        try await eventually("the node's audit record reaches the fleet", timeout: .seconds(60)) {
            try await control.events(of: "edge-tls").contains {
                $0.type == "audit.service.restart" && $0.payload["status"]?.intValue == 202
            }
        }
        // Plain HTTP to the control plane gets nothing.
        let plain = WardenAPIClient(
            host: "127.0.0.1",
            port: control.port,
            token: Self.readerToken,
            timeout: .seconds(5)
        )
        await #expect(throws: OutboundError.self) { try await plain.send("GET", "/v1/nodes") }
        setenv("WARDEN_TEST_READER_TOKEN", Self.readerToken, 1)
        let nodes = try await warden(
            "nodes",
            "--control",
            "127.0.0.1:\(control.port)",
            "--ca",
            ca.caFile,
            "--token",
            "env:WARDEN_TEST_READER_TOKEN"
        )
        #expect(nodes.exitCode == 0, "\(nodes.stderr)")
        #expect(nodes.stdout.contains("edge-tls") && !nodes.stdout.contains("edge-doubt"), "\(nodes.stdout)")
        #expect(try await a.stop() == .exited(0))
        #expect(try await b.stop() == .exited(0))
        _ = pg
    }

    @Test func aNodesEventsReachTheFleetExactlyOnceAcrossAControlPlaneCrash() async throws {
        let pg = try await PostgresServer()
        try await pg.createDatabase("fleet")
        let database = "postgres://\(pg.user)@127.0.0.1:\(pg.port)/fleet"
        let controlPort = freePort()
        var control = try Control(database: database, port: controlPort)

        // A service that fails every few hundred milliseconds keeps events coming.
        let f = Self.flappingNode([controlPort], labels: "{ dc: test }", every: "200ms")
        let agent = try f.start()
        try await eventually("the control plane has the node's first 20 events", timeout: .seconds(60)) {
            (try await control.lastEventID(of: "edge-1") ?? 0) >= 20
        }
        // The control plane dies; the node goes on recording (and keeps what it could not ship).
        await control.kill(SIGKILL)
        let atCrash = try await f.events().last?.id ?? 0
        try await eventually("the node records 30 more events", timeout: .seconds(60)) {
            (try await f.events().last?.id ?? 0) >= atCrash + 30
        }
        control = try Control(database: database, port: controlPort)
        let target = try await f.events().last?.id ?? 0
        try await eventually("the control plane catches up", timeout: .seconds(60)) {
            (try await control.lastEventID(of: "edge-1") ?? 0) >= target
        }
        // A clean stop ships the last events.
        #expect(try await agent.stop() == .exited(0))
        let local = try await FleetLiveTests.recorded(f)
        try await eventually("the fleet holds every event of the node") {
            (try await control.lastEventID(of: "edge-1") ?? 0) == local.last?.id
        }
        // The CLI's view of the fleet.
        setenv("WARDEN_TEST_READER_TOKEN", Self.readerToken, 1)
        let nodes = try await warden(
            "nodes",
            "--control",
            "127.0.0.1:\(control.port)",
            "--token",
            "env:WARDEN_TEST_READER_TOKEN"
        )
        #expect(nodes.exitCode == 0, "\(nodes.stderr)")
        #expect(nodes.stdout.contains("edge-1") && nodes.stdout.contains("dc=test"), "\(nodes.stdout)")
        #expect(nodes.stdout.contains(" \(local.last?.id ?? -1) "), "\(nodes.stdout)")
        let exits = try await warden(
            "events",
            "--node",
            "edge-1",
            "--control",
            "127.0.0.1:\(control.port)",
            "--token",
            "env:WARDEN_TEST_READER_TOKEN",
            "--type",
            "service.exited",
            "--limit",
            "5",
            "--json"
        )
        #expect(exits.exitCode == 0, "\(exits.stderr)")
        let exitIDs = exits.stdout.split(separator: "\n").compactMap { JSONValue.parse(String($0))?["id"]?.intValue }
        #expect(exitIDs == Array(local.filter { $0.type == "service.exited" }.suffix(5).map(\.id)), "\(exits.stdout)")
        let refused = try await warden("nodes", "--control", "127.0.0.1:\(control.port)", "--token", "env:HOME")
        #expect(refused.exitCode == 1 && refused.stderr.contains("answered 401"), "\(refused.stderr)")
        let fleet = try await control.events(of: "edge-1")
        #expect(fleet.count == local.count, "no event missing, none twice")
        #expect(fleet.map(\.id) == local.map(\.id))
        // Each as the node stored it: the database's rows, to the microsecond, payload and all
        // (the API's times are milliseconds).
        let rows = try await pg.psql(
            "SELECT id || '|' || time || '|' || type || '|' || subject || '|' || payload FROM events WHERE node = 'edge-1' ORDER BY id",
            database: "fleet"
        ).split(separator: "\n").map(String.init)
        let expected = local.map {
            "\($0.id)|\(Int64(($0.time.timeIntervalSince1970 * 1_000_000).rounded()))|\($0.type)|\($0.subject)|\($0.payload.jsonText)"
        }
        #expect(rows == expected)
        await control.kill(SIGTERM)
        await pg.stop()
    }

    /// What the control plane refuses, each with the field at fault; and a batch sent twice is
    /// stored once.
    @Test func theControlPlaneRefusesBadBatchesAndStoresRepeatsOnce() async throws {
        let (pg, control) = try await Self.fleet(nodeTokens: ["n9": "node-nine-secret-0123456789"])
        let agent = control.client(Self.agentToken)
        try await eventually("the control plane is up") {
            (try? await agent.send("GET", "/healthz"))?.status == 200
        }
        func post(_ json: String, as client: WardenAPIClient? = nil) async throws -> WardenAPIClient.Response {
            try await (client ?? agent).send("POST", "/v1/fleet/events", body: Data(json.utf8))
        }
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        func batch(node: String = "n1", ids: [Int64], time: Int64? = nil) -> String {
            let events = ids.map {
                #"{"id":\#($0),"time_us":\#(time ?? now),"type":"t.x","source":"s","subject":"x","payload":{"i":\#($0)}}"#
            }
            return #"{"node":"\#(node)","labels":{},"events":[\#(events.joined(separator: ","))]}"#
        }
        // Readers may not ship; a wrong credential is 401.
        #expect(try await post(batch(ids: [1]), as: control.client()).status == 403)
        #expect(try await post(batch(ids: [1]), as: control.client("wrong-token")).status == 401)
        let cases: [(String, String)] = [
            (batch(node: "bad name!", ids: [1]), "node"),
            (batch(ids: [2, 1]), "events[1].id"),
            (batch(ids: [1], time: now + 3_600_000_000), "events[0].time_us"),
            (#"{"node":"n1","labels":{},"events":[{"id":1}]}"#, "events[0]."),
            (#"{"node":"n1","labels":{},"events":"#, ""),
        ]
        for (body, field) in cases {
            let r = try await post(body)
            #expect(r.status == 400, "\(body): \(r.status) \(r.errorMessage)")
            if !field.isEmpty {
                let error = JSONValue.parse(String(decoding: r.body, as: UTF8.self))?["error"]
                #expect(
                    error?["field"]?.stringValue?.hasPrefix(field) == true,
                    "\(body): \(String(decoding: r.body, as: UTF8.self))"
                )
            }
        }
        let tooMany = batch(ids: (1...Int64(FleetBatch.maxEvents + 1)).map { $0 })
        #expect(try await post(tooMany).status == 400)
        // A body over 16 MB is refused before it is read whole.
        let huge = #"{"node":"n1","labels":{},"events":[],"pad":""# + String(repeating: "x", count: 17 << 20) + #""}"#
        #expect(try await post(huge).status == 413)
        // The decisions' long poll checks what it is given.
        for (query, field) in [("", "node"), ("node=n1&after=-1", "after"), ("node=n1&wait=600", "wait")] {
            let r = try await agent.send("GET", "/v1/fleet/decisions?\(query)")
            let error = JSONValue.parse(String(decoding: r.body, as: UTF8.self))?["error"]
            #expect(r.status == 400 && error?["field"]?.stringValue == field, "\(query): \(r.status)")
        }
        #expect(try await control.client().send("GET", "/v1/fleet/decisions?node=n1").status == 403, "readers do not")
        // Reads refuse what the database cannot take (a NUL byte), naming the parameter.
        for (path, field) in [
            ("/v1/fleet/events?node=n1&subject=a%00b", "subject"), ("/v1/fleet/events?node=n1&type=a%00", "type"),
            ("/v1/fleet/series?node=n1&prefix=cpu%00", "prefix"), ("/v1/fleet/series?node=n1&prefix=9", "prefix"),
            ("/v1/fleet/series/cpu?node=n1&label=a=%00", "label"),
            ("/v1/fleet/events/stream?node=n1&subject=%00", "subject"),
            ("/v1/nodes/n%00", "node"), ("/v1/fleet/series?prefix=cpu", "node"),
        ] {
            let r = try await control.client().send("GET", path)
            let error = JSONValue.parse(String(decoding: r.body, as: UTF8.self))?["error"]
            #expect(r.status == 400 && error?["field"]?.stringValue == field, "\(path): \(r.status) \(r.errorMessage)")
        }
        let none = try await agent.send("GET", "/v1/fleet/decisions?node=n1&after=0&wait=0")
        #expect(none.status == 200 && String(decoding: none.body, as: UTF8.self).contains(#""decisions":[]"#))
        // A node's own credential ships only as that node; the shared one not as a node that has
        // its own.
        let nine = control.client("node-nine-secret-0123456789")
        #expect(try await post(batch(node: "n9", ids: [1]), as: nine).status == 200)
        let impersonating = try await post(batch(node: "n1", ids: [7]), as: nine)
        #expect(impersonating.status == 403 && impersonating.errorMessage.contains("belongs to node 'n9'"))
        #expect(try await post(batch(node: "n9", ids: [2])).status == 403)
        // The same batch twice: stored once.
        #expect(try await post(batch(ids: [1, 2, 3])).status == 200)
        #expect(try await post(batch(ids: [1, 2, 3])).status == 200)
        #expect(try await control.events(of: "n1").map(\.id) == [1, 2, 3])
        #expect(try await control.lastEventID(of: "n1") == 3)
        // With the database gone, a batch is a 503 (the agent keeps it and tries again), not an
        // acknowledgement.
        await pg.stop()
        let patient = WardenAPIClient(
            host: "127.0.0.1",
            port: control.port,
            token: Self.agentToken,
            timeout: .seconds(90)
        )
        let down = try await post(batch(ids: [4]), as: patient)
        #expect(down.status == 503 && down.errorMessage.contains("unavailable"), "\(down.status) \(down.errorMessage)")
        await control.kill(SIGTERM)
    }
}

/// The database primary dies under load: the control plane finds the promoted standby, and the
/// fleet's copy of the node's events is still exactly the node's.
@Suite("The fleet across a database failover", .timeLimit(.minutes(5)))
struct FleetFailoverTests {
    init() { becomeSubreaper() }

    @Test func nothingAcknowledgedIsLostWhenThePrimaryDies() async throws {
        let primary = try await PostgresServer("warden-pg-primary")
        try await primary.createDatabase("fleet")
        let standby = try await PostgresServer(standbyOf: primary)
        let database = "postgres://\(primary.user)@127.0.0.1:\(primary.port),127.0.0.1:\(standby.port)/fleet"
        let control = try FleetLiveTests.Control(database: database, port: freePort())
        let f = FleetLiveTests.flappingNode([control.port])
        let agent = try f.start()
        try await eventually("the control plane has the node's first 40 events", timeout: .seconds(60)) {
            (try await control.lastEventID(of: "edge-1") ?? 0) >= 40
        }
        // The primary dies mid-stream; the standby (synchronous: it has every commit) takes over.
        primary.crash()
        try await standby.promote()
        let atFailover = try await f.events().last?.id ?? 0
        try await eventually("the node records 40 more events", timeout: .seconds(60)) {
            (try await f.events().last?.id ?? 0) >= atFailover + 40
        }
        let target = try await f.events().last?.id ?? 0
        try await eventually("the control plane ships on to the new primary", timeout: .seconds(90)) {
            (try await control.lastEventID(of: "edge-1") ?? 0) >= target
        }
        #expect(try await agent.stop() == .exited(0))
        let local = try await FleetLiveTests.recorded(f)
        try await eventually("the fleet holds every event of the node") {
            (try await control.lastEventID(of: "edge-1") ?? 0) == local.last?.id
        }
        let rows = try await standby.psql(
            "SELECT id || '|' || time || '|' || type FROM events WHERE node = 'edge-1' ORDER BY id",
            database: "fleet"
        ).split(separator: "\n").map(String.init)
        let expected = local.map {
            "\($0.id)|\(Int64(($0.time.timeIntervalSince1970 * 1_000_000).rounded()))|\($0.type)"
        }
        #expect(rows.count == expected.count, "no event missing, none twice")
        #expect(rows == expected)
        await control.kill(SIGTERM)
        await standby.stop()
    }
}

/// Two control-plane replicas over one database: one is killed under load, and the agent carries
/// on with the other.
@Suite("The fleet across a control-plane replica's death", .timeLimit(.minutes(5)))
struct FleetReplicaTests {
    init() { becomeSubreaper() }

    @Test func anAgentCarriesOnWithAnotherReplica() async throws {
        let pg = try await PostgresServer()
        try await pg.createDatabase("fleet")
        let database = "postgres://\(pg.user)@127.0.0.1:\(pg.port)/fleet"
        let first = try FleetLiveTests.Control(database: database, port: freePort())
        let second = try FleetLiveTests.Control(database: database, port: freePort())
        let f = FleetLiveTests.flappingNode([first.port, second.port])
        let agent = try f.start()
        try await eventually("the fleet has the node's first 30 events", timeout: .seconds(60)) {
            (try await second.lastEventID(of: "edge-1") ?? 0) >= 30
        }
        // The replica the agent talks to first dies; the other serves the same database.
        await first.kill(SIGKILL)
        let atDeath = try await f.events().last?.id ?? 0
        // Two waits, each on what it is about: the node writes 40 events more (its pace is the
        // machine's), then the other replica has them (the agent's part).
        try await eventually("the node records 40 events more", timeout: .seconds(90)) {
            (try await f.events().last?.id ?? 0) >= atDeath + 40
        }
        let target = try await f.events().last?.id ?? 0
        do {
            try await eventually("the fleet has them, through the other replica", timeout: .seconds(90)) {
                (try await second.lastEventID(of: "edge-1") ?? 0) >= target
            }
        } catch {
            let seen = (try? await second.lastEventID(of: "edge-1")).flatMap { $0 }
            Issue.record(
                "\(error); the other replica has up to \(seen.map(String.init) ?? "nothing"), the node \(target); the agent said: \(agent.output.suffix(3000))"
            )
            throw error
        }
        #expect(try await agent.stop() == .exited(0))
        let local = try await FleetLiveTests.recorded(f)
        try await eventually("the fleet holds every event of the node") {
            (try await second.lastEventID(of: "edge-1") ?? 0) == local.last?.id
        }
        #expect(try await second.events(of: "edge-1").map(\.id) == local.map(\.id), "none missing, none twice")
        await second.kill(SIGTERM)
        await pg.stop()
    }
}

/// A ban decided on one node is applied on the others within about a second, each node's own
/// allowlist still wins, and lifting it on the node that decided lifts it everywhere.
@Suite("Fleet bans", .timeLimit(.minutes(5)))
struct FleetBanTests {
    init() { becomeSubreaper() }

    /// The addresses banned on a node now.
    func banned(_ f: Fixture) async throws -> [String] {
        let r = try await f.client().send("GET", "/v1/bans")
        guard r.status == 200, let bans = JSONValue.parse(String(decoding: r.body, as: UTF8.self))?["bans"],
            case .array(let list) = bans
        else { return [] }
        return list.compactMap { $0["address"]?.stringValue }
    }

    @Test func aBanOnOneNodeReachesTheOthersAndItsLiftToo() async throws {
        let (pg, control) = try await FleetLiveTests.fleet()
        func node(_ name: String, allow: String = "[]") -> Fixture {
            FleetLiveTests.agent(name, of: control, "defense: { firewall: dry-run, allow: \(allow) }\nservices: {}\n")
        }
        let a = node("edge-a")
        let b = node("edge-b")
        // edge-c allows the address: its own allowlist wins over the fleet.
        let c = node("edge-c", allow: "[198.51.100.0/24]")
        let processes = try [a.start(), b.start(), c.start()]
        for f in [a, b, c] {
            try await eventually("\(f.config) is up") { (try? await f.client().send("GET", "/healthz"))?.status == 200 }
        }
        for name in ["edge-a", "edge-b", "edge-c"] {
            try await eventually("\(name) has called the control plane") {
                try await control.lastEventID(of: name) != nil
            }
        }
        // A person bans an address on edge-a.
        let body = Data(#"{"address": "198.51.100.7", "for": "1h", "reason": "scanning"}"#.utf8)
        let banned = try await a.client().send("POST", "/v1/bans", body: body)
        #expect(banned.status == 200 || banned.status == 201, "\(banned.errorMessage)")
        // (How fast is measured by bench/fleet, not here.)
        try await eventually("edge-b bans it too", timeout: .seconds(30)) {
            try await self.banned(b).contains("198.51.100.7")
        }
        let onB = try await b.client().send("GET", "/v1/bans")
        #expect(String(decoding: onB.body, as: UTF8.self).contains("decided on edge-a"))
        // edge-c refuses it (its allowlist), and says so.
        try await eventually("edge-c refuses it") {
            try await c.events("--type", "ban.refused").contains { $0.subject == "198.51.100.7" }
        }
        #expect(try await self.banned(c).isEmpty)
        // Lifting on edge-a lifts it on edge-b.
        #expect(try await a.client().send("DELETE", "/v1/bans/198.51.100.7").status == 200)
        try await eventually("edge-b lifts it", timeout: .seconds(20)) {
            try await !self.banned(b).contains("198.51.100.7")
        }
        // The fleet's ban and lift on edge-b are not decisions of their own: edge-a is not banned
        // again by its own echo.
        try await Task.sleep(for: .seconds(1))
        #expect(try await self.banned(a).isEmpty)
        for p in processes { #expect(try await p.stop() == .exited(0)) }
        await control.kill(SIGTERM)
        await pg.stop()
    }
}
