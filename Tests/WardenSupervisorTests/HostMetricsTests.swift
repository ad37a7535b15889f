import Foundation
import Testing
import WardenCore

@testable import WardenSupervisor

/// The host metrics' parsers on kernel output as it is written, and the live reading against the
/// files it comes from.
@Suite("Host metrics")
struct HostMetricsTests {
    let t = Date(timeIntervalSince1970: 1_800_000_000)

    func value(_ samples: [Sample], _ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.series == name && $0.labels == labels }?.value
    }

    @Test func kernelOutputBecomesNodeExporterSeries() {
        let stat = """
            cpu  10132153 290696 3084719 46828483 16683 0 25195 0 0 0
            cpu0 1393280 32966 572056 13343292 6130 0 17875 0 0 0
            cpu1 1335280 32966 472056 13343292 6130 0 1 7 0 0
            intr 199292311 0 0
            """
        let cpu = HostMetrics.cpu(stat, ticksPerSecond: 100, time: t)
        #expect(cpu.count == 16, "two CPUs, eight modes, not the total line")
        #expect(value(cpu, "node_cpu_seconds_total", ["cpu": "0", "mode": "idle"]) == 133432.92)
        #expect(value(cpu, "node_cpu_seconds_total", ["cpu": "1", "mode": "steal"]) == 0.07)
        let load = HostMetrics.load("0.52 0.58 0.59 2/1094 42117\n", time: t)
        #expect(load.map(\.series) == ["node_load1", "node_load5", "node_load15"] && load[2].value == 0.59)
        let memory = HostMetrics.memory(
            "MemTotal:       24634856 kB\nMemAvailable:   21000000 kB\nActive(anon):     100 kB\nHugePages_Total:       0\n",
            time: t
        )
        #expect(value(memory, "node_memory_MemTotal_bytes") == 24634856.0 * 1024)
        #expect(value(memory, "node_memory_Active_anon_bytes") == 102_400)
        #expect(value(memory, "node_memory_HugePages_Total") == 0)
        let disks = HostMetrics.disks(
            """
               8       0 sda 143285 29391 10247766 52468 355712 309211 22096336 1075476 0 405236 1146068 0 0 0 0
               7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
            """,
            time: t
        )
        #expect(value(disks, "node_disk_read_bytes_total", ["device": "sda"]) == 10247766.0 * 512)
        #expect(value(disks, "node_disk_io_time_seconds_total", ["device": "sda"]) == 405.236)
        #expect(!disks.contains { $0.labels["device"] == "loop0" }, "an idle loop device")
        let net = HostMetrics.network(
            """
            Inter-|   Receive                                                |  Transmit
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
                lo: 1963052   23090    0    0    0     0          0         0  1963052   23090    0    0    0     0       0          0
              eth0: 98765 100 1 2 0 0 0 0 4321 50 3 4 0 0 0 0
            """,
            time: t
        )
        #expect(value(net, "node_network_receive_bytes_total", ["device": "eth0"]) == 98765)
        #expect(value(net, "node_network_transmit_drop_total", ["device": "eth0"]) == 4)
        #expect(net.count == 16)
        let psi = HostMetrics.pressure(
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=1500000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=250000\n",
            resource: "memory",
            time: t
        )
        #expect(value(psi, "node_pressure_memory_waiting_seconds_total") == 1.5)
        #expect(value(psi, "node_pressure_memory_stalled_seconds_total") == 0.25)
        let fs = HostMetrics.filesystems(
            "/dev/sda1 / ext4 rw 0 0\nproc /proc proc rw 0 0\n/dev/sdb1 /mnt/my\\040disk xfs rw 0 0\n/dev/sda1 / ext4 rw 0 0\n",
            time: t,
            space: { _ in (1000, 400, 300) }
        )
        #expect(fs.count == 6, "two storage filesystems, each mount point once, no /proc")
        #expect(
            value(
                fs,
                "node_filesystem_avail_bytes",
                ["device": "/dev/sdb1", "fstype": "xfs", "mountpoint": "/mnt/my disk"]
            ) == 300
        )
    }

    @Test func theLiveReadingAgreesWithTheKernelsFiles() throws {
        let samples = HostMetrics.read(at: Date())
        let meminfo = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
        let total = meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }!.split(separator: " ")[1]
        #expect(value(samples, "node_memory_MemTotal_bytes") == Double(total)! * 1024)
        #expect(
            samples.contains { $0.series == "node_cpu_seconds_total" && $0.labels == ["cpu": "0", "mode": "idle"] }
        )
        #expect((value(samples, "node_network_receive_bytes_total", ["device": "lo"]) ?? -1) >= 0)
        #expect(samples.contains { $0.series == "node_load1" })
        let root = try FileManager.default.attributesOfFileSystem(forPath: "/")
        let size = (root[.systemSize] as? NSNumber)?.doubleValue ?? 0
        let rootSamples = samples.filter { $0.series == "node_filesystem_size_bytes" && $0.labels["mountpoint"] == "/" }
        if let measured = rootSamples.first?.value { #expect(measured == size) }
    }
}
