import CWardenSys
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// Keeps a node's services running: starts them in dependency order, notices every exit at once,
/// restarts by policy, probes health, honours sd_notify, and stops them in reverse order.
///
/// Run it as a ServiceLifecycle `Service`: `run()` adopts services left running by an earlier
/// Warden, starts the rest, and on graceful shutdown stops everything before returning. Inputs from
/// other threads (exits, notify messages, probe results, timers) arrive through one stream and are
/// handled one at a time, so all decisions are made by the per-service ``ServiceStateMachine``s
/// without races.
public actor Supervisor: Service {
    /// Tunables that are not part of the spec.
    public struct Options: Sendable {
        /// Fixes the jitter sequence (tests); nil draws one per service.
        public var seed: UInt64?
        /// The environment services inherit before their own `env` is applied.
        public var baseEnvironment: [String: String]
        /// What https:// probes are sent with; without one they fail, saying so.
        public var transport: (any HTTPTransport)?
        /// Where services' cgroups go (tests); nil finds the host's (see ``CgroupTree/discover``).
        public var cgroups: Result<CgroupTree, CgroupError>?

        public init(
            seed: UInt64? = nil,
            baseEnvironment: [String: String] = ProcessEnvironment.current(),
            transport: (any HTTPTransport)? = nil,
            cgroups: Result<CgroupTree, CgroupError>? = nil
        ) {
            self.seed = seed
            self.baseEnvironment = baseEnvironment
            self.transport = transport
            self.cgroups = cgroups
        }
    }

    enum Input: Sendable {
        case exited(String, UInt64, ExitStatus)
        case recheckExit(String, UInt64, ExitStatus, Int)
        /// An exited service's processes are not all gone yet: look again.
        case awaitGone(String, UInt64, ExitStatus)
        case notify(String, pid_t, NotifyMessage)
        case probe(String, UInt64, ProbeKind, ProbeResult)
        case tick
        case shutdown
    }

    enum ProbeKind: Sendable { case ready, health }

    public nonisolated let bus: EventBus
    /// CPU and memory samples of each service (`service.cpu_percent`, `service.rss_bytes`).
    public nonisolated let samples = FanOut<Sample>()
    nonisolated let clock: any WardenClock
    nonisolated let logger: Logger
    nonisolated let options: Options
    nonisolated let inputs: AsyncStream<Input>
    nonisolated let input: AsyncStream<Input>.Continuation

    var spec: Spec
    var services: [String: ManagedService] = [:]
    /// The outputs of each service's last rebuild (`${outputs.NAME}`), kept across restarts.
    var outputs: [String: [String: String]] = [:]
    /// The secrets of services' environments, by reference (see ``applySecrets(_:problems:)``).
    var secretValues: [String: Secret] = [:]
    var secretProblems: [String: String] = [:]
    var order: [String] = []
    var shuttingDown = false
    var started = false
    var tickerDeadline: Instant?
    var ticker: Task<Void, Never>?
    var statsTask: Task<Void, Never>?
    /// Where services' cgroups are made; nil when they cannot be (`cgroupProblem` says why).
    var cgroupTree: CgroupTree?
    var cgroupProblem: String?
    /// The usage of the services' processes, read by the stats task (on the actor).
    let usageSampler = GroupUsageSampler()
    /// When the stats task last measured the processes.
    var lastStatsPass: Instant?
    /// When the logs are next checked for size, and the pause before that check.
    var nextLogSweep: Instant?
    var logSweepPause: Duration = .seconds(1)
    let records: RuntimeRecords
    let logDirectory: String
    let runDirectory: String
    private var readyWaiters: [CheckedContinuation<Void, Never>] = []

    /// Creates a supervisor for `spec`; nothing starts until ``run()``.
    ///
    /// The state directory must exist and be writable (``StateDirectory`` prepares it).
    public init(
        spec: Spec,
        bus: EventBus,
        clock: any WardenClock = SystemClock(),
        logger: Logger,
        options: Options = Options()
    ) {
        self.spec = spec
        self.bus = bus
        self.clock = clock
        self.logger = logger
        self.options = options
        (inputs, input) = AsyncStream.makeStream(of: Input.self)
        logDirectory = (spec.stateDir as NSString).appendingPathComponent("logs")
        runDirectory = (spec.stateDir as NSString).appendingPathComponent("run")
        records = RuntimeRecords(directory: runDirectory)
    }

    public func run() async throws {
        _ = warden_set_child_subreaper()
        ChildReaper.shared.childrenMayExist()
        try? FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        try? FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)

        await withGracefulShutdownHandler {
            self.startUp()
            for await next in self.inputs {
                self.handle(next)
                if self.shuttingDown && self.allStopped() { break }
            }
            self.finishShutdown()
        } onGracefulShutdown: {
            self.input.yield(.shutdown)
        }
    }

    // MARK: - Commands

    /// Whether start-up (adoption and the first starts) has happened.
    public var hasStarted: Bool { started }

    /// Current state of every service, in declaration order.
    public func status() -> [ServiceStatus] {
        order.compactMap { services[$0] }.map(snapshot)
    }

    /// Starts a stopped (or failed) service; clears its failure history.
    public func start(_ name: String) throws {
        let s = try service(name)
        s.wanted = true
        if s.machine.hasProcess { return }
        startIfDependenciesReady(s, manual: true)
        afterInput()
    }

    /// Stops a service and keeps it stopped.
    public func stop(_ name: String) throws {
        let s = try service(name)
        s.wanted = false
        perform(s.machine.stop(now: clock.now()), for: s)
        if !s.machine.hasProcess { markStopped(s) }
        afterInput()
    }

    /// Restarts a service now (stop, then start without backoff); clears its failure history.
    public func restart(_ name: String) throws {
        let s = try service(name)
        s.wanted = true
        perform(s.machine.restart(now: clock.now()), for: s)
        afterInput()
    }

    /// Asks for a graceful stop of everything (the same as SIGTERM).
    public nonisolated func requestShutdown() { input.yield(.shutdown) }

    /// Waits until every wanted service is running and ready (or has failed).
    public func waitUntilSettled() async {
        if settled() { return }
        await withCheckedContinuation { readyWaiters.append($0) }
    }

    // MARK: - Loop

    func handle(_ next: Input) {
        switch next {
        case .exited(let name, let generation, let status):
            handleExit(name: name, generation: generation, status: status)
        case .recheckExit(let name, let generation, let status, let attempt):
            handleExit(name: name, generation: generation, status: status, attempt: attempt)
        case .awaitGone(let name, let generation, let status):
            handleExit(name: name, generation: generation, status: status, attempt: .max)

        case .notify(let name, let pid, let message):
            handleNotify(name: name, pid: pid, message: message)
        case .probe(let name, let generation, let kind, let result):
            handleProbe(name: name, generation: generation, kind: kind, result: result)
        case .tick:
            let now = clock.now()
            tickerDeadline = nil
            for name in order {
                guard let s = services[name], let d = s.machine.deadline, d <= now else { continue }
                perform(s.machine.tick(now: now), for: s)
            }
        case .shutdown:
            beginShutdown()
        }
        afterInput()
    }

    /// Housekeeping after every input: timers, waiters, pending reload swaps.
    func afterInput() {
        scheduleTicker()
        if settled() {
            let waiters = readyWaiters
            readyWaiters = []
            for w in waiters { w.resume() }
        }
    }

    func scheduleTicker() {
        let next = services.values.compactMap(\.machine.deadline).min()
        guard next != tickerDeadline else { return }
        ticker?.cancel()
        tickerDeadline = next
        guard let next else {
            ticker = nil
            return
        }
        let clock = self.clock
        let input = self.input
        ticker = Task {
            do {
                try await clock.sleep(until: next)
                input.yield(.tick)
            } catch {}
        }
    }

    func settled() -> Bool {
        services.values.allSatisfy { s in
            switch s.machine.state {
            case .running, .failed: return true
            case .idle: return !s.wanted || !dependenciesReady(s)
            default: return false
            }
        }
    }

    func allStopped() -> Bool { services.values.allSatisfy { !$0.machine.hasProcess } }

    func drainReadyWaiters() -> [CheckedContinuation<Void, Never>] {
        defer { readyWaiters = [] }
        return readyWaiters
    }

    // MARK: - Helpers

    func service(_ name: String) throws -> ManagedService {
        guard let s = services[name] else {
            var message = "no service named '\(name)'"
            if let guess = DidYouMean.suggest(name, from: order) { message += "; did you mean '\(guess)'?" }
            throw WardenError(.notFound, message)
        }
        return s
    }

    func publish<P: EventPayload>(_ payload: P, _ s: ManagedService) {
        bus.publish(payload, source: "supervisor", subject: s.name)
    }

    func snapshot(_ s: ManagedService) -> ServiceStatus {
        var state: String
        var nextRestart: Date?
        switch s.machine.state {
        case .idle: state = s.wanted && !dependenciesReady(s) ? "waiting" : "stopped"
        case .starting: state = "starting"
        case .running: state = "running"
        case .stopping: state = "stopping"
        case .backoff(let until):
            state = "backoff"
            nextRestart = clock.wallTime().addingTimeInterval((until - clock.now()).seconds)
        case .failed: state = "failed"
        }
        let waiting =
            state == "waiting" ? s.spec.after.filter { !(services[$0].map(isReady) ?? true) } + missingSecrets(s) : []
        return ServiceStatus(
            name: s.name,
            state: state,
            pid: s.pid,
            since: s.stateSince,
            restarts: s.machine.restarts,
            lastExit: s.lastExit?.description,
            statusText: s.statusText,
            health: s.health.map { $0.passing ? "passing" : "failing" },
            cpuPercent: s.cpuPercent,
            rssBytes: s.rssBytes,
            nextRestart: nextRestart,
            waitingFor: waiting,
            adopted: s.adopted,
            memoryBytes: s.memoryBytes,
            tasks: s.tasks,
            cgroup: s.cgroup?.primaryPath,
            limitsUnenforced: s.limitProblems.isEmpty ? nil : s.limitProblems
        )
    }

    func isReady(_ s: ManagedService) -> Bool {
        if case .running = s.machine.state { return true }
        return false
    }

    func dependenciesReady(_ s: ManagedService) -> Bool {
        s.spec.after.allSatisfy { dep in services[dep].map(isReady) ?? true } && secretsKnown(s)
    }

    func startIfDependenciesReady(_ s: ManagedService, manual: Bool) {
        guard s.wanted, !shuttingDown, !s.machine.hasProcess else { return }
        if case .backoff = s.machine.state, !manual { return }
        if case .failed = s.machine.state, !manual { return }
        guard dependenciesReady(s) else { return }
        perform(s.machine.start(now: clock.now(), manual: manual), for: s)
    }

    /// Starts whatever was waiting for `s` to become ready.
    func startDependents(of s: ManagedService) {
        for name in order {
            guard let d = services[name], d.spec.after.contains(s.name), d.wanted, case .idle = d.machine.state else {
                continue
            }
            startIfDependenciesReady(d, manual: false)
        }
    }
}
