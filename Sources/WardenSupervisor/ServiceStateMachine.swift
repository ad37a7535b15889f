import WardenCore

/// The life of one service, as a pure state machine: it decides, the ``Supervisor`` acts.
///
/// Every input carries the current time, and the machine returns the actions to perform; it does
/// no I/O and reads no clock, so its timing (backoff with jitter, the stable-run reset, give-up
/// after N failures in a window, stop escalation, readiness and watchdog deadlines) is tested with
/// made-up instants. ``deadline`` tells the driver when to call ``tick(now:)`` next.
public struct ServiceStateMachine: Sendable {
    /// The timing rules of one service.
    public struct Configuration: Sendable, Hashable {
        public var restart: RestartSpec
        public var stopSignal: Int32
        public var stopTimeout: Duration
        /// Set when the service has a readiness check: how long starting may take.
        public var readyWithin: Duration?
        /// Set when the service must send `WATCHDOG=1` at least this often once ready.
        public var watchdog: Duration?

        public init(
            restart: RestartSpec = RestartSpec(),
            stopSignal: Int32 = 15,
            stopTimeout: Duration = .seconds(10),
            readyWithin: Duration? = nil,
            watchdog: Duration? = nil
        ) {
            self.restart = restart
            self.stopSignal = stopSignal
            self.stopTimeout = stopTimeout
            self.readyWithin = readyWithin
            self.watchdog = watchdog
        }

        /// The rules a service spec declares.
        public init(_ spec: ServiceSpec) {
            self.init(
                restart: spec.restart,
                stopSignal: spec.stop.signal,
                stopTimeout: spec.stop.timeout,
                readyWithin: spec.ready?.within,
                watchdog: spec.watchdog
            )
        }
    }

    /// Why a running service is being stopped.
    public enum StopReason: Sendable, Hashable, CustomStringConvertible {
        /// Someone asked for it to stop (it stays stopped).
        case requested
        /// Someone asked for a restart (it starts again at once, with no backoff).
        case restart
        /// It failed a check; this counts as a failure and the restart policy applies.
        case unhealthy(String)

        public var description: String {
            switch self {
            case .requested: return "requested"
            case .restart: return "restart requested"
            case .unhealthy(let why): return why
            }
        }
    }

    public enum State: Sendable, Hashable {
        /// Not running and not meant to be: never started, stopped, or finished for good.
        case idle
        /// Spawned; waiting for its readiness check.
        case starting(since: Instant)
        /// Ready.
        case running(since: Instant)
        /// Asked to stop; `killed` once SIGKILL was sent.
        case stopping(since: Instant, reason: StopReason, killed: Bool)
        /// Waiting to be restarted.
        case backoff(until: Instant)
        /// Gave up after too many failures; only a start or restart from a person revives it.
        case failed
    }

    /// What the driver must do.
    public enum Action: Sendable, Hashable {
        /// Spawn the process now.
        case spawn
        /// Send this signal to the service's process group.
        case signal(Int32)
        /// Send SIGKILL to the service's process group.
        case kill
        /// A restart is scheduled after `delay` (already reflected in the state).
        case restartScheduled(delay: Duration, attempt: Int, reason: String)
        /// The machine gave up: `failures` failures within `window`.
        case gaveUp(failures: Int, window: Duration, reason: String)
        /// Readiness did not come within the allowed time.
        case readyTimedOut
        /// No `WATCHDOG=1` came within the watchdog interval.
        case watchdogMissed
        /// The stop timed out; SIGKILL was sent.
        case stopTimedOut
    }

    public private(set) var state: State = .idle
    public let configuration: Configuration
    /// Automatic restarts so far (not counting manual ones).
    public private(set) var restarts = 0
    /// Consecutive failures since the last stable run; drives the backoff.
    public private(set) var consecutiveFailures = 0
    /// Times of recent failures, for the give-up window.
    public private(set) var recentFailures: [Instant] = []
    /// When the watchdog fires unless a `WATCHDOG=1` arrives.
    public private(set) var watchdogDeadline: Instant?
    private var readyDeadline: Instant?
    private var runStarted: Instant?
    private var random: SplitMix64

    /// Creates an idle machine; `seed` fixes the jitter sequence (tests), nil seeds randomly.
    public init(configuration: Configuration, seed: UInt64? = nil) {
        self.configuration = configuration
        self.random = SplitMix64(seed: seed ?? UInt64.random(in: 0...UInt64.max))
    }

    /// Whether a process is meant to be alive in this state.
    public var hasProcess: Bool {
        switch state {
        case .starting, .running, .stopping: return true
        case .idle, .backoff, .failed: return false
        }
    }

    /// The next instant at which ``tick(now:)`` has something to do, if any.
    public var deadline: Instant? {
        switch state {
        case .backoff(let until): return until
        case .starting: return readyDeadline
        case .running: return watchdogDeadline
        case .stopping(let since, _, let killed): return killed ? nil : since + configuration.stopTimeout
        case .idle, .failed: return nil
        }
    }

    // MARK: - Inputs

    /// A start: from idle, failed or backoff it spawns at once. `manual` (a person asked) clears the
    /// failure history, so that a service that gave up can always be started again by hand.
    public mutating func start(now: Instant, manual: Bool = true) -> [Action] {
        switch state {
        case .idle, .failed, .backoff:
            if manual { clearFailures() }
            return beginSpawn(now: now)
        case .starting, .running, .stopping:
            return []
        }
    }

    /// The spawn succeeded; without a readiness check the service is ready at once.
    public mutating func spawned(now: Instant) {
        runStarted = now
        watchdogDeadline = nil
        if let within = configuration.readyWithin {
            state = .starting(since: now)
            readyDeadline = now + within
        } else {
            state = .running(since: now)
            armWatchdog(now: now)
        }
    }

    /// The spawn failed (the program could not be executed): a failure like any other.
    public mutating func spawnFailed(now: Instant, reason: String) -> [Action] {
        runStarted = now
        return failure(now: now, reason: reason)
    }

    /// A process that was already running when Warden started is now supervised.
    public mutating func adopted(now: Instant) {
        runStarted = now
        state = .running(since: now)
        armWatchdog(now: now)
    }

    /// The readiness check passed (or `READY=1` arrived). Returns whether this changed anything.
    @discardableResult
    public mutating func ready(now: Instant) -> Bool {
        guard case .starting = state else { return false }
        state = .running(since: now)
        readyDeadline = nil
        armWatchdog(now: now)
        return true
    }

    /// `WATCHDOG=1` arrived.
    public mutating func watchdogPing(now: Instant) {
        switch state {
        case .starting, .running: armWatchdog(now: now)
        default: break
        }
    }

    /// `EXTEND_TIMEOUT_USEC`: starting (or stopping) may take `extra` longer from now.
    public mutating func extendTimeout(by extra: Duration, now: Instant) {
        if case .starting = state, let d = readyDeadline { readyDeadline = max(d, now + extra) }
    }

    /// The main process exited.
    ///
    /// `cause` replaces the status in the failure's reason when the supervisor knows more (the
    /// OOM killer sent the SIGKILL).
    public mutating func exited(_ status: ExitStatus, now: Instant, cause: String? = nil) -> [Action] {
        switch state {
        case .stopping(_, let reason, _):
            switch reason {
            case .requested:
                state = .idle
                return []
            case .restart:
                return beginSpawn(now: now)
            case .unhealthy(let why):
                return failure(now: now, reason: why)
            }
        case .starting, .running:
            let policy = configuration.restart.policy
            let wantsRestart: Bool
            switch policy {
            case .always: wantsRestart = true
            case .onFailure: wantsRestart = !status.isSuccess
            case .never: wantsRestart = false
            }
            if !wantsRestart {
                state = .idle
                watchdogDeadline = nil
                return []
            }
            return failure(now: now, reason: cause ?? "\(status)")
        case .idle, .backoff, .failed:
            return []
        }
    }

    /// Stop the service and keep it stopped.
    public mutating func stop(now: Instant) -> [Action] {
        switch state {
        case .starting, .running:
            state = .stopping(since: now, reason: .requested, killed: false)
            watchdogDeadline = nil
            return [.signal(configuration.stopSignal)]
        case .stopping(let since, _, let killed):
            state = .stopping(since: since, reason: .requested, killed: killed)
            return []
        case .backoff, .failed:
            state = .idle
            return []
        case .idle:
            return []
        }
    }

    /// Restart by request: stop if running, then start at once with a clean failure history.
    public mutating func restart(now: Instant) -> [Action] {
        clearFailures()
        switch state {
        case .starting, .running:
            state = .stopping(since: now, reason: .restart, killed: false)
            watchdogDeadline = nil
            return [.signal(configuration.stopSignal)]
        case .stopping(let since, _, let killed):
            state = .stopping(since: since, reason: .restart, killed: killed)
            return []
        case .idle, .backoff, .failed:
            return beginSpawn(now: now)
        }
    }

    /// A liveness check failed: stop the service; its exit then counts as a failure.
    public mutating func unhealthy(_ reason: String, now: Instant) -> [Action] {
        switch state {
        case .starting, .running:
            state = .stopping(since: now, reason: .unhealthy(reason), killed: false)
            watchdogDeadline = nil
            readyDeadline = nil
            return [.signal(configuration.stopSignal)]
        default:
            return []
        }
    }

    /// Time has passed; acts on whichever deadline is due.
    public mutating func tick(now: Instant) -> [Action] {
        switch state {
        case .backoff(let until) where now >= until:
            restarts += 1
            return beginSpawn(now: now)
        case .starting where readyDeadline.map({ now >= $0 }) ?? false:
            readyDeadline = nil
            return [.readyTimedOut]
                + unhealthy("not ready within \(DurationFormat.format(configuration.readyWithin ?? .zero))", now: now)
        case .running where watchdogDeadline.map({ now >= $0 }) ?? false:
            let interval = configuration.watchdog ?? .zero
            return [.watchdogMissed] + unhealthy("no watchdog ping for \(DurationFormat.format(interval))", now: now)
        case .stopping(let since, let reason, false) where now >= since + configuration.stopTimeout:
            state = .stopping(since: since, reason: reason, killed: true)
            return [.stopTimedOut, .kill]
        default:
            return []
        }
    }

    // MARK: - Internals

    /// The delay before automatic restart number `attempt` (1-based), before jitter: the first
    /// delay, doubled per consecutive failure up to the longest. A first delay of zero restarts at
    /// once the first time, then grows from ``zeroFloorStep`` (or the longest delay, if shorter),
    /// so that a crash loop still backs off; only `0..0` always restarts at once.
    public func baseDelay(attempt: Int) -> Duration {
        let r = configuration.restart
        if r.backoffMax <= .zero { return .zero }
        var floor = r.backoffMin
        var exponent = attempt - 1
        if floor <= .zero {
            if attempt <= 1 { return .zero }
            floor = min(r.backoffMax, Self.zeroFloorStep)
            exponent = attempt - 2
        }
        let scaled = Double(floor.nanoseconds) * pow2(min(max(exponent, 0), 62))
        return scaled >= Double(r.backoffMax.nanoseconds) ? r.backoffMax : .nanoseconds(Int64(scaled))
    }

    /// Where a backoff whose first delay is zero grows from after its first restart.
    public static let zeroFloorStep = Duration.milliseconds(100)

    private mutating func beginSpawn(now: Instant) -> [Action] {
        state = .starting(since: now)
        readyDeadline = nil
        watchdogDeadline = nil
        return [.spawn]
    }

    private mutating func clearFailures() {
        consecutiveFailures = 0
        recentFailures.removeAll()
    }

    private mutating func armWatchdog(now: Instant) {
        watchdogDeadline = configuration.watchdog.map { now + $0 }
    }

    private mutating func failure(now: Instant, reason: String) -> [Action] {
        watchdogDeadline = nil
        readyDeadline = nil
        let r = configuration.restart
        if let started = runStarted, now - started >= r.resetAfter { clearFailures() }
        if r.policy == .never {
            state = .failed
            return [.gaveUp(failures: 1, window: .zero, reason: reason)]
        }
        consecutiveFailures += 1
        if let giveUp = r.giveUp {
            recentFailures.removeAll { now - $0 >= giveUp.window }
            recentFailures.append(now)
            if recentFailures.count >= giveUp.count {
                state = .failed
                return [.gaveUp(failures: recentFailures.count, window: giveUp.window, reason: reason)]
            }
        }
        let delay = jittered(baseDelay(attempt: consecutiveFailures))
        if delay <= .zero {
            restarts += 1
            return [.restartScheduled(delay: .zero, attempt: consecutiveFailures, reason: reason)]
                + beginSpawn(now: now)
        }
        state = .backoff(until: now + delay)
        return [.restartScheduled(delay: delay, attempt: consecutiveFailures, reason: reason)]
    }

    private mutating func jittered(_ delay: Duration) -> Duration {
        let j = configuration.restart.jitter
        guard j > 0, delay > .zero else { return delay }
        let unit = random.nextUnit() * 2 - 1  // [-1, 1)
        let ns = Double(delay.nanoseconds) * (1 + j * unit)
        let capped = min(ns, Double(configuration.restart.backoffMax.nanoseconds))
        return .nanoseconds(Int64(max(0, capped)))
    }

    private func pow2(_ n: Int) -> Double { Double(sign: .plus, exponent: n, significand: 1) }
}
