import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// The node's own metrics, read from /proc and the filesystems, named and labelled as Prometheus's
/// node_exporter names them (so its dashboards and alerts read Warden's series unchanged):
/// CPU time by mode, load, memory and swap, disk IO, filesystem space, network traffic and
/// pressure stall information.
///
/// The parsers are pure (text in, samples out) and tested on kernel output; ``read(at:)`` reads
/// the files. What a kernel does not have (no /proc/pressure before 4.20) is left out.
public enum HostMetrics {
    /// Filesystem types that are not storage (node_exporter's default exclusions).
    static let pseudoFilesystems: Set<String> = [
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts", "devtmpfs", "fusectl",
        "hugetlbfs", "iso9660", "mqueue", "nsfs", "overlay", "proc", "procfs", "pstore", "rpc_pipefs", "securityfs",
        "selinuxfs", "squashfs", "sysfs", "tracefs", "tmpfs", "ramfs", "fuse.lxcfs", "nfsd", "efivarfs",
    ]

    /// Every metric the host has now.
    public static func read(at time: Date) -> [Sample] {
        var out: [Sample] = []
        func text(_ path: String) -> String? {
            guard case .whole(let bytes)? = BoundedFile.read(path, limit: 4 << 20) else { return nil }
            return String(decoding: bytes, as: UTF8.self)
        }
        if let t = text("/proc/stat") { out += cpu(t, ticksPerSecond: Double(ProcFS.ticksPerSecond), time: time) }
        if let t = text("/proc/loadavg") { out += load(t, time: time) }
        if let t = text("/proc/meminfo") { out += memory(t, time: time) }
        if let t = text("/proc/diskstats") { out += disks(t, time: time) }
        if let t = text("/proc/net/dev") { out += network(t, time: time) }
        for resource in ["cpu", "memory", "io"] {
            if let t = text("/proc/pressure/\(resource)") { out += pressure(t, resource: resource, time: time) }
        }
        if let t = text("/proc/self/mounts") { out += filesystems(t, time: time, space: Self.space) }
        return out
    }

    /// `node_cpu_seconds_total{cpu, mode}` from /proc/stat's `cpuN` lines.
    public static func cpu(_ text: String, ticksPerSecond: Double, time: Date) -> [Sample] {
        let modes = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
        var out: [Sample] = []
        for line in text.split(separator: "\n") where line.hasPrefix("cpu") && !line.hasPrefix("cpu ") {
            let fields = line.split(separator: " ")
            let cpu = String(fields[0].dropFirst(3))
            guard !cpu.isEmpty, cpu.allSatisfy(\.isNumber) else { continue }
            for (i, mode) in modes.enumerated() where i + 1 < fields.count {
                guard let ticks = Double(fields[i + 1]) else { continue }
                out.append(
                    Sample(
                        series: "node_cpu_seconds_total",
                        labels: ["cpu": cpu, "mode": mode],
                        time: time,
                        value: ticks / ticksPerSecond
                    )
                )
            }
        }
        return out
    }

    /// `node_load1`, `node_load5`, `node_load15`.
    public static func load(_ text: String, time: Date) -> [Sample] {
        let fields = text.split(separator: " ")
        return zip(["node_load1", "node_load5", "node_load15"], fields).compactMap { name, value in
            Double(value).map { Sample(series: name, labels: [:], time: time, value: $0) }
        }
    }

    /// `node_memory_<Field>_bytes` for every /proc/meminfo line (kB values in bytes).
    public static func memory(_ text: String, time: Date) -> [Sample] {
        var out: [Sample] = []
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, parts[0].hasSuffix(":"), let value = Double(parts[1]) else { continue }
            let field = parts[0].dropLast().replacingOccurrences(of: "(", with: "_").replacingOccurrences(
                of: ")",
                with: ""
            )
            let bytes = parts.count >= 3 && parts[2] == "kB" ? value * 1024 : value
            out.append(
                Sample(
                    series: "node_memory_\(field)" + (parts.count >= 3 ? "_bytes" : ""),
                    labels: [:],
                    time: time,
                    value: bytes
                )
            )
        }
        return out
    }

    /// Per device: reads and writes completed, bytes read and written (sectors of 512 bytes), and
    /// the time spent doing IO. Partitions and virtual devices with no IO yet are left out.
    public static func disks(_ text: String, time: Date) -> [Sample] {
        var out: [Sample] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count >= 14 else { continue }
            let device = String(f[2])
            guard let reads = Double(f[3]), let readSectors = Double(f[5]), let writes = Double(f[7]),
                let writtenSectors = Double(f[9]), let ioMillis = Double(f[12])
            else { continue }
            if device.hasPrefix("loop") || device.hasPrefix("ram"), reads == 0, writes == 0 { continue }
            let labels = ["device": device]
            out += [
                Sample(series: "node_disk_reads_completed_total", labels: labels, time: time, value: reads),
                Sample(series: "node_disk_writes_completed_total", labels: labels, time: time, value: writes),
                Sample(series: "node_disk_read_bytes_total", labels: labels, time: time, value: readSectors * 512),
                Sample(
                    series: "node_disk_written_bytes_total",
                    labels: labels,
                    time: time,
                    value: writtenSectors * 512
                ),
                Sample(series: "node_disk_io_time_seconds_total", labels: labels, time: time, value: ioMillis / 1000),
            ]
        }
        return out
    }

    /// Per interface: bytes, packets, errors and drops received and transmitted.
    public static func network(_ text: String, time: Date) -> [Sample] {
        var out: [Sample] = []
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let device = line[..<colon].trimmingCharacters(in: .whitespaces)
            let f = line[line.index(after: colon)...].split(separator: " ").compactMap { Double($0) }
            guard !device.isEmpty, f.count >= 16 else { continue }
            let labels = ["device": device]
            let fields: [(String, Int)] = [
                ("node_network_receive_bytes_total", 0), ("node_network_receive_packets_total", 1),
                ("node_network_receive_errs_total", 2), ("node_network_receive_drop_total", 3),
                ("node_network_transmit_bytes_total", 8), ("node_network_transmit_packets_total", 9),
                ("node_network_transmit_errs_total", 10), ("node_network_transmit_drop_total", 11),
            ]
            for (name, i) in fields { out.append(Sample(series: name, labels: labels, time: time, value: f[i])) }
        }
        return out
    }

    /// `node_pressure_<resource>_waiting_seconds_total` (the `some` line) and, for memory and IO,
    /// `_stalled_seconds_total` (the `full` line), from /proc/pressure.
    public static func pressure(_ text: String, resource: String, time: Date) -> [Sample] {
        var out: [Sample] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard let kind = f.first, let total = f.first(where: { $0.hasPrefix("total=") }),
                let micros = Double(total.dropFirst(6))
            else { continue }
            if kind == "some" {
                out.append(
                    Sample(
                        series: "node_pressure_\(resource)_waiting_seconds_total",
                        labels: [:],
                        time: time,
                        value: micros / 1e6
                    )
                )
            } else if kind == "full", resource != "cpu" {
                out.append(
                    Sample(
                        series: "node_pressure_\(resource)_stalled_seconds_total",
                        labels: [:],
                        time: time,
                        value: micros / 1e6
                    )
                )
            }
        }
        return out
    }

    /// Size, free and available bytes of each storage filesystem mounted (/proc/self/mounts;
    /// each mount point once).
    public static func filesystems(
        _ text: String,
        time: Date,
        space: (String) -> (size: Double, free: Double, avail: Double)?
    ) -> [Sample] {
        var out: [Sample] = []
        var seen: Set<String> = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count >= 3 else { continue }
            let device = String(f[0])
            let mountpoint = unescape(String(f[1]))
            let fstype = String(f[2])
            guard !pseudoFilesystems.contains(fstype), seen.insert(mountpoint).inserted,
                let space = space(mountpoint), space.size > 0
            else { continue }
            let labels = ["device": device, "fstype": fstype, "mountpoint": mountpoint]
            out += [
                Sample(series: "node_filesystem_size_bytes", labels: labels, time: time, value: space.size),
                Sample(series: "node_filesystem_free_bytes", labels: labels, time: time, value: space.free),
                Sample(series: "node_filesystem_avail_bytes", labels: labels, time: time, value: space.avail),
            ]
        }
        return out
    }

    /// /proc/mounts writes space, tab, newline and backslash as octal escapes (`\040`).
    static func unescape(_ path: String) -> String {
        guard path.contains("\\") else { return path }
        let bytes = Array(path.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x5C, i + 3 < bytes.count {
                let digits = bytes[(i + 1)...(i + 3)]
                if digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x37 }),
                    let code = UInt8(String(decoding: digits, as: UTF8.self), radix: 8)
                {
                    out.append(code)
                    i += 4
                    continue
                }
            }
            out.append(bytes[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func space(_ path: String) -> (size: Double, free: Double, avail: Double)? {
        var st = Glibc.statvfs()
        guard statvfs(path, &st) == 0 else { return nil }
        let block = Double(st.f_frsize)
        return (Double(st.f_blocks) * block, Double(st.f_bfree) * block, Double(st.f_bavail) * block)
    }
}
