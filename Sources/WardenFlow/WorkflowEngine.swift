import Foundation
import Logging
import Synchronization
import WardenCore
import WardenHeal
import WardenStore
import WardenSupervisor

/// Runs workflows: turns events into queued runs, and a claimed job into a run carried as far
/// as it can go, every step's start and end saved as it happens.
///
/// A run is the job's unit of work, not a step: a Warden that dies mid-run leaves the job's
/// lease to run out (or takes it back at start), and the run resumes at the step it was in
/// (that step runs again: steps are at least once, so `exec`, `http` and `heal` steps should
/// be safe to repeat). Waiting for a person or for time holds no worker: the job ends and a
/// new one resumes the run.
public final class WorkflowEngine: Sendable {
    /// The queue workflow jobs are in.
    public static let queue = "workflows"

    public struct Dependencies: Sendable {
        public var flow: FlowSpec
        public var store: any JobStore & RunStore
        public var bus: EventBus
        public var models: ModelPool
        /// The services' states (a `heal` step's output says the state it left the service in).
        public var services: (any ServiceControl)?
        /// Who carries out `heal` steps (nil: such steps fail): the healing engine, so that a
        /// workflow acts through the ladders' executor and under their guards.
        public var healer: (any ServiceHealer)?
        /// Where `store: { sample: … }` writes (nil: such steps fail).
        public var samples: (@Sendable (SampleBatch) async throws -> Void)?
        public var transport: any HTTPTransport
        public var clock: any WardenClock
        /// Where `exec` steps write their output (a folder per run and step).
        public var directory: String
        public var logger: Logger

        public init(
            flow: FlowSpec,
            store: any JobStore & RunStore,
            bus: EventBus,
            transport: any HTTPTransport,
            services: (any ServiceControl)?,
            healer: (any ServiceHealer)? = nil,
            samples: (@Sendable (SampleBatch) async throws -> Void)?,
            clock: any WardenClock = SystemClock(),
            directory: String,
            logger: Logger
        ) {
            self.flow = flow
            self.store = store
            self.bus = bus
            self.models = ModelPool(flow.models, transport: transport)
            self.services = services
            self.healer = healer
            self.samples = samples
            self.transport = transport
            self.clock = clock
            self.directory = directory
            self.logger = logger
        }
    }

    public let d: Dependencies
    /// The workflows and models now (a reloaded spec replaces them).
    private let current: Mutex<(flow: FlowSpec, models: ModelPool)>
    public var flow: FlowSpec { current.withLock { $0.flow } }
    /// The model endpoints now, with their circuits.
    public var models: ModelPool { current.withLock { $0.models } }
    public var store: any JobStore & RunStore { d.store }
    /// The way to this process's worker, open while it runs.
    let handoff = JobHandoff()

    public init(_ dependencies: Dependencies) {
        d = dependencies
        current = Mutex((dependencies.flow, dependencies.models))
    }

    /// Takes the workflows and models of a reloaded spec. New events start the new workflows;
    /// a run already under way goes on with its workflow as it is now (steps it has not met yet
    /// are added as pending, steps the workflow no longer has are skipped, a workflow that is
    /// gone ends its runs with the reason). When no endpoint's settings changed, the endpoints
    /// keep their circuits and limits (otherwise they start afresh); `flow: { workers }` takes
    /// effect at the next start.
    public func apply(_ flow: FlowSpec) {
        current.withLock { now in
            let models =
                now.flow.models == flow.models ? now.models : ModelPool(flow.models, transport: d.transport)
            now = (flow, models)
        }
    }

    /// What a worker does with a job once the engine is done with it.
    public enum Outcome: Sendable, Hashable {
        /// Finished (the run ended, or waits without a worker).
        case done(JSONValue)
        /// Try the job again later (the store was unreachable, say).
        case retry(String)
        /// The job cannot succeed.
        case dead(String)
    }

    // MARK: - Starting runs

    /// The jobs that start the runs `event` triggers. `key` identifies the delivery (a webhook's
    /// delivery id, an `Idempotency-Key`): the same key starts each workflow once. Without a key,
    /// the event's id is the key.
    public func drafts(for event: Event, key: String? = nil) -> [JobDraft] {
        flow.workflows(startedBy: event).map { w in
            JobDraft(
                queue: Self.queue,
                kind: "start",
                payload: ["workflow": .string(w.name), "trigger": Self.trigger(event)],
                priority: w.priority,
                key: "start:\(w.name):\(key ?? "event-\(event.id)")",
                maxAttempts: 10
            )
        }
    }

    /// Queues `drafts` and records `events` in one transaction (``JobStore/enqueue(_:recording:)``);
    /// the new jobs that may run now go straight to this process's worker when it has room,
    /// leased to it in the same transaction.
    public func enqueue(_ drafts: [JobDraft], recording events: [Event]) async throws -> [Enqueued] {
        guard let reservation = handoff.reserve(drafts.count) else {
            return try await d.store.enqueue(drafts, recording: events)
        }
        let result: (enqueued: [Enqueued], leased: [Job])
        do {
            result = try await d.store.enqueue(
                drafts,
                recording: events,
                leasing: JobClaim(owners: reservation.owners, lease: reservation.lease)
            )
        } catch {
            handoff.cancel(reservation)
            throw error
        }
        for job in handoff.hand(result.leased, reservation) {
            // The worker stopped meanwhile: the job waits in the queue for the next one.
            let now = d.clock.wallTime()
            _ = try? await d.store.fail(
                job.lease,
                error: "the worker stopped before it started",
                retryAt: now,
                now: now
            )
        }
        return result.enqueued
    }

    static func trigger(_ e: Event) -> JSONValue {
        [
            "id": .int(e.id), "type": .string(e.type), "source": .string(e.source), "subject": .string(e.subject),
            "time": .string(ISOTime.format(e.time)), "payload": e.payload,
        ]
    }

    /// Queues a run of `workflow` by hand, with `input` as its trigger's payload; returns the run's id.
    public func start(_ workflow: String, input: JSONValue, by who: String, key: String? = nil) async throws -> String {
        guard let w = flow.workflows[workflow] else {
            throw FlowFailure("there is no workflow '\(workflow.prefix(64))'")
        }
        let trigger: JSONValue = [
            "type": "manual", "source": .string(who), "subject": .string(workflow), "payload": input,
            "time": .string(ISOTime.format(d.clock.wallTime())),
        ]
        let draft = JobDraft(
            queue: Self.queue,
            kind: "start",
            payload: ["workflow": .string(workflow), "trigger": trigger],
            priority: w.priority,
            key: key.map { "manual:\(workflow):\($0)" },
            maxAttempts: 10
        )
        let added = try await d.store.enqueue([draft], recording: [])
        return Self.runID(job: added[0].id)
    }

    /// The id of the run a start job carries out.
    public static func runID(job: Int64) -> String { "run-\(job)" }

    // MARK: - Approvals

    /// Settles a step waiting for a person, and queues the run to go on.
    ///
    /// - Throws: ``FlowFailure`` when the run or step does not exist or is not waiting for approval.
    public func approve(
        run id: String,
        step: String,
        approved: Bool,
        by who: String,
        comment: String?
    ) async throws
        -> RunState
    {
        guard let record = try await d.store.run(id: id), var run = RunState(record) else {
            throw FlowFailure("there is no run '\(id.prefix(64))'")
        }
        guard let w = flow.workflows[run.workflow], case .approve? = w.step(step)?.action else {
            throw FlowFailure("run \(id) has no approval step '\(step.prefix(64))'")
        }
        guard run.steps[step]?.status == .waiting else {
            throw FlowFailure(
                "step '\(step)' of run \(id) is \(run.steps[step]?.status.rawValue ?? "unknown"), not waiting"
            )
        }
        let now = d.clock.wallTime()
        var s = run.steps[step]!
        s.status = approved ? .succeeded : .failed
        s.output = ["approved": .bool(approved), "by": .string(who), "comment": comment.map { .string($0) } ?? .null]
        s.error = approved ? nil : "rejected by \(who)" + (comment.map { ": \($0)" } ?? "")
        s.finished = now
        s.detail = ["by": .string(who)]
        run.steps[step] = s
        run.updated = now
        try await d.store.saveRun(run.record)
        try await resume(id, key: "resume:\(id):\(step)", priority: w.priority, at: nil)
        return run
    }

    /// Queues a job that carries run `id` on (once per `key`), from `at` (nil: now).
    func resume(_ id: String, key: String, priority: Int, at: Date?) async throws {
        let draft = JobDraft(
            queue: Self.queue,
            kind: "resume",
            payload: ["run": .string(id)],
            priority: priority,
            key: key,
            maxAttempts: 10,
            notBefore: at
        )
        _ = try await d.store.enqueue([draft], recording: [])
    }

    // MARK: - Running

    /// Carries the job's run as far as it can go.
    ///
    /// - Throws: `CancellationError` when cancelled (Warden is stopping): the run stays where
    ///   it was recorded, and the job is to be retried.
    public func execute(_ job: Job) async throws -> Outcome {
        let runID: String
        var created: RunState?
        switch job.kind {
        case "start":
            guard let name = job.payload["workflow"]?.stringValue else {
                return .dead("a start job without a workflow")
            }
            runID = Self.runID(job: job.id)
            // Only a job's earlier attempt can have saved its run: the first need not look.
            let saved = job.attempts > 1 ? try await d.store.run(id: runID) != nil : false
            if !saved {
                guard let w = flow.workflows[name] else { return .dead("there is no workflow '\(name)' in the spec") }
                created = RunState(
                    id: runID,
                    workflow: name,
                    trigger: job.payload["trigger"] ?? .null,
                    created: d.clock.wallTime(),
                    steps: w.steps.map(\.name)
                )
            }
        case "resume":
            guard let id = job.payload["run"]?.stringValue else { return .dead("a resume job without a run") }
            runID = id
        default:
            return .dead("unknown job kind '\(job.kind)'")
        }
        let state: RunState
        if let created {
            // Saved with its first step's start (one write less on every run's way in).
            state = created
            publish("workflow.started", created, ["trigger": created.trigger["type"] ?? .null])
        } else {
            guard let record = try await d.store.run(id: runID), let loaded = RunState(record) else {
                return .dead("run \(runID) is not stored or cannot be read")
            }
            state = loaded
        }
        guard state.status == .running || state.status == .waiting else {
            return .done(["run": .string(runID), "status": .string(state.status.rawValue)])
        }
        let tracker = RunTracker(state, store: d.store, clock: d.clock)
        guard let workflow = flow.workflows[state.workflow] else {
            let final = try await tracker.finish(.failed, error: "the workflow is no longer in the spec")
            publish("workflow.finished", final, ["status": "failed"])
            return .done(["run": .string(runID), "status": "failed"])
        }
        return try await drive(workflow, tracker)
    }

    /// Runs steps until the run ends or waits, within the workflow's timeout.
    func drive(_ workflow: WorkflowSpec, _ tracker: RunTracker) async throws -> Outcome {
        // A workflow reloaded with steps this run has not met: they start pending (without an
        // entry a step could never be settled). Steps the workflow no longer has are skipped (one
        // left waiting would hold the run to its timeout).
        let known = await tracker.state.steps
        let names = Set(workflow.steps.map(\.name))
        let missing = names.filter { known[$0] == nil }
        let gone = known.filter { !names.contains($0.key) && !$0.value.status.isSettled && $0.value.status != .failed }
        if !missing.isEmpty || !gone.isEmpty {
            try await tracker.update { run in
                for name in missing where run.steps[name] == nil { run.steps[name] = StepState() }
                for name in gone.keys { run.steps[name]?.status = .skipped }
            }
        }
        let start = await tracker.state
        // Steps that were running when a previous life ended run again; waits that are over end.
        let now = d.clock.wallTime()
        let stale =
            start.status != .running || start.steps.values.contains { $0.status == .running || $0.status == .waiting }
        if stale {
            try await tracker.update { run in
                run.status = .running
                for (name, var s) in run.steps {
                    if s.status == .running { s.status = .pending }
                    if s.status == .waiting, let until = s.until, until <= now {
                        s.status = .succeeded
                        s.output = ["waited_until": .string(ISOTime.format(until))]
                        s.finished = now
                    }
                    run.steps[name] = s
                }
            }
        }
        let deadline = start.created.addingTimeInterval(workflow.timeout.seconds)
        let left = deadline.timeIntervalSince(now)
        guard left > 0 else {
            return try await end(
                workflow,
                tracker,
                .failed,
                "timed out after \(DurationFormat.format(workflow.timeout))"
            )
        }
        let finished: Bool = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await self.steps(workflow, tracker)
                return true
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int64(left * 1000)))
                return false
            }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
        if !finished {
            return try await end(
                workflow,
                tracker,
                .failed,
                "timed out after \(DurationFormat.format(workflow.timeout))"
            )
        }
        let run = await tracker.state
        switch WorkflowPlan.next(workflow, run) {
        case .finished(let status, let error): return try await end(workflow, tracker, status, error)
        default:
            try await tracker.update { $0.status = .waiting }
            // Whoever it waits for, the run's timeout still holds: a job wakes it then.
            try await resume(run.id, key: "deadline:\(run.id)", priority: workflow.priority, at: deadline)
            publish("workflow.waiting", await tracker.state, [:])
            return .done(["run": .string(run.id), "status": "waiting"])
        }
    }

    func end(
        _ workflow: WorkflowSpec,
        _ tracker: RunTracker,
        _ status: RunState.Status,
        _ error: String?
    ) async throws
        -> Outcome
    {
        let final = try await tracker.finish(status, error: error)
        var extra: [String: JSONValue] = ["status": .string(status.rawValue)]
        if let error { extra["error"] = .string(error) }
        publish("workflow.finished", final, extra)
        return .done(["run": .string(final.id), "status": .string(status.rawValue)])
    }

    /// Settles steps, parallel ones together, until none can go on now.
    func steps(_ workflow: WorkflowSpec, _ tracker: RunTracker) async throws {
        while true {
            try Task.checkCancellation()
            switch WorkflowPlan.next(workflow, await tracker.state) {
            case .skip(let names):
                try await tracker.update { run in
                    for n in names {
                        run.steps[n]?.status = .skipped
                        run.steps[n]?.error = "every step it needs was skipped"
                    }
                }
            case .run(let names) where names.count == 1:
                if let step = workflow.step(names[0]) { try await settle(step, workflow, tracker) }
            case .run(let names):
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for name in names {
                        guard let step = workflow.step(name) else { continue }
                        group.addTask { try await self.settle(step, workflow, tracker) }
                    }
                    try await group.waitForAll()
                }
            case .waiting, .finished:
                return
            }
        }
    }

    /// Runs one step: skipped, waiting, or its attempts until one succeeds or none is left.
    func settle(_ step: StepSpec, _ workflow: WorkflowSpec, _ tracker: RunTracker) async throws {
        let context = await tracker.state.context
        if let when = step.when, !when.evaluate(context) {
            try await tracker.update { $0.steps[step.name]?.status = .skipped }
            return
        }
        let now = d.clock.wallTime()
        let runID = await tracker.state.id
        switch step.action {
        case .approve(let message):
            try await tracker.update {
                $0.steps[step.name]?.status = .waiting
                $0.steps[step.name]?.started = now
                $0.steps[step.name]?.input = ["message": .string(message.render(context))]
            }
            publish(
                "workflow.approval",
                await tracker.state,
                ["step": .string(step.name), "message": .string(message.render(context))]
            )
            return
        case .wait(let duration):
            let until = now.addingTimeInterval(duration.seconds)
            try await tracker.update {
                $0.steps[step.name]?.status = .waiting
                $0.steps[step.name]?.started = now
                $0.steps[step.name]?.until = until
            }
            try await resume(runID, key: "resume:\(runID):\(step.name)", priority: workflow.priority, at: until)
            return
        default: break
        }
        if step.action.isInstant {
            // Nothing to wait for: done and saved at once, without a "running" save first. The
            // steps before must be stored before an event goes out.
            if case .publish = step.action { try await tracker.flush() }
            let input = inputs(step, context)
            let result = await perform(step, runID: runID, context, attempt: 1)
            let finished = d.clock.wallTime()
            try await tracker.update(durable: false) {
                $0.steps[step.name]?.attempts += 1
                $0.steps[step.name]?.input = input
                $0.steps[step.name]?.started = now
                $0.steps[step.name]?.finished = finished
                $0.steps[step.name]?.durationMs = Int64(finished.timeIntervalSince(now) * 1000)
                switch result {
                case .success(let (output, _)):
                    $0.steps[step.name]?.status = .succeeded
                    $0.steps[step.name]?.output = output
                    if case .store(.record) = step.action { $0.result = output }
                case .failure(let f):
                    $0.steps[step.name]?.status = step.fallback == nil ? .failed : .fallback
                    $0.steps[step.name]?.output = step.fallback
                    $0.steps[step.name]?.error = f.message
                }
                $0.endIfDone(workflow, at: finished)
            }
            return
        }
        var attempt = await tracker.state.steps[step.name]?.attempts ?? 0
        var delay = step.backoff
        var lastError = ""
        for tried in 0...step.retries {
            attempt += 1
            let began = ContinuousClock.now
            let input = inputs(step, context)
            let number = attempt
            try await tracker.update {
                $0.steps[step.name]?.status = .running
                $0.steps[step.name]?.attempts = number
                $0.steps[step.name]?.started = self.d.clock.wallTime()
                $0.steps[step.name]?.input = input
            }
            let result = await attemptWithin(step, runID: runID, context, attempt: attempt)
            try Task.checkCancellation()
            let ms = Int64((ContinuousClock.now - began).seconds * 1000)
            switch result {
            case .success(let (output, detail)):
                let finished = self.d.clock.wallTime()
                // The next step's start (or the run's end) waits for this save.
                try await tracker.update(durable: false) {
                    $0.steps[step.name]?.status = .succeeded
                    $0.steps[step.name]?.output = output
                    $0.steps[step.name]?.detail = detail
                    $0.steps[step.name]?.error = nil
                    $0.steps[step.name]?.finished = finished
                    $0.steps[step.name]?.durationMs = ms
                    if case .store(.record) = step.action { $0.result = output }
                    $0.endIfDone(workflow, at: finished)
                }
                publish(
                    "workflow.step",
                    await tracker.state,
                    ["step": .string(step.name), "status": "succeeded", "duration_ms": .int(ms)]
                )
                return
            case .failure(let f):
                lastError = f.message
                try await tracker.update {
                    $0.steps[step.name]?.error = f.message
                    $0.steps[step.name]?.durationMs = ms
                }
                if tried < step.retries {
                    try await Task.sleep(for: delay)
                    delay = min(delay * 2, .seconds(300))
                }
            }
        }
        let (fallback, why) = (step.fallback, lastError)
        try await tracker.update {
            $0.steps[step.name]?.finished = self.d.clock.wallTime()
            if let fallback {
                $0.steps[step.name]?.status = .fallback
                $0.steps[step.name]?.output = fallback
            } else {
                $0.steps[step.name]?.status = .failed
            }
            $0.steps[step.name]?.error = why
        }
        publish(
            "workflow.step",
            await tracker.state,
            [
                "step": .string(step.name), "status": .string(fallback == nil ? "failed" : "fallback"),
                "error": .string(lastError),
            ]
        )
    }

    /// One attempt, given up after the step's timeout.
    func attemptWithin(
        _ step: StepSpec,
        runID: String,
        _ context: JSONValue,
        attempt: Int
    ) async -> Result<
        (JSONValue, JSONValue?), FlowFailure
    > {
        await withTaskGroup(of: Result<(JSONValue, JSONValue?), FlowFailure>?.self) { group in
            group.addTask { await self.perform(step, runID: runID, context, attempt: attempt) }
            group.addTask {
                do { try await Task.sleep(for: step.timeout) } catch { return nil }
                return .failure(FlowFailure("timed out after \(DurationFormat.format(step.timeout))"))
            }
            defer { group.cancelAll() }
            while let r = await group.next() {
                if let r { return r }
            }
            return .failure(FlowFailure("cancelled"))
        }
    }

    func publish(_ type: String, _ run: RunState, _ extra: [String: JSONValue]) {
        var payload = extra
        payload["run"] = .string(run.id)
        d.bus.publish(type, source: "workflow:\(run.workflow)", subject: run.workflow, payload: .object(payload))
    }
}
