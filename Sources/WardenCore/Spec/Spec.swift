import Foundation

/// What a node runs and how: the typed form of `warden.yaml`, validated.
///
/// Build one with ``SpecLoader``; a `Spec` that exists has passed validation (binaries exist,
/// dependencies are acyclic, durations and sizes are in range). Relative paths have been resolved
/// against the spec file's directory.
public struct Spec: Sendable, Equatable {
    /// The file the spec was read from (as given).
    public var path: String
    /// Where Warden keeps its database, logs and runtime records (absolute).
    public var stateDir: String
    /// Default log rotation for every service.
    public var logs: LogPolicy
    /// How long records are kept.
    public var retention: RetentionPolicy
    /// How often each service's CPU and memory are sampled from /proc.
    public var statsEvery: Duration
    /// False with `stats: { every: off }`: no service's usage is sampled or stored (what a
    /// supervisor that only supervises costs; logs are still rotated).
    public var statsOn = true
    /// Whether the node's own metrics (CPU, load, memory, disks, filesystems, network, pressure)
    /// are recorded every `statsEvery` too (`stats: { host: true }`).
    public var hostMetrics = false
    /// Whether services get a cgroup each (`cgroups: auto | off`).
    public var cgroups = CgroupMode.auto
    /// The services, in the order they are declared.
    public var services: [ServiceSpec]
    /// Telemetry retention.
    public var samples: SamplesSpec
    /// What the domains' own sections (``SpecSection``) read, such as `defense:` and `healing:`.
    public var sections = SpecSections()
    /// The secret references (`env:NAME`, `file:PATH`) read while loading, never their values:
    /// each becomes an `audit.secret.read` record when the spec is put in force.
    public var secretsRead: [String] = []
    /// The Vault the spec's `vault:` section names, for secrets read after the load (services'
    /// secret environment).
    public var vault: SpecVault?

    public init(
        path: String,
        stateDir: String,
        logs: LogPolicy = LogPolicy(),
        retention: RetentionPolicy = RetentionPolicy(),
        statsEvery: Duration = .seconds(5),
        services: [ServiceSpec] = [],
        samples: SamplesSpec = SamplesSpec()
    ) {
        self.path = path
        self.stateDir = stateDir
        self.logs = logs
        self.retention = retention
        self.statsEvery = statsEvery
        self.services = services
        self.samples = samples
    }

    /// The service called `name`.
    public func service(named name: String) -> ServiceSpec? { services.first { $0.name == name } }
}

/// One supervised program.
public struct ServiceSpec: Sendable, Hashable {
    /// The name services, events and the CLI refer to it by.
    public var name: String
    /// The command line as written; `run[0]` resolves to ``executable``.
    public var run: [String]
    /// The absolute path of the program, resolved at validation.
    public var executable: String
    /// Environment added to Warden's own (a value replaces an inherited one).
    public var env: [String: String]
    /// Environment variables whose values are secrets, by reference (`vault:PATH#FIELD`,
    /// `env:NAME`, `file:PATH`): read when the service starts (it waits while they cannot be) and
    /// read again every `vault.refresh`; a changed value restarts the service.
    public var secretEnv: [String: String] = [:]
    /// Working directory (absolute); the spec file's directory when not set.
    public var cwd: String
    /// User to run as (name or uid); needs Warden to run as root.
    public var user: String?
    /// Group to run as (name or gid); defaults to the user's primary group.
    public var group: String?
    /// Services that must be ready before this one starts (and that stop after it).
    public var after: [String]
    public var restart: RestartSpec
    /// How Warden knows the service has started; nil: as soon as it is running.
    public var ready: ReadySpec?
    /// A liveness probe: failing it restarts the service.
    public var health: ProbeSpec?
    /// The longest allowed gap between sd_notify `WATCHDOG=1` messages.
    public var watchdog: Duration?
    public var stop: StopSpec
    public var logs: LogPolicy
    /// Commands that destroy and provision the service again (run in order by `rebuild`).
    public var rebuild: [CommandStep] = []
    /// What its cgroup lets it use (`limits:`); empty: no limit, only accounting.
    public var limits = ResourceLimits()

    public init(
        name: String,
        run: [String],
        executable: String,
        env: [String: String] = [:],
        cwd: String,
        user: String? = nil,
        group: String? = nil,
        after: [String] = [],
        restart: RestartSpec = RestartSpec(),
        ready: ReadySpec? = nil,
        health: ProbeSpec? = nil,
        watchdog: Duration? = nil,
        stop: StopSpec = StopSpec(),
        logs: LogPolicy = LogPolicy()
    ) {
        self.name = name
        self.run = run
        self.executable = executable
        self.env = env
        self.cwd = cwd
        self.user = user
        self.group = group
        self.after = after
        self.restart = restart
        self.ready = ready
        self.health = health
        self.watchdog = watchdog
        self.stop = stop
        self.logs = logs
    }

    /// Whether readiness comes from the service's own `READY=1` notification.
    public var usesNotify: Bool {
        if case .notify = ready?.kind { return true }
        return false
    }
}

/// When and how fast a service is restarted.
public struct RestartSpec: Sendable, Hashable {
    /// Which exits lead to a restart.
    public enum Policy: String, Sendable, Hashable, CaseIterable {
        /// Restart after any exit that Warden did not ask for, even a clean one.
        case always
        /// Restart after a non-zero exit, a signal, or a failed probe or watchdog.
        case onFailure = "on-failure"
        /// Never restart.
        case never
    }

    public var policy: Policy
    /// The first restart's delay; doubles with each consecutive failure up to `backoffMax`.
    public var backoffMin: Duration
    public var backoffMax: Duration
    /// Random spread applied to each delay: 0.2 means ±20 %.
    public var jitter: Double
    /// A run that lasts this long is stable: the backoff and the give-up count start over.
    public var resetAfter: Duration
    /// Stop restarting after this many failures within the window (nil: never give up).
    public var giveUp: GiveUp?

    public init(
        policy: Policy = .always,
        backoffMin: Duration = .milliseconds(100),
        backoffMax: Duration = .seconds(30),
        jitter: Double = 0.2,
        resetAfter: Duration = .seconds(60),
        giveUp: GiveUp? = GiveUp(count: 10, window: .seconds(300))
    ) {
        self.policy = policy
        self.backoffMin = backoffMin
        self.backoffMax = backoffMax
        self.jitter = jitter
        self.resetAfter = resetAfter
        self.giveUp = giveUp
    }
}

/// "N failures within a window".
public struct GiveUp: Sendable, Hashable {
    public var count: Int
    public var window: Duration
    public init(count: Int, window: Duration) {
        self.count = count
        self.window = window
    }
}

/// How Warden learns that a service has finished starting.
public struct ReadySpec: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// The service sends `READY=1` over `NOTIFY_SOCKET`.
        case notify
        /// A probe passes.
        case probe(ProbeSpec)
    }

    public var kind: Kind
    /// How long starting may take; past it the start counts as failed.
    public var within: Duration

    public init(kind: Kind, within: Duration = .seconds(60)) {
        self.kind = kind
        self.within = within
    }
}

/// A check of a service from the outside.
public struct ProbeSpec: Sendable, Hashable {
    public enum Check: Sendable, Hashable {
        /// GET `url`; a 2xx or 3xx answer passes.
        case http(HTTPTarget)
        /// A TCP connection to host:port is accepted.
        case tcp(host: String, port: Int)
        /// The command exits 0 (run with the service's environment and cwd).
        case exec(command: [String], executable: String)
    }

    public var check: Check
    /// The target as written when it refers to rebuild outputs (`http://${outputs.address}/healthz`):
    /// resolved, and parsed, each time the probe starts.
    public var template: (kind: String, text: String)? {
        get { templateKind.map { ($0, templateText ?? "") } }
        set {
            templateKind = newValue?.kind
            templateText = newValue?.text
        }
    }
    var templateKind: String?
    var templateText: String?
    public var every: Duration
    /// Per attempt.
    public var timeout: Duration
    /// Consecutive failures before the probe counts as failed.
    public var failures: Int
    /// Consecutive successes before a failed probe counts as passing again.
    public var successes: Int
    /// Time after start during which failures do not count.
    public var grace: Duration
    /// The grace ends early, at the first passing check (the default when `grace` is not written:
    /// a service gets up to ``defaultGrace`` to pass once, as a startup probe would).
    public var graceEndsOnPass: Bool

    /// How long a service may take to pass its first health check when the spec says nothing.
    public static let defaultGrace = Duration.seconds(60)

    public init(
        check: Check,
        every: Duration = .seconds(10),
        timeout: Duration = .seconds(1),
        failures: Int = 3,
        successes: Int = 1,
        grace: Duration? = nil
    ) {
        self.check = check
        self.every = every
        self.timeout = timeout
        self.failures = failures
        self.successes = successes
        self.grace = grace ?? Self.defaultGrace
        self.graceEndsOnPass = grace == nil
    }

    /// The check with `${outputs.NAME}` references resolved; nil when the result is not a valid
    /// target (an output missing, or not an address).
    public func resolvedCheck(_ outputs: [String: String]) -> Check? {
        guard let (kind, text) = template else { return check }
        let resolved = OutputTemplate.resolve(text, outputs)
        if resolved.contains("${") { return nil }
        switch kind {
        case "http": return HTTPTarget.parse(resolved).map(Check.http)
        default: return HostPort.parse(resolved).map { Check.tcp(host: $0.0, port: $0.1) }
        }
    }

    /// A short description for events and tables: `http://127.0.0.1:9000/healthz`, `tcp 127.0.0.1:5432`.
    public var target: String {
        if let (kind, text) = template { return kind == "http" ? text : "tcp \(text)" }
        switch check {
        case .http(let t): return t.url
        case .tcp(let host, let port): return "tcp \(host.contains(":") ? "[\(host)]" : host):\(port)"
        case .exec(let command, _): return "exec " + command.joined(separator: " ")
        }
    }
}

/// A parsed `http://host:port/path` or `https://host:port/path` probe target.
public struct HTTPTarget: Sendable, Hashable {
    public var url: String
    public var host: String
    public var port: Int
    public var path: String
    /// `https://`: the certificate is verified (against `caFile`, else the system's authorities).
    public var secure: Bool
    /// A PEM file of the authorities to trust instead of the system's (`ca:` beside the probe).
    public var caFile: String?

    public init(url: String, host: String, port: Int, path: String, secure: Bool = false, caFile: String? = nil) {
        self.url = url
        self.host = host
        self.port = port
        self.path = path
        self.secure = secure
        self.caFile = caFile
    }

    /// Parses `http://host[:port][/path]` or `https://…` (port 80 or 443 by default); nil for
    /// anything else.
    public static func parse(_ url: String) -> HTTPTarget? {
        let secure = url.hasPrefix("https://")
        guard secure || url.hasPrefix("http://") else { return nil }
        var rest = url.dropFirst(secure ? "https://".count : "http://".count)
        var path = "/"
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[slash...])
            rest = rest[..<slash]
        }
        guard let (host, port) = HostPort.parse(String(rest), defaultPort: secure ? 443 : 80) else { return nil }
        return HTTPTarget(url: url, host: host, port: port, path: path, secure: secure)
    }
}

/// `host:port` and `[v6]:port` parsing.
public enum HostPort {
    /// Splits `host:port`; `defaultPort` is used when no port is written. Nil when malformed.
    public static func parse(_ text: String, defaultPort: Int? = nil) -> (String, Int)? {
        var host = text
        var portText: String?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = String(text[text.index(after: text.startIndex)..<close])
            let after = text[text.index(after: close)...]
            if after.hasPrefix(":") { portText = String(after.dropFirst()) } else if !after.isEmpty { return nil }
        } else if let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon])
            portText = String(text[text.index(after: colon)...])
            if host.contains(":") { return nil }
        }
        guard !host.isEmpty else { return nil }
        let port: Int
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else { return nil }
            port = p
        } else {
            guard let defaultPort else { return nil }
            port = defaultPort
        }
        return (host, port)
    }
}

/// How a service is stopped.
public struct StopSpec: Sendable, Hashable {
    /// Sent to the service's whole process group.
    public var signal: Int32
    /// After this, the group gets SIGKILL.
    public var timeout: Duration

    public init(signal: Int32 = 15, timeout: Duration = .seconds(10)) {
        self.signal = signal
        self.timeout = timeout
    }
}

/// Size-based rotation of a service's output files.
public struct LogPolicy: Sendable, Hashable {
    /// Rotate when a file grows past this many bytes.
    public var maxSize: Int64
    /// Rotated files kept (`name.log.1` … `name.log.N`).
    public var keep: Int

    public init(maxSize: Int64 = 10 * 1024 * 1024, keep: Int = 5) {
        self.maxSize = maxSize
        self.keep = keep
    }
}

/// How long Warden keeps what it records.
public struct RetentionPolicy: Sendable, Hashable {
    /// Events older than this are deleted.
    public var events: Duration

    public init(events: Duration = .seconds(30 * 86400)) {
        self.events = events
    }
}

/// The spec's Vault and its session (compared by the section, not the session).
public struct SpecVault: Sendable, Equatable {
    public let session: VaultSession
    public var spec: VaultSpec { session.spec }

    public static func == (a: SpecVault, b: SpecVault) -> Bool { a.spec == b.spec }
}
