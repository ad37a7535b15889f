import Foundation
import Testing
import WardenCore
import WardenSupervisor
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Warden's own life: graceful stop, reload, and surviving kill -9.
@Suite("Warden lifecycle", .timeLimit(.minutes(3)))
struct LifecycleTests {
    init() { becomeSubreaper() }

    static let threeTier = """
        services:
          db:
            run: [SAMPLE, --ready-after, 100ms]
            ready: notify
          api:
            run: [SAMPLE, --children, "2"]
            after: [db]
          web:
            run: [SAMPLE]
            after: [api]
        """

    @Test func sigtermStopsEverythingInReverseOrderAndLeavesNothing() async throws {
        let f = Fixture(Self.threeTier)
        let w = try f.start()
        _ = try await f.waitRunning(["db", "api", "web"])
        // Running is the service's own process; api forks its two children a moment later.
        try await eventually("five processes") { processesTagged(stateDir: f.stateDir).count >= 5 }
        #expect(processesTagged(stateDir: f.stateDir).count == 5)
        #expect(try await w.stop() == .exited(0))
        #expect(processesTagged(stateDir: f.stateDir).isEmpty, "nothing orphaned")
        let events = try await f.events()
        #expect(events.filter { $0.type == EventType.serviceStopping }.map(\.subject) == ["web", "api", "db"])
        #expect(events.last?.type == EventType.wardenStopped)
        #expect(try await lingeringZombies(parents: [getpid(), w.pid]).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: f.stateDir + "/run/control.sock"))
    }

    @Test func afterKill9TheNextWardenAdoptsEverythingWithoutDuplicates() async throws {
        let f = Fixture(Self.threeTier)
        let first = try f.start()
        let before = try await f.waitRunning(["db", "api", "web"])
        try await eventually("five processes") { processesTagged(stateDir: f.stateDir).count >= 5 }
        let processes = Set(processesTagged(stateDir: f.stateDir))
        #expect(processes.count == 5)

        first.signal(SIGKILL)
        _ = try await first.wait()
        // The services live on without their supervisor.
        #expect(Set(processesTagged(stateDir: f.stateDir)) == processes)

        let second = try f.start()
        try await f.waitFor(EventType.serviceAdopted, count: 3)
        let after = try await f.waitRunning(["db", "api", "web"])
        #expect(after == before, "the same processes, adopted")
        #expect(Set(processesTagged(stateDir: f.stateDir)) == processes, "no second copy was started")
        let starts = try await f.events().filter { $0.type == EventType.serviceStarted }
        #expect(starts.count == 3, "only the first Warden started anything")
        #expect(try await f.status().allSatisfy { $0.adopted })

        // Exits of adopted services are still noticed, and the policy applies.
        kill(before["web"]!, SIGKILL)
        let exits = try await f.waitFor(EventType.serviceExited, "web")
        #expect(exits[0].payload["pid"]?.intValue == Int64(before["web"]!))
        try await f.waitFor(EventType.serviceStarted, "web", count: 2)
        let restarted = try await f.waitRunning(["web"])
        #expect(restarted["web"] != before["web"])

        // A normal stop leaves nothing behind: no orphans, no zombies.
        #expect(try await second.stop() == .exited(0))
        try await eventually("every service process is gone") { processesTagged(stateDir: f.stateDir).isEmpty }
        #expect(try await lingeringZombies(parents: [getpid(), second.pid]).isEmpty)
    }

    /// After Warden restarts, its adopted services are children of whatever reaps orphans. When
    /// one dies it can stay a zombie there for a while; a restart in that window used to meet the
    /// old pid in its lock file (as postgres does), fail, and burn the give-up budget. Here the
    /// orphans' reaper (a subreaper that reaps only when told) keeps the zombie for a second.
    @Test func anAdoptedServiceIsRestartedOnlyOnceItsOldProcessIsGone() async throws {
        let f = Fixture("")
        let lock = f.dir.file("db.pid")
        f.write(
            """
            services:
              db:
                run: [SAMPLE, --lock, \(lock)]
                restart: { backoff: 0ms..2s, give_up: 10 in 60s }
            """
        )
        let holder = f.dir.write(
            "holder.py",
            """
            import ctypes, os, signal, sys
            ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
            def reap(*_):
                while True:
                    try:
                        pid, _ = os.waitpid(-1, os.WNOHANG)
                    except ChildProcessError:
                        return
                    if pid == 0:
                        return
            signal.signal(signal.SIGUSR1, reap)
            signal.signal(signal.SIGTERM, lambda *_: (reap(), sys.exit(0)))
            child = os.fork()
            if child == 0:
                os.execv(sys.argv[2], sys.argv[2:])
            with open(sys.argv[1] + ".tmp", "w") as out:
                out.write(str(child))
            os.rename(sys.argv[1] + ".tmp", sys.argv[1])
            while True:
                signal.pause()
            """
        )
        let wardenPid = f.dir.file("warden.pid")
        let python = try #require(which("python3"), "python3 is not installed")
        let reaper = try WardenProcess(config: f.config, prefix: [python, holder, wardenPid])
        defer { reaper.signal(SIGTERM) }
        let before = try await f.waitRunning(["db"])
        let first = try #require(pid_t((try? String(contentsOfFile: wardenPid, encoding: .utf8)) ?? ""))
        kill(first, SIGKILL)
        try await eventually("the first Warden is gone") { ProcFS.stat(first)?.isZombie ?? true }

        let second = try f.start()
        do {
            try await f.waitFor(EventType.serviceAdopted, "db")
        } catch {
            Issue.record("the second Warden said: \(second.output)")
            throw error
        }
        kill(before["db"]!, SIGKILL)
        try await eventually("the old db is a zombie") { ProcFS.stat(before["db"]!)?.isZombie == true }
        // The window in which the old code restarted (at once, with a zero first delay) and failed.
        try await Task.sleep(for: .seconds(1))
        #expect(ProcFS.stat(before["db"]!)?.isZombie == true, "still unreaped")
        reaper.signal(SIGUSR1)

        let after = try await f.waitRunning(["db"])
        #expect(after["db"] != before["db"])
        let exits = try await f.events().filter { $0.type == EventType.serviceExited && $0.subject == "db" }
        #expect(exits.count == 1, "only the kill; no failed start: \(exits.map(\.payload))")
        #expect(exits.first?.payload["pid"]?.intValue == Int64(before["db"]!))
        #expect((try? String(contentsOfFile: lock, encoding: .utf8))?.hasPrefix("\(after["db"]!)") == true)
        #expect(try await second.stop() == .exited(0))
    }

    /// A service whose spec changed while Warden was down is restarted with the new spec; the
    /// others are adopted as they are.
    @Test func anAdoptedServiceWhoseSpecChangedIsRestarted() async throws {
        let f = Fixture("services:\n  a:\n    run: [SAMPLE]\n    env: { MODE: old }\n  b:\n    run: [SAMPLE]\n")
        let first = try f.start()
        let before = try await f.waitRunning(["a", "b"])
        first.signal(SIGKILL)
        _ = try await first.wait()
        f.write("services:\n  a:\n    run: [SAMPLE]\n    env: { MODE: new }\n  b:\n    run: [SAMPLE]\n")

        let second = try f.start()
        try await f.waitFor(EventType.serviceAdopted, "b")
        try await f.waitFor(EventType.serviceStarted, "a", count: 2)
        let after = try await f.waitRunning(["a", "b"])
        #expect(after["b"] == before["b"], "b is unchanged: adopted")
        #expect(after["a"] != before["a"], "a changed: started again")
        #expect(ProcFS.environment(after["a"]!)?["MODE"] == "new")
        #expect(!processAlive(before["a"]!), "the old copy of a is gone, not left running")
        #expect(try await second.stop() == .exited(0))
    }

    @Test func aServiceThatDiedWhileWardenWasDownIsRestarted() async throws {
        let f = Fixture("services:\n  a:\n    run: [SAMPLE]\n  b:\n    run: [SAMPLE]\n")
        let first = try f.start()
        let pids = try await f.waitRunning(["a", "b"])
        first.signal(SIGKILL)
        _ = try await first.wait()
        kill(pids["a"]!, SIGKILL)
        try await eventually("a is gone") { !processAlive(pids["a"]!) }

        let second = try f.start()
        let exited = try await f.waitFor(EventType.serviceExited, "a")
        #expect(exited[0].payload["while_down"]?.boolValue == true)
        let now = try await f.waitRunning(["a", "b"])
        #expect(now["a"] != pids["a"])
        #expect(now["b"] == pids["b"])
        #expect(try await second.stop() == .exited(0))
        #expect(processesTagged(stateDir: f.stateDir).isEmpty)
    }

    @Test func sighupAppliesOnlyWhatChanged() async throws {
        let f = Fixture(
            """
            services:
              keep:
                run: [SAMPLE]
              change:
                run: [SAMPLE, --message, one]
              remove:
                run: [SAMPLE]
            """
        )
        let w = try f.start()
        let before = try await f.waitRunning(["keep", "change", "remove"])
        f.write(
            """
            services:
              keep:
                run: [SAMPLE]
              change:
                run: [SAMPLE, --message, two]
              add:
                run: [SAMPLE]
            """
        )
        w.signal(SIGHUP)
        let reloaded = try await f.waitFor(EventType.wardenReloaded)
        #expect(reloaded[0].payload["added"] == ["add"])
        #expect(reloaded[0].payload["removed"] == ["remove"])
        #expect(reloaded[0].payload["changed"] == ["change"])
        let after = try await f.waitRunning(["keep", "change", "add"])
        #expect(after["keep"] == before["keep"], "an unchanged service is not touched")
        #expect(after["change"] != before["change"])
        try await eventually("the removed service stopped") { !processAlive(before["remove"]!) }
        #expect(try await f.status().map(\.name) == ["keep", "change", "add"])

        // An invalid spec on reload is reported and changes nothing.
        f.write("services:\n  keep:\n    run: [/no/such/binary]\n")
        w.signal(SIGHUP)
        let failed = try await f.waitFor(EventType.wardenReloadFailed)
        #expect(failed[0].payload["errors"]?.arrayValue?.first?.stringValue?.contains("/no/such/binary") == true)
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await f.waitRunning(["keep", "change", "add"]) == after)
        #expect(try await w.stop() == .exited(0))
    }

    @Test func sigintStopsToo() async throws {
        let f = Fixture("services:\n  a:\n    run: [SAMPLE]\n")
        let w = try f.start()
        _ = try await f.waitRunning(["a"])
        w.signal(SIGINT)
        #expect(try await w.wait() == .exited(0))
        #expect(processesTagged(stateDir: f.stateDir).isEmpty)
    }

    @Test func servicesKeepWritingTheirOutputWhileWardenIsDead() async throws {
        let f = Fixture("services:\n  talker:\n    run: [SAMPLE, --print-every, 20ms, --message, alive]\n")
        let first = try f.start()
        let pids = try await f.waitRunning(["talker"])
        first.signal(SIGKILL)
        _ = try await first.wait()
        let log = f.stateDir + "/logs/talker.log"
        func lines() -> Int { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").count }
        let before = lines()
        try await Task.sleep(for: .milliseconds(500))
        #expect(lines() > before + 5, "output does not go through Warden, so its death changes nothing")
        #expect(processAlive(pids["talker"]!), "no SIGPIPE")
        let second = try f.start()
        try await f.waitFor(EventType.serviceAdopted, "talker")
        #expect(try await second.stop() == .exited(0))
    }

    @Test func logsFollowKeepsPrinting() async throws {
        let f = Fixture("services:\n  talker:\n    run: [SAMPLE, --print-every, 20ms, --message, fresh-line]\n")
        let w = try f.start()
        _ = try await f.waitRunning(["talker"])
        let out = TempDir()
        let fd = open(out.file("follow"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        var request = SpawnRequest(
            executable: Binaries.warden,
            arguments: [Binaries.warden, "logs", "talker", "-c", f.config, "-n", "1", "--follow"],
            environment: ProcessInfo.processInfo.environment
        )
        request.stdout = fd
        let follower = try ChildProcess.spawn(request)
        close(fd)
        try await eventually("follow printed new lines") {
            ((try? String(contentsOfFile: out.file("follow"), encoding: .utf8)) ?? "").components(
                separatedBy: "fresh-line"
            ).count > 10
        }
        follower.signalGroup(SIGTERM)
        _ = await follower.exit()
        #expect(try await w.stop() == .exited(0))
    }
}
