import Foundation
import Logging
import PostgresNIO
import Synchronization
import WardenCore
import WardenStore

/// Warden's store on PostgreSQL: the same ``Store``, ``BanStore`` and ``IncidentStore`` as the
/// embedded SQLite store, for a fleet whose nodes share one database.
///
/// Every row belongs to a node (`node`): event ids are unique per node, so two nodes never
/// collide in one database, and each node's reads see its own rows. A write returns once its
/// transaction is committed. The schema is created and migrated at ``open(_:node:logger:)``,
/// under an advisory lock so that several processes may open the same database at once.
public final class PostgresStore: Store, BanStore, IncidentStore {
    public let node: String
    let client: PostgresClient
    let logger: Logger
    private let running: Task<Void, Never>
    let seriesCache = SeriesCache()
    let clock: any WardenClock
    /// Where the store connects (a listener for new jobs opens a connection of its own).
    let configuration: PostgresClient.Configuration
    let jobBell = JobBell()
    let jobListener = Mutex<(task: Task<Void, Never>?, closed: Bool)>((nil, false))

    /// Connects to the database of `configuration`, migrates it, and loads this node's series.
    ///
    /// - Throws: ``WardenError`` with code `.store` when the database cannot be reached or
    ///   migrated, saying where it tried.
    /// - Parameter timeout: how long to wait for the database to answer at all (the client
    ///   retries a connection that fails until then).
    public static func open(
        _ configuration: PostgresClient.Configuration,
        node: String,
        timeout: Duration = .seconds(10),
        clock: any WardenClock = SystemClock(),
        logger: Logger = defaultLogger
    ) async throws -> PostgresStore {
        let store = PostgresStore(configuration, node: node, clock: clock, logger: logger)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await store.migrate()
                    try await store.loadSeries()
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw NoAnswer(timeout: timeout)
                }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            try? await store.close()
            let place = "\(configuration.host ?? configuration.unixSocketPath ?? "?"):\(configuration.port ?? 5432)"
            throw WardenError(
                .store,
                "cannot open the PostgreSQL database at \(place)/\(configuration.database ?? ""): \(Self.describe(error))",
                cause: error
            )
        }
        return store
    }

    private init(
        _ configuration: PostgresClient.Configuration,
        node: String,
        clock: any WardenClock,
        logger: Logger
    ) {
        self.node = node
        self.clock = clock
        self.configuration = configuration
        self.logger = logger
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        running = Task { await client.run() }
    }

    public func close() async throws {
        jobListener.withLock {
            $0.closed = true
            $0.task?.cancel()
        }
        running.cancel()
        _ = await running.value
    }

    /// The logger of a store that is given none: the client's retries of a failing connection
    /// are information, not warnings, so only warnings and worse.
    public static var defaultLogger: Logger {
        var logger = Logger(label: "warden.postgres")
        logger.logLevel = .warning
        return logger
    }

    /// The database did not answer in time.
    struct NoAnswer: Error, CustomStringConvertible {
        var timeout: Duration
        var description: String {
            "no answer within \(DurationFormat.format(timeout)); check that the server runs, listens on that address and accepts this user"
        }
    }

    /// What PostgreSQL said, without the binding details of the query.
    package static func describe(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            if let message = e.serverInfo?[.message] { return message }
            return "\(e.code)"
        }
        return "\(error)"
    }

    // MARK: - Events

    public func append(_ events: [Event]) async throws {
        try await append(events, node: node)
    }

    /// Records events of `node` (the control plane stores what each agent ships); a replayed
    /// event (the same node and id) replaces itself, so shipping twice stores once.
    public func append(_ events: [Event], node: String) async throws {
        guard !events.isEmpty else { return }
        try await client.query(Self.appendQuery(events, node: node), logger: logger)
    }

    /// The channel on which new fleet decisions are announced.
    public static let decisionChannel = "warden_decisions"

    static func appendQuery(_ events: [Event], node: String) -> PostgresQuery {
        let ids = events.map(\.id)
        let times = events.map { StoreValues.micros($0.time) }
        let types = events.map(\.type)
        let sources = events.map(\.source)
        let subjects = events.map(\.subject)
        let payloads = events.map(\.payload.jsonText)
        // One statement for the whole batch; a replayed event (the same node and id) replaces itself.
        return """
            INSERT INTO events (node, id, time, type, source, subject, payload)
            SELECT \(node), * FROM unnest(\(ids)::bigint[], \(times)::bigint[], \(types)::text[], \(sources)::text[],
                \(subjects)::text[], \(payloads)::text[])
            ON CONFLICT (node, id) DO UPDATE SET time = excluded.time, type = excluded.type, source = excluded.source,
                subject = excluded.subject, payload = excluded.payload
            """
    }

    public func events(matching q: EventQuery) async throws -> [Event] {
        try await events(matching: q, node: node)
    }

    /// The events of `node`.
    public func events(matching q: EventQuery, node: String) async throws -> [Event] {
        var sql = "SELECT id, time, type, source, subject, payload FROM events WHERE node = $1"
        var binds = PostgresBindings()
        binds.append(node)
        func bind(_ value: some PostgresDynamicTypeEncodable) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }
        if let since = q.since { sql += " AND time >= \(bind(StoreValues.micros(since)))" }
        if let until = q.until { sql += " AND time < \(bind(StoreValues.micros(until)))" }
        if let subject = q.subject { sql += " AND subject = \(bind(subject))" }
        if let after = q.afterID { sql += " AND id > \(bind(after))" }
        if let before = q.beforeID { sql += " AND id < \(bind(before))" }
        if !q.types.isEmpty && !q.types.contains("*") {
            let alternatives = q.types.map { t -> String in
                guard t.hasSuffix(".*") else { return "type = \(bind(t))" }
                // A prefix range that can use the (node, type, id) index.
                let prefix = String(t.dropLast(1))
                return "(type >= \(bind(prefix)) AND type < \(bind(prefix + "\u{10FFFF}")))"
            }
            sql += " AND (" + alternatives.joined(separator: " OR ") + ")"
        }
        sql += q.newestFirst ? " ORDER BY id DESC" : " ORDER BY id"
        sql += " LIMIT \(bind(Int64(max(0, q.limit))))"
        var events: [Event] = []
        let rows = try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        for try await (id, time, type, source, subject, payload) in rows.decode(
            (Int64, Int64, String, String, String, String).self
        ) {
            events.append(
                Event(
                    id: id,
                    time: StoreValues.date(time),
                    type: type,
                    source: source,
                    subject: subject,
                    payload: JSONValue.parse(payload) ?? .null
                )
            )
        }
        return events
    }

    public func lastEventID() async throws -> Int64 {
        try await lastEventID(node: node)
    }

    /// The highest event id stored for `node`, or 0.
    public func lastEventID(node: String) async throws -> Int64 {
        try await one("SELECT COALESCE(MAX(id), 0)::bigint FROM events WHERE node = \(node)", Int64.self) ?? 0
    }

    /// Deletes every node's events older than `cutoff` (the fleet's retention), in one statement.
    public func deleteEventsOfEveryNode(before cutoff: Date) async throws -> Int {
        try await one(
            """
            WITH gone AS (DELETE FROM events WHERE time < \(StoreValues.micros(cutoff)) RETURNING 1)
            SELECT COUNT(*)::bigint FROM gone
            """,
            Int64.self
        ).map(Int.init) ?? 0
    }

    public func deleteEvents(before cutoff: Date, upTo: Int64?, sparingRecords: Bool) async throws -> Int {
        let spared = sparingRecords ? RecordKinds.all : []
        return try await one(
            """
            WITH gone AS (
                DELETE FROM events WHERE node = \(node) AND time < \(StoreValues.micros(cutoff))
                    AND id <= \(upTo ?? Int64.max) AND NOT (split_part(type, '.', 1) = ANY(\(spared)::text[]))
                RETURNING 1
            )
            SELECT COUNT(*)::bigint FROM gone
            """,
            Int64.self
        ).map(Int.init) ?? 0
    }

    // MARK: - Blobs

    /// A named value saved by a component of this node (model state, for example).
    public func blob(_ key: String) async throws -> Data? {
        try await one("SELECT data FROM blobs WHERE node = \(node) AND key = \(key)", ByteBuffer.self).map {
            Data(buffer: $0)
        }
    }

    /// Saves (replaces) a named value, durably.
    public func setBlob(_ key: String, _ data: Data) async throws {
        try await client.query(
            """
            INSERT INTO blobs (node, key, data, saved) VALUES (\(node), \(key), \(ByteBuffer(data: data)),
                \(StoreValues.micros(clock.wallTime())))
            ON CONFLICT (node, key) DO UPDATE SET data = excluded.data, saved = excluded.saved
            """,
            logger: logger
        )
    }

    // MARK: - Helpers

    /// The first column of the first row, if any.
    func one<T: PostgresDecodable & Sendable>(_ query: PostgresQuery, _: T.Type) async throws -> T?
    where T._DecodableType == T {
        let rows = try await client.query(query, logger: logger)
        for try await value in rows.decode(T?.self) { return value }
        return nil
    }
}
