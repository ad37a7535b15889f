import Foundation
import Testing
import WardenCore
import WardenSupervisor
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Services in real cgroups (v1 on this host; the test fails where none can be made): processes
/// joined before exec, limits in the kernel's files, OOM kills reported, a fork bomb held by
/// tasks_max, and nothing escaping a stop.
@Suite("Cgroups, live", .timeLimit(.minutes(2)))
struct CgroupLiveTests {
    init() { becomeSubreaper() }

    /// The directory of each controller's cgroup `pid` is in, from the kernel's own view.
    static func cgroupDirectories(of pid: pid_t) throws -> [String: String] {
        let mounts = CgroupFormats.mounts(try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8))
        let membership = try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)
        var dirs: [String: String] = [:]
        for (controller, path) in CgroupFormats.membership(membership) {
            let mount = mounts.first {
                controller.isEmpty ? $0.unified : $0.controllers.contains(controller)
            }
            guard let mount else { continue }
            let inside =
                mount.root != "/" && path.hasPrefix(mount.root) ? String(path.dropFirst(mount.root.count)) : path
            dirs[controller] = mount.path + inside
        }
        return dirs
    }

    static func read(_ path: String) -> String {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func aServiceAndWhatItForksRunInItsCgroupUnderItsLimits() async throws {
        let h = try SupervisedNode(
            """
            stats: { every: 100ms }
            services:
              lim:
                run: [sh, -c, "sleep 300 & exec sleep 301"]
                limits: { memory_max: 64MiB, memory_high: 48MiB, cpu_quota: 25%, cpu_weight: 50, tasks_max: 16 }
            """
        )
        let samples = h.supervisor.samples.subscribe(name: "test")
        let pid = try await h.pid("lim")
        var stored: [String: Double] = [:]
        while stored.count < 3, let sample = await samples.next() {
            if ["service.memory_bytes", "service.tasks", "service.rss_bytes"].contains(sample.series) {
                stored[sample.series] = sample.value
            }
        }
        // In bytes and tasks, as the kernel counts them (two sleeps: tens to hundreds of KiB,
        // less when the binary's pages were cached by another cgroup, which keeps them charged).
        #expect((8192.0...Double(64 << 20)).contains(stored["service.memory_bytes"] ?? 0), "\(stored)")
        #expect((1.0...2.0).contains(stored["service.tasks"] ?? 0), "\(stored)")
        #expect((stored["service.rss_bytes"] ?? 0) <= (stored["service.memory_bytes"] ?? 0), "\(stored)")
        var status: ServiceStatus?
        try await eventually("the cgroup's usage is measured") {
            status = await h.status("lim")
            return status?.tasks == 2 && (status?.memoryBytes ?? 0) > 0
        }
        let cgroup = try #require(status?.cgroup, "the service has a cgroup")
        let ownDirs = try Self.cgroupDirectories(of: pid).values.filter { $0.hasSuffix("/lim") }
        #expect(ownDirs.count >= 4, "memory, cpu, cpuacct, pids (and more) each have the service's cgroup: \(ownDirs)")
        #expect(status?.limitsUnenforced == nil)
        #expect(cgroup.hasSuffix("/lim"))
        let dirs = try Self.cgroupDirectories(of: pid)
        let child = try #require(
            ProcFS.allPids().first { ProcFS.stat($0)?.ppid == pid },
            "the service's forked sleep"
        )
        #expect(try Self.cgroupDirectories(of: child) == dirs, "a forked process stays in the service's cgroups")
        if let memory = dirs["memory"],
            dirs[""] == nil || !FileManager.default.fileExists(atPath: dirs[""]! + "/memory.max")
        {
            // v1
            #expect(memory == cgroup)
            #expect(Self.read(memory + "/memory.limit_in_bytes") == String(64 << 20))
            #expect(Self.read(memory + "/memory.soft_limit_in_bytes") == String(48 << 20))
            #expect(Self.read(dirs["cpu"]! + "/cpu.cfs_quota_us") == "25000")
            #expect(Self.read(dirs["cpu"]! + "/cpu.cfs_period_us") == "100000")
            #expect(Self.read(dirs["cpu"]! + "/cpu.shares") == "512")
            #expect(Self.read(dirs["pids"]! + "/pids.max") == "16")
        } else {
            let dir = try #require(dirs[""])
            #expect(dir == cgroup)
            #expect(Self.read(dir + "/memory.max") == String(64 << 20))
            #expect(Self.read(dir + "/cpu.max") == "25000 100000")
            #expect(Self.read(dir + "/pids.max") == "16")
        }
        try await h.shutdown()
        try await eventually("the stopped service's cgroups are removed") {
            dirs.values.filter { $0.hasSuffix("/lim") }.allSatisfy { !FileManager.default.fileExists(atPath: $0) }
        }
    }

    @Test func anOOMKillIsReportedAsSuchAndTheRestartPolicyGivesUp() async throws {
        let h = try SupervisedNode(
            """
            services:
              hog:
                run: [python3, -c, "import time; x = b'x' * (256 << 20); time.sleep(60)"]
                limits: { memory_max: 32MiB }
                restart: { backoff: 10ms..10ms, give_up: 2 in 60s }
            """
        )
        let failed = try await h.log.wait(for: EventType.serviceFailed, "hog")
        let reason = failed[0].payload["reason"]?.stringValue ?? ""
        #expect(reason.hasPrefix("killed by the OOM killer (memory_max 32"), "\(reason)")
        let ooms = h.log.events(EventType.serviceOOMKilled, "hog")
        #expect(ooms.count == 2, "one per run: \(ooms.map(\.payload))")
        #expect(ooms.allSatisfy { ($0.payload["kills"]?.intValue ?? 0) >= 1 })
        #expect(ooms.first?.payload["memory_max"]?.intValue == 32 << 20)
        let totals = ooms.compactMap { $0.payload["events"]?["oom_kill"]?.intValue }
        #expect(totals.count == 2 && totals[1] > totals[0], "the kernel's count grows: \(totals)")
        let exits = h.log.events(EventType.serviceExited, "hog")
        #expect(exits.allSatisfy { $0.payload["signal"]?.stringValue == "SIGKILL" })
        #expect(h.log.events(EventType.serviceStarted, "hog").count == 2)
        try await h.shutdown()
    }

    /// A service whose readings hold steady is sampled less often (down to every fourth pass);
    /// one whose CPU use moves is sampled on every pass.
    @Test func aSteadyServiceIsSampledLessOftenThanABusyOne() async throws {
        let h = try SupervisedNode(
            """
            stats: { every: 100ms }
            services:
              steady:
                run: [sleep, "300"]
              busy:
                run: [python3, -c, "import random, time\\nwhile True:\\n t = time.time()\\n d = random.uniform(0.005, 0.09)\\n while time.time() - t < d: pass\\n time.sleep(0.1)"]
            """
        )
        let samples = h.supervisor.samples.subscribe(name: "test")
        _ = try await h.pid("steady")
        _ = try await h.pid("busy")
        var counts: [String: Int] = [:]
        while (counts["busy"] ?? 0) < 30, let sample = await samples.next() {
            guard sample.series == "service.memory_bytes", let service = sample.labels["service"] else { continue }
            counts[service, default: 0] += 1
        }
        let steady = counts["steady"] ?? 0
        #expect(steady >= 3, "the steady service is still sampled: \(counts)")
        // Every pass would give 30 (the busy one's CPU use changes on nearly every pass).
        #expect(steady * 3 <= 2 * 30, "the steady service sat out passes: \(counts)")
        try await h.shutdown()
    }

    @Test func aSteadyServiceIsSampledAtLeastOnceAMinute() {
        let strides = [
            "100ms": 12, "1s": 12, "5s": 12, "10s": 6, "15s": 4, "45s": 1, "1m": 1, "5m": 1,
        ]
        for (every, stride) in strides {
            let duration = DurationFormat.parse(every)!
            #expect(Supervisor.maxStatsStride(every: duration) == stride, "every \(every)")
            #expect(duration * Supervisor.maxStatsStride(every: duration) <= .seconds(60) || stride == 1)
        }
        // Out of the spec's range (it takes 100ms and up), still an answer, not a trap.
        #expect(Supervisor.maxStatsStride(every: .nanoseconds(1) / 1_000_000_000) == 12)
        #expect(Supervisor.maxStatsStride(every: .seconds(Int64.max)) == 1)
        #expect(Supervisor.maxStatsStride(every: .zero) == 1)
    }

    @Test func aQuietLogSweepRidesAlongWithAStatsPass() {
        let pauses: [(String?, Duration)] = [
            ("5s", .seconds(10)), ("3s", .seconds(9)), ("1s", .seconds(8)), ("200ms", .seconds(8)),
            ("8s", .seconds(8)), ("30s", .seconds(8)), (nil, .seconds(8)),
        ]
        for (every, pause) in pauses {
            let stats = every.map { DurationFormat.parse($0)! }
            #expect(Supervisor.quietLogSweepPause(stats: stats) == pause, "every \(every ?? "off")")
        }
        #expect(Supervisor.quietLogSweepPause(stats: .nanoseconds(1) / 1_000_000_000) == .seconds(8))
        #expect(Supervisor.quietLogSweepPause(stats: .seconds(Int64.max)) == .seconds(8))
    }

    /// A child the OOM killer kills while the service runs on is found by the stats pass, which
    /// reads the OOM count only when the memory charged moved: a kill gives memory back.
    @Test func aChildKilledByTheOOMKillerWhileTheServiceRunsOnIsReported() async throws {
        let h = try SupervisedNode(
            """
            stats: { every: 100ms }
            services:
              batch:
                run: [sh, -c, "sleep 1; python3 -c \\"x = b'x' * (256 << 20)\\"; exec sleep 300"]
                limits: { memory_max: 32MiB }
            """
        )
        let ooms = try await h.log.wait(for: EventType.serviceOOMKilled, "batch")
        #expect(ooms[0].payload["kills"]?.intValue == 1, "\(ooms[0].payload)")
        #expect(h.log.events(EventType.serviceExited, "batch").isEmpty, "the service itself runs on")
        try await h.shutdown()
    }

    @Test func aForkBombIsHeldByTasksMaxAndAStopEndsIt() async throws {
        let dir = TempDir("warden-bomb")
        let go = dir.file("go")
        let h = try SupervisedNode(
            """
            services:
              bomb:
                run: [sh, -c, "while [ ! -e \(go) ]; do sleep 0.02; done; b() { b & b & wait; }; b & exec sleep 300"]
                limits: { tasks_max: 40 }
                stop: { timeout: 2s }
            """
        )
        let pid = try await h.pid("bomb")
        // Safety first: the bomb is lit only once its cgroup's limit is seen in the kernel.
        let pids = try #require(try Self.cgroupDirectories(of: pid)["pids"], "the service is in a pids cgroup")
        #expect(pids.hasSuffix("/bomb"))
        try #require(Self.read(pids + "/pids.max") == "40")
        FileManager.default.createFile(atPath: go, contents: nil)
        // Forks refused at the limit (dash's subshells that cannot fork give up, so the count
        // moves under the limit as they go and others take their place).
        try await eventually("the bomb reaches its limit and forks are refused") {
            (CgroupFormats.keyed(Self.read(pids + "/pids.events"))["max"] ?? 0) > 0
        }
        // The node is fine: a new process starts, and the supervisor answers.
        let probe = try await runCommand("/bin/true", [])
        #expect(probe.exitCode == 0)
        #expect(await h.status("bomb")?.state == "running")
        #expect(Int(Self.read(pids + "/pids.current")) ?? 99 <= 40)

        try await h.supervisor.stop("bomb")
        try await h.log.wait(for: EventType.serviceStopped, "bomb")
        try await eventually("every process of the bomb is gone") {
            !FileManager.default.fileExists(atPath: pids) || Self.read(pids + "/cgroup.procs").isEmpty
        }
        try await h.shutdown()
    }

    @Test func aProcessThatLeavesItsGroupAndDropsItsEnvironmentDoesNotOutliveAStop() async throws {
        let dir = TempDir("warden-escape")
        let marker = dir.file("escaped")
        let h = try SupervisedNode(
            """
            services:
              esc:
                run: [sh, -c, "env -i setsid sh -c 'echo $$ > \(marker); exec sleep 300' & exec sleep 301"]
            """
        )
        let pid = try await h.pid("esc")
        var escaped: pid_t = 0
        try await eventually("the escaped process wrote its pid") {
            escaped = pid_t(Self.read(marker)) ?? 0
            return escaped > 0 && Self.read("/proc/\(escaped)/comm") == "sleep"
        }
        #expect(ProcFS.stat(escaped)?.pgrp != pid, "it left the service's process group")
        #expect(ProcFS.environment(escaped)?["WARDEN_INSTANCE"] == nil, "and the tag Warden finds its processes by")
        try await h.supervisor.stop("esc")
        try await h.log.wait(for: EventType.serviceStopped, "esc")
        try await eventually("the escaped process is killed with its service") { !processAlive(escaped) }
        try await h.shutdown()
    }

    @Test func withoutCgroupsTheServiceRunsAndSaysWhichLimitsDoNotHold() async throws {
        let h = try SupervisedNode(
            """
            services:
              free:
                run: [SAMPLE]
                limits: { memory_max: 64MiB, tasks_max: 10 }
            """,
            cgroups: .failure(CgroupError(path: "/sys/fs/cgroup/user.slice/cgroup.procs", reason: "Permission denied"))
        )
        let events = try await h.log.wait(for: EventType.serviceLimitsUnenforced, "free")
        let problems = events[0].payload["problems"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(problems.count == 1)
        #expect(problems.first?.contains("Permission denied") == true, "\(problems)")
        try await h.log.wait(for: EventType.serviceStarted, "free")
        let status = await h.status("free")
        #expect(status?.cgroup == nil)
        #expect(status?.limitsUnenforced == problems)
        try await h.shutdown()
    }

    /// A service quiet for many stats passes (its CPU time and memory unmoved: the passes reuse
    /// the last full reading) is read in full again as soon as it runs: its new memory shows in
    /// the next samples, not a minute later.
    @Test func aQuietServiceThatWakesIsMeasuredAtOnce() async throws {
        let h = try SupervisedNode(
            """
            stats: { every: 100ms }
            services:
              wakes:
                run: [sh, -c, "sleep 2; exec python3 -c 'import time; x = str(7) * (96 << 20); time.sleep(300)'"]
            """
        )
        let samples = h.supervisor.samples.subscribe(name: "test")
        _ = try await h.pid("wakes")
        var small = 0
        var grown = false
        while !grown, let sample = await samples.next() {
            guard sample.series == "service.rss_bytes" else { continue }
            if sample.value < Double(32 << 20) {
                small += 1
            } else if sample.value > Double(90 << 20) {
                grown = true
            }
        }
        #expect(small >= 5, "quiet passes came first (\(small))")
        #expect(grown)
    }

    /// A counter file read again through a descriptor kept open shows the kernel's current value,
    /// the cgroup can still be removed, and one made again under the same name is read afresh.
    @Test func aCounterKeptOpenIsReadAfreshAndLetsItsCgroupGo() throws {
        let dir = "/sys/fs/cgroup/pids/warden-kept-\(getpid())"
        let files = KernelCgroupFiles(keep: 8)
        try files.makeDirectory(dir)
        defer { _ = files.removeDirectory(dir) }
        #expect(files.reread(dir + "/pids.current")?.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("sleep"), strdup("30"), nil]
        defer { for p in argv { free(p) } }
        try #require(posix_spawnp(&pid, "sleep", nil, nil, argv, environ) == 0)
        defer {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)  // ECHILD when another test's reaper took it first
        }
        try files.write(dir + "/cgroup.procs", "\(pid)")
        #expect(files.reread(dir + "/pids.current")?.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        try files.write("/sys/fs/cgroup/pids/cgroup.procs", "\(pid)")
        #expect(files.reread(dir + "/pids.current")?.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        // Removed behind the kept descriptor's back: it no longer reads, and is opened again.
        #expect(rmdir(dir) == 0, "a file kept open does not hold its cgroup")
        #expect(files.reread(dir + "/pids.current") == nil)
        try files.makeDirectory(dir)
        try files.write(dir + "/cgroup.procs", "\(pid)")
        #expect(files.reread(dir + "/pids.current")?.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        try files.write("/sys/fs/cgroup/pids/cgroup.procs", "\(pid)")
    }
}
