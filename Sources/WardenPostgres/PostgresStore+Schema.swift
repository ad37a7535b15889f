import Foundation
import PostgresNIO
import WardenStore

/// The schema, in numbered steps applied once each, in order.
extension PostgresStore {
    /// A rollup table (1-minute or 1-hour): one row per series and bucket.
    static func rollupTable(_ name: String) -> String {
        """
        CREATE TABLE \(name) (
            series_id BIGINT NOT NULL,
            bucket BIGINT NOT NULL,
            min DOUBLE PRECISION NOT NULL,
            max DOUBLE PRECISION NOT NULL,
            sum DOUBLE PRECISION NOT NULL,
            count BIGINT NOT NULL,
            last DOUBLE PRECISION NOT NULL,
            last_t BIGINT NOT NULL,
            PRIMARY KEY (series_id, bucket)
        )
        """
    }

    static let migrations: [(version: Int, sql: String)] = [
        (
            1,
            """
            CREATE TABLE events (
                node TEXT NOT NULL,
                id BIGINT NOT NULL,
                time BIGINT NOT NULL,
                type TEXT NOT NULL,
                source TEXT NOT NULL,
                subject TEXT NOT NULL,
                payload TEXT NOT NULL,
                PRIMARY KEY (node, id)
            );
            CREATE INDEX events_time ON events (time);
            CREATE INDEX events_node_type_id ON events (node, type, id);
            CREATE INDEX events_node_subject_id ON events (node, subject, id);
            CREATE TABLE series (
                id BIGSERIAL PRIMARY KEY,
                node TEXT NOT NULL,
                name TEXT NOT NULL,
                labels TEXT NOT NULL,
                UNIQUE (node, name, labels)
            );
            CREATE TABLE samples (
                series_id BIGINT NOT NULL,
                t BIGINT NOT NULL,
                v DOUBLE PRECISION NOT NULL
            );
            CREATE INDEX samples_series_t ON samples (series_id, t);
            CREATE INDEX samples_t ON samples (t);
            \(rollupTable("samples_1m"));
            CREATE TABLE meta (
                node TEXT NOT NULL,
                key TEXT NOT NULL,
                value BIGINT NOT NULL,
                PRIMARY KEY (node, key)
            );
            CREATE TABLE blobs (
                node TEXT NOT NULL,
                key TEXT NOT NULL,
                data BYTEA NOT NULL,
                saved BIGINT NOT NULL,
                PRIMARY KEY (node, key)
            );
            CREATE TABLE incidents (
                node TEXT NOT NULL,
                id TEXT NOT NULL,
                target TEXT NOT NULL,
                policy TEXT NOT NULL,
                status TEXT NOT NULL,
                opened BIGINT NOT NULL,
                closed BIGINT,
                data TEXT NOT NULL,
                PRIMARY KEY (node, id)
            );
            CREATE INDEX incidents_node_status ON incidents (node, status, opened);
            CREATE TABLE bans (
                id BIGSERIAL PRIMARY KEY,
                node TEXT NOT NULL,
                address TEXT NOT NULL,
                reason TEXT NOT NULL,
                source TEXT NOT NULL,
                created BIGINT NOT NULL,
                expires BIGINT NOT NULL,
                offence INTEGER NOT NULL,
                evidence TEXT NOT NULL,
                lifted BIGINT,
                lifted_by TEXT
            );
            CREATE INDEX bans_node_address ON bans (node, address, created);
            CREATE INDEX bans_node_expires ON bans (node, expires);
            """
        ),
        (
            2,
            """
            CREATE TABLE nodes (
                name TEXT PRIMARY KEY,
                labels TEXT NOT NULL,
                first_seen BIGINT NOT NULL,
                last_contact BIGINT NOT NULL,
                address TEXT NOT NULL
            )
            """
        ),
        (
            3,
            """
            CREATE TABLE fleet_decisions (
                id BIGSERIAL PRIMARY KEY,
                kind TEXT NOT NULL,
                address TEXT NOT NULL,
                until BIGINT NOT NULL,
                reason TEXT NOT NULL,
                origin TEXT NOT NULL,
                origin_event BIGINT NOT NULL,
                created BIGINT NOT NULL,
                UNIQUE (origin, origin_event)
            )
            """
        ),
        (
            4,
            """
            CREATE TABLE fleet_state (
                node TEXT NOT NULL,
                kind TEXT NOT NULL,
                key TEXT NOT NULL,
                subject TEXT NOT NULL,
                type TEXT NOT NULL,
                since BIGINT NOT NULL,
                time BIGINT NOT NULL,
                event_id BIGINT NOT NULL,
                until BIGINT NOT NULL,
                detail TEXT NOT NULL,
                PRIMARY KEY (node, kind, key)
            );
            CREATE TABLE fleet_positions (
                node TEXT NOT NULL,
                kind TEXT NOT NULL,
                position BIGINT NOT NULL,
                PRIMARY KEY (node, kind)
            )
            """
        ),
        (
            5,
            // 1-hour rollups, filled from samples_1m by the next rollup, history included.
            """
            \(rollupTable("samples_1h"))
            """
        ),
        (
            6,
            // The job queue (JobStore) and workflow runs (RunStore).
            """
            CREATE TABLE jobs (
                id BIGSERIAL PRIMARY KEY,
                node TEXT NOT NULL,
                queue TEXT NOT NULL,
                kind TEXT NOT NULL,
                payload TEXT NOT NULL,
                priority BIGINT NOT NULL,
                state TEXT NOT NULL,
                attempts BIGINT NOT NULL,
                max_attempts BIGINT NOT NULL,
                key TEXT,
                created BIGINT NOT NULL,
                run_at BIGINT NOT NULL,
                lease_owner TEXT,
                lease_until BIGINT,
                finished BIGINT,
                error TEXT,
                result TEXT
            );
            CREATE UNIQUE INDEX jobs_key ON jobs (node, queue, key) WHERE key IS NOT NULL;
            CREATE INDEX jobs_ready ON jobs (node, queue, state, priority DESC, run_at, id);
            CREATE TABLE runs (
                node TEXT NOT NULL,
                id TEXT NOT NULL,
                workflow TEXT NOT NULL,
                status TEXT NOT NULL,
                created BIGINT NOT NULL,
                updated BIGINT NOT NULL,
                data TEXT NOT NULL,
                PRIMARY KEY (node, id)
            );
            CREATE INDEX runs_status ON runs (node, status, created)
            """
        ),
        (
            7,
            // GitOps rollouts in waves: which nodes follow which spec (repository, branch, path).
            """
            CREATE TABLE rollout_members (
                grp TEXT NOT NULL,
                node TEXT NOT NULL,
                seen BIGINT NOT NULL,
                PRIMARY KEY (grp, node)
            );
            CREATE INDEX fleet_state_rollouts ON fleet_state (kind, key) WHERE kind = 'rollout';
            CREATE TABLE rollout_waves (
                grp TEXT NOT NULL,
                commit_id TEXT NOT NULL,
                first_wave TEXT NOT NULL,
                PRIMARY KEY (grp, commit_id)
            )
            """
        ),
    ]

    /// The schema's version once every step is applied.
    public static var schemaVersion: Int { migrations.map(\.version).max() ?? 0 }

    /// Applies the steps the database has not had, in one transaction under an advisory lock:
    /// processes that open the database together apply each step once.
    func migrate() async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(7070001)", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS warden_schema (version INTEGER PRIMARY KEY, applied TIMESTAMPTZ NOT NULL DEFAULT now())",
                logger: logger
            )
            var applied: Set<Int> = []
            for try await v in try await connection.query("SELECT version FROM warden_schema", logger: logger)
                .decode(Int.self)
            {
                applied.insert(v)
            }
            for step in Self.migrations where !applied.contains(step.version) {
                // One statement at a time: the extended protocol takes one per query.
                for statement in step.sql.split(separator: ";") {
                    let sql = statement.trimmingCharacters(in: .whitespacesAndNewlines)
                    if !sql.isEmpty { try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
                }
                try await connection.query(
                    "INSERT INTO warden_schema (version) VALUES (\(step.version))",
                    logger: logger
                )
            }
        }
    }
}
