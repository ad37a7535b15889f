import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import WardenCore
import WardenSupervisor

/// Follows a branch of a git repository and keeps the node at its head: fetches every
/// `gitops.every`, on a webhook's delivery and on demand (SIGHUP, `POST /v1/reload`,
/// `POST /v1/gitops/sync`); applies a commit only when its signature verifies, its history
/// contains the applied one (unless `allow_rewrites`) and its spec validates; watches the
/// services it added or changed for `settle` and goes back to the last good commit when one
/// fails; reports drift (a running state that differs from the desired one).
///
/// Everything it does is an event (``GitOpsApplied``, ``GitOpsRefused``, …). Work is done one
/// input at a time by one loop, so a sync, a tick and a service's failure never interleave.
public actor GitOpsService: Service {
    public struct Dependencies: Sendable {
        public var spec: GitOpsSpec
        public var repository: GitRepository
        /// The node's own spec as it started: its keys go into every spec from git, and it is
        /// what the node runs before any commit (and goes back to without a good one).
        public var local: Spec
        /// Reads a spec from git (its text, its name for errors) into a full spec with the node's
        /// keys; throws its located problems.
        public var parse: @Sendable (_ text: String, _ file: String) throws(SpecErrors) -> Spec
        /// Applies a spec as SIGHUP does.
        public var apply: @Sendable (Spec) async throws -> Supervisor.ReloadSummary
        public var statuses: @Sendable () async -> [ServiceStatus]
        public var bus: EventBus
        public var clock: any WardenClock
        /// Where ``GitOpsState`` is kept.
        public var stateFile: String
        public var logger: Logger
        /// In a fleet with `waves`: asks the control plane whether a commit may be applied now.
        public var gate: (@Sendable (_ commit: String) async -> RolloutAnswer)?

        public init(
            spec: GitOpsSpec,
            repository: GitRepository,
            local: Spec,
            parse: @escaping @Sendable (_ text: String, _ file: String) throws(SpecErrors) -> Spec,
            apply: @escaping @Sendable (Spec) async throws -> Supervisor.ReloadSummary,
            statuses: @escaping @Sendable () async -> [ServiceStatus],
            bus: EventBus,
            clock: any WardenClock = SystemClock(),
            stateFile: String,
            logger: Logger,
            gate: (@Sendable (_ commit: String) async -> RolloutAnswer)? = nil
        ) {
            self.gate = gate
            self.spec = spec
            self.repository = repository
            self.local = local
            self.parse = parse
            self.apply = apply
            self.statuses = statuses
            self.bus = bus
            self.clock = clock
            self.stateFile = stateFile
            self.logger = logger
        }
    }

    /// Why a sync ran.
    public enum Trigger: String, Sendable {
        case start, interval, hook, manual
    }

    /// What a sync did.
    public enum Outcome: Sendable, Equatable {
        case applied(String)
        case unchanged(String)
        case refused(String, reason: String)
        case unreachable(String)
        /// The commit waits for its wave (`reason` from the control plane).
        case waiting(String, reason: String)
    }

    enum Input: Sendable {
        case tick
        case event(Event)
        case sync(Trigger, CheckedContinuation<Outcome, Never>?)
        case diff(CheckedContinuation<JSONValue, Never>)
    }

    /// Services a commit added or changed, watched until `deadline`.
    struct Watch {
        var commit: String
        var services: Set<String>
        var deadline: Instant
        /// Events up to this id were published before the commit was applied: not its doing.
        var since: Int64
        var problems: [String: String] = [:]
    }

    let d: Dependencies
    var state: GitOpsState
    /// The commit running (nil: the node's local spec) and its spec.
    var applied: String?
    var appliedSpec: Spec
    var head: String?
    /// The head's refusal, reported once while it stays the same.
    var refusal: (commit: String, reason: String)?
    var unreachable: String?
    var watch: Watch?
    /// A commit the control plane has not admitted yet; asked again every ``retry``.
    var waiting: (commit: String, reason: String)?
    static let retry: Duration = .seconds(2)
    var drift: [String] = []
    var lastFetch: Date?
    var nextFetch: Instant
    var timer: Task<Void, Never>?
    let inputs: AsyncStream<Input>
    let feed: AsyncStream<Input>.Continuation
    /// What the bus listener has queued and the loop not yet taken: at most one sync for the
    /// webhook and ``maxQueuedEvents`` service events, however fast they come (a webhook
    /// called in a loop, a service failing in a loop).
    let queued = Queued()
    final class Queued: Sendable {
        struct Counts {
            var hook = false
            var events = 0
            var manual: [CheckedContinuation<Outcome, Never>] = []
        }
        let m = Mutex(Counts())
        func withLock<T>(_ body: (inout Counts) -> T) -> T { m.withLock { body(&$0) } }
    }
    static let maxQueuedEvents = 64

    public init(_ dependencies: Dependencies) {
        d = dependencies
        state = GitOpsState.load(dependencies.stateFile)
        appliedSpec = dependencies.local
        nextFetch = dependencies.clock.now()
        (inputs, feed) = AsyncStream.makeStream(of: Input.self, bufferingPolicy: .unbounded)
    }

    // MARK: - Asking

    /// Fetches and applies now; returns what happened.
    public func sync(_ trigger: Trigger = .manual) async -> Outcome {
        await withCheckedContinuation { (c: CheckedContinuation<Outcome, Never>) in
            // Callers that ask while a sync of theirs is queued share its outcome.
            let first = queued.withLock { q in
                defer { q.manual.append(c) }
                return q.manual.isEmpty
            }
            if first { feed.yield(.sync(trigger, nil)) }
        }
    }

    /// What the next sync would change: the head, its verdict and the difference from the
    /// running spec.
    public func diff() async -> JSONValue {
        await withCheckedContinuation { feed.yield(.diff($0)) }
    }

    /// Where the node stands.
    public func status() -> JSONValue {
        var o: [String: JSONValue] = [
            "repository": .string(d.spec.repository), "branch": .string(d.spec.branch), "path": .string(d.spec.path),
            "head": head.map(JSONValue.string) ?? .null, "applied": applied.map(JSONValue.string) ?? .null,
            "good": state.good.map(JSONValue.string) ?? .null,
            "drift": .array(drift.map(JSONValue.string)),
            "in_sync": .bool(drift.isEmpty && unreachable == nil),
        ]
        if let refusal {
            o["refused"] = .object(["commit": .string(refusal.commit), "reason": .string(refusal.reason)])
        }
        if let unreachable { o["unreachable"] = .string(unreachable) }
        if let waiting {
            o["waiting"] = .object(["commit": .string(waiting.commit), "reason": .string(waiting.reason)])
        }
        if let lastFetch { o["last_fetch"] = .string(ISO8601DateFormatter().string(from: lastFetch)) }
        if let watch {
            o["settling"] = .object([
                "commit": .string(watch.commit), "services": .array(watch.services.sorted().map(JSONValue.string)),
            ])
        }
        return .object(o)
    }

    // MARK: - Running

    public func run() async throws {
        let types: Set<String> = [
            EventType.serviceRestarting, EventType.serviceFailed, EventType.serviceSpawnFailed,
            EventType.probeFailed, EventType.serviceStopped, EventType.serviceStarted, EventType.serviceReady,
        ]
        let hookSource = d.spec.hook.map { "hook:\($0)" }
        let failures: Set<String> = [
            EventType.serviceRestarting, EventType.serviceFailed, EventType.serviceSpawnFailed, EventType.probeFailed,
        ]
        // Only the supervisor speaks for services (a published `service.*` event is not).
        let subscription = d.bus.subscribe(name: "gitops", capacity: 1000) { event in
            (types.contains(event.type) && event.source == "supervisor")
                || (hookSource != nil && event.source == hookSource)
        }
        let (feed, queued) = (self.feed, self.queued)
        let listener = Task {
            for await event in subscription {
                if let hookSource, event.source == hookSource {
                    let first = queued.withLock { q in
                        defer { q.hook = true }
                        return !q.hook
                    }
                    if first { feed.yield(.sync(.hook, nil)) }
                } else {
                    // Past the cap, events are dropped: the end of a watch and the next tick
                    // look at the services' states themselves.
                    // A failure is never dropped (the bus's own buffer bounds them).
                    let room = queued.withLock { q in
                        guard q.events < Self.maxQueuedEvents || failures.contains(event.type) else { return false }
                        q.events += 1
                        return true
                    }
                    if room { feed.yield(.event(event)) }
                }
            }
        }
        defer {
            listener.cancel()
            timer?.cancel()
        }
        feed.yield(.sync(.start, nil))
        await cancelWhenGracefulShutdown {
            for await input in self.inputs {
                await self.handle(input)
            }
        }
    }

    func handle(_ input: Input) async {
        switch input {
        case .sync(let trigger, let reply):
            if trigger == .hook { queued.withLock { $0.hook = false } }
            // Callers that come while this sync runs get the next one.
            let callers = queued.withLock { q in
                defer { q.manual = [] }
                return q.manual
            }
            let outcome = await fetchAndApply(trigger)
            nextFetch = d.clock.now() + d.spec.every
            await checkDrift()
            rearm()
            reply?.resume(returning: outcome)
            for c in callers { c.resume(returning: outcome) }
        case .tick:
            if let watch, d.clock.now() >= watch.deadline { await endWatch() }
            if d.clock.now() >= nextFetch {
                _ = await fetchAndApply(.interval)
                nextFetch = d.clock.now() + d.spec.every
            } else if let waiting, waiting.commit == head {
                _ = await consider(waiting.commit, trigger: .interval)
            }
            await checkDrift()
            rearm()
        case .event(let event):
            queued.withLock { $0.events -= 1 }
            if let w = watch, event.id > w.since, w.services.contains(event.subject), let problem = Self.problem(event)
            {
                watch?.problems[event.subject] = problem
                await rollBack()
                rearm()
            }
            if [EventType.serviceStopped, EventType.serviceFailed, EventType.serviceStarted, EventType.serviceReady]
                .contains(event.type)
            {
                await checkDrift()
            }
        case .diff(let reply):
            reply.resume(returning: await describeHead())
        }
    }

    /// Wakes the loop at the next fetch or the end of the watch, whichever is first.
    func rearm() {
        timer?.cancel()
        var deadline = min(nextFetch, watch?.deadline ?? nextFetch)
        if waiting != nil { deadline = min(deadline, d.clock.now() + Self.retry) }
        let (clock, feed) = (d.clock, feed)
        timer = Task {
            do { try await clock.sleep(until: deadline) } catch { return }
            feed.yield(.tick)
        }
    }

    /// Why `event` means a watched service is not healthy, or nil.
    static func problem(_ event: Event) -> String? {
        func field(_ name: String) -> String? {
            if case .object(let o) = event.payload, case .string(let s)? = o[name] { return s }
            return nil
        }
        switch event.type {
        case EventType.serviceRestarting: return "it failed and is restarting: \(field("reason") ?? "")"
        case EventType.serviceFailed: return "it was given up on: \(field("reason") ?? "")"
        case EventType.serviceSpawnFailed: return "it could not be started: \(field("reason") ?? "")"
        case EventType.probeFailed: return "its health check fails: \(field("detail") ?? "")"
        default: return nil
        }
    }

    // MARK: - Syncing

    func fetchAndApply(_ trigger: Trigger) async -> Outcome {
        let commit: String
        do {
            commit = try await d.repository.fetch(d.spec.repository, branch: d.spec.branch)
            lastFetch = d.clock.wallTime()
            if unreachable != nil {
                unreachable = nil
                publish(GitOpsReachable(repository: d.spec.repository))
            }
        } catch {
            if unreachable != error.description {
                d.logger.warning(
                    "the spec repository cannot be fetched; the node keeps its running state",
                    metadata: ["warden.error": "\(error.description)"]
                )
                if unreachable == nil {
                    publish(
                        GitOpsUnreachable(repository: d.spec.repository, error: error.description, running: applied)
                    )
                }
                unreachable = error.description
            }
            // Started without the repository: the last good commit, if the mirror holds it.
            await fallBackOnGood(fromMirror: true)
            return .unreachable(error.description)
        }
        head = commit
        let outcome = await consider(commit, trigger: trigger)
        // A node that runs nothing from git yet and cannot take the head (refused, or waiting for
        // its wave) runs the last good commit.
        switch outcome {
        case .refused, .waiting: await fallBackOnGood(fromMirror: false)
        default: break
        }
        return outcome
    }

    /// With nothing from git applied yet (a start), applies the last good commit.
    func fallBackOnGood(fromMirror: Bool) async {
        guard applied == nil, let good = state.good, good != head || fromMirror,
            let resolved = await d.repository.resolve(good)
        else { return }
        let (kept, keptWaiting) = (refusal, waiting)
        _ = await consider(resolved, trigger: .start, fromMirror: fromMirror, fallback: true)
        if let kept { refusal = kept }
        waiting = keptWaiting
    }

    /// Verifies, loads and applies `commit`.
    func consider(
        _ commit: String,
        trigger: Trigger,
        fromMirror: Bool = false,
        fallback: Bool = false
    ) async -> Outcome {
        if commit == applied { return .unchanged(commit) }
        if !fallback, let why = state.bad[commit] { return refuse(commit, why) }
        var rewritten = false
        // The baseline survives restarts: what was applied last (persisted), else the last good.
        if !fallback, let base = applied ?? state.applied ?? state.good, base != commit,
            await d.repository.contains(commit, ancestor: base) != true
        {
            guard d.spec.allowRewrites else {
                return refuse(
                    commit,
                    "the branch's history was rewritten (a force push?): \(commit.prefix(12)) does not contain the "
                        + "applied \(base.prefix(12)); set gitops.allow_rewrites to follow such a branch"
                )
            }
            rewritten = true
        }
        let signer: String
        switch await d.repository.verify(commit, trust: d.spec.trust) {
        case .good(let who): signer = who
        case .refused(let why): return refuse(commit, why)
        }
        let desired: Spec
        do {
            desired = try await load(commit)
        } catch let problem as LoadProblem {
            return refuse(commit, problem.reason, errors: problem.errors)
        } catch {
            return refuse(commit, "\(error)")
        }
        var wave: Int?
        // The last good commit was admitted before: a restart does not ask again.
        if let gate = d.gate, !fallback, commit != state.good {
            let answer = await gate(commit)
            guard answer.admit else {
                if waiting?.commit != commit || waiting?.reason != answer.reason {
                    publish(GitOpsWaiting(commit: commit, wave: answer.wave, reason: answer.reason))
                }
                waiting = (commit, answer.reason)
                return .waiting(commit, reason: answer.reason)
            }
            wave = answer.wave
        }
        waiting = nil
        let summary: Supervisor.ReloadSummary
        do {
            summary = try await d.apply(desired)
        } catch {
            return refuse(commit, "applying it failed: \(error)")
        }
        let previous = applied
        let since = d.bus.lastID
        applied = commit
        appliedSpec = desired
        if !fallback { refusal = nil }
        if state.applied != commit {
            state.applied = commit
            persist()
        }
        await d.repository.mark("refs/warden/applied", commit)
        let info = await d.repository.info(commit)
        publish(
            GitOpsApplied(
                commit: commit,
                previous: previous,
                signer: signer,
                subject: info?.subject ?? "",
                added: summary.added,
                removed: summary.removed,
                changed: summary.changed,
                rewritten: rewritten ? true : nil,
                fromMirror: fromMirror ? true : nil,
                wave: wave
            )
        )
        d.logger.info(
            "applied a commit from the spec repository",
            metadata: ["warden.commit": "\(commit)", "warden.trigger": "\(trigger.rawValue)"]
        )
        let touched = Set(summary.added + summary.changed)
        if commit == state.good {
            // It settled before (a restart, a fallback): a hiccup now is not the commit's doing.
            watch = nil
        } else if d.spec.settle > .zero && (!touched.isEmpty || watch != nil) {
            // A commit that comes while another settles inherits its services: it holds what
            // that one changed, and it is good only once they all are.
            let deadline = d.clock.now() + d.spec.settle
            watch = Watch(
                commit: commit,
                services: touched.union(watch?.services ?? []),
                deadline: max(deadline, watch?.deadline ?? deadline),
                since: since
            )
        } else {
            watch = nil
            settle(commit)
        }
        return .applied(commit)
    }

    struct LoadProblem: Error {
        var reason: String
        var errors: [String]?
    }

    /// The spec at `commit`, validated, with the node's keys.
    func load(_ commit: String) async throws -> Spec {
        let bytes: [UInt8]
        do {
            bytes = try await d.repository.file(d.spec.path, at: commit)
        } catch {
            throw LoadProblem(reason: error.description)
        }
        let file = "git:\(commit.prefix(12)):\(d.spec.path)"
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw LoadProblem(reason: "\(file) is not UTF-8")
        }
        do {
            try SpecLoader.refuseTopKeys(
                GitOpsSpec.nodeKeys,
                in: text,
                file: file,
                why: "belongs to the node: set it in the node's own spec, not in the repository"
            )
            return try d.parse(text, file)
        } catch {
            let issues = error.issues.map(\.description)
            throw LoadProblem(
                reason: "the spec does not validate (\(issues.count) problem\(issues.count == 1 ? "" : "s"))",
                errors: Array(issues.prefix(50))
            )
        }
    }

    func refuse(_ commit: String, _ reason: String, errors: [String]? = nil) -> Outcome {
        if refusal?.commit != commit || refusal?.reason != reason {
            refusal = (commit, reason)
            publish(GitOpsRefused(commit: commit, reason: reason, errors: errors))
            d.logger.error(
                "a commit of the spec repository was refused",
                metadata: ["warden.commit": "\(commit)", "warden.reason": "\(reason)"]
            )
        }
        return .refused(commit, reason: reason)
    }

    func settle(_ commit: String) {
        guard state.good != commit else { return }
        state.good = commit
        persist()
        Task { [repository = d.repository] in await repository.mark("refs/warden/good", commit) }
        publish(GitOpsSettled(commit: commit))
    }

    // MARK: - Helpers

    func publish<P: EventPayload>(_ payload: P) {
        d.bus.publish(payload, source: "gitops", subject: "gitops")
    }

    func persist() {
        do {
            try state.save(d.stateFile)
        } catch {
            d.logger.error("cannot save the gitops state", metadata: ["warden.error": "\(error)"])
        }
    }
}
