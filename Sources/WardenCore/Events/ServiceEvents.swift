/// Event type names. The supervisor's are here: a service's life, its checks and Warden's own
/// start and stop, each about a service (or `warden`); their payloads are small and read mostly by
/// people and by policy conditions (`payload.expected`); the one another domain reads by field is
/// typed below. Each domain adds its own names in an extension next to its code (HealEvents,
/// DefenseEvents, …). Events posted through the API are free-form but dotted.
public enum EventType {
    public static let serviceStarting = "service.starting"
    public static let serviceStarted = "service.started"
    public static let serviceReady = "service.ready"
    public static let serviceExited = "service.exited"
    public static let serviceRestarting = "service.restarting"
    public static let serviceFailed = "service.failed"
    public static let serviceStopping = "service.stopping"
    public static let serviceStopped = "service.stopped"
    public static let serviceKilled = "service.killed"
    public static let serviceAdopted = "service.adopted"
    public static let serviceDaemonized = "service.daemonized"
    public static let serviceStatus = "service.status"
    public static let serviceSpawnFailed = "service.spawn_failed"
    public static let serviceRebuilding = "service.rebuilding"
    public static let serviceRebuildStep = "service.rebuild_step"
    public static let serviceRebuilt = "service.rebuilt"
    public static let serviceLogRotated = "service.log_rotated"
    public static let serviceOOMKilled = "service.oom_killed"
    public static let serviceLimitsUnenforced = "service.limits_unenforced"
    public static let probeFailed = "probe.failed"
    public static let probeRecovered = "probe.recovered"
    public static let watchdogMissed = "watchdog.missed"
    public static let wardenStarted = "warden.started"
    public static let wardenStopping = "warden.stopping"
    public static let wardenStopped = "warden.stopped"
    public static let wardenReloaded = "warden.reloaded"
    public static let wardenReloadFailed = "warden.reload_failed"
    public static let busDropped = "bus.dropped"
}

/// A check of a service failed enough times in a row (`probe.failed`), or passed again
/// (`probe.recovered`, without `target` and `consecutive`).
public struct ProbeResultEvent: EventPayload {
    public static let type = EventType.probeFailed
    /// Which check: `health`.
    public var probe: String
    public var target: String?
    public var detail: String
    /// Failures in a row.
    public var consecutive: Int?

    public init(probe: String, target: String? = nil, detail: String, consecutive: Int? = nil) {
        self.probe = probe
        self.target = target
        self.detail = detail
        self.consecutive = consecutive
    }
}

/// Subscribers too slow to keep up lost events (`bus.dropped`): how many since the last report,
/// in all, and by subscriber.
public struct BusDropped: EventPayload {
    public static let type = EventType.busDropped
    public var dropped: Int64
    public var total: Int64
    public var subscribers: [String: Int64]
}
