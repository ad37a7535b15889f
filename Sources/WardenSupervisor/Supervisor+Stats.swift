import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

extension Supervisor {
    /// Samples CPU and memory of every service (from its cgroup, or its process group in /proc)
    /// every `stats.every`, and rotates log files that grew too large.
    ///
    /// Idle costs little: the task sleeps until the next thing is due. The logs are checked in one
    /// sweep (a `stat` each): a second after a sweep that found one grown, otherwise after twice
    /// the last pause, up to 8 s (``quietLogSweepPause``: 10 s with the default `every: 5s`); a
    /// sweep due before the next stats pass is made with the current one, so that an idle Warden
    /// wakes once per `stats.every` (with `every: off`, once per 8 s sweep). A service that starts
    /// writing after a quiet spell can so overshoot its `max_size` by at most that pause's output.
    func startStats() {
        statsTask?.cancel()
        let clock = self.clock
        statsTask = Task { [weak self] in
            while !Task.isCancelled {
                guard let wait = await self?.statsPass() else { return }
                try? await clock.sleep(for: wait)
            }
        }
    }

    /// One wake-up of the stats task, on the actor (one hop): the log sweep when due, then the
    /// processes' usage when `stats.every` has passed. Returns how long to sleep.
    func statsPass() -> Duration {
        let now = clock.now()
        let every = spec.statsEvery
        let statsDue = spec.statsOn && (lastStatsPass.map { now - $0 >= every } ?? true)
        if !spec.statsOn, lastStatsPass != nil {
            // Turned off by a reload: what was measured last is not shown as if it were now.
            lastStatsPass = nil
            for s in services.values {
                s.rssBytes = nil
                s.cpuPercent = nil
                s.lastCPU = nil
            }
        }
        // A sweep due before the next stats pass rides along with this one.
        if nextLogSweep.map({ now >= $0 || (statsDue && $0 < now + every) }) ?? true { sweepLogs(now: now) }
        if statsDue {
            lastStatsPass = now
            var batch: [Sample] = []
            let inCgroups = recordCgroupUsage(now: clock.now(), wall: clock.wallTime(), into: &batch)
            record(
                usage: usageSampler.measure(groups: runningGroups(excluding: inCgroups)),
                at: clock.now(),
                with: batch
            )
            if spec.hostMetrics { samples.send(contentsOf: HostMetrics.read(at: clock.wallTime())) }
        }
        let due =
            spec.statsOn ? min(nextLogSweep ?? now, (lastStatsPass ?? now) + every) : (nextLogSweep ?? now)
        return max(.milliseconds(50), min(due - clock.now(), .seconds(8)))
    }

    /// Checks every service's log; rotates those over their size; schedules the next sweep.
    func sweepLogs(now: Instant) {
        var grew = false
        for s in services.values {
            let size = s.log.size()
            if size > s.log.policy.maxSize {
                s.log.rotate()
                publish(ServiceLogRotated(path: s.log.path), s)
                s.logSize = 0
                grew = true
            } else if size != s.logSize {
                s.logSize = size
                grew = true
            }
        }
        logSweepPause = grew ? .seconds(1) : min(logSweepPause * 2, quietLogSweepPause)
        nextLogSweep = now + logSweepPause
    }

    /// The longest pause between log sweeps while no log grows: 8 s, or with stats passes more
    /// often than that, the whole number of passes that covers 8 s (10 s with `every: 5s`), so
    /// that a quiet sweep always rides along with a pass and never wakes Warden on its own.
    var quietLogSweepPause: Duration { Self.quietLogSweepPause(stats: spec.statsOn ? spec.statsEvery : nil) }

    /// ``quietLogSweepPause`` for stats passes every `stats` (nil: off).
    package static func quietLogSweepPause(stats every: Duration?) -> Duration {
        let most = Duration.seconds(8)
        // Below a millisecond, passes that whole cover 8 s are 8 s (and the ratio stays an Int).
        guard let every, every >= .milliseconds(1), every < most else { return most }
        return every * Int((most / every).rounded(.up))
    }

    /// The process groups of the services measured from /proc (those without a cgroup).
    func runningGroups(excluding measured: Set<String> = []) -> [pid_t: String] {
        var groups: [pid_t: String] = [:]
        for s in services.values where !measured.contains(s.name) { if let pgid = s.pgid { groups[pgid] = s.name } }
        return groups
    }

    func record(usage: [String: GroupUsage], at now: Instant, with measured: [Sample] = []) {
        let wall = clock.wallTime()
        var batch = measured
        batch.reserveCapacity(measured.count + usage.count * 2)
        for (name, u) in usage {
            guard let s = services[name] else { continue }
            s.rssBytes = u.rss
            if let last = s.lastCPU, u.ticks >= last.ticks, now > last.at {
                let seconds = Double(u.ticks - last.ticks) / Double(ProcFS.ticksPerSecond)
                s.cpuPercent = seconds / (now - last.at).seconds * 100
            }
            s.lastCPU = (u.ticks, now)
            let labels = ["service": name]
            batch.append(Sample(series: "service.rss_bytes", labels: labels, time: wall, value: Double(u.rss)))
            if let cpu = s.cpuPercent {
                batch.append(Sample(series: "service.cpu_percent", labels: labels, time: wall, value: cpu))
            }
        }
        // One delivery: the recorder wakes once and stores the pass in one transaction.
        samples.send(contentsOf: batch)
    }
}
