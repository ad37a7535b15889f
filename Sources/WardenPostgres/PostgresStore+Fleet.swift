import Foundation
import PostgresNIO
import WardenCore
import WardenStore

/// What the fleet knows of a node beyond its events, kept as agents ship: each service's state,
/// each incident's status and each address's ban, as of the latest event about it. It is drawn
/// from the events in the same transaction that stores them, so it is never behind them, and an
/// event shipped twice (or late) never moves a state backwards.
public struct NodeState: Sendable, Hashable, Codable {
    public var services: [ServiceState]
    public var incidents: [IncidentState]
    public var bans: [BanState]

    public init(services: [ServiceState] = [], incidents: [IncidentState] = [], bans: [BanState] = []) {
        self.services = services
        self.incidents = incidents
        self.bans = bans
    }

    public struct ServiceState: Sendable, Hashable, Codable {
        public var name: String
        /// `starting`, `running`, `exited`, `backoff`, `stopping`, `stopped`, `failed` or `rebuilding`.
        public var state: String
        /// The event that put it there.
        public var event: String
        public var since: Date
    }

    public struct IncidentState: Sendable, Hashable, Codable {
        public var id: String
        public var target: String
        public var title: String
        /// The latest incident event: `incident.opened`, `incident.escalated`, ….
        public var status: String
        public var opened: Date
        public var updated: Date
    }

    public struct BanState: Sendable, Hashable, Codable {
        public var address: String
        public var reason: String
        public var since: Date
        public var until: Date
    }
}

/// A node's counts in the fleet's list.
public struct NodeCounts: Sendable, Hashable, Codable {
    public var services = 0
    /// Services whose latest state is `failed`.
    public var failed = 0
    public var openIncidents = 0
    public var activeBans = 0

    public init(services: Int = 0, failed: Int = 0, openIncidents: Int = 0, activeBans: Int = 0) {
        self.services = services
        self.failed = failed
        self.openIncidents = openIncidents
        self.activeBans = activeBans
    }

    enum CodingKeys: String, CodingKey {
        case services, failed
        case openIncidents = "open_incidents"
        case activeBans = "active_bans"
    }
}

extension PostgresStore {
    /// The state a service event leaves it in; events that are not about its state are absent.
    static let serviceStates: [String: String] = [
        EventType.serviceStarting: "starting",
        EventType.serviceStarted: "starting",
        EventType.serviceAdopted: "running",
        EventType.serviceReady: "running",
        EventType.serviceExited: "exited",
        EventType.serviceKilled: "exited",
        EventType.serviceRestarting: "backoff",
        EventType.serviceStopping: "stopping",
        EventType.serviceStopped: "stopped",
        EventType.serviceFailed: "failed",
        EventType.serviceSpawnFailed: "failed",
        EventType.serviceRebuilding: "rebuilding",
    ]

    /// Incident events after which it is closed.
    static let closedIncident = ["incident.resolved", "incident.cancelled", "incident.dry_run"]

    /// What `node`'s services, open incidents and bans in force are, as of its latest events.
    public func state(of node: String, now: Date) async throws -> NodeState {
        var state = NodeState()
        let rows = try await client.query(
            """
            SELECT kind, key, subject, type, since, time, until, detail FROM fleet_state
            WHERE node = \(node) AND (
                kind = 'service'
                OR (kind = 'incident' AND NOT (type = ANY(\(Self.closedIncident)::text[])))
                OR (kind = 'ban' AND type = 'ban.applied' AND until > \(StoreValues.micros(now))))
            ORDER BY kind, key
            LIMIT 10000
            """,
            logger: logger
        )
        for try await (kind, key, subject, type, since, time, until, detail) in rows.decode(
            (String, String, String, String, Int64, Int64, Int64, String).self
        ) {
            switch kind {
            case "service":
                state.services.append(
                    .init(name: key, state: type, event: detail, since: StoreValues.date(time))
                )
            case "incident":
                state.incidents.append(
                    .init(
                        id: key,
                        target: subject,
                        title: detail,
                        status: type,
                        opened: StoreValues.date(since),
                        updated: StoreValues.date(time)
                    )
                )
            default:
                state.bans.append(
                    .init(address: key, reason: detail, since: StoreValues.date(time), until: StoreValues.date(until))
                )
            }
        }
        return state
    }

    /// Every node's counts, by name.
    public func counts(now: Date) async throws -> [String: NodeCounts] {
        var result: [String: NodeCounts] = [:]
        let rows = try await client.query(
            """
            SELECT node,
                COUNT(*) FILTER (WHERE kind = 'service')::bigint,
                COUNT(*) FILTER (WHERE kind = 'service' AND type = 'failed')::bigint,
                COUNT(*) FILTER (WHERE kind = 'incident' AND NOT (type = ANY(\(Self.closedIncident)::text[])))::bigint,
                COUNT(*) FILTER (WHERE kind = 'ban' AND type = 'ban.applied' AND until > \(StoreValues.micros(now)))::bigint
            FROM fleet_state GROUP BY node
            """,
            logger: logger
        )
        for try await (node, services, failed, incidents, bans) in rows.decode(
            (String, Int64, Int64, Int64, Int64).self
        ) {
            result[node] = NodeCounts(
                services: Int(services),
                failed: Int(failed),
                openIncidents: Int(incidents),
                activeBans: Int(bans)
            )
        }
        return result
    }

    // MARK: - Shipped telemetry

    /// Stores the points of `samples` that `node` has not shipped before, in the caller's
    /// transaction, and returns the highest point id stored for the node.
    static func storeSamples(
        _ samples: SequencedSamples,
        node: String,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Int64 {
        try await connection.query(
            "INSERT INTO fleet_positions (node, kind, position) VALUES (\(node), 'samples', 0) ON CONFLICT DO NOTHING",
            logger: logger
        )
        var position: Int64 = 0
        // The row lock orders two replicas storing the same node's batch at once.
        for try await p in try await connection.query(
            "SELECT position FROM fleet_positions WHERE node = \(node) AND kind = 'samples' FOR UPDATE",
            logger: logger
        ).decode(Int64.self) {
            position = p
        }
        let fresh = samples.points.filter { $0.id > position }
        guard let last = fresh.last?.id else { return position }
        // Shared with other appends, exclusive with the rollup: the watermark holds until commit.
        try await connection.query("SELECT pg_advisory_xact_lock_shared(7070002, hashtext(\(node)))", logger: logger)
        let used = Set(fresh.map(\.series)).sorted()
        let names = used.map { samples.series[$0].name }
        let labels = used.map { StoreValues.labelsText(samples.series[$0]) }
        try await connection.query(
            """
            INSERT INTO series (node, name, labels) SELECT \(node), * FROM unnest(\(names)::text[], \(labels)::text[])
            ON CONFLICT (node, name, labels) DO NOTHING
            """,
            logger: logger
        )
        var ids: [String: Int64] = [:]
        for try await (id, name, text) in try await connection.query(
            """
            SELECT id, name, labels FROM series WHERE node = \(node)
                AND (name, labels) IN (SELECT * FROM unnest(\(names)::text[], \(labels)::text[]))
            """,
            logger: logger
        ).decode((Int64, String, String).self) {
            ids[name + "\u{0}" + text] = id
        }
        var seriesIDs: [Int64] = []
        var times: [Int64] = []
        var values: [Double] = []
        seriesIDs.reserveCapacity(fresh.count)
        times.reserveCapacity(fresh.count)
        values.reserveCapacity(fresh.count)
        for p in fresh {
            let key = samples.series[p.series]
            guard let id = ids[key.name + "\u{0}" + StoreValues.labelsText(key)] else {
                throw WardenError(.store, "series \(key.text) was not created")
            }
            seriesIDs.append(id)
            times.append(p.time)
            values.append(p.value)
        }
        // A node that was away ships points of minutes the control plane has rolled up already.
        try await PostgresStore.insertPoints(
            series: seriesIDs,
            times: times,
            values: values,
            node: node,
            on: connection,
            logger: logger
        )
        try await connection.query(
            "UPDATE fleet_positions SET position = \(last) WHERE node = \(node) AND kind = 'samples'",
            logger: logger
        )
        return last
    }
}
