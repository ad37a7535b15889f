import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

extension Supervisor {
    /// Samples CPU and RSS of every service's process group from /proc every `stats.every`, and
    /// rotates log files that grew too large (checked every second).
    func startStats() {
        statsTask?.cancel()
        let clock = self.clock
        statsTask = Task { [weak self] in
            var lastStats = clock.now() - .seconds(3600)
            while !Task.isCancelled {
                guard let self else { return }
                let every = await self.spec.statsEvery
                await self.rotateLogs()
                if clock.now() - lastStats >= every {
                    lastStats = clock.now()
                    let groups = await self.runningGroups()
                    let usage = Self.measure(groups: groups)
                    await self.record(usage: usage, at: clock.now())
                }
                try? await clock.sleep(for: min(.seconds(1), every))
            }
        }
    }

    func rotateLogs() {
        for s in services.values where s.log.rotateIfNeeded() {
            publish(ServiceLogRotated(path: s.log.path), s)
        }
    }

    func runningGroups() -> [pid_t: String] {
        var groups: [pid_t: String] = [:]
        for s in services.values { if let pgid = s.pgid { groups[pgid] = s.name } }
        return groups
    }

    /// Sums CPU ticks and resident bytes of the processes in each group.
    nonisolated static func measure(groups: [pid_t: String]) -> [String: (ticks: UInt64, rss: Int64)] {
        var usage: [String: (ticks: UInt64, rss: Int64)] = [:]
        guard !groups.isEmpty else { return usage }
        for pid in ProcFS.allPids() {
            guard let st = ProcFS.stat(pid), let name = groups[st.pgrp] ?? groups[st.session], !st.isZombie else {
                continue
            }
            var u = usage[name] ?? (0, 0)
            u.ticks += st.utime + st.stime
            u.rss += st.rssPages * ProcFS.pageSize
            usage[name] = u
        }
        return usage
    }

    func record(usage: [String: (ticks: UInt64, rss: Int64)], at now: Instant) {
        let wall = clock.wallTime()
        for (name, u) in usage {
            guard let s = services[name] else { continue }
            s.rssBytes = u.rss
            if let last = s.lastCPU, u.ticks >= last.ticks, now > last.at {
                let seconds = Double(u.ticks - last.ticks) / Double(ProcFS.ticksPerSecond)
                s.cpuPercent = seconds / (now - last.at).seconds * 100
            }
            s.lastCPU = (u.ticks, now)
            let labels = ["service": name]
            samples.send(Sample(series: "service.rss_bytes", labels: labels, time: wall, value: Double(u.rss)))
            if let cpu = s.cpuPercent {
                samples.send(Sample(series: "service.cpu_percent", labels: labels, time: wall, value: cpu))
            }
        }
    }
}
