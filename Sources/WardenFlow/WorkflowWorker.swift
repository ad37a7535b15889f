import Foundation
import Logging
import ServiceLifecycle
import WardenCore
import WardenStore

/// Takes workflow jobs from the queue and runs them, `flow.workers` at a time, renewing each
/// job's lease while its run goes on. At start it takes back the leases a previous life of
/// this node held (their runs resume where they were recorded). At shutdown it stops taking
/// jobs and interrupts the runs in flight, which go back to the queue to resume.
public struct WorkflowWorker: Service {
    let engine: WorkflowEngine
    let lease: Duration
    let logger: Logger

    public init(engine: WorkflowEngine, lease: Duration = .seconds(60), logger: Logger) {
        self.engine = engine
        self.lease = lease
        self.logger = logger
    }

    public func run() async throws {
        let store = engine.store
        do {
            let taken = try await store.releaseLeases(ownerPrefix: "")
            if taken > 0 {
                logger.info("runs in flight when Warden stopped resume", metadata: ["warden.jobs": "\(taken)"])
            }
        } catch {
            logger.error("cannot take back the job leases", metadata: ["warden.error": "\(error)"])
        }
        let pid = getpid()
        // One loop claims, and only when a worker is free: workers waiting side by side would
        // all wake for each job and all ask the store for it (a write each).
        let free = AsyncLimiter(limit: engine.flow.workers)
        // Jobs an intake of this process leased to a free place as it queued them.
        let (handed, token) = engine.handoff.open(room: free, owner: "\(pid)-h", lease: lease)
        defer { engine.handoff.close(token) }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    await withDiscardingTaskGroup { taken in
                        for await job in handed {
                            taken.addTask {
                                await self.handle(job)
                                free.release()
                            }
                        }
                    }
                }
                var n = 0
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    do { try await free.acquire() } catch { return }
                    guard let job = await self.next(owner: "\(pid)-\(n)") else {
                        free.release()
                        continue
                    }
                    n &+= 1
                    group.addTask {
                        await self.handle(job)
                        free.release()
                    }
                }
            }
        } onGracefulShutdown: {
            engine.handoff.close(token)
        }
    }

    /// The next job, waiting up to a second for one; nil when none came.
    func next(owner: String) async -> Job? {
        let store = engine.store
        do {
            if let job = try await store.claim(
                queues: [WorkflowEngine.queue],
                owner: owner,
                lease: lease,
                now: engine.d.clock.wallTime()
            ) {
                return job
            }
        } catch {
            logger.error("cannot claim a workflow job", metadata: ["warden.error": "\(error)"])
            try? await Task.sleep(for: .seconds(1))
            return nil
        }
        await store.waitForJobs(timeout: .seconds(1))
        return nil
    }

    func handle(_ job: Job) async {
        let store = engine.store
        let clock = engine.d.clock
        let lease = job.lease
        let every = self.lease / 3
        let holdFor = self.lease
        let outcome: Result<WorkflowEngine.Outcome, any Error> = await withTaskGroup(
            of: Result<WorkflowEngine.Outcome, any Error>?.self
        ) { group in
            group.addTask {
                do {
                    return .success(
                        try await cancelOnGracefulShutdown { try await self.engine.execute(job) }
                            ?? .retry("interrupted")
                    )
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                while true {
                    do { try await Task.sleep(for: every) } catch { return nil }
                    let kept =
                        (try? await store.renew(lease, until: clock.wallTime().addingTimeInterval(holdFor.seconds)))
                        ?? false
                    if !kept { return nil }
                }
            }
            defer { group.cancelAll() }
            while let r = await group.next() {
                if let r { return r }
            }
            return .failure(CancellationError())
        }
        // Recorded even when this worker is being cancelled (a new task does not inherit it).
        await Task { await self.finish(job, lease, outcome) }.value
    }

    func finish(_ job: Job, _ lease: JobLease, _ outcome: Result<WorkflowEngine.Outcome, any Error>) async {
        let store = engine.store
        let now = engine.d.clock.wallTime()
        do {
            switch outcome {
            case .success(.done(let result)):
                if try await !store.complete(lease, result: result, now: now) {
                    logger.warning(
                        "a workflow job's lease was lost before it finished",
                        metadata: ["warden.job": "\(job.id)"]
                    )
                }
            case .success(.retry(let why)):
                _ = try await store.fail(lease, error: why, retryAt: now, now: now)
            case .success(.dead(let why)):
                logger.error(
                    "a workflow job cannot run",
                    metadata: ["warden.job": "\(job.id)", "warden.error": "\(why)"]
                )
                _ = try await store.fail(lease, error: why, retryAt: nil, now: now)
            case .failure(let error) where error is CancellationError:
                // Stopping: the run resumes at the next start (or on another worker).
                _ = try await store.fail(lease, error: "interrupted by a shutdown", retryAt: now, now: now)
            case .failure(let error):
                let backoff = min(pow(2, Double(job.attempts)), 300)
                logger.error(
                    "a workflow job failed",
                    metadata: ["warden.job": "\(job.id)", "warden.error": "\(error)"]
                )
                _ = try await store.fail(lease, error: "\(error)", retryAt: now.addingTimeInterval(backoff), now: now)
            }
        } catch {
            logger.error(
                "cannot record a workflow job's end",
                metadata: ["warden.job": "\(job.id)", "warden.error": "\(error)"]
            )
        }
    }
}

/// Queues the runs that events from inside Warden start (incidents, bans, services, model
/// scores, events workflows publish). Events from the API and webhooks are queued by their
/// routes, in the same transaction as the event itself.
///
/// Such a start is queued after its event is recorded, not with it: at start, the events of the
/// last `catchUp` that would have started runs are queued again (their keys make that a no-op
/// for those already queued), so a Warden that died in between loses no run.
public struct WorkflowTriggers: Service {
    let engine: WorkflowEngine
    let subscription: FanOutSubscription<Event>
    let recorded: (any Store)?
    let catchUp: Duration
    let logger: Logger

    public init(
        engine: WorkflowEngine,
        bus: EventBus,
        recorded: (any Store)? = nil,
        catchUp: Duration = .seconds(86400),
        logger: Logger
    ) {
        self.engine = engine
        subscription = bus.subscribe(name: "workflows", capacity: 10_000) { [engine] in
            Self.starts($0, engine.flow)
        }
        self.recorded = recorded
        self.catchUp = catchUp
        self.logger = logger
    }

    /// Whether this subscriber queues the runs `e` starts (the API and webhooks queue their own).
    static func starts(_ e: Event, _ flow: FlowSpec) -> Bool {
        !e.source.hasPrefix("api:") && !e.source.hasPrefix("hook:") && !flow.workflows(startedBy: e).isEmpty
    }

    /// Queues the runs that recorded events of the last `catchUp` start; returns how many were new.
    @discardableResult
    public func catchUpRecorded() async throws -> Int {
        guard let recorded else { return 0 }
        let types = engine.flow.workflows.values.flatMap(\.triggers).compactMap { t -> String? in
            if case .event(let type, _) = t { return type }
            return nil
        }
        guard !types.isEmpty else { return 0 }
        let since = engine.d.clock.wallTime().addingTimeInterval(-catchUp.seconds)
        let events = try await recorded.events(
            matching: EventQuery(since: since, types: Array(Set(types)), limit: 100_000)
        )
        var added = 0
        let drafts = events.filter { Self.starts($0, engine.flow) }.flatMap { engine.drafts(for: $0) }
        for start in stride(from: 0, to: drafts.count, by: 500) {
            let chunk = Array(drafts[start..<min(start + 500, drafts.count)])
            added += try await engine.store.enqueue(chunk, recording: []).filter(\.added).count
        }
        return added
    }

    public func run() async throws {
        do {
            let added = try await catchUpRecorded()
            if added > 0 {
                logger.warning(
                    "queued runs that recorded events started before Warden stopped",
                    metadata: ["warden.runs": "\(added)"]
                )
            }
        } catch {
            logger.error("cannot look for runs recorded events started", metadata: ["warden.error": "\(error)"])
        }
        await withGracefulShutdownHandler {
            while true {
                let events = await subscription.nextBatch(max: 500)
                if events.isEmpty { return }
                let drafts = events.flatMap { engine.drafts(for: $0) }
                guard !drafts.isEmpty else { continue }
                do { _ = try await engine.store.enqueue(drafts, recording: []) } catch {
                    logger.error("cannot queue the runs events started", metadata: ["warden.error": "\(error)"])
                }
            }
        } onGracefulShutdown: {
            subscription.finish()
        }
    }

    /// Ends ``run()`` (as a graceful shutdown does).
    public func stop() { subscription.finish() }
}
