import Foundation
import WardenCore

/// A snapshot of one service, for `warden status` and the API.
public struct ServiceStatus: Codable, Sendable, Hashable {
    public var name: String
    /// `running`, `starting`, `stopping`, `backoff`, `failed`, `stopped`, `waiting`.
    public var state: String
    public var pid: Int32?
    /// When the current state began.
    public var since: Date?
    /// Automatic restarts since Warden started (or since it was adopted).
    public var restarts: Int
    /// How the last run ended.
    public var lastExit: String?
    /// The last `STATUS=` line the service sent over sd_notify.
    public var statusText: String?
    /// `passing` or `failing` when the service has a health probe.
    public var health: String?
    /// CPU use of the service's process group, in percent of one core.
    public var cpuPercent: Double?
    /// Resident memory of the service's process group, in bytes.
    public var rssBytes: Int64?
    /// When a restart is scheduled.
    public var nextRestart: Date?
    /// Dependencies that are not ready yet, when waiting.
    public var waitingFor: [String]
    /// Whether this process was adopted from an earlier Warden.
    public var adopted: Bool
    /// Memory charged to the service's cgroup, page cache included (with a cgroup only).
    public var memoryBytes: Int64?
    /// Processes and threads in the service's cgroup.
    public var tasks: Int64?
    /// The service's cgroup directory (on cgroup v1, its memory hierarchy's).
    public var cgroup: String?
    /// The `limits:` that do not hold, each with the reason.
    public var limitsUnenforced: [String]?

    enum CodingKeys: String, CodingKey {
        case name, state, pid, since, restarts, health, adopted
        case lastExit = "last_exit"
        case statusText = "status_text"
        case cpuPercent = "cpu_percent"
        case rssBytes = "rss_bytes"
        case nextRestart = "next_restart"
        case waitingFor = "waiting_for"
        case memoryBytes = "memory_bytes"
        case tasks, cgroup
        case limitsUnenforced = "limits_unenforced"
    }

    public init(
        name: String,
        state: String,
        pid: Int32? = nil,
        since: Date? = nil,
        restarts: Int = 0,
        lastExit: String? = nil,
        statusText: String? = nil,
        health: String? = nil,
        cpuPercent: Double? = nil,
        rssBytes: Int64? = nil,
        nextRestart: Date? = nil,
        waitingFor: [String] = [],
        adopted: Bool = false,
        memoryBytes: Int64? = nil,
        tasks: Int64? = nil,
        cgroup: String? = nil,
        limitsUnenforced: [String]? = nil
    ) {
        self.name = name
        self.state = state
        self.pid = pid
        self.since = since
        self.restarts = restarts
        self.lastExit = lastExit
        self.statusText = statusText
        self.health = health
        self.cpuPercent = cpuPercent
        self.rssBytes = rssBytes
        self.nextRestart = nextRestart
        self.waitingFor = waitingFor
        self.adopted = adopted
        self.memoryBytes = memoryBytes
        self.tasks = tasks
        self.cgroup = cgroup
        self.limitsUnenforced = limitsUnenforced
    }
}
