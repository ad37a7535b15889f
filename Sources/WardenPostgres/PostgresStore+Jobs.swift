import Foundation
import PostgresNIO
import WardenCore
import WardenStore

/// The job queue and workflow runs on PostgreSQL, each job belonging to this node. Workers
/// claim with `FOR UPDATE SKIP LOCKED`, so concurrent claims never take the same job nor wait
/// for each other; an enqueue notifies `warden_jobs` in its transaction, and waiting workers
/// listen there.
extension PostgresStore: JobStore, RunStore {
    /// The channel on which new or returned jobs are announced.
    public static let jobChannel = "warden_jobs"

    static let jobColumns =
        "id, queue, kind, payload, priority, state, attempts, max_attempts, key, created, run_at, lease_owner, lease_until, finished, error, result"

    public func enqueue(
        _ drafts: [JobDraft],
        recording events: [Event],
        leasing claim: JobClaim
    ) async throws -> (enqueued: [Enqueued], leased: [Job]) {
        let now = StoreValues.micros(clock.wallTime())
        let until = StoreValues.micros(clock.wallTime().addingTimeInterval(claim.lease.seconds))
        let node = self.node
        let logger = self.logger
        let result = try await client.withTransaction(logger: logger) { connection in
            if !events.isEmpty { try await connection.query(Self.appendQuery(events, node: node), logger: logger) }
            var enqueued: [Enqueued] = []
            var leased: [Job] = []
            for d in drafts {
                let runAt = d.notBefore.map(StoreValues.micros) ?? now
                let owner = runAt <= now && leased.count < claim.owners.count ? claim.owners[leased.count] : nil
                var job: Job?
                for try await row in try await connection.query(
                    """
                    INSERT INTO jobs (node, queue, kind, payload, priority, state, attempts, max_attempts, key, created,
                        run_at, lease_owner, lease_until)
                    VALUES (\(node), \(d.queue), \(d.kind), \(d.payload.jsonText), \(Int64(d.priority)),
                        \(owner == nil ? "queued" : "leased"), \(Int64(owner == nil ? 0 : 1)),
                        \(Int64(max(1, d.maxAttempts))), \(d.key), \(now), \(runAt), \(owner),
                        \(owner == nil ? nil : until))
                    ON CONFLICT (node, queue, key) WHERE key IS NOT NULL DO NOTHING
                    RETURNING \(unescaped: Self.jobColumns)
                    """,
                    logger: logger
                ) {
                    job = try Self.job(row)
                }
                if let job {
                    enqueued.append(Enqueued(id: job.id, added: true))
                    if owner != nil { leased.append(job) }
                    continue
                }
                var id: Int64?
                for try await v in try await connection.query(
                    "SELECT id FROM jobs WHERE node = \(node) AND queue = \(d.queue) AND key = \(d.key)",
                    logger: logger
                ).decode(Int64.self) {
                    id = v
                }
                guard let id else { throw WardenError(.store, "a job's key was taken and then not found") }
                enqueued.append(Enqueued(id: id, added: false))
            }
            if enqueued.filter(\.added).count > leased.count {
                try await connection.query("SELECT pg_notify(\(Self.jobChannel), \(node))", logger: logger)
            }
            return (enqueued: enqueued, leased: leased)
        }
        // Workers of this process need not wait for the notification to come back.
        if result.enqueued.filter(\.added).count > result.leased.count { jobBell.ring() }
        return result
    }

    public func claim(queues: [String], owner: String, lease: Duration, now: Date) async throws -> Job? {
        guard !queues.isEmpty else { return nil }
        let t = StoreValues.micros(now)
        let until = StoreValues.micros(now.addingTimeInterval(lease.seconds))
        let node = self.node
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                """
                UPDATE jobs SET state = 'dead', finished = \(t), lease_owner = NULL,
                    error = 'its lease ran out on attempt ' || attempts || ' of ' || max_attempts || ' (the worker died or hung)'
                WHERE node = \(node) AND state = 'leased' AND lease_until <= \(t) AND attempts >= max_attempts
                    AND queue = ANY(\(queues)::text[])
                """,
                logger: logger
            )
            let rows = try await connection.query(
                """
                UPDATE jobs SET state = 'leased', attempts = attempts + 1, lease_owner = \(owner), lease_until = \(until)
                WHERE id = (
                    SELECT id FROM jobs
                    WHERE node = \(node) AND queue = ANY(\(queues)::text[])
                        AND ((state = 'queued' AND run_at <= \(t)) OR (state = 'leased' AND lease_until <= \(t)))
                    ORDER BY priority DESC, run_at, id LIMIT 1
                    FOR UPDATE SKIP LOCKED
                )
                RETURNING \(unescaped: Self.jobColumns)
                """,
                logger: logger
            )
            for try await row in rows { return try Self.job(row) }
            return nil
        }
    }

    public func renew(_ lease: JobLease, until: Date) async throws -> Bool {
        try await changed(
            """
            UPDATE jobs SET lease_until = \(StoreValues.micros(until))
            WHERE node = \(node) AND id = \(lease.id) AND state = 'leased' AND attempts = \(Int64(lease.attempt))
                AND lease_owner = \(lease.owner)
            RETURNING id
            """
        )
    }

    public func complete(_ lease: JobLease, result: JSONValue, now: Date) async throws -> Bool {
        try await changed(
            """
            UPDATE jobs SET state = 'done', finished = \(StoreValues.micros(now)), result = \(result.jsonText),
                lease_owner = NULL, lease_until = NULL
            WHERE node = \(node) AND id = \(lease.id) AND state = 'leased' AND attempts = \(Int64(lease.attempt))
                AND lease_owner = \(lease.owner)
            RETURNING id
            """
        )
    }

    public func fail(_ lease: JobLease, error: String, retryAt: Date?, now: Date) async throws -> Bool {
        let retry = retryAt.map(StoreValues.micros)
        let done = try await changed(
            """
            UPDATE jobs SET
                state = CASE WHEN \(retry)::bigint IS NULL OR attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
                finished = CASE WHEN \(retry)::bigint IS NULL OR attempts >= max_attempts THEN \(StoreValues.micros(now)) ELSE NULL END,
                run_at = COALESCE(\(retry)::bigint, run_at), error = \(String(error.prefix(4000))),
                lease_owner = NULL, lease_until = NULL
            WHERE node = \(node) AND id = \(lease.id) AND state = 'leased' AND attempts = \(Int64(lease.attempt))
                AND lease_owner = \(lease.owner)
            RETURNING id
            """
        )
        if done { try await client.query("SELECT pg_notify(\(Self.jobChannel), \(node))", logger: logger) }
        return done
    }

    public func releaseLeases(ownerPrefix: String) async throws -> Int {
        var n = 0
        for try await _ in try await client.query(
            """
            UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL
            WHERE node = \(node) AND state = 'leased' AND starts_with(lease_owner, \(ownerPrefix))
            RETURNING id
            """,
            logger: logger
        ) { n += 1 }
        if n > 0 { try await client.query("SELECT pg_notify(\(Self.jobChannel), \(node))", logger: logger) }
        return n
    }

    public func job(id: Int64) async throws -> Job? {
        for try await row in try await client.query(
            "SELECT \(unescaped: Self.jobColumns) FROM jobs WHERE node = \(node) AND id = \(id)",
            logger: logger
        ) { return try Self.job(row) }
        return nil
    }

    public func jobs(states: [JobState]?, queue: String?, limit: Int) async throws -> [Job] {
        let all = (states ?? []).isEmpty
        let names = (states ?? []).map(\.rawValue)
        let rows = try await client.query(
            """
            SELECT \(unescaped: Self.jobColumns) FROM jobs
            WHERE node = \(node) AND (\(all) OR state = ANY(\(names)::text[])) AND (\(queue)::text IS NULL OR queue = \(queue))
            ORDER BY id DESC LIMIT \(Int64(max(0, limit)))
            """,
            logger: logger
        )
        var result: [Job] = []
        for try await row in rows { result.append(try Self.job(row)) }
        return result
    }

    public func deleteEndedJobs(before cutoff: Date) async throws -> Int {
        try await count(
            """
            WITH d AS (
                DELETE FROM jobs WHERE node = \(node) AND state IN ('done', 'dead')
                AND COALESCE(finished, created) < \(StoreValues.micros(cutoff)) RETURNING 1
            ) SELECT count(*) FROM d
            """
        )
    }

    public func deleteEndedRuns(before cutoff: Date) async throws -> Int {
        try await count(
            """
            WITH d AS (
                DELETE FROM runs WHERE node = \(node) AND status IN ('succeeded', 'failed')
                AND updated < \(StoreValues.micros(cutoff)) RETURNING 1
            ) SELECT count(*) FROM d
            """
        )
    }

    private func count(_ query: PostgresQuery) async throws -> Int {
        for try await n in try await client.query(query, logger: logger).decode(Int64.self) { return Int(n) }
        return 0
    }

    public func waitForJobs(timeout: Duration) async {
        startJobListener()
        await jobBell.wait(timeout: timeout)
    }

    /// Listens on ``jobChannel`` for this node's jobs, from the first wait until ``close()``;
    /// a lost connection is made again (and the bell rung, since a notification may be lost).
    private func startJobListener() {
        jobListener.withLock { listener in
            // One listener, and none once the store is closed (nobody would cancel it).
            guard listener.task == nil, !listener.closed else { return }
            let settings = FailoverStore.connectionConfiguration(configuration)
            let (bell, logger, node) = (jobBell, logger, node)
            listener.task = Task {
                while !Task.isCancelled {
                    do {
                        let connection = try await PostgresConnection.connect(
                            configuration: settings,
                            id: 7071,
                            logger: logger
                        )
                        do {
                            let notifications = try await connection.listen(Self.jobChannel)
                            // Listening from now: what was enqueued before was not heard.
                            bell.ring()
                            for try await n in notifications where n.payload == node { bell.ring() }
                        } catch {}
                        try? await connection.close()
                    } catch {}
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }

    private func changed(_ query: PostgresQuery) async throws -> Bool {
        for try await _ in try await client.query(query, logger: logger) { return true }
        return false
    }

    static func job(_ row: PostgresRow) throws -> Job {
        let c = row.makeRandomAccess()
        return Job(
            id: try c[0].decode(Int64.self),
            queue: try c[1].decode(String.self),
            kind: try c[2].decode(String.self),
            payload: JSONValue.parse(try c[3].decode(String.self)) ?? .null,
            priority: Int(try c[4].decode(Int64.self)),
            state: JobState(rawValue: try c[5].decode(String.self)) ?? .dead,
            attempts: Int(try c[6].decode(Int64.self)),
            maxAttempts: Int(try c[7].decode(Int64.self)),
            key: try c[8].decode(String?.self),
            created: StoreValues.date(try c[9].decode(Int64.self)),
            runAt: StoreValues.date(try c[10].decode(Int64.self)),
            leaseOwner: try c[11].decode(String?.self),
            leaseUntil: try c[12].decode(Int64?.self).map(StoreValues.date),
            finished: try c[13].decode(Int64?.self).map(StoreValues.date),
            error: try c[14].decode(String?.self),
            result: try c[15].decode(String?.self).flatMap { JSONValue.parse($0) }
        )
    }

    // MARK: - Runs

    public func saveRun(_ run: RunRecord) async throws {
        try await client.query(
            """
            INSERT INTO runs (node, id, workflow, status, created, updated, data)
            VALUES (\(node), \(run.id), \(run.workflow), \(run.status), \(StoreValues.micros(run.created)),
                \(StoreValues.micros(run.updated)), \(run.data.jsonText))
            ON CONFLICT (node, id) DO UPDATE SET status = excluded.status, updated = excluded.updated, data = excluded.data
            """,
            logger: logger
        )
    }

    public func runs(statuses: [String]?, workflow: String?, limit: Int) async throws -> [RunRecord] {
        let all = (statuses ?? []).isEmpty
        return try await runRows(
            """
            SELECT id, workflow, status, created, updated, data FROM runs
            WHERE node = \(node) AND (\(all) OR status = ANY(\(statuses ?? [])::text[]))
                AND (\(workflow)::text IS NULL OR workflow = \(workflow))
            ORDER BY created DESC, id DESC LIMIT \(Int64(max(0, limit)))
            """
        )
    }

    public func run(id: String) async throws -> RunRecord? {
        try await runRows(
            "SELECT id, workflow, status, created, updated, data FROM runs WHERE node = \(node) AND id = \(id)"
        ).first
    }

    private func runRows(_ query: PostgresQuery) async throws -> [RunRecord] {
        var result: [RunRecord] = []
        for try await (id, workflow, status, created, updated, data) in try await client.query(query, logger: logger)
            .decode((String, String, String, Int64, Int64, String).self)
        {
            result.append(
                RunRecord(
                    id: id,
                    workflow: workflow,
                    status: status,
                    created: StoreValues.date(created),
                    updated: StoreValues.date(updated),
                    data: JSONValue.parse(data) ?? .null
                )
            )
        }
        return result
    }
}
