import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// Services in cgroups of their own: joined before exec, limited, measured, OOM kills reported,
/// and killed whole.
extension Supervisor {
    /// Finds the host's cgroups (once, at start) unless the spec turns them off.
    func setUpCgroups() {
        guard spec.cgroups == .auto else {
            cgroupProblem = "cgroups: off in the spec"
            return
        }
        switch options.cgroups ?? CgroupTree.discover(stateDir: spec.stateDir) {
        case .success(let tree):
            cgroupTree = tree
            logger.info(
                "services run in cgroups",
                metadata: [
                    "warden.cgroup": "\(tree.bases.values.sorted().first ?? "")",
                    "warden.cgroup_version": "\(tree.version.rawValue)",
                    "warden.controllers": "\(tree.controllers.sorted().joined(separator: ","))",
                ]
            )
        case .failure(let error):
            cgroupProblem = "no cgroup for services: \(error)"
            logger.warning(
                "services run without cgroups (no limits, process groups only)",
                metadata: ["warden.reason": "\(error)"]
            )
        }
    }

    /// Prepares the service's cgroup for a new process: made, limits written, OOM count noted.
    /// Returns the `cgroup.procs` files the child joins (open; the caller closes them). A service
    /// that cannot have one runs without, and an event says which limits do not hold.
    func joinCgroup(_ s: ManagedService) -> [Int32] {
        s.cgroup = nil
        var problems: [String] = []
        var fds: [Int32] = []
        if let tree = cgroupTree {
            let cgroup = tree.service(s.name)
            do {
                try cgroup.create()
                problems = cgroup.apply(s.spec.limits)
                for path in cgroup.procsFiles() { fds.append(try cgroup.files.openForWriting(path)) }
                s.cgroup = cgroup
                s.oomKills = cgroup.oomKills()
                s.oomKillsAtStart = s.oomKills
            } catch {
                for fd in fds { close(fd) }
                fds = []
                problems = s.spec.limits.isEmpty ? [] : ["all limits: cannot make the service's cgroup: \(error)"]
                logger.warning(
                    "service runs without its cgroup",
                    metadata: ["warden.service": "\(s.name)", "warden.error": "\(error)"]
                )
            }
        } else if !s.spec.limits.isEmpty {
            problems = ["all limits: \(cgroupProblem ?? "cgroups are not available")"]
        }
        if !problems.isEmpty, problems != s.limitProblems {
            logger.warning(
                "service limits not enforced",
                metadata: ["warden.service": "\(s.name)", "warden.problems": "\(problems.joined(separator: "; "))"]
            )
            publish(ServiceLimitsUnenforced(problems: problems), s)
        }
        s.limitProblems = problems
        return fds
    }

    /// Finds an adopted service's cgroup: the one its process is in.
    func findCgroup(_ s: ManagedService, pid: pid_t) {
        guard let tree = cgroupTree else { return }
        let cgroup = tree.service(s.name)
        if cgroup.processes().contains(pid) {
            s.cgroup = cgroup
            s.oomKills = cgroup.oomKills()
            s.oomKillsAtStart = s.oomKills
        }
    }

    /// Reports OOM kills in the service's cgroup since the last report; true when there were.
    @discardableResult func checkOOM(_ s: ManagedService) -> Bool {
        guard let cgroup = s.cgroup else { return false }
        // One file on every pass; the others only to report kills.
        let total = cgroup.oomKills()
        guard total > s.oomKills else { return false }
        let events = cgroup.memoryEvents()
        let kills = total - s.oomKills
        s.oomKills = total
        logger.warning(
            "out of memory: processes killed",
            metadata: ["warden.service": "\(s.name)", "warden.kills": "\(kills)"]
        )
        publish(
            ServiceOOMKilled(
                kills: kills,
                total: total,
                memoryMax: s.spec.limits.memoryMax,
                memoryBytes: cgroup.usage().memoryBytes,
                events: events
            ),
            s
        )
        return true
    }

    /// How many stats passes in a row may reuse a quiet cgroup's last full reading.
    static let quietPassesBetweenFullReads = 11

    /// A service whose readings hold steady is sampled every 2, 4, 8, then every 12 stats passes,
    /// but at least once a minute (so that each 1-minute rollup has its point): once a minute with
    /// the default `every: 5s`, every 12 s with `every: 1s`, every pass from `every: 1m` on. Any
    /// change (memory charged, tasks, CPU by a percentage point or more, pressure) brings it back
    /// to every pass. A flat line sampled once a minute shows the same; the first change after a
    /// steady spell is seen within a minute (a crash or an OOM kill is seen at once: they end or
    /// signal processes, not a reading).
    package static func maxStatsStride(every: Duration) -> Int {
        guard every > .zero else { return 1 }
        // Clamped before the conversion: a duration of attoseconds makes a ratio beyond Int.
        return max(1, Int(min(12, (Duration.seconds(60) / every).rounded(.down))))
    }

    /// Samples of the services that have a cgroup, from the kernel's counters: one read per file,
    /// however many processes they run. Returns the names it measured.
    ///
    /// Every pass reads two counters: CPU time and memory charged. What they cannot have changed
    /// without is not read again. When neither moved since the last full reading (and no
    /// pressure was shown then), nothing the cgroup counts can have: a process that forks, exits,
    /// faults a page in or is killed by the OOM killer runs, and its CPU time moves; the last
    /// reading is stored again. When CPU time moved but the memory charged did not, the memory
    /// breakdown (`memory.stat`, the costly file) is the last one, and the OOM count is not read:
    /// a process the OOM killer kills gives its memory back. What can move without either
    /// (writeback of dirty pages, pressure decaying, a kill that freed exactly what was since
    /// charged) is read in full at least every ``quietPassesBetweenFullReads`` + 1 passes it is
    /// sampled in. A service whose readings hold steady is sampled in fewer passes (see
    /// ``maxStatsStride(every:)``).
    func recordCgroupUsage(now: Instant, wall: Date, into batch: inout [Sample]) -> Set<String> {
        var measured = Set<String>()
        let maxStride = Self.maxStatsStride(every: spec.statsEvery)
        for s in services.values {
            guard let cgroup = s.cgroup, s.pid != nil else { continue }
            // A steady service sits out passes (it stays measured: not read from /proc either).
            measured.insert(s.name)
            s.passesSinceSample += 1
            if s.passesSinceSample < s.statsStride { continue }
            s.passesSinceSample = 0
            let before = (memory: s.memoryBytes, tasks: s.tasks, cpu: s.cpuPercent)
            let probe = cgroup.probe()
            let u: CgroupUsage
            if let last = s.lastCgroupUsage, probe.cpuMicros != nil, probe.memoryBytes == last.memoryBytes,
                s.quietCgroupPasses < Self.quietPassesBetweenFullReads,
                last.pressure.values.allSatisfy({ $0 == 0 })
            {
                // The memory charged did not move: its breakdown and the OOM count stand.
                u = probe.cpuMicros == last.cpuMicros ? last : cgroup.usage(given: probe, memory: last)
                s.quietCgroupPasses += 1
            } else {
                checkOOM(s)
                u = cgroup.usage(given: probe)
                s.quietCgroupPasses = 0
            }
            s.lastCgroupUsage = u
            let labels = ["service": s.name]
            func add(_ series: String, _ value: Double?) {
                if let value { batch.append(Sample(series: series, labels: labels, time: wall, value: value)) }
            }
            if let micros = u.cpuMicros {
                if let last = s.lastCgroupCPU, micros >= last.micros, now > last.at {
                    s.cpuPercent = Double(micros - last.micros) / 1e6 / (now - last.at).seconds * 100
                }
                s.lastCgroupCPU = (micros, now)
            }
            s.rssBytes = u.anonBytes.map { Int64(clamping: $0) }
            s.memoryBytes = u.memoryBytes.map { Int64(clamping: $0) }
            s.tasks = u.tasks.map { Int64(clamping: $0) }
            let steady =
                before.memory != nil && before.memory == s.memoryBytes && before.tasks == s.tasks
                && abs((s.cpuPercent ?? 0) - (before.cpu ?? .infinity)) < 1
                && u.pressure.values.allSatisfy { $0 == 0 }
            s.statsStride = steady ? min(s.statsStride * 2, maxStride) : 1
            add("service.cpu_percent", s.cpuPercent)
            add("service.rss_bytes", u.anonBytes.map { Double($0) })
            add("service.memory_bytes", u.memoryBytes.map { Double($0) })
            add("service.cache_bytes", u.fileBytes.map { Double($0) })
            add("service.io_read_bytes", u.ioReadBytes.map { Double($0) })
            add("service.io_write_bytes", u.ioWriteBytes.map { Double($0) })
            add("service.tasks", u.tasks.map { Double($0) })
            for (resource, avg10) in u.pressure.sorted(by: { $0.key < $1.key }) {
                add("service.pressure_\(resource)", avg10)
            }
        }
        return measured
    }

    /// Whether processes of the service are still in its cgroup.
    func cgroupPopulated(_ s: ManagedService) -> Bool { s.cgroup?.isPopulated() ?? false }
}
