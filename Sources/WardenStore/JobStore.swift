import Foundation
import Synchronization
import WardenCore

/// A job to add to a queue.
public struct JobDraft: Sendable, Hashable {
    /// Which workers take it (`workflows`, say).
    public var queue: String
    /// What the worker does with it (`run`, `resume`); the worker's to interpret.
    public var kind: String
    public var payload: JSONValue
    /// Higher first; equal priorities in the order they may run.
    public var priority: Int
    /// The idempotency key: a second draft with the key of a job already in its queue adds
    /// nothing (a redelivered webhook runs once). Nil: always added.
    public var key: String?
    /// Claims before the job is dead-lettered (a claim whose lease ran out counts).
    public var maxAttempts: Int
    /// Not claimed before this time (nil: at once).
    public var notBefore: Date?

    public init(
        queue: String,
        kind: String,
        payload: JSONValue,
        priority: Int = 0,
        key: String? = nil,
        maxAttempts: Int = 5,
        notBefore: Date? = nil
    ) {
        self.queue = queue
        self.kind = kind
        self.payload = payload
        self.priority = priority
        self.key = key
        self.maxAttempts = maxAttempts
        self.notBefore = notBefore
    }
}

/// Where a job is in its life.
public enum JobState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Waiting to be claimed (again, after a failure, from its `runAt`).
    case queued
    /// Claimed by a worker until `leaseUntil`; after that another worker may claim it.
    case leased
    /// Finished, with its result.
    case done
    /// Given up, with the reason in `error`: its attempts ran out or its worker said it cannot succeed.
    case dead
}

/// A job as stored.
public struct Job: Sendable, Hashable {
    public var id: Int64
    public var queue: String
    public var kind: String
    public var payload: JSONValue
    public var priority: Int
    public var state: JobState
    /// Claims so far; the current claim's number while leased.
    public var attempts: Int
    public var maxAttempts: Int
    public var key: String?
    public var created: Date
    /// When it may next be claimed.
    public var runAt: Date
    public var leaseOwner: String?
    public var leaseUntil: Date?
    public var finished: Date?
    /// The last failure's reason (a dead job's is why it died).
    public var error: String?
    public var result: JSONValue?

    public init(
        id: Int64,
        queue: String,
        kind: String,
        payload: JSONValue,
        priority: Int,
        state: JobState,
        attempts: Int,
        maxAttempts: Int,
        key: String?,
        created: Date,
        runAt: Date,
        leaseOwner: String?,
        leaseUntil: Date?,
        finished: Date?,
        error: String?,
        result: JSONValue?
    ) {
        (self.id, self.queue, self.kind, self.payload, self.priority, self.state) = (
            id, queue, kind, payload, priority, state
        )
        (self.attempts, self.maxAttempts, self.key, self.created, self.runAt) = (
            attempts, maxAttempts, key, created, runAt
        )
        (self.leaseOwner, self.leaseUntil, self.finished, self.error, self.result) = (
            leaseOwner, leaseUntil, finished, error, result
        )
    }

    /// The claim a worker holds: only its holder can finish the job, and only while nobody has
    /// claimed it since (the attempt number fences off a worker whose lease ran out).
    public var lease: JobLease { JobLease(id: id, attempt: attempts, owner: leaseOwner ?? "") }
}

/// A worker's claim of a job (see ``Job/lease``).
public struct JobLease: Sendable, Hashable {
    public var id: Int64
    public var attempt: Int
    public var owner: String

    public init(id: Int64, attempt: Int, owner: String) {
        self.id = id
        self.attempt = attempt
        self.owner = owner
    }
}

/// What ``JobStore/enqueue(_:recording:)`` did with a draft.
public struct Enqueued: Sendable, Hashable {
    public var id: Int64
    /// False when a job with the draft's key was already there (its id is returned).
    public var added: Bool

    public init(id: Int64, added: Bool) {
        self.id = id
        self.added = added
    }
}

/// Who takes, at once, the jobs an enqueue adds (see ``JobStore/enqueue(_:recording:leasing:)``).
public struct JobClaim: Sendable, Hashable {
    /// One owner per job to lease, given to the added jobs that are ready now in the order of
    /// their drafts; jobs beyond them are queued as usual.
    public var owners: [String]
    public var lease: Duration

    public init(owners: [String], lease: Duration) {
        self.owners = owners
        self.lease = lease
    }
}

/// A durable job queue in the store: at-least-once delivery made exactly-once in effect by
/// idempotency keys and fenced leases.
///
/// A worker claims the most urgent ready job (highest priority, then earliest `runAt`, then
/// oldest), holds it for a lease, and completes or fails it with the lease it was given. A
/// worker that dies keeps its job only until the lease runs out; then the job is claimed again,
/// counting an attempt. Workers claim concurrently without taking the same job (PostgreSQL:
/// `FOR UPDATE SKIP LOCKED`; SQLite: one writer). Every call is committed before it returns.
public protocol JobStore: Sendable {
    /// Adds `drafts`, and records `events`, in one transaction: either all are stored or none.
    /// A draft whose key is already in its queue is not added again. In the same transaction the
    /// jobs it adds that are ready now are leased to `claim`'s owners, one each in order (attempt
    /// 1, until now + the lease), as ``claim(queues:owner:lease:now:)`` would lease them: a worker
    /// of this process with room takes a new job without asking the store for it. Returns every
    /// draft's fate, and the jobs leased (no more than owners were given).
    func enqueue(
        _ drafts: [JobDraft],
        recording events: [Event],
        leasing claim: JobClaim
    ) async throws -> (enqueued: [Enqueued], leased: [Job])
    /// The most urgent job of `queues` ready at `now`, leased to `owner` until `now + lease`;
    /// nil when none is ready. A job whose lease ran out with no attempts left becomes dead.
    func claim(queues: [String], owner: String, lease: Duration, now: Date) async throws -> Job?
    /// Extends a lease; false when the lease is no longer held (the job was claimed again or finished).
    func renew(_ lease: JobLease, until: Date) async throws -> Bool
    /// Finishes a job with its result; false when the lease is no longer held (nothing changes).
    func complete(_ lease: JobLease, result: JSONValue, now: Date) async throws -> Bool
    /// Gives a job back after a failure: queued again from `retryAt`, or dead when `retryAt`
    /// is nil or no attempts are left. False when the lease is no longer held.
    func fail(_ lease: JobLease, error: String, retryAt: Date?, now: Date) async throws -> Bool
    /// Queues again every job leased by an owner whose name starts with `ownerPrefix` (a
    /// restarted Warden takes back what its previous life held); returns how many.
    func releaseLeases(ownerPrefix: String) async throws -> Int
    func job(id: Int64) async throws -> Job?
    /// Deletes the jobs that ended (done or dead) before `cutoff`, their idempotency keys with
    /// them: a delivery repeated after that is new. Queued and leased jobs are never deleted.
    /// Returns how many went.
    func deleteEndedJobs(before cutoff: Date) async throws -> Int
    /// Newest first; only those in `states` and `queue` when given.
    func jobs(states: [JobState]?, queue: String?, limit: Int) async throws -> [Job]
    /// Returns when a job may have become ready (one was added or given back, also while
    /// nobody was waiting, since the last wait), or after `timeout`.
    func waitForJobs(timeout: Duration) async
}

/// A workflow run as stored: the columns queries filter on, and the whole run as JSON.
public struct RunRecord: Sendable, Hashable {
    public var id: String
    public var workflow: String
    public var status: String
    public var created: Date
    public var updated: Date
    public var data: JSONValue

    public init(id: String, workflow: String, status: String, created: Date, updated: Date, data: JSONValue) {
        self.id = id
        self.workflow = workflow
        self.status = status
        self.created = created
        self.updated = updated
        self.data = data
    }
}

/// Where workflow runs are kept; every save is committed before it returns, so a run resumes
/// from the last step it recorded.
public protocol RunStore: Sendable {
    func saveRun(_ run: RunRecord) async throws
    /// Newest first; only those in `statuses` and of `workflow` when given.
    func runs(statuses: [String]?, workflow: String?, limit: Int) async throws -> [RunRecord]
    func run(id: String) async throws -> RunRecord?
    /// Deletes the runs that ended (`succeeded` or `failed`) and last changed before `cutoff`;
    /// a running or waiting run is kept however old. Returns how many went.
    func deleteEndedRuns(before cutoff: Date) async throws -> Int
}

extension JobStore {
    /// Adds `drafts`, and records `events`, in one transaction: either all are stored or none.
    /// A draft whose key is already in its queue is not added again.
    public func enqueue(_ drafts: [JobDraft], recording events: [Event]) async throws -> [Enqueued] {
        try await enqueue(drafts, recording: events, leasing: JobClaim(owners: [], lease: .zero)).enqueued
    }
}

/// Wakes whoever waits for jobs (in this process).
package final class JobBell: Sendable {
    private struct Waiters {
        var next = 0
        var all: [Int: CheckedContinuation<Void, Never>] = [:]
        /// Waits cancelled before they were registered.
        var cancelled: Set<Int> = []
        /// A ring nobody was waiting for: the next wait returns at once (a job enqueued while
        /// the worker was looking for one must not wait for the timeout).
        var missed = false
    }
    private let waiters = Mutex(Waiters())

    package init() {}

    /// Returns at the next ring (at once when one came while nobody waited), or after `timeout`.
    package func wait(timeout: Duration) async {
        let id = waiters.withLock { s -> Int? in
            if s.missed {
                s.missed = false
                return nil
            }
            s.next += 1
            return s.next
        }
        guard let id else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { c in
                        let cancelled = self.waiters.withLock { s -> Bool in
                            if s.cancelled.remove(id) != nil { return true }
                            if s.missed {  // rung since this wait began
                                s.missed = false
                                return true
                            }
                            s.all[id] = c
                            return false
                        }
                        if cancelled { c.resume() }
                    }
                } onCancel: {
                    self.waiters.withLock { s -> CheckedContinuation<Void, Never>? in
                        if let c = s.all.removeValue(forKey: id) { return c }
                        s.cancelled.insert(id)
                        return nil
                    }?.resume()
                }
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        waiters.withLock { _ = $0.cancelled.remove(id) }
    }

    package func ring() {
        for c in waiters.withLock({ s -> [CheckedContinuation<Void, Never>] in
            if s.all.isEmpty { s.missed = true }
            defer { s.all = [:] }
            return Array(s.all.values)
        }) { c.resume() }
    }
}
