import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

extension Supervisor {
    /// Samples CPU and RSS of every service's process group from /proc every `stats.every`, and
    /// rotates log files that grew too large.
    ///
    /// Idle costs little: the task sleeps until the next thing is due, and a log that did not grow
    /// since its last check is checked after twice as long (up to 8 s), one that grew after a
    /// second. A service that starts writing after a quiet spell can so overshoot its `max_size`
    /// by at most 8 seconds of output before the rotation.
    func startStats() {
        statsTask?.cancel()
        let clock = self.clock
        statsTask = Task { [weak self] in
            var lastStats = clock.now() - .seconds(3600)
            while !Task.isCancelled {
                guard let self else { return }
                let every = await self.spec.statsEvery
                let nextLog = await self.rotateLogs(now: clock.now())
                if clock.now() - lastStats >= every {
                    lastStats = clock.now()
                    let groups = await self.runningGroups()
                    let usage = Self.measure(groups: groups)
                    await self.record(usage: usage, at: clock.now())
                }
                let due = min(nextLog, lastStats + every)
                let wait = max(.milliseconds(50), min(due - clock.now(), .seconds(8)))
                try? await clock.sleep(for: wait)
            }
        }
    }

    /// Checks the logs that are due; returns when the next check is due.
    func rotateLogs(now: Instant) -> Instant {
        var next = now + .seconds(8)
        for s in services.values {
            // Checks due within the next 100 ms are made now: they coalesce into one wake-up.
            if let due = s.logCheckDue, due > now + .milliseconds(100) {
                next = min(next, due)
                continue
            }
            let size = s.log.size()
            if size > s.log.policy.maxSize {
                s.log.rotate()
                publish(ServiceLogRotated(path: s.log.path), s)
                s.logCheckInterval = .seconds(1)
                s.logSize = 0
            } else if size == s.logSize {
                s.logCheckInterval = min(s.logCheckInterval * 2, .seconds(8))
            } else {
                s.logCheckInterval = .seconds(1)
                s.logSize = size
            }
            // Due times fall on whole seconds of the clock, so that the logs' checks share
            // wake-ups instead of each waking the task at its own moment.
            let second: Int64 = 1_000_000_000
            let due = Instant(nanoseconds: ((now + s.logCheckInterval).nanoseconds / second) * second)
            s.logCheckDue = due
            next = min(next, due)
        }
        return next
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
