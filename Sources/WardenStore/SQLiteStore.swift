import Foundation
internal import GRDB
import WardenCore

/// The embedded store: one SQLite file in WAL mode, written by one batching writer.
///
/// Readers never block the writer and the writer never blocks readers. With `synchronous=NORMAL`
/// (the default here) a commit survives the process being killed; `durability: .full` also
/// survives a power cut at the cost of an fsync per transaction.
public final class SQLiteStore: Store {
    /// What an acknowledged write survives (`store: { durability: normal | full }`).
    public enum Durability: String, Sendable, Equatable, CaseIterable {
        /// A crash of Warden (kill -9): WAL with synchronous=NORMAL.
        case normal
        /// A crash of the machine or a power loss too: synchronous=FULL, an fsync per commit.
        case full
    }

    /// The database file.
    public let path: String
    let pool: DatabasePool
    let clock: any WardenClock
    private let eventWriter: GroupCommit<Event>
    let sampleWriter: GroupCommit<SampleBatch>
    let seriesCache = SeriesCache()
    let auditBell = AuditBell()
    let jobBell = JobBell()
    private let checkpointer: WALCheckpointer?

    /// Opens (creating if needed) the database at `path` and migrates it to the current schema.
    ///
    /// - Throws: ``WardenError`` with code `.store` when the file cannot be opened or migrated,
    ///   saying why and what to check.
    /// - Parameter clock: the time saved with a blob.
    public init(
        path: String,
        durability: Durability = .normal,
        readOnly: Bool = false,
        clock: any WardenClock = SystemClock()
    ) throws {
        self.path = path
        self.clock = clock
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.readonly = readOnly
        config.label = "warden"
        config.prepareDatabase { db in
            if !db.configuration.readonly {
                try db.execute(sql: durability == .full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL")
                // The writer keeps the hot index pages in memory (32 MiB) instead of re-reading
                // them from the OS for every batch, and checkpoints the WAL in larger steps.
                try db.execute(sql: "PRAGMA cache_size = -32768")
                // Checkpoints normally run in the background (WALCheckpointer); this is the
                // safety net should it fall behind (about 160 MiB of WAL).
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 40000")

            }
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
            if !readOnly {
                // The pool sets synchronous=NORMAL when it turns on WAL, after prepareDatabase.
                if durability == .full {
                    try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
                }
                try Self.migrator.migrate(pool)
            }
        } catch {
            throw WardenError(
                .store,
                "cannot open the database at \(path); check that the state directory is writable and the file is not corrupt",
                cause: error
            )
        }
        let pool = self.pool
        let bell = auditBell
        eventWriter = GroupCommit(label: "warden.store.events") { events in
            if try pool.write({ db in try Self.insert(events, db) }) > 0 { bell.ring() }
        }
        let cache = seriesCache
        do {
            try pool.read { db in try Self.loadSeries(into: cache, db) }
        } catch {
            throw WardenError(.store, "cannot read the series of \(path)", cause: error)
        }
        checkpointer = readOnly ? nil : WALCheckpointer(path: path)
        sampleWriter = GroupCommit(label: "warden.store.samples", maxBatch: 64) { batches in
            do {
                let created = try pool.write { db in try Self.insert(batches, cache: cache, db) }
                cache.commit(created)
            } catch {
                cache.unreserve(batches.lazy.flatMap(\.series))
                throw error
            }
        }
    }

    /// The writer's `PRAGMA synchronous` (1 = NORMAL, 2 = FULL), to check what a commit survives.
    public func synchronousLevel() async throws -> Int {
        try await pool.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    public func append(_ events: [Event]) async throws {
        try await eventWriter.submit(events)
    }

    public func events(matching query: EventQuery) async throws -> [Event] {
        try await pool.read { db in try Self.fetch(query, db) }
    }

    /// ``lastEventID()`` without suspending, for start-up code.
    public func lastEventIDSync() throws -> Int64 {
        try pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM events") ?? 0 }
    }

    public func lastEventID() async throws -> Int64 {
        try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM events") ?? 0 }
    }

    public func deleteEvents(before cutoff: Date, upTo: Int64?, sparingRecords: Bool) async throws -> Int {
        let micros = Self.micros(cutoff)
        let last = upTo ?? Int64.max
        let kinds = RecordKinds.all.map { "'\($0)'" }.joined(separator: ", ")
        let spare = sparingRecords ? " AND substr(type, 1, instr(type || '.', '.') - 1) NOT IN (\(kinds))" : ""
        var total = 0
        if !sparingRecords && cutoff != .distantFuture {
            // The chain's links go with the events they record; where it now begins is kept.
            _ = try await pruneAuditChain(before: cutoff)
        }
        while true {
            let deleted = try await pool.write { db -> Int in
                try db.execute(
                    sql:
                        "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE time < ? AND id <= ?\(spare) ORDER BY id LIMIT 10000)",
                    arguments: [micros, last]
                )
                return db.changesCount
            }
            total += deleted
            if deleted < 10000 { return total }
        }
    }

    /// A named value saved by a component (model state, for example); nil when none was saved.
    public func blob(_ key: String) async throws -> Data? {
        try await pool.read { db in try Data.fetchOne(db, sql: "SELECT data FROM blobs WHERE key = ?", arguments: [key])
        }
    }

    /// Saves (replaces) a named value, durably.
    public func setBlob(_ key: String, _ data: Data) async throws {
        try await pool.write { db in
            try db.execute(
                sql:
                    "INSERT INTO blobs (key, data, saved) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET data = excluded.data, saved = excluded.saved",
                arguments: [key, data, Self.micros(clock.wallTime())]
            )
        }
    }

    public func close() async throws {
        await eventWriter.close()
        await sampleWriter.close()
        await checkpointer?.stop()
        // GRDB's close waits, on the calling thread, for every reader to be given back, and an
        // async read gives its reader back on the cooperative pool: closing there could wait for
        // a thread it holds itself.
        let pool = self.pool
        try await blockingWork { try pool.close() }
    }

    // MARK: - SQL

    /// A rollup table (1-minute or 1-hour): one row per series and bucket.
    static func rollupTable(_ name: String) -> String {
        """
        CREATE TABLE \(name) (
            series_id INTEGER NOT NULL,
            bucket INTEGER NOT NULL,
            min REAL NOT NULL,
            max REAL NOT NULL,
            sum REAL NOT NULL,
            count INTEGER NOT NULL,
            last REAL NOT NULL,
            last_t INTEGER NOT NULL,
            PRIMARY KEY (series_id, bucket)
        ) WITHOUT ROWID;
        """
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-events") { db in
            try db.execute(
                sql: """
                    CREATE TABLE events (
                        id INTEGER PRIMARY KEY,
                        time INTEGER NOT NULL,
                        type TEXT NOT NULL,
                        source TEXT NOT NULL,
                        subject TEXT NOT NULL,
                        payload TEXT NOT NULL
                    );
                    CREATE INDEX events_time ON events(time);
                    CREATE INDEX events_type_id ON events(type, id);
                    CREATE INDEX events_subject_id ON events(subject, id);
                    """
            )
        }
        m.registerMigration("v2-samples") { db in
            try db.execute(
                sql: """
                    CREATE TABLE series (
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL,
                        labels TEXT NOT NULL,
                        UNIQUE (name, labels)
                    );
                    CREATE TABLE samples (
                        series_id INTEGER NOT NULL,
                        t INTEGER NOT NULL,
                        v REAL NOT NULL
                    );
                    CREATE INDEX samples_series_t ON samples(series_id, t);
                    CREATE INDEX samples_t ON samples(t);
                    \(Self.rollupTable("samples_1m"))
                    CREATE TABLE meta (
                        key TEXT PRIMARY KEY,
                        value
                    );
                    """
            )
        }
        m.registerMigration("v3-blobs") { db in

            try db.execute(sql: "CREATE TABLE blobs (key TEXT PRIMARY KEY, data BLOB NOT NULL, saved INTEGER NOT NULL)")
        }
        m.registerMigration("v4-incidents") { db in
            try db.execute(
                sql: """
                    CREATE TABLE incidents (
                        id TEXT PRIMARY KEY,
                        target TEXT NOT NULL,
                        policy TEXT NOT NULL,
                        status TEXT NOT NULL,
                        opened INTEGER NOT NULL,
                        closed INTEGER,
                        data TEXT NOT NULL
                    );
                    CREATE INDEX incidents_status ON incidents(status, opened);
                    """
            )
        }
        m.registerMigration("v5-bans") { db in
            try db.execute(
                sql: """
                    CREATE TABLE bans (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        address TEXT NOT NULL,
                        reason TEXT NOT NULL,
                        source TEXT NOT NULL,
                        created INTEGER NOT NULL,
                        expires INTEGER NOT NULL,
                        offence INTEGER NOT NULL,
                        evidence TEXT NOT NULL,
                        lifted INTEGER,
                        lifted_by TEXT
                    );
                    CREATE INDEX bans_address ON bans(address, created);
                    CREATE INDEX bans_expires ON bans(expires);
                    """
            )
        }
        m.registerMigration("v6-hourly") { db in
            // Filled from samples_1m by the next rollup, history included.
            try db.execute(
                sql: """
                    \(Self.rollupTable("samples_1h"))
                    """
            )
        }
        m.registerMigration("v7-audit-chain") { db in
            // The audit trail as a hash chain (see AuditLink); AUTOINCREMENT keeps the highest
            // number ever written in sqlite_sequence, so a tail cut off shows.
            try db.execute(
                sql: """
                    CREATE TABLE audit_chain (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        event_id INTEGER NOT NULL UNIQUE,
                        time INTEGER NOT NULL,
                        type TEXT NOT NULL,
                        source TEXT NOT NULL,
                        subject TEXT NOT NULL,
                        payload TEXT NOT NULL,
                        previous BLOB NOT NULL,
                        hash BLOB NOT NULL
                    );
                    CREATE TABLE audit_anchor (seq INTEGER NOT NULL, hash BLOB NOT NULL);
                    """
            )
        }
        m.registerMigration("v8-jobs") { db in
            // The job queue (JobStore) and workflow runs (RunStore).
            try db.execute(
                sql: """
                    CREATE TABLE jobs (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        queue TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        payload TEXT NOT NULL,
                        priority INTEGER NOT NULL,
                        state TEXT NOT NULL,
                        attempts INTEGER NOT NULL,
                        max_attempts INTEGER NOT NULL,
                        key TEXT,
                        created INTEGER NOT NULL,
                        run_at INTEGER NOT NULL,
                        lease_owner TEXT,
                        lease_until INTEGER,
                        finished INTEGER,
                        error TEXT,
                        result TEXT
                    );
                    CREATE UNIQUE INDEX jobs_key ON jobs(queue, key) WHERE key IS NOT NULL;
                    CREATE INDEX jobs_ready ON jobs(queue, state, priority DESC, run_at, id);
                    CREATE TABLE runs (
                        id TEXT PRIMARY KEY,
                        workflow TEXT NOT NULL,
                        status TEXT NOT NULL,
                        created INTEGER NOT NULL,
                        updated INTEGER NOT NULL,
                        data TEXT NOT NULL
                    );
                    CREATE INDEX runs_status ON runs(status, created);
                    CREATE INDEX runs_workflow ON runs(workflow, created);
                    """
            )
        }
        return m
    }

    static func micros(_ date: Date) -> Int64 { StoreValues.micros(date) }

    static func date(_ micros: Int64) -> Date { StoreValues.date(micros) }

    /// Writes events, and a link of the audit chain for each `audit.*` one not chained yet;
    /// returns how many links were added.
    @discardableResult
    static func insert(_ events: [Event], _ db: Database) throws -> Int {
        let statement = try db.cachedStatement(
            sql: "INSERT OR REPLACE INTO events (id, time, type, source, subject, payload) VALUES (?, ?, ?, ?, ?, ?)"
        )
        for e in events {
            try statement.execute(arguments: [e.id, micros(e.time), e.type, e.source, e.subject, e.payload.jsonText])
        }
        return try chain(events.filter { $0.type.hasPrefix("audit.") }, db)
    }

    private static func fetch(_ q: EventQuery, _ db: Database) throws -> [Event] {
        var clauses: [String] = []
        var args: [any DatabaseValueConvertible] = []
        if let since = q.since {
            clauses.append("time >= ?")
            args.append(micros(since))
        }
        if let until = q.until {
            clauses.append("time < ?")
            args.append(micros(until))
        }
        if let subject = q.subject {
            clauses.append("subject = ?")
            args.append(subject)
        }
        if let after = q.afterID {
            clauses.append("id > ?")
            args.append(after)
        }
        if let before = q.beforeID {
            clauses.append("id < ?")
            args.append(before)
        }
        if !q.types.isEmpty && !q.types.contains("*") {
            var alternatives: [String] = []
            for t in q.types {
                if t.hasSuffix(".*") {
                    // A prefix match that can use the (type, id) index.
                    let prefix = String(t.dropLast(1))
                    alternatives.append("(type >= ? AND type < ?)")
                    args.append(prefix)
                    args.append(prefix + "\u{10FFFF}")
                } else {
                    alternatives.append("type = ?")
                    args.append(t)
                }
            }
            clauses.append("(" + alternatives.joined(separator: " OR ") + ")")
        }
        var sql = "SELECT id, time, type, source, subject, payload FROM events"
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql += q.newestFirst ? " ORDER BY id DESC" : " ORDER BY id"
        sql += " LIMIT ?"
        args.append(max(0, q.limit))
        return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map { row in
            Event(
                id: row[0],
                time: date(row[1]),
                type: row[2],
                source: row[3],
                subject: row[4],
                payload: JSONValue.parse(row[5]) ?? .null
            )
        }
    }
}
