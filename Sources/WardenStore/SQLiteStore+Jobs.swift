import Foundation
internal import GRDB
import WardenCore

/// The job queue and workflow runs in the embedded store. One writer takes jobs one at a time,
/// so two workers never claim the same job.
extension SQLiteStore: JobStore, RunStore {
    static let jobColumns =
        "id, queue, kind, payload, priority, state, attempts, max_attempts, key, created, run_at, lease_owner, lease_until, finished, error, result"

    public func enqueue(
        _ drafts: [JobDraft],
        recording events: [Event],
        leasing claim: JobClaim
    ) async throws -> (enqueued: [Enqueued], leased: [Job]) {
        let now = Self.micros(clock.wallTime())
        let until = Self.micros(clock.wallTime().addingTimeInterval(claim.lease.seconds))
        let result = try await pool.write { db -> (enqueued: [Enqueued], leased: [Job]) in
            if !events.isEmpty { try Self.insert(events, db) }
            var added: [Enqueued] = []
            var leased: [Job] = []
            for d in drafts {
                if let key = d.key,
                    let id = try Int64.fetchOne(
                        db,
                        sql: "SELECT id FROM jobs WHERE queue = ? AND key = ?",
                        arguments: [d.queue, key]
                    )
                {
                    added.append(Enqueued(id: id, added: false))
                    continue
                }
                let runAt = d.notBefore.map(Self.micros) ?? now
                let owner = runAt <= now && leased.count < claim.owners.count ? claim.owners[leased.count] : nil
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        INSERT INTO jobs (queue, kind, payload, priority, state, attempts, max_attempts, key, created, run_at,
                            lease_owner, lease_until)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        RETURNING \(Self.jobColumns)
                        """,
                    arguments: [
                        d.queue, d.kind, d.payload.jsonText, d.priority, owner == nil ? "queued" : "leased",
                        owner == nil ? 0 : 1, max(1, d.maxAttempts), d.key, now, runAt, owner,
                        owner == nil ? nil : until,
                    ]
                )
                guard let row else { throw WardenError(.store, "a job was added and then not found") }
                let job = Self.job(row)
                added.append(Enqueued(id: job.id, added: true))
                if owner != nil { leased.append(job) }
            }
            return (added, leased)
        }
        if result.enqueued.filter(\.added).count > result.leased.count { jobBell.ring() }
        return result
    }

    public func claim(queues: [String], owner: String, lease: Duration, now: Date) async throws -> Job? {
        guard !queues.isEmpty else { return nil }
        let t = Self.micros(now)
        let until = Self.micros(now.addingTimeInterval(lease.seconds))
        let marks = queues.map { _ in "?" }.joined(separator: ", ")
        // Most calls find nothing: a read says so without taking the writer.
        let due = try await pool.read { db in
            try Bool.fetchOne(
                db,
                sql: """
                    SELECT EXISTS (SELECT 1 FROM jobs WHERE queue IN (\(marks))
                        AND ((state = 'queued' AND run_at <= ?) OR (state = 'leased' AND lease_until <= ?)))
                    """,
                arguments: StatementArguments(queues + [t, t] as [any DatabaseValueConvertible])
            ) ?? false
        }
        guard due else { return nil }
        return try await pool.write { db -> Job? in
            // Leases that ran out with no attempts left: dead, with why.
            try db.execute(
                sql: """
                    UPDATE jobs SET state = 'dead', finished = ?, lease_owner = NULL,
                        error = 'its lease ran out on attempt ' || attempts || ' of ' || max_attempts || ' (the worker died or hung)'
                    WHERE state = 'leased' AND lease_until <= ? AND attempts >= max_attempts AND queue IN (\(marks))
                    """,
                arguments: StatementArguments([t, t] as [any DatabaseValueConvertible] + queues)
            )
            let row = try Row.fetchOne(
                db,
                sql: """
                    UPDATE jobs SET state = 'leased', attempts = attempts + 1, lease_owner = ?, lease_until = ?
                    WHERE id = (
                        SELECT id FROM jobs
                        WHERE queue IN (\(marks)) AND ((state = 'queued' AND run_at <= ?) OR (state = 'leased' AND lease_until <= ?))
                        ORDER BY priority DESC, run_at, id LIMIT 1
                    )
                    RETURNING \(Self.jobColumns)
                    """,
                arguments: StatementArguments([owner, until] as [any DatabaseValueConvertible] + queues + [t, t])
            )
            return row.map(Self.job)
        }
    }

    public func renew(_ lease: JobLease, until: Date) async throws -> Bool {
        try await pool.write { db in
            try db.execute(
                sql:
                    "UPDATE jobs SET lease_until = ? WHERE id = ? AND state = 'leased' AND attempts = ? AND lease_owner = ?",
                arguments: [Self.micros(until), lease.id, lease.attempt, lease.owner]
            )
            return db.changesCount == 1
        }
    }

    public func complete(_ lease: JobLease, result: JSONValue, now: Date) async throws -> Bool {
        try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE jobs SET state = 'done', finished = ?, result = ?, lease_owner = NULL, lease_until = NULL
                    WHERE id = ? AND state = 'leased' AND attempts = ? AND lease_owner = ?
                    """,
                arguments: [Self.micros(now), result.jsonText, lease.id, lease.attempt, lease.owner]
            )
            return db.changesCount == 1
        }
    }

    public func fail(_ lease: JobLease, error: String, retryAt: Date?, now: Date) async throws -> Bool {
        let changed = try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE jobs SET
                        state = CASE WHEN ? IS NULL OR attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
                        finished = CASE WHEN ? IS NULL OR attempts >= max_attempts THEN ? ELSE NULL END,
                        run_at = COALESCE(?, run_at), error = ?, lease_owner = NULL, lease_until = NULL
                    WHERE id = ? AND state = 'leased' AND attempts = ? AND lease_owner = ?
                    """,
                arguments: [
                    retryAt.map(Self.micros), retryAt.map(Self.micros), Self.micros(now), retryAt.map(Self.micros),
                    String(error.prefix(4000)), lease.id, lease.attempt, lease.owner,
                ]
            )
            return db.changesCount == 1
        }
        if changed { jobBell.ring() }
        return changed
    }

    public func releaseLeases(ownerPrefix: String) async throws -> Int {
        let n = try await pool.write { db in
            try db.execute(
                sql:
                    "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL WHERE state = 'leased' AND substr(lease_owner, 1, ?) = ?",
                arguments: [ownerPrefix.count, ownerPrefix]
            )
            return db.changesCount
        }
        if n > 0 { jobBell.ring() }
        return n
    }

    public func deleteEndedJobs(before cutoff: Date) async throws -> Int {
        try await deleteInBatches(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN ('done', 'dead') AND COALESCE(finished, created) < ? LIMIT 5000)",
            cutoff
        )
    }

    public func deleteEndedRuns(before cutoff: Date) async throws -> Int {
        try await deleteInBatches(
            "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE status IN ('succeeded', 'failed') AND updated < ? LIMIT 5000)",
            cutoff
        )
    }

    /// Runs a delete of at most 5,000 rows until it deletes fewer: each batch is a short write,
    /// so an API call or a worker waiting for the writer is not held up by a large purge.
    private func deleteInBatches(_ sql: String, _ cutoff: Date) async throws -> Int {
        var total = 0
        while true {
            let n = try await pool.write { db in
                try db.execute(sql: sql, arguments: [Self.micros(cutoff)])
                return db.changesCount
            }
            total += n
            if n < 5000 { return total }
        }
    }

    public func job(id: Int64) async throws -> Job? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.jobColumns) FROM jobs WHERE id = ?", arguments: [id]).map(Self.job)
        }
    }

    public func jobs(states: [JobState]?, queue: String?, limit: Int) async throws -> [Job] {
        try await pool.read { db in
            var clauses: [String] = []
            var args: [any DatabaseValueConvertible] = []
            if let states, !states.isEmpty {
                clauses.append("state IN (\(states.map { _ in "?" }.joined(separator: ", ")))")
                args += states.map(\.rawValue)
            }
            if let queue {
                clauses.append("queue = ?")
                args.append(queue)
            }
            let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            args.append(max(0, limit))
            return try Row.fetchAll(
                db,
                sql: "SELECT \(Self.jobColumns) FROM jobs \(filter) ORDER BY id DESC LIMIT ?",
                arguments: StatementArguments(args)
            ).map(Self.job)
        }
    }

    public func waitForJobs(timeout: Duration) async {
        await jobBell.wait(timeout: timeout)
    }

    static func job(_ row: Row) -> Job {
        Job(
            id: row[0],
            queue: row[1],
            kind: row[2],
            payload: JSONValue.parse(row[3] as String) ?? .null,
            priority: row[4],
            state: JobState(rawValue: row[5]) ?? .dead,
            attempts: row[6],
            maxAttempts: row[7],
            key: row[8],
            created: date(row[9]),
            runAt: date(row[10]),
            leaseOwner: row[11],
            leaseUntil: (row[12] as Int64?).map(date),
            finished: (row[13] as Int64?).map(date),
            error: row[14],
            result: (row[15] as String?).flatMap { JSONValue.parse($0) }
        )
    }

    // MARK: - Runs

    public func saveRun(_ run: RunRecord) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO runs (id, workflow, status, created, updated, data) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated = excluded.updated, data = excluded.data
                    """,
                arguments: [
                    run.id, run.workflow, run.status, Self.micros(run.created), Self.micros(run.updated),
                    run.data.jsonText,
                ]
            )
        }
    }

    public func runs(statuses: [String]?, workflow: String?, limit: Int) async throws -> [RunRecord] {
        try await pool.read { db in
            var clauses: [String] = []
            var args: [any DatabaseValueConvertible] = []
            if let statuses, !statuses.isEmpty {
                clauses.append("status IN (\(statuses.map { _ in "?" }.joined(separator: ", ")))")
                args += statuses
            }
            if let workflow {
                clauses.append("workflow = ?")
                args.append(workflow)
            }
            let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            args.append(max(0, limit))
            return try Row.fetchAll(
                db,
                sql:
                    "SELECT id, workflow, status, created, updated, data FROM runs \(filter) ORDER BY created DESC, id DESC LIMIT ?",
                arguments: StatementArguments(args)
            ).map(Self.run)
        }
    }

    public func run(id: String) async throws -> RunRecord? {
        try await pool.read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT id, workflow, status, created, updated, data FROM runs WHERE id = ?",
                arguments: [id]
            ).map(Self.run)
        }
    }

    static func run(_ row: Row) -> RunRecord {
        RunRecord(
            id: row[0],
            workflow: row[1],
            status: row[2],
            created: date(row[3]),
            updated: date(row[4]),
            data: JSONValue.parse(row[5] as String) ?? .null
        )
    }
}
