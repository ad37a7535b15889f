import Yams

/// What a service may use, enforced by its cgroup (`limits:` in a service): systemd's MemoryMax,
/// MemoryHigh, CPUQuota, CPUWeight, TasksMax and IOWeight. Nil fields are not limited.
///
/// On cgroup v1 `memory_high` becomes the soft limit (reclaimed first under pressure, never a
/// throttle) and `io_weight` is written to BFQ's weight when the IO scheduler offers one.
public struct ResourceLimits: Sendable, Hashable {
    /// Bytes of memory (including page cache) past which the kernel's OOM killer acts in the cgroup.
    public var memoryMax: Int64?
    /// Bytes past which the cgroup's memory is reclaimed hard and its tasks slowed.
    public var memoryHigh: Int64?
    /// CPU time per wall time: 0.5 is half of one CPU, 2 is two CPUs.
    public var cpuQuota: Double?
    /// Relative share of CPU under contention, 1 to 10,000 (100 is everyone's default).
    public var cpuWeight: Int?
    /// Most processes and threads alive at once in the cgroup (what holds a fork bomb).
    public var tasksMax: Int?
    /// Relative share of disk time, 1 to 10,000 (100 is the default).
    public var ioWeight: Int?

    public init(
        memoryMax: Int64? = nil,
        memoryHigh: Int64? = nil,
        cpuQuota: Double? = nil,
        cpuWeight: Int? = nil,
        tasksMax: Int? = nil,
        ioWeight: Int? = nil
    ) {
        self.memoryMax = memoryMax
        self.memoryHigh = memoryHigh
        self.cpuQuota = cpuQuota
        self.cpuWeight = cpuWeight
        self.tasksMax = tasksMax
        self.ioWeight = ioWeight
    }

    /// Whether no limit is set.
    public var isEmpty: Bool { self == ResourceLimits() }

    /// The spec keys, in the order they are documented.
    static let keys = ["memory_max", "memory_high", "cpu_quota", "cpu_weight", "tasks_max", "io_weight"]
}

/// Whether services run in cgroups of their own (`cgroups:` at the top of the spec).
public enum CgroupMode: String, Sendable, Hashable, CaseIterable {
    /// In a cgroup each where the host delegates a writable tree; as plain process groups otherwise.
    case auto
    /// Never: process groups only (and `limits:` is an error).
    case off
}

extension SpecLoader {
    /// `limits:` of a service. Memory takes a size (`256MiB`); `cpu_quota` a share of one CPU
    /// (`50%`, `1.5`, `200%`); weights and tasks whole numbers.
    func readLimits(_ node: Node, key: String, _ r: inout YAMLReader) -> ResourceLimits {
        var limits = ResourceLimits()
        guard let f = r.mapping(node, key: key, allowed: ResourceLimits.keys) else { return limits }
        // 4 KiB: one page, below which no process can run; 1 PiB: past any machine.
        let maxBytes: Int64 = 1 << 50
        if let n = f["memory_max"] {
            limits.memoryMax = r.byteSize(n, key: "\(key).memory_max", min: 4096, max: maxBytes)
        }
        if let n = f["memory_high"] {
            limits.memoryHigh = r.byteSize(n, key: "\(key).memory_high", min: 4096, max: maxBytes)
        }
        if let high = limits.memoryHigh, let max = limits.memoryMax, high > max, let n = f["memory_high"] {
            r.fail(
                n,
                "\(key).memory_high",
                "found \(ByteSize.format(high)), above memory_max (\(ByteSize.format(max))); memory_high must not exceed memory_max"
            )
        }
        if let n = f["cpu_quota"] { limits.cpuQuota = readCPUQuota(n, key: "\(key).cpu_quota", &r) }
        if let n = f["cpu_weight"] { limits.cpuWeight = r.int(n, key: "\(key).cpu_weight", range: 1...10_000) }
        if let n = f["tasks_max"] { limits.tasksMax = r.int(n, key: "\(key).tasks_max", range: 1...4_194_304) }
        if let n = f["io_weight"] { limits.ioWeight = r.int(n, key: "\(key).io_weight", range: 1...10_000) }
        return limits
    }

    /// A share of one CPU: `50%`, `0.5`, `200%` or `2`; from 1 % (the kernel's smallest period
    /// share worth having) to 100,000 % (a thousand CPUs).
    private func readCPUQuota(_ node: Node, key: String, _ r: inout YAMLReader) -> Double? {
        r.share(
            node,
            key: key,
            range: 0.01...1000,
            expected: "a share of one CPU such as 50% or 0.5, or 200% or 2 for two CPUs",
            inRange: "from 1% to 100000% (0.01 to 1000 CPUs)"
        )
    }
}
