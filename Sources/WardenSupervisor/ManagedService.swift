import Foundation
import Metrics
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// Everything the supervisor tracks about one service. Confined to the ``Supervisor`` actor.
final class ManagedService {
    var spec: ServiceSpec
    var machine: ServiceStateMachine
    /// Whether it should be running (false after a stop request or during shutdown).
    var wanted = false
    /// A spec to switch to once the current instance has stopped (reload of a changed service).
    var pendingSpec: ServiceSpec?
    /// Remove the service once it has stopped (reload removed it).
    var removeWhenStopped = false

    /// Bumped at every spawn or adoption: inputs from an older instance are ignored.
    var generation: UInt64 = 0
    var pid: pid_t?
    var pgid: pid_t?
    var startTime: UInt64 = 0
    var instance = ""
    var adopted = false
    /// Until when an exit waits for the service's processes to be really gone before it is handled.
    var goneDeadline: Instant?
    /// The main process before `MAINPID=` moved it, while it may still run.
    var formerMain: pid_t?
    /// For processes that are not Warden's children (adopted): their pidfd and its watch.
    var pidfd: Int32 = -1
    var pidfdToken: UInt64?

    var notify: NotifySocket?
    var probeTask: Task<Void, Never>?
    var health: ProbeTracker?
    var spawnedAt: Instant?
    /// When the current process started (wall clock; kept across adoption).
    var startedAt: Date?

    var stateSince: Date
    var lastExit: ExitStatus?
    var statusText: String?
    var cpuPercent: Double?
    var rssBytes: Int64?
    var lastCPU: (ticks: UInt64, at: Instant)?
    /// Its cgroup while it has one (see ``Supervisor/joinCgroup(_:)``).
    var cgroup: ServiceCgroup?
    /// The cgroup's OOM kills already reported.
    var oomKills: UInt64 = 0
    /// The cgroup's OOM kills when the current process started.
    var oomKillsAtStart: UInt64 = 0
    /// The limits that did not hold at the last start.
    var limitProblems: [String] = []
    /// Memory charged to the cgroup (page cache included) and its tasks, at the last stats pass.
    var memoryBytes: Int64?
    var tasks: Int64?
    var lastCgroupCPU: (micros: UInt64, at: Instant)?
    /// The cgroup's usage as last read in full, and the stats passes since then that found its
    /// CPU time and memory unmoved (see ``Supervisor/recordCgroupUsage(now:wall:into:)``).
    var lastCgroupUsage: CgroupUsage?
    var quietCgroupPasses = 0
    /// The service is sampled every `statsStride` stats passes (1, doubling up to
    /// ``Supervisor/maxStatsStride(every:)`` while its readings hold steady); passes since the last.
    var statsStride = 1
    var passesSinceSample = 0
    /// The log's size at its last check, when the next check is due, and the interval that led
    /// there (1 s while it grows, doubling up to 8 s while it does not).
    var logSize: Int64 = -1
    let log: ServiceLog
    /// `warden_service_restarts_total{service=…}` and `warden_service_exits_total{service=…}`.
    let restartsMetric: Counter
    let exitsMetric: Counter

    init(spec: ServiceSpec, logDirectory: String, seed: UInt64?, now: Date) {
        self.spec = spec
        self.stateSince = now
        self.machine = ServiceStateMachine(configuration: .init(spec), seed: seed)
        self.log = ServiceLog(directory: logDirectory, service: spec.name, policy: spec.logs)
        self.restartsMetric = Counter(label: "warden_service_restarts_total", dimensions: [("service", spec.name)])
        self.exitsMetric = Counter(label: "warden_service_exits_total", dimensions: [("service", spec.name)])
    }

    var name: String { spec.name }

    /// Stops watching the process's exit through its pidfd, if it was adopted.
    func dropPidfd() {
        if let token = pidfdToken { IOWatcher.shared.remove(token) }
        if pidfd >= 0 { close(pidfd) }
        pidfd = -1
        pidfdToken = nil
    }

    /// Forgets the process (after it exited).
    func clearProcess() {
        dropPidfd()
        probeTask?.cancel()
        probeTask = nil
        pid = nil
        pgid = nil
        startTime = 0
        adopted = false
        goneDeadline = nil
        formerMain = nil
        startedAt = nil
        cpuPercent = nil
        rssBytes = nil
        lastCPU = nil
        memoryBytes = nil
        tasks = nil
        lastCgroupCPU = nil
        lastCgroupUsage = nil
        quietCgroupPasses = 0
        statsStride = 1
        passesSinceSample = 0
    }
}
