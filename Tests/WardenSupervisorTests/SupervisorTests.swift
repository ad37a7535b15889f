import Foundation
import Testing
import WardenCore
import WardenSupervisor
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The supervisor with real processes (`warden-sample`) in the test process.
@Suite("Supervisor with real processes", .timeLimit(.minutes(2)))
struct SupervisorTests {
    init() { becomeSubreaper() }

    @Test func aCrashedServiceIsRestarted() async throws {
        let h = try Harness(
            """
            services:
              crashy:
                run: [SAMPLE, --crash-after, 150ms, --exit-code, "3"]
                restart: { backoff: 10ms..10ms, give_up: never }
            """
        )
        let started = try await h.log.wait(for: EventType.serviceStarted, "crashy", count: 3)
        let exits = h.log.events(EventType.serviceExited, "crashy")
        #expect(exits.count >= 2)
        #expect(exits.allSatisfy { $0.payload["code"]?.intValue == 3 && $0.payload["expected"]?.boolValue == false })
        let pids = started.map { $0.payload["pid"]?.intValue ?? 0 }
        #expect(Set(pids).count == pids.count, "each restart is a new process")
        #expect((await h.status("crashy"))?.restarts ?? 0 >= 2)
        try await h.shutdown()
        // Each start without a readiness check is ready exactly once.
        #expect(
            h.log.events(EventType.serviceReady, "crashy").count
                == h.log.events(EventType.serviceStarted, "crashy").count
        )
    }

    @Test func aCrashLoopGivesUpAndSaysSo() async throws {
        let h = try Harness(
            """
            services:
              loop:
                run: [SAMPLE, --crash-after, 20ms]
                restart: { backoff: 5ms..5ms, give_up: 3 in 30s }
            """
        )
        let failed = try await h.log.wait(for: EventType.serviceFailed, "loop")
        #expect(failed[0].payload["failures"]?.intValue == 3)
        #expect(failed[0].payload["reason"]?.stringValue == "exit code 1")
        #expect(h.log.events(EventType.serviceStarted, "loop").count == 3)
        try await Task.sleep(for: .milliseconds(200))
        #expect(h.log.events(EventType.serviceStarted, "loop").count == 3, "no start after giving up")
        #expect((await h.status("loop"))?.state == "failed")
        // A person can always start it again: the history starts over.
        try await h.supervisor.start("loop")
        try await h.log.wait(for: EventType.serviceStarted, "loop", count: 4)
        try await h.shutdown()
    }

    /// A shutdown that arrives while a restart is under way (the old process still stopping) ends
    /// with the service stopped: the restart does not start a process behind the shutdown's back.
    @Test func aShutdownDuringARestartLeavesNothingRunning() async throws {
        let h = try Harness(
            """
            services:
              slow:
                run: [SAMPLE, --ignore-sigterm, --ready-after, 0ms]
                ready: notify
                stop: { timeout: 1s }
            """
        )
        // READY=1 comes after the sample has set SIGTERM aside: its stop takes the whole second.
        try await h.log.wait(for: EventType.serviceReady, "slow")
        let pid = try await h.pid("slow")
        try await h.supervisor.restart("slow")
        try await h.log.wait(for: EventType.serviceStopping, "slow")
        #expect(processAlive(pid), "the old process is still stopping")
        // Shut down now, with the restart half done; it completes, and nothing is left.
        try await h.shutdown()
        #expect(h.log.events(EventType.serviceStarted, "slow").count == 1, "no second start")
        #expect(processesTagged(stateDir: h.spec.stateDir).isEmpty)
    }

    @Test func aServiceIgnoringSIGTERMIsKilledAfterTheTimeout() async throws {
        let h = try Harness(
            """
            services:
              stubborn:
                run: [SAMPLE, --ignore-sigterm, --ready-after, 0ms]
                ready: notify
                stop: { timeout: 300ms }
            """
        )
        // READY=1 comes after the sample has set SIGTERM aside: stopping earlier would kill it.
        try await h.log.wait(for: EventType.serviceReady, "stubborn")
        let pid = try await h.pid("stubborn")
        let before = ContinuousClock.now
        try await h.supervisor.stop("stubborn")
        let killed = try await h.log.wait(for: EventType.serviceKilled, "stubborn")
        #expect(killed[0].payload["reason"]?.stringValue == "did not stop within 300ms")
        let exited = try await h.log.wait(for: EventType.serviceExited, "stubborn")
        #expect(exited[0].payload["signal"]?.stringValue == "SIGKILL")
        #expect(ContinuousClock.now - before >= .milliseconds(300))
        #expect(!processAlive(pid))
        #expect((await h.status("stubborn"))?.state == "stopped")
        try await h.shutdown()
    }

    @Test func aFrozenServiceIsWokenToActOnItsStopSignal() async throws {
        let h = try Harness(
            """
            services:
              frozen:
                run: [SAMPLE, --ready-after, 0ms]
                ready: notify
                stop: { timeout: 20s }
            """
        )
        // READY=1 comes after its SIGTERM handler is set: freezing it earlier would test nothing.
        try await h.log.wait(for: EventType.serviceReady, "frozen")
        let pid = try await h.pid("frozen")
        kill(pid, SIGSTOP)
        try await eventually("the process is stopped") { ProcFS.stat(pid)?.state == "T" }
        let before = ContinuousClock.now
        try await h.supervisor.stop("frozen")
        let exited = try await h.log.wait(for: EventType.serviceExited, "frozen")
        // It exits on its own SIGTERM handler, not the timeout's SIGKILL.
        #expect(exited[0].payload["signal"] == nil)
        #expect(h.log.events(EventType.serviceKilled, "frozen").isEmpty)
        #expect(ContinuousClock.now - before < .seconds(10))
        try await h.shutdown()
    }

    @Test func stoppingKillsTheWholeProcessGroup() async throws {
        let h = try Harness(
            """
            services:
              family:
                run: [SAMPLE, --children, "3"]
            """
        )
        let pid = try await h.pid("family")
        var members: [pid_t] = []
        try await eventually("the children are running") {
            members = ProcFS.allPids().filter { ProcFS.stat($0)?.pgrp == pid && processAlive($0) }
            return members.count == 4
        }
        try await h.supervisor.stop("family")
        try await h.log.wait(for: EventType.serviceStopped, "family")
        try await eventually("every member of the group is gone") { members.allSatisfy { !processAlive($0) } }
        try await h.shutdown()
    }

    @Test func whatACrashedServiceLeavesInItsGroupIsKilled() async throws {
        let h = try Harness(
            """
            services:
              parent:
                run: [SAMPLE, --children, "2", --crash-after, 300ms]
                restart: { backoff: 1s..1s, give_up: never }
            """
        )
        let pid = try await h.pid("parent")
        var children: [pid_t] = []
        try await eventually("children started") {
            children = ProcFS.allPids().filter { $0 != pid && ProcFS.stat($0)?.pgrp == pid && processAlive($0) }
            return children.count == 2
        }
        try await h.log.wait(for: EventType.serviceExited, "parent")
        try await eventually("the orphaned children were killed") { children.allSatisfy { !processAlive($0) } }
        try await h.shutdown()
    }

    @Test func aDoubleForkingDaemonStaysSupervised() async throws {
        let h = try Harness(
            """
            services:
              daemon:
                run: [SAMPLE, --daemonize]
                restart: { backoff: 10ms..10ms }
            """
        )
        let started = try await h.log.wait(for: EventType.serviceStarted, "daemon")
        let launcher = pid_t(started[0].payload["pid"]!.intValue!)
        // Followed through the middle process to the grandchild.
        try await eventually("the daemon is followed") {
            guard let pid = await h.status("daemon")?.pid, pid != launcher else { return false }
            return processAlive(pid) && ProcFS.stat(pid)?.ppid == getpid()
        }
        let daemon = try #require(await h.status("daemon")?.pid)
        #expect((await h.status("daemon"))?.state == "running")
        #expect(h.log.events(EventType.serviceExited, "daemon").isEmpty, "daemonizing is not an exit")
        // Its death is noticed and it is started again.
        kill(daemon, SIGKILL)
        let exits = try await h.log.wait(for: EventType.serviceExited, "daemon")
        #expect(exits[0].payload["pid"]?.intValue == Int64(daemon))
        #expect(exits[0].payload["signal"]?.stringValue == "SIGKILL")
        try await h.log.wait(for: EventType.serviceStarted, "daemon", count: 2)
        try await h.log.wait(for: EventType.serviceDaemonized, "daemon", count: 2)
        try await h.shutdown()
    }

    @Test func dependentsStartOnlyWhenTheirDependencyIsReady() async throws {
        let port = freePort()
        let h = try Harness(
            """
            services:
              db:
                run: [/bin/sh, -c, "sleep 0.5; exec SAMPLE --port \(port)"]
                ready: { tcp: 127.0.0.1:\(port), every: 20ms, within: 10s }
              api:
                run: [SAMPLE]
                after: [db]
              web:
                run: [SAMPLE]
                after: [api]
            """
        )
        try await h.log.wait(for: EventType.serviceStarted, "web")
        let dbStarted = try #require(h.log.events(EventType.serviceStarted, "db").first)
        let dbReady = try #require(h.log.events(EventType.serviceReady, "db").first)
        let apiStarted = try #require(h.log.events(EventType.serviceStarted, "api").first)
        let apiReady = try #require(h.log.events(EventType.serviceReady, "api").first)
        let webStarted = try #require(h.log.events(EventType.serviceStarted, "web").first)
        #expect(dbReady.time.timeIntervalSince(dbStarted.time) >= 0.4, "db was not ready before it listened")
        #expect(dbReady.id < apiStarted.id)
        #expect(apiReady.id < webStarted.id)
        // Shutdown runs in reverse: web, then api, then db.
        try await h.shutdown()
        let stops = h.log.events(EventType.serviceStopping).map(\.subject)
        #expect(stops == ["web", "api", "db"])
    }

    @Test func readyNotifyGatesDependentsAndStatusIsShown() async throws {
        let dir = TempDir("warden-ready")
        let go = dir.file("go")
        let h = try Harness(
            """
            services:
              slow:
                run: [SAMPLE, --ready-when, \(go), --status, "warming up"]
                ready: notify
              next:
                run: [SAMPLE]
                after: [slow]
            """
        )
        try await eventually("status text arrives") { await h.status("slow")?.statusText == "warming up" }
        // `slow` cannot be ready before the file exists.
        let snapshot = await h.supervisor.status()
        #expect(h.log.events(EventType.serviceReady, "slow").isEmpty)
        #expect(snapshot.first { $0.name == "slow" }?.state == "starting")
        #expect(snapshot.first { $0.name == "next" }?.state == "waiting")
        #expect(snapshot.first { $0.name == "next" }?.waitingFor == ["slow"])

        FileManager.default.createFile(atPath: go, contents: nil)
        let ready = try await h.log.wait(for: EventType.serviceReady, "slow")
        let nextStarted = try await h.log.wait(for: EventType.serviceStarted, "next")
        #expect(nextStarted[0].id > ready[0].id)
        #expect(h.log.events(EventType.serviceReady, "slow").count == 1)
        try await h.shutdown()
    }

    @Test func aServiceThatNeverBecomesReadyIsRestarted() async throws {
        let h = try Harness(
            """
            services:
              mute:
                run: [SAMPLE]
                ready: { notify: true, within: 300ms }
                restart: { backoff: 10ms..10ms }
            """
        )
        let failed = try await h.log.wait(for: EventType.probeFailed, "mute")
        #expect(failed[0].payload["probe"]?.stringValue == "ready")
        try await h.log.wait(for: EventType.serviceStarted, "mute", count: 2)
        try await h.shutdown()
    }

    @Test func aFailingHealthProbeRestartsTheService() async throws {
        let port = freePort()
        let h = try Harness(
            """
            services:
              web:
                run: [SAMPLE, --port, "\(port)", --hang-after, 600ms]
                ready: { tcp: 127.0.0.1:\(port), within: 5s }
                health: { http: "http://127.0.0.1:\(port)/healthz", every: 100ms, timeout: 100ms, failures: 3, grace: 0s }
                restart: { backoff: 10ms..10ms }
            """
        )
        let failed = try await h.log.wait(for: EventType.probeFailed, "web")
        #expect(failed[0].payload["probe"]?.stringValue == "health")
        #expect(failed[0].payload["consecutive"]?.intValue == 3)
        #expect(failed[0].payload["detail"]?.stringValue?.contains("timed out") == true)
        let restarting = try await h.log.wait(for: EventType.serviceRestarting, "web")
        #expect(restarting[0].payload["reason"]?.stringValue?.hasPrefix("health check failed") == true)
        try await h.log.wait(for: EventType.serviceStarted, "web", count: 2)
        try await h.shutdown()
    }

    /// Without `grace:`, a service gets time to pass its first health check (a slow start is not
    /// a failure); once it has passed, failures count at once.
    @Test func healthFailuresBeforeTheFirstPassDoNotCountByDefault() async throws {
        let dir = TempDir("warden-grace")
        let runs = dir.file("runs")
        let healthy = dir.file("healthy")
        let h = try Harness(
            """
            services:
              slow:
                run: [SAMPLE]
                health: { exec: [/bin/sh, -c, "echo x >> \(runs); test -f \(healthy)"], every: 20ms, failures: 2 }
                restart: { backoff: 10ms..10ms }
            """
        )
        // Twenty failed checks, far past two failures: no verdict while it has never passed.
        try await eventually("twenty failed checks") {
            ((try? String(contentsOfFile: runs, encoding: .utf8)) ?? "").split(separator: "\n").count >= 20
        }
        #expect(h.log.events(EventType.probeFailed, "slow").isEmpty)
        #expect(h.log.events(EventType.serviceStarted, "slow").count == 1)
        // It passes once; from then on two failures fail it.
        FileManager.default.createFile(atPath: healthy, contents: nil)
        let passedAt = ((try? String(contentsOfFile: runs, encoding: .utf8)) ?? "").split(separator: "\n").count
        try await eventually("a passing check") {
            ((try? String(contentsOfFile: runs, encoding: .utf8)) ?? "").split(separator: "\n").count >= passedAt + 3
        }
        try FileManager.default.removeItem(atPath: healthy)
        let failed = try await h.log.wait(for: EventType.probeFailed, "slow")
        #expect(failed[0].payload["consecutive"]?.intValue == 2)
        try await h.shutdown()
    }

    @Test func anHTTPErrorIsAFailureToo() async throws {
        let port = freePort()
        let h = try Harness(
            """
            services:
              web:
                run: [SAMPLE, --port, "\(port)", --fail-health-after, 300ms]
                health: { http: "http://127.0.0.1:\(port)/healthz", every: 50ms, timeout: 500ms, failures: 2, grace: 0s }
                restart: { backoff: 10ms..10ms }
            """
        )
        let failed = try await h.log.wait(for: EventType.probeFailed, "web")
        #expect(failed[0].payload["detail"]?.stringValue == "HTTP 500")
        try await h.log.wait(for: EventType.serviceStarted, "web", count: 2)
        try await h.shutdown()
    }

    @Test func aMissedWatchdogRestartsTheService() async throws {
        let h = try Harness(
            """
            services:
              pinger:
                run: [SAMPLE, --hang-after, 600ms, --watchdog-every, 50ms]
                watchdog: 1s
                restart: { backoff: 10ms..10ms }
            """
        )
        let missed = try await h.log.wait(for: EventType.watchdogMissed, "pinger")
        let started = try #require(h.log.events(EventType.serviceStarted, "pinger").first)
        // It pinged every 50 ms (a twentieth of the watchdog, so that a loaded machine does not
        // delay a ping past it) until it hung at 600 ms; the miss comes a second after that.
        #expect(missed[0].time.timeIntervalSince(started.time) >= 1.5)
        try await h.log.wait(for: EventType.serviceStarted, "pinger", count: 2)
        try await h.shutdown()
    }

    /// `stats: { every: off }`: a supervisor that only supervises. Nothing is sampled or stored,
    /// and logs are still rotated (with stats every 200 ms, the same service is sampled).
    @Test(arguments: ["off", "200ms"])
    func withStatsOffNothingIsSampledAndLogsStillRotate(every: String) async throws {
        let h = try Harness(
            """
            stats: { every: \(every) }
            services:
              chatty:
                run: [SAMPLE, --print-every, 1ms, --message, "hello from chatty with a long enough line"]
                logs: { max_size: 4KB, keep: 2 }
            """
        )
        let samples = h.supervisor.samples.subscribe(name: "test")
        func seen() -> Int {
            h.supervisor.samples.stats().first { $0.name == "test" }.map { $0.buffered + $0.delivered } ?? 0
        }
        try await h.log.wait(for: "service.log_rotated", "chatty")
        if every == "off" {
            // Five passes' worth of the other case, and none came.
            try await Task.sleep(for: .seconds(1))
            #expect(seen() == 0, "no samples")
            #expect((await h.status("chatty"))?.rssBytes == nil)
        } else {
            try await eventually("samples") { seen() > 0 }
        }
        samples.cancel()
        try await h.shutdown()
    }

    @Test func outputGoesToRotatedFiles() async throws {
        let h = try Harness(
            """
            services:
              chatty:
                run: [SAMPLE, --print-every, 1ms, --message, "hello from chatty with a long enough line"]
                logs: { max_size: 4KB, keep: 2 }
            """
        )
        let log = h.spec.stateDir + "/logs/chatty.log"
        try await eventually("the log was rotated", timeout: .seconds(15)) {
            FileManager.default.fileExists(atPath: log + ".1")
        }
        let rotated = try String(contentsOfFile: log + ".1", encoding: .utf8)
        #expect(rotated.contains("hello from chatty"))
        try await h.log.wait(for: "service.log_rotated", "chatty")
        try await h.shutdown()
    }

    @Test func cpuAndMemoryAreSampled() async throws {
        let h = try Harness(
            """
            stats: { every: 200ms }
            services:
              hog:
                run: [SAMPLE, --grow-memory, "20000000"]
            """
        )
        let samples = h.supervisor.samples.subscribe(name: "test")
        var rss: [Double] = []
        var cpu: [Double] = []
        while rss.count < 4 || cpu.isEmpty {
            guard let s = await samples.next() else { break }
            #expect(s.labels == ["service": "hog"])
            if s.series == "service.rss_bytes" { rss.append(s.value) }
            if s.series == "service.cpu_percent" { cpu.append(s.value) }
        }
        #expect(rss.last! > rss.first!, "a growing service's RSS grows: \(rss)")
        #expect(rss.last! > 5_000_000, "\(rss)")
        #expect(cpu.allSatisfy { $0 >= 0 })
        #expect((await h.status("hog"))?.rssBytes ?? 0 > 0)
        try await h.shutdown()
    }

    @Test func manualStopStartAndRestart() async throws {
        let h = try Harness(
            """
            services:
              svc:
                run: [SAMPLE]
            """
        )
        let first = try await h.pid("svc")
        try await h.supervisor.restart("svc")
        try await h.log.wait(for: EventType.serviceStarted, "svc", count: 2)
        let second = try await h.pid("svc")
        #expect(first != second)
        #expect(!processAlive(first))
        try await h.supervisor.stop("svc")
        try await h.log.wait(for: EventType.serviceStopped, "svc")
        #expect((await h.status("svc"))?.state == "stopped")
        try await Task.sleep(for: .milliseconds(200))
        #expect(h.log.events(EventType.serviceStarted, "svc").count == 2, "a stopped service stays stopped")
        try await h.supervisor.start("svc")
        try await h.log.wait(for: EventType.serviceStarted, "svc", count: 3)
        await #expect(throws: WardenError.self) { try await h.supervisor.restart("nope") }
        try await h.shutdown()
    }

    @Test func aProgramThatVanishedIsReportedAndRetried() async throws {
        let dir = TempDir()
        let program = dir.write("prog.sh", "#!/bin/sh\nexec sleep 30\n")
        chmod(program, 0o755)
        let h = try Harness(
            """
            services:
              gone:
                run: [\(program)]
                restart: { backoff: 50ms..50ms, give_up: 2 in 10s }
            """
        )
        _ = try await h.pid("gone")
        unlink(program)
        try await h.supervisor.restart("gone")
        let failed = try await h.log.wait(for: EventType.serviceSpawnFailed, "gone")
        #expect(failed[0].payload["reason"]?.stringValue?.contains("exec failed") == true)
        try await h.log.wait(for: EventType.serviceFailed, "gone")
        try await h.shutdown()
    }

    @Test func environmentAndWorkingDirectoryReachTheService() async throws {
        let h = try Harness(
            """
            services:
              envy:
                run: [/bin/sh, -c, "echo \\"$GREETING $WARDEN_SERVICE $(pwd)\\"; exec sleep 30"]
                env: { GREETING: hello }
                cwd: /tmp
            """
        )
        let log = h.spec.stateDir + "/logs/envy.log"
        try await eventually("the service wrote its environment") {
            (try? String(contentsOfFile: log, encoding: .utf8))?.contains("hello envy /tmp") == true
        }
        try await h.shutdown()
    }

    @Test func anExecReadinessProbeGatesTheStart() async throws {
        let dir = TempDir()
        let flag = dir.file("ready-flag")
        let h = try Harness(
            """
            services:
              svc:
                run: [/bin/sh, -c, "sleep 0.3; touch \(flag); exec sleep 30"]
                ready: { exec: [/bin/test, -e, "\(flag)"], every: 20ms, within: 10s }
            """
        )
        let ready = try await h.log.wait(for: EventType.serviceReady, "svc")
        let started = try #require(h.log.events(EventType.serviceStarted, "svc").first)
        #expect(ready[0].time.timeIntervalSince(started.time) >= 0.25)
        #expect(FileManager.default.fileExists(atPath: flag))
        try await h.shutdown()
    }

    /// Needs root, as dropping privileges does (CI runs as root).
    @Test func servicesRunAsTheirUserAndGroup() async throws {
        let h = try Harness(
            """
            services:
              unprivileged:
                run: [/bin/sh, -c, 'echo "$USER $(id -u):$(id -g)"; exec sleep 30']
                user: nobody
                group: nogroup
            """
        )
        let pid = try await h.pid("unprivileged")
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let nobody = try #require(Accounts.user("nobody"))
        let nogroup = try #require(Accounts.group("nogroup"))
        #expect(status.contains("Uid:\t\(nobody.uid)\t\(nobody.uid)\t\(nobody.uid)"))
        #expect(status.contains("Gid:\t\(nogroup)\t\(nogroup)\t\(nogroup)"))
        try await eventually("it says who it is") {
            (try? String(contentsOfFile: h.spec.stateDir + "/logs/unprivileged.log", encoding: .utf8))?
                .contains("nobody \(nobody.uid):\(nogroup)") == true
        }
        try await h.shutdown()
    }

    // MARK: - sd_notify end to end, from services that speak it themselves

    /// A Python service: `notify(text)` sends one sd_notify datagram; `wait_for(path)` blocks until
    /// the file exists. `body` is the script.
    static func notifyService(_ dir: TempDir, _ name: String, _ body: String) -> String {
        dir.write(
            name,
            """
            import os, socket, sys, time
            def notify(text):
                address = os.environ["NOTIFY_SOCKET"]
                if address.startswith("@"):
                    address = "\\0" + address[1:]
                s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                s.sendto(text.encode(), address)
                s.close()
            def wait_for(path):
                while not os.path.exists(path):
                    time.sleep(0.01)
            \(body)
            """
        )
    }

    /// EXTEND_TIMEOUT_USEC moves the start deadline: ready at 8 s is in time although `within`
    /// says 5 s.
    @Test func extendTimeoutGivesAStartMoreTime() async throws {
        let python = try #require(which("python3"), "python3 is not installed")
        let dir = TempDir("warden-notify")
        let script = Self.notifyService(
            dir,
            "slow.py",
            "notify('EXTEND_TIMEOUT_USEC=30000000')\ntime.sleep(8)\nnotify('READY=1')\ntime.sleep(1000)"
        )
        // `within` leaves Python time to start and say EXTEND on a loaded machine; READY comes
        // well after it, well before the extension ends.
        let h = try Harness(
            """
            services:
              slow:
                run: [\(python), \(script)]
                ready: { notify: true, within: 5s }
                restart: { backoff: 10ms..10ms }
            """
        )
        try await h.log.wait(for: EventType.serviceReady, "slow")
        #expect(h.log.events(EventType.serviceSpawnFailed, "slow").isEmpty)
        #expect(h.log.events(EventType.serviceExited, "slow").isEmpty, "not stopped for being late")
        #expect(h.log.events(EventType.serviceStarted, "slow").count == 1)
        try await h.shutdown()
    }

    /// MAINPID= hands supervision to another process of the service's group.
    @Test func mainPIDMovesTheMainProcess() async throws {
        let python = try #require(which("python3"), "python3 is not installed")
        let dir = TempDir("warden-notify")
        let childPid = dir.file("child.pid")
        let script = Self.notifyService(
            dir,
            "handover.py",
            """
            child = os.fork()
            if child == 0:
                time.sleep(1000)
                sys.exit(0)
            open("\(childPid)", "w").write(str(child))
            notify("MAINPID=%d" % child)
            notify("READY=1")
            time.sleep(1000)
            """
        )
        let h = try Harness(
            """
            services:
              handover:
                run: [\(python), \(script)]
                ready: notify
            """
        )
        try await h.log.wait(for: EventType.serviceReady, "handover")
        let child = try #require(pid_t((try? String(contentsOfFile: childPid, encoding: .utf8)) ?? ""))
        try await eventually("the child is the main process") { await h.status("handover")?.pid == child }
        // Its exit is now the service's exit.
        kill(child, SIGKILL)
        let exited = try await h.log.wait(for: EventType.serviceExited, "handover")
        #expect(exited[0].payload["pid"]?.intValue == Int64(child))
        try await h.shutdown()
    }

    /// WATCHDOG=trigger: the service says it is broken; it is handled as a missed watchdog.
    @Test func watchdogTriggerRestartsTheService() async throws {
        let python = try #require(which("python3"), "python3 is not installed")
        let dir = TempDir("warden-notify")
        let broken = dir.file("broken")
        let script = Self.notifyService(
            dir,
            "trigger.py",
            "notify('READY=1')\nwait_for('\(broken)')\nnotify('WATCHDOG=trigger')\ntime.sleep(1000)"
        )
        let h = try Harness(
            """
            services:
              trigger:
                run: [\(python), \(script)]
                ready: notify
                restart: { backoff: 10ms..10ms }
            """
        )
        try await h.log.wait(for: EventType.serviceReady, "trigger")
        FileManager.default.createFile(atPath: broken, contents: nil)
        let missed = try await h.log.wait(for: EventType.watchdogMissed, "trigger")
        #expect(missed[0].payload["trigger"]?.boolValue == true)
        try await h.log.wait(for: EventType.serviceStarted, "trigger", count: 2)
        try await h.shutdown()
    }

    /// Only the service's own processes may speak for it: a READY=1 (and a STATUS) from another
    /// process on the same socket is ignored.
    @Test func notifyMessagesFromOutsideTheServiceAreIgnored() async throws {
        let python = try #require(which("python3"), "python3 is not installed")
        let dir = TempDir("warden-notify")
        let speak = dir.file("speak")
        let script = Self.notifyService(
            dir,
            "quiet.py",
            "wait_for('\(speak)')\nnotify('STATUS=genuine')\ntime.sleep(1000)"
        )
        let h = try Harness(
            """
            services:
              quiet:
                run: [\(python), \(script)]
                ready: notify
            """
        )
        let pid = try await h.pid("quiet")
        // The pid is known from fork; the environment is the service's only once exec has run.
        var found: String?
        try await eventually("quiet has exec'd with NOTIFY_SOCKET") {
            found = ProcFS.environment(pid)?["NOTIFY_SOCKET"]
            return found != nil
        }
        let socket = try #require(found)
        // This test process is not in the service's group: its messages must not count.
        let forger = Self.notifyService(
            dir,
            "forger.py",
            "os.environ['NOTIFY_SOCKET'] = sys.argv[1]\nnotify('READY=1\\nSTATUS=forged')"
        )
        let r = await ChildProcess.capture([python, forger, socket])
        #expect(r.status == 0, "\(r.output)")
        // The service's own message comes after the forged one on the same socket.
        FileManager.default.createFile(atPath: speak, contents: nil)
        let status = try await h.log.wait(for: EventType.serviceStatus, "quiet")
        #expect(status.map { $0.payload["status"]?.stringValue } == ["genuine"], "the forged STATUS was ignored")
        #expect(h.log.events(EventType.serviceReady, "quiet").isEmpty, "the forged READY=1 was ignored")
        #expect(await h.status("quiet")?.state == "starting")
        try await h.shutdown()
    }
}
