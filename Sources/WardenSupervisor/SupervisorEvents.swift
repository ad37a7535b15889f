import WardenCore

/// The payloads of the supervisor's events, each about one service (`subject` is its name) or,
/// for the reload events, about `warden`. Their JSON keys are what the API, the dashboard, stored
/// events and policy conditions (`payload.expected`) read.

/// A process of the service was started (`instance` changes with every start).
public struct ServiceStarted: EventPayload {
    public static let type = EventType.serviceStarted
    public var pid: Int64
    public var instance: String
    /// Restarts since the service was last started by hand or by a spec change.
    public var restarts: Int
}

/// A process a previous Warden started was found running and is supervised again.
public struct ServiceAdopted: EventPayload {
    public static let type = EventType.serviceAdopted
    public var pid: Int64
    public var instance: String
}

/// The service passed its readiness check (or has none).
public struct ServiceReady: EventPayload {
    public static let type = EventType.serviceReady
    public var pid: Int64?
}

/// The service's main process ended: how (`code`, or `signal` with `core_dumped`, or `unknown`),
/// after how long, and whether Warden meant it to (`expected`: a stop, a restart, a reload).
public struct ServiceExited: EventPayload {
    public static let type = EventType.serviceExited
    public var pid: Int64
    public var code: Int?
    public var signal: String?
    public var coreDumped: Bool?
    /// Set (true) when the exit status could not be known (an adopted process, a death while
    /// Warden was down).
    public var unknown: Bool?
    public var runtimeMs: Int64?
    public var expected: Bool
    /// Set (true) when the process died while no Warden was watching.
    public var whileDown: Bool?

    enum CodingKeys: String, CodingKey {
        case pid, code, signal, unknown, expected
        case coreDumped = "core_dumped"
        case runtimeMs = "runtime_ms"
        case whileDown = "while_down"
    }

    public init(pid: Int64, status: ExitStatus, runtimeMs: Int64? = nil, expected: Bool, whileDown: Bool? = nil) {
        self.pid = pid
        switch status {
        case .exited(let code): self.code = Int(code)
        case .signaled(let sig, let core):
            signal = Signals.name(sig)
            coreDumped = core
        case .unknown: unknown = true
        }
        self.runtimeMs = runtimeMs
        self.expected = expected
        self.whileDown = whileDown
    }
}

/// The service is being stopped with `signal`.
public struct ServiceStopping: EventPayload {
    public static let type = EventType.serviceStopping
    public var signal: String
    public var pid: Int64?
}

/// The service's processes are gone and it stays down until started.
public struct ServiceStopped: EventPayload {
    public static let type = EventType.serviceStopped
}

/// The service did not stop within its stop timeout and was killed.
public struct ServiceKilled: EventPayload {
    public static let type = EventType.serviceKilled
    public var reason: String
    public var pid: Int64?
}

/// The service failed and will be started again after `delay_ms`.
public struct ServiceRestarting: EventPayload {
    public static let type = EventType.serviceRestarting
    public var delayMs: Int64
    /// Restarts in a row, this one included.
    public var attempt: Int
    public var reason: String

    enum CodingKeys: String, CodingKey {
        case attempt, reason
        case delayMs = "delay_ms"
    }
}

/// The service failed `failures` times within `window` and is given up on (until started).
public struct ServiceFailed: EventPayload {
    public static let type = EventType.serviceFailed
    public var failures: Int
    /// The restart policy's window, as written (`60s`).
    public var window: String
    public var reason: String
}

/// The service could not be started at all (no such program, a bad user, fork failed).
public struct ServiceSpawnFailed: EventPayload {
    public static let type = EventType.serviceSpawnFailed
    public var reason: String
}

/// The service said `STATUS=` over sd_notify.
public struct ServiceStatusChanged: EventPayload {
    public static let type = EventType.serviceStatus
    public var status: String
}

/// The service's main process handed over to a daemon (`MAINPID=`, or a double fork).
public struct ServiceDaemonized: EventPayload {
    public static let type = EventType.serviceDaemonized
    public var pid: Int64
    public var previousPid: Int64?

    enum CodingKeys: String, CodingKey {
        case pid
        case previousPid = "previous_pid"
    }
}

/// The service missed its sd_notify watchdog (`interval_ms`), or triggered it (`trigger`).
public struct WatchdogMissed: EventPayload {
    public static let type = EventType.watchdogMissed
    public var pid: Int64?
    public var intervalMs: Int64?
    public var trigger: Bool?

    enum CodingKeys: String, CodingKey {
        case pid, trigger
        case intervalMs = "interval_ms"
    }
}

/// A rebuild of the service began: it is stopped and its `steps` run in order.
public struct ServiceRebuilding: EventPayload {
    public static let type = EventType.serviceRebuilding
    public var steps: Int
}

/// One rebuild step ended with `status` (`exit 0`, `timed out`, …).
public struct ServiceRebuildStep: EventPayload {
    public static let type = EventType.serviceRebuildStep
    /// From 1.
    public var step: Int
    public var command: String
    public var status: String
}

/// A rebuild ended (`ok` when every step did) with the service's outputs, and it is started again.
public struct ServiceRebuilt: EventPayload {
    public static let type = EventType.serviceRebuilt
    public var ok: Bool
    public var outputs: [String: String]
}

/// The service's log file reached its size and was rotated.
public struct ServiceLogRotated: EventPayload {
    public static let type = EventType.serviceLogRotated
    public var path: String
}

/// The kernel's OOM killer killed `kills` processes of the service's cgroup (it went past its
/// `memory_max`, or the host ran out): `total` since the cgroup was made, and the memory
/// controller's event counts (`max`: times the limit was hit; `oom`: times reclaim failed).
public struct ServiceOOMKilled: EventPayload {
    public static let type = EventType.serviceOOMKilled
    public var kills: UInt64
    public var total: UInt64
    public var memoryMax: Int64?
    public var memoryBytes: UInt64?
    public var events: [String: UInt64]

    enum CodingKeys: String, CodingKey {
        case kills, total, events
        case memoryMax = "memory_max"
        case memoryBytes = "memory_bytes"
    }
}

/// Some of the service's `limits:` do not hold: each problem names the limit and why (no cgroup
/// delegated to Warden, a controller this host does not offer, a value the kernel refused). The
/// service runs without them.
public struct ServiceLimitsUnenforced: EventPayload {
    public static let type = EventType.serviceLimitsUnenforced
    public var problems: [String]
}

/// A new spec was applied by difference (`warden.reloaded`).
public struct WardenReloaded: EventPayload {
    public static let type = EventType.wardenReloaded
    public var added: [String]
    public var removed: [String]
    public var changed: [String]
}

/// A new spec was refused; the running one stays (`warden.reload_failed`).
public struct WardenReloadFailed: EventPayload {
    public static let type = EventType.wardenReloadFailed
    /// The spec's problems, each `file:line:column: key: message`.
    public var errors: [String]
}
