import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOCore
import PostgresNIO
import ServiceLifecycle
import WardenCore
import WardenFleet
import WardenPostgres
import WardenServer
import WardenStore

/// The fleet's control plane: a stateless HTTP server over one PostgreSQL database. Agents ship
/// their events to it; people read every node from it. Any number of replicas may serve the same
/// database behind any load balancer (or be listed in each agent's spec): a replica keeps nothing
/// that another needs.
public struct ControlPlane: Sendable {
    public struct Settings: Sendable {
        public var host: String
        public var port: Int
        /// A credential any node may ship with (nil: only the nodes' own).
        public var agentToken: Secret?
        /// Each node's own credential: with it, a node ships only as itself, and a node that
        /// has none may not ship with another's.
        public var nodeTokens: [String: Secret]
        /// Tokens of the people (and tools) that read the fleet.
        public var tokens: [TokenSpec]
        /// The largest batch body accepted.
        public var maxBody = 16 << 20
        /// A series query reads at most this many series, and this many points in all.
        public var maxQuerySeries = 1000
        public var maxQueryPoints = 500_000
        /// HTTPS with this certificate and key (read again when they change), when set.
        public var tls: TLSCertificates?

        public init(
            host: String,
            port: Int,
            agentToken: Secret?,
            nodeTokens: [String: Secret] = [:],
            tokens: [TokenSpec]
        ) {
            self.host = host
            self.port = port
            self.agentToken = agentToken
            self.nodeTokens = nodeTokens
            self.tokens = tokens
        }
    }

    /// The name the shared agent credential is known by in the audit trail and in 403s.
    static let agentIdentity = "agents"
    /// The prefix of a node's own credential's name: `agent:edge-1`.
    static let nodePrefix = "agent:"

    public let settings: Settings
    public let database: FailoverStore
    let bell = DecisionBell()
    let cache = DecisionCache()
    let followers = NodeBells()
    public let clock: any WardenClock
    public let logger: Logger

    public init(settings: Settings, database: FailoverStore, clock: any WardenClock = SystemClock(), logger: Logger) {
        self.settings = settings
        self.database = database
        self.clock = clock
        self.logger = logger
    }

    public func router() -> Router<APIContext> {
        let router = Router(context: APIContext.self)
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: MethodNotAllowedMiddleware())
        var agents = settings.nodeTokens.sorted { $0.key < $1.key }.map { node, secret in
            TokenSpec(name: Self.nodePrefix + node, role: .operator, reference: "node token", secret: secret)
        }
        if let shared = settings.agentToken {
            agents.append(
                TokenSpec(name: Self.agentIdentity, role: .operator, reference: "agent token", secret: shared)
            )
        }
        router.add(
            middleware: AuthMiddleware(tokens: agents + settings.tokens, anonymousRead: false, clock: clock)
        )
        router.get("/healthz") { _, _ in APIServer.text("ok\n", contentType: "text/plain") }
        router.post("/v1/fleet/events") { request, context -> Response in
            let who = try context.require(.operator, write: true)
            guard who.name == Self.agentIdentity || who.name.hasPrefix(Self.nodePrefix) else {
                throw APIError(.forbidden, "forbidden", "only agents ship events (with an agent or node token)")
            }
            let body = try await collect(request)
            let batch: FleetBatch
            switch FleetBatch.parse(Array(buffer: body)) {
            case .success(let parsed): batch = parsed
            case .failure(let problem):
                throw APIError.badRequest("the body is not a fleet batch: \(problem.message)", field: problem.field)
            }
            let now = clock.wallTime()
            if let (field, message) = batch.problem(now: now) { throw APIError.badRequest(message, field: field) }
            try authorize(who, as: batch.node)
            let address = context.remoteAddress
            let events = batch.events.map(\.event)
            let samples = batch.samples?.rows
            // One transaction: the contact, the events with the states and fleet decisions among
            // them (a ban or lift this node decided becomes every other node's, fetched by their
            // long polls), and the telemetry.
            let position = try await stored { store in
                try await store.ingest(
                    events,
                    samples: samples,
                    node: batch.node,
                    labels: batch.labels,
                    address: address,
                    at: now
                )
            }
            if !events.isEmpty { followers.ring(batch.node) }
            let ack = FleetAck(
                stored: batch.events.count,
                lastID: batch.events.last?.id ?? 0,
                samplesLastID: samples == nil ? nil : position
            )
            return try APIServer.json(ack)
        }
        // A node's decisions, held open until there is one (or `wait` seconds pass): a ban made
        // on one node reaches the others as soon as it is stored, whichever replica they wait on.
        router.get("/v1/fleet/decisions") { request, context -> Response in
            let who = try context.require(.operator)
            let params = request.uri.queryParameters
            guard let node = params["node"].map(String.init), FleetNames.isValid(node) else {
                throw APIError.badRequest("give the node: ?node=NAME", field: "node")
            }
            try authorize(who, as: node)
            var after: Int64 = 0
            if let text = params["after"] {
                guard let id = Int64(text), id >= 0 else {
                    throw APIError.badRequest("found '\(text.prefix(40))'; expected a decision id", field: "after")
                }
                after = id
            }
            let wait = try APIServer.intParameter(params, "wait", default: 0, range: 0...60)
            let since = after
            let deadline = ContinuousClock.now + .seconds(wait)
            while true {
                let seen = bell.version
                let now = clock.wallTime()
                // One read per ring for every agent asking after the same id; each gets the others'.
                let all = try await cache.decisions(after: since, version: seen) {
                    try await stored { try await $0.decisions(after: since, for: nil, now: now) }
                }
                let found = all.filter { $0.origin != node }
                let remaining = deadline - ContinuousClock.now
                if !found.isEmpty || remaining <= .zero || bell.isClosed {
                    return try APIServer.json(["decisions": found.map { Self.wire($0, now: now) }])
                }
                await bell.wait(after: seen, timeout: remaining)
            }
        }
        // A node that follows a spec repository in waves asks before it applies a commit.
        router.post("/v1/fleet/rollouts/admit") { request, context -> Response in
            let who = try context.require(.operator, write: true)
            let buffer = try await request.body.collect(upTo: 4096)
            guard let body = JSONValue.parse(String(buffer: buffer)), case .object = body else {
                throw APIError.badRequest(
                    "the body must be a JSON object: {\"node\", \"group\", \"commit\", \"share\"}"
                )
            }
            guard let node = body["node"]?.stringValue, FleetNames.isValid(node) else {
                throw APIError.badRequest("a node name", field: "node")
            }
            try authorize(who, as: node)
            guard let group = body["group"]?.stringValue, group.utf8.count == 64,
                group.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
            else {
                throw APIError.badRequest("the group: 64 lowercase hex digits (a SHA-256)", field: "group")
            }
            guard let commit = body["commit"]?.stringValue, RolloutAnswer.isCommitID(commit) else {
                throw APIError.badRequest("a commit id: 40 or 64 lowercase hex digits", field: "commit")
            }
            guard let share = body["share"]?.doubleValue, share.isFinite, share > 0, share <= 1 else {
                throw APIError.badRequest("the first wave's share: a number above 0 and at most 1", field: "share")
            }
            let now = clock.wallTime()
            let answer = try await stored { store in
                try await store.admit(
                    node: node,
                    group: group,
                    commit: commit,
                    share: share,
                    now: now,
                    aliveSince: now.addingTimeInterval(-300)
                )
            }
            return try APIServer.json(answer)
        }
        addReadRoutes(router)
        return router
    }

    /// A node's own credential speaks only for that node; the shared one not for a node that has
    /// a credential of its own.
    func authorize(_ who: Identity, as node: String) throws {
        if who.name.hasPrefix(Self.nodePrefix) {
            let owner = String(who.name.dropFirst(Self.nodePrefix.count))
            guard owner == node else {
                throw APIError(
                    .forbidden,
                    "forbidden",
                    "this credential belongs to node '\(owner)', not '\(node.prefix(80))'",
                    field: "node"
                )
            }
        } else if who.name != Self.agentIdentity {
            throw APIError(
                .forbidden,
                "forbidden",
                "only agents ship and fetch decisions (with an agent or node token)"
            )
        } else if settings.nodeTokens[node] != nil {
            throw APIError(.forbidden, "forbidden", "node '\(node)' has a credential of its own; use it", field: "node")
        }
    }

    /// A stored decision as agents receive it: a ban for what is left of it.
    static func wire(_ d: StoredDecision, now: Date) -> FleetDecision {
        FleetDecision(
            id: d.id,
            kind: d.kind == "lift" ? .lift : .ban,
            address: d.address,
            seconds: d.until.map { max(1, Int64($0.timeIntervalSince(now).rounded(.up))) },
            reason: d.reason,
            origin: d.origin
        )
    }

    /// How long the routes' work on the database takes (`warden_control_database_seconds`).
    static let databaseTime = Metrics.Timer(label: "warden_control_database_seconds")

    /// Runs `work` on the database; when no writable host can be found in time, the answer is
    /// 503 (agents keep their events and try again).
    func stored<T: Sendable>(_ work: @escaping @Sendable (PostgresStore) async throws -> T) async throws -> T {
        let start = ContinuousClock.now
        defer { Self.databaseTime.recordNanoseconds((ContinuousClock.now - start).nanoseconds) }
        do {
            return try await database.run(work)
        } catch let error as PSQLError where error.serverInfo?[.sqlState]?.hasPrefix("22") == true {
            // A data exception: a value the database cannot take (what the routes check should
            // have refused it first).
            throw APIError.badRequest("a value the database cannot take: \(PostgresStore.describe(error))")
        } catch let error as WardenError where error.code == .store {
            logger.error("the database is unavailable", metadata: ["warden.error": "\(error.message)"])
            throw APIError(.serviceUnavailable, "unavailable", "the fleet's database is unavailable; try again")
        }
    }

    func collect(_ request: Request) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: settings.maxBody)
        } catch {
            throw APIError(
                .contentTooLarge,
                "too_large",
                "the batch is larger than \(ByteSize.format(Int64(settings.maxBody)))"
            )
        }
    }

    /// What runs besides the server: the listener that wakes long-polling agents. Put it after
    /// the server in a service group, so that it stops first and ends the long polls before the
    /// server waits for its open requests.
    public func listener() -> some Service {
        DecisionListener(database: database, bell: bell, followers: followers, logger: logger)
    }

    /// The control plane as a Service, listening where its settings say.
    public func application() -> some ApplicationProtocol & Service {
        QuietApplication(
            responder: router().buildResponder(),
            server: .http1(configuration: .init(), tls: settings.tls),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "warden-control"),
            logger: logger
        )
    }
}

extension FleetSamples {
    /// The points as the store takes them.
    var rows: SequencedSamples {
        SequencedSamples(
            series: series,
            points: points.map { .init(series: $0.series, id: $0.id, time: $0.timeUs, value: $0.value) }
        )
    }
}
