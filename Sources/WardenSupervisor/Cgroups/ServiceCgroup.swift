import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// What a service's cgroup has used, as the kernel counts it for all its processes at once
/// (including those that left the service's process group). Nil: not counted on this host.
public struct CgroupUsage: Sendable, Equatable {
    /// CPU time, user and system, in microseconds since the cgroup was made.
    public var cpuMicros: UInt64?
    /// Memory charged to the cgroup, page cache included.
    public var memoryBytes: UInt64?
    /// Anonymous memory (what `ps` calls resident, less shared file pages).
    public var anonBytes: UInt64?
    /// Page cache.
    public var fileBytes: UInt64?
    public var ioReadBytes: UInt64?
    public var ioWriteBytes: UInt64?
    /// Processes and threads.
    public var tasks: UInt64?
    /// Pressure stall information, `some` over the last 10 s, in percent: `cpu`, `memory`, `io`.
    public var pressure: [String: Double] = [:]
}

/// One service's cgroup: limits written, processes joined at spawn, usage and OOM kills read,
/// everything in it killed at once. On v1 it is a directory in each hierarchy.
///
/// Not synchronized: the supervisor actor owns it.
public struct ServiceCgroup: Sendable, Equatable {
    public let version: CgroupTree.Version
    /// Controller → directory (v2: `""` → the one directory).
    public let directories: [String: String]
    public let controllers: Set<String>
    let files: any CgroupFileSystem

    public static func == (a: ServiceCgroup, b: ServiceCgroup) -> Bool { a.directories == b.directories }

    /// The directory that carries `controller`'s files, if the service has it.
    func directory(_ controller: String) -> String? {
        switch version {
        case .v2: return controller.isEmpty || controllers.contains(controller) ? directories[""] : nil
        case .v1: return directories[controller]
        }
    }

    /// Each distinct directory (one on v2).
    public var paths: [String] { Array(Set(directories.values)).sorted() }

    /// The directory people look for: v2's, or v1's memory hierarchy's.
    public var primaryPath: String? { directories[""] ?? directories["memory"] ?? paths.first }

    /// Makes the directories.
    public func create() throws(CgroupError) {
        for path in paths { try files.makeDirectory(path) }
    }

    /// The `cgroup.procs` files a new process joins (see ``SpawnRequest/cgroupFiles``).
    public func procsFiles() -> [String] { paths.map { $0 + "/cgroup.procs" } }

    // MARK: - Limits

    /// Writes `limits`, resetting what is not set to the kernel's default (the cgroup may keep a
    /// previous spec's values). Returns what could not be enforced, each with its reason; an
    /// empty list means every limit holds.
    public func apply(_ limits: ResourceLimits) -> [String] {
        var problems: [String] = []
        for w in writes(limits) {
            guard let dir = directory(w.controller) else {
                if w.limited {
                    problems.append("\(w.limit): the \(w.controller) controller is not available to Warden")
                }
                continue
            }
            // v1's IO weight: BFQ's (1-1000) when the IO scheduler offers one, CFQ's on older kernels.
            let file = w.file == "blkio.weight" && files.exists(dir + "/blkio.bfq.weight") ? "blkio.bfq.weight" : w.file
            guard files.exists(dir + "/" + file) || w.controller != "blkio" else {
                if w.limited {
                    problems.append("\(w.limit): this kernel's IO scheduler takes no weight (neither BFQ nor CFQ)")
                }
                continue
            }
            do {
                try files.write(dir + "/" + file, w.value)
            } catch {
                if w.limited { problems.append("\(w.limit): \(error)") }
            }
        }
        return problems
    }

    /// One file to write: the spec's limit it carries out (and whether the spec sets it, or this
    /// is the kernel's default put back), the controller and file, and the value.
    struct LimitWrite {
        var limit: String
        var limited: Bool
        var controller: String
        var file: String
        var value: String
    }

    /// The files `limits` are written to, in this cgroup version's units.
    func writes(_ limits: ResourceLimits) -> [LimitWrite] {
        let period = 100_000
        let quota = limits.cpuQuota.map { String(max(1000, Int(($0 * Double(period)).rounded()))) }
        let memory = (limits.memoryMax != nil, limits.memoryHigh != nil)
        let cpu = (limits.cpuQuota != nil, limits.cpuWeight != nil)
        // The same file and values in both versions.
        let tasks = LimitWrite(
            limit: "tasks_max",
            limited: limits.tasksMax != nil,
            controller: "pids",
            file: "pids.max",
            value: limits.tasksMax.map(String.init) ?? "max"
        )
        switch version {
        case .v2:
            return [
                .init(
                    limit: "memory_max",
                    limited: memory.0,
                    controller: "memory",
                    file: "memory.max",
                    value: limits.memoryMax.map(String.init) ?? "max"
                ),
                .init(
                    limit: "memory_high",
                    limited: memory.1,
                    controller: "memory",
                    file: "memory.high",
                    value: limits.memoryHigh.map(String.init) ?? "max"
                ),
                .init(
                    limit: "cpu_quota",
                    limited: cpu.0,
                    controller: "cpu",
                    file: "cpu.max",
                    value: "\(quota ?? "max") \(period)"
                ),
                .init(
                    limit: "cpu_weight",
                    limited: cpu.1,
                    controller: "cpu",
                    file: "cpu.weight",
                    value: String(limits.cpuWeight ?? 100)
                ),
                tasks,
                .init(
                    limit: "io_weight",
                    limited: limits.ioWeight != nil,
                    controller: "io",
                    file: "io.weight",
                    value: "default \(limits.ioWeight ?? 100)"
                ),
            ]
        case .v1:
            // Shares: 1024 is v1's default as 100 is v2's weight.
            let shares = min(262_144, max(2, (limits.cpuWeight ?? 100) * 1024 / 100))
            return [
                .init(
                    limit: "memory_max",
                    limited: memory.0,
                    controller: "memory",
                    file: "memory.limit_in_bytes",
                    value: limits.memoryMax.map(String.init) ?? "-1"
                ),
                .init(
                    limit: "memory_high",
                    limited: memory.1,
                    controller: "memory",
                    file: "memory.soft_limit_in_bytes",
                    value: limits.memoryHigh.map(String.init) ?? "-1"
                ),
                .init(
                    limit: "cpu_quota",
                    limited: cpu.0,
                    controller: "cpu",
                    file: "cpu.cfs_period_us",
                    value: String(period)
                ),
                .init(
                    limit: "cpu_quota",
                    limited: cpu.0,
                    controller: "cpu",
                    file: "cpu.cfs_quota_us",
                    value: quota ?? "-1"
                ),
                .init(
                    limit: "cpu_weight",
                    limited: cpu.1,
                    controller: "cpu",
                    file: "cpu.shares",
                    value: String(shares)
                ),
                tasks,
                .init(
                    limit: "io_weight",
                    limited: limits.ioWeight != nil,
                    controller: "blkio",
                    file: "blkio.weight",
                    value: String(min(1000, limits.ioWeight ?? 100))
                ),
            ]
        }
    }

    // MARK: - Reading

    /// The two counters that move whenever anything in the cgroup runs or its memory changes.
    public struct Probe: Sendable, Equatable {
        public var cpuMicros: UInt64?
        public var memoryBytes: UInt64?
    }

    /// CPU time and memory charged, two reads.
    public func probe() -> Probe {
        var p = Probe()
        switch version {
        case .v2:
            guard let dir = directory("") else { return p }
            p.cpuMicros = files.reread(dir + "/cpu.stat").flatMap { CgroupFormats.value(of: "usage_usec", in: $0) }
            if directory("memory") != nil {
                p.memoryBytes = files.reread(dir + "/memory.current").flatMap(CgroupFormats.number)
            }
        case .v1:
            if let dir = directory("cpuacct") {
                p.cpuMicros = files.reread(dir + "/cpuacct.usage").flatMap(CgroupFormats.number).map { $0 / 1000 }
            }
            if let dir = directory("memory") {
                p.memoryBytes = files.reread(dir + "/memory.usage_in_bytes").flatMap(CgroupFormats.number)
            }
        }
        return p
    }

    /// What the cgroup has used so far; `probe` when its two counters were just read. With
    /// `memory`, a reading taken when the memory charged was what `probe` says, its anonymous
    /// and file bytes are taken from there instead of reading `memory.stat` (the costly file: the
    /// kernel formats dozens of lines for it).
    public func usage(given probe: Probe? = nil, memory: CgroupUsage? = nil) -> CgroupUsage {
        let probe = probe ?? self.probe()
        var u = CgroupUsage()
        u.cpuMicros = probe.cpuMicros
        u.memoryBytes = probe.memoryBytes
        let memoryStat = memory.map { $0.memoryBytes != probe.memoryBytes } ?? true
        if !memoryStat, let memory {
            u.anonBytes = memory.anonBytes
            u.fileBytes = memory.fileBytes
        }
        switch version {
        case .v2:
            guard let dir = directory("") else { return u }
            if memoryStat, directory("memory") != nil {
                let stat = CgroupFormats.keyed(files.reread(dir + "/memory.stat") ?? "", only: ["anon", "file"])
                u.anonBytes = stat["anon"]
                u.fileBytes = stat["file"]
            }
            if directory("io") != nil, let text = files.reread(dir + "/io.stat") {
                (u.ioReadBytes, u.ioWriteBytes) = CgroupFormats.ioStat(text)
            }
            if directory("pids") != nil {
                u.tasks = files.reread(dir + "/pids.current").flatMap(CgroupFormats.number)
            }
            for resource in ["cpu", "memory", "io"] {
                if let text = files.reread(dir + "/\(resource).pressure"), let p = CgroupFormats.pressure(text) {
                    u.pressure[resource] = p.avg10
                }
            }
        case .v1:
            if memoryStat, let dir = directory("memory") {
                let stat = CgroupFormats.keyed(
                    files.reread(dir + "/memory.stat") ?? "",
                    only: ["total_rss", "rss", "total_cache", "cache"]
                )
                u.anonBytes = stat["total_rss"] ?? stat["rss"]
                u.fileBytes = stat["total_cache"] ?? stat["cache"]
            }
            if let dir = directory("blkio"), let text = files.reread(dir + "/blkio.throttle.io_service_bytes") {
                (u.ioReadBytes, u.ioWriteBytes) = CgroupFormats.blkioServiceBytes(text)
            }
            if let dir = directory("pids") {
                u.tasks = files.reread(dir + "/pids.current").flatMap(CgroupFormats.number)
            }
        }
        return u
    }

    /// The memory controller's event counts: v2's `memory.events` (`low`, `high`, `max`, `oom`,
    /// `oom_kill`), v1's `memory.oom_control` (`oom_kill`, `under_oom`) with `max` from
    /// `memory.failcnt`. Empty without the memory controller.
    public func memoryEvents() -> [String: UInt64] {
        guard let dir = directory("memory") else { return [:] }
        switch version {
        case .v2:
            return CgroupFormats.keyed(files.reread(dir + "/memory.events") ?? "")
        case .v1:
            var events = CgroupFormats.keyed(files.reread(dir + "/memory.oom_control") ?? "")
            events.removeValue(forKey: "oom_kill_disable")
            if let failures = files.reread(dir + "/memory.failcnt").flatMap(CgroupFormats.number) {
                events["max"] = failures
            }
            return events
        }
    }

    /// How many processes the OOM killer has killed in the cgroup since it was made.
    public func oomKills() -> UInt64 {
        guard let dir = directory("memory") else { return 0 }
        let file = version == .v2 ? "/memory.events" : "/memory.oom_control"
        return files.reread(dir + file).flatMap { CgroupFormats.value(of: "oom_kill", in: $0) } ?? 0
    }

    /// The processes in the cgroup (on v1, in any of its directories).
    public func processes() -> [pid_t] {
        var all = Set<pid_t>()
        for path in paths { all.formUnion(CgroupFormats.pids(files.read(path + "/cgroup.procs") ?? "")) }
        return all.sorted()
    }

    /// Whether any process is left.
    public func isPopulated() -> Bool {
        if version == .v2, let dir = directories[""], let text = files.read(dir + "/cgroup.events") {
            return CgroupFormats.keyed(text)["populated"].map { $0 != 0 } ?? !processes().isEmpty
        }
        return !processes().isEmpty
    }

    // MARK: - Killing and removing

    /// Sends SIGKILL to every process in the cgroup, including any that left the service's
    /// process group or session, and any forked while it runs: v2's `cgroup.kill` where the kernel
    /// has it (5.14); otherwise the cgroup is frozen first (v2's `cgroup.freeze`, v1's freezer) so
    /// that nothing forks between the listing and the kill, then thawed so the signals land.
    /// Returns at once; the processes are gone when ``isPopulated()`` says so.
    public func kill() {
        if version == .v2, let dir = directories[""], files.exists(dir + "/cgroup.kill") {
            if (try? files.write(dir + "/cgroup.kill", "1")) != nil { return }
        }
        let freeze: (file: String, on: String, off: String)?
        switch version {
        case .v2: freeze = directories[""].map { ($0 + "/cgroup.freeze", "1", "0") }
        case .v1: freeze = directory("freezer").map { ($0 + "/freezer.state", "FROZEN", "THAWED") }
        }
        var frozen = false
        if let freeze, files.exists(freeze.file) {
            frozen = (try? files.write(freeze.file, freeze.on)) != nil
            // Freezing takes effect as each task reaches the refrigerator: wait a little for it.
            for _ in 0..<50 where frozen {
                let state = files.read(freeze.file)?.trimmingCharacters(in: .whitespacesAndNewlines)
                if version == .v1
                    ? state == "FROZEN"
                    : files.read(
                        freeze.file.replacingOccurrences(
                            of: "cgroup.freeze",
                            with: "cgroup.events"
                        )
                    ).map({ CgroupFormats.keyed($0)["frozen"] == 1 }) ?? true
                {
                    break
                }
                usleep(1000)
            }
        }
        // Without a freezer a forking process may add members as they are killed: go round until
        // none is left or the rounds run out (tasks_max bounds how many a round can miss).
        for _ in 0..<(frozen ? 2 : 50) {
            let members = processes()
            if members.isEmpty { break }
            for pid in members { _ = Glibc.kill(pid, SIGKILL) }
        }
        if let freeze, frozen { try? files.write(freeze.file, freeze.off) }
    }

    /// Removes the cgroup's directories; false when one is still populated or cannot be removed.
    @discardableResult public func remove() -> Bool {
        var removed = true
        for path in paths where files.exists(path) { removed = files.removeDirectory(path) && removed }
        return removed
    }
}
