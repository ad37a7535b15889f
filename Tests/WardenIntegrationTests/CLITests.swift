import Foundation
import Testing
import WardenCore
import WardenSupervisor
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The `warden` binary: bad input, the read commands, and its own lifecycle.
@Suite("warden CLI", .timeLimit(.minutes(3)))
struct CLITests {
    init() { becomeSubreaper() }

    /// The specs people copy from are valid specs (their secrets given as the README says).
    @Test func everyExampleSpecIsValid() async throws {
        let dir = DashboardTests.repository + "/examples"
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files.contains("workflows.yaml") && files.count >= 5)
        var env = ProcessInfo.processInfo.environment
        env["WARDEN_AGENT_TOKEN"] = "agent-token"
        env["AM_HOOK_TOKEN"] = "hook-token"
        for file in files {
            let result = try await runCommand(Binaries.warden, ["validate", dir + "/" + file], environment: env)
            #expect(result.exitCode == 0, "\(file): \(result.stdout)\(result.stderr)")
        }
    }

    @Test func validateExitsZeroForAGoodSpecAndOneWithEveryProblemOtherwise() async throws {
        let good = Fixture("services:\n  a:\n    run: [SAMPLE]\n")
        let ok = try await warden("validate", good.config)
        #expect(ok.exitCode == 0)
        #expect(ok.stdout.contains("valid (1 service"))

        let bad = Fixture("services:\n  a:\n    run: [SAMPLE]\n    restart: { policy: sometimes }\n    helth: {}\n")
        let result = try await warden("validate", bad.config)
        #expect(result.exitCode == 1)
        #expect(
            result.stdout.contains(
                "\(bad.config):7:24: services.a.restart.policy: found 'sometimes'; expected one of always, on-failure, never"
            )
        )
        #expect(
            result.stdout.contains("\(bad.config):8:5: services.a.helth: unknown key 'helth'; did you mean 'health'?")
        )
        #expect(result.stdout.contains("2 problems"))
    }

    /// `defense scan` on one log gives one result: which addresses a full table forgets depends
    /// on the log alone, not on the process's hash seed (it once changed from run to run).
    @Test func aScanOfOneLogGivesOneResultEveryRun() async throws {
        let dir = TempDir("warden-scan")
        var rng = SplitMix64(seed: 3)
        var log = ""
        for _ in 0..<20_000 {
            let a = "10.0.\(rng.next() % 6).\(rng.next() % 256)"
            log += "Nov 30 10:00:00 host sshd[123]: Failed password for root from \(a) port 22 ssh2\n"
        }
        let file = dir.file("auth.log")
        try log.write(toFile: file, atomically: true, encoding: .utf8)
        var outputs: Set<String> = []
        for _ in 0..<3 {
            let r = try await warden("defense", "scan", file, "--max-addresses", "1000", "--json")
            #expect(r.exitCode == 0, "\(r.stderr)")
            let j = try #require(JSONValue.parse(r.stdout))
            #expect(j["lines"]?.intValue == 20_000)
            #expect((j["evicted"]?.intValue ?? 0) > 1000, "the table was full many times over")
            #expect((j["threats"]?.intValue ?? 0) > 0)
            outputs.insert(
                "\(j["threats"]?.intValue ?? -1) \(j["tracked"]?.intValue ?? -1) \(j["evicted"]?.intValue ?? -1)"
            )
        }
        #expect(outputs.count == 1, "\(outputs)")
        let bad = try await warden("defense", "scan", file, "--max-addresses", "5")
        #expect(bad.exitCode != 0 && bad.stderr.contains("--max-addresses"), "\(bad.stderr)")
    }

    /// `defense scan` with one of fail2ban's jails reads the log by its own clock and names each
    /// ban it would have made: the address, when, and the jail; the same on every run.
    @Test func aScanWithAFail2banJailNamesItsBansByTheLogsClock() async throws {
        let dir = TempDir("warden-scan")
        let etc = dir.file("fail2ban")
        try FileManager.default.copyItem(atPath: "/etc/fail2ban", toPath: etc)
        dir.write(
            "fail2ban/jail.local",
            "[sshd]\nenabled = true\nbackend = auto\nlogpath = /var/log/auth.log\nmaxretry = 3\nfindtime = 10m\nbantime = 1h\n"
        )
        func failed(_ minute: Int, _ second: Int, _ a: String) -> String {
            String(
                format: "2026-11-30T10:%02d:%02dZ host sshd[9]: Failed password for root from %@ port 22 ssh2",
                minute,
                second,
                a
            )
        }
        let lines = [
            failed(0, 0, "203.0.113.61"), failed(0, 5, "203.0.113.62"), failed(0, 30, "203.0.113.61"),
            failed(1, 10, "203.0.113.61"),  // the third within 10 minutes: banned at 10:01:10
            failed(8, 5, "203.0.113.62"), failed(16, 5, "203.0.113.62"),  // three, 8 minutes apart each
            failed(20, 0, "203.0.113.63"), failed(20, 1, "203.0.113.63"),  // two
            "2026-11-30T10:21:00Z host CRON[4]: pam_unix(cron:session): session opened",
        ]
        let file = dir.write("auth.log", lines.joined(separator: "\n") + "\n")
        var runs: Set<String> = []
        for _ in 0..<2 {
            let r = try await warden("defense", "scan", file, "--fail2ban", etc, "--jail", "sshd", "--json")
            #expect(r.exitCode == 0, "\(r.stderr)")
            let j = try #require(JSONValue.parse(r.stdout))
            let bans = j["bans"]?.arrayValue ?? []
            #expect(bans.count == 1, "\(bans)")
            #expect(bans.first?["address"]?.stringValue == "203.0.113.61")
            #expect(bans.first?["scenario"]?.stringValue == "fail2ban-sshd")
            #expect(bans.first?["at"]?.stringValue?.hasPrefix("2026-11-30T10:01:10") == true, "\(bans)")
            runs.insert((j["bans"] ?? .null).jsonText)
        }
        #expect(runs.count == 1)
        let wrong = try await warden("defense", "scan", file, "--fail2ban", etc, "--jail", "nginx-http-auth")
        #expect(wrong.exitCode != 0 && wrong.stderr.contains("no enabled jail 'nginx-http-auth'"), "\(wrong.stderr)")
    }

    /// A list of addresses is read up to a limit: an endless file is refused, not read for ever.
    @Test func anEndlessBanListIsRefused() async throws {
        let f = Fixture("services: {}\n")
        let endless = try await warden("ban", "--file", "/dev/zero", "--for", "1h", "-c", f.config)
        #expect(endless.exitCode == 1 && endless.stderr.contains("larger than 64 MiB"), "\(endless.stderr)")
        let both = try await warden("ban", "203.0.113.5", "--file", "/dev/null", "-c", f.config)
        #expect(both.exitCode == 1 && both.stderr.contains("not both"), "\(both.stderr)")
        let noTime = try await warden("ban", "--file", "/dev/null", "-c", f.config)
        #expect(noTime.exitCode == 1 && noTime.stderr.contains("--file needs --for"), "\(noTime.stderr)")
    }

    @Test func anInvalidSpecStartsNothing() async throws {
        let f = Fixture("services:\n  a:\n    run: [SAMPLE]\n  b:\n    run: [/no/such/binary]\n")
        let result = try await runCommand(Binaries.warden, ["run", "-c", f.config])
        #expect(result.exitCode == 1)
        #expect(result.stderr.contains("services.b.run: program '/no/such/binary' does not exist"))
        #expect(result.stderr.contains("nothing was started"))
        #expect(processesTagged(stateDir: f.stateDir).isEmpty)
    }

    @Test func malformedYAMLIsLocated() async throws {
        let f = Fixture("services:\n  a:\n    run: [SAMPLE\n")
        let result = try await runCommand(Binaries.warden, ["run", "-c", f.config])
        #expect(result.exitCode == 1)
        #expect(result.stderr.contains("\(f.config):7:1: invalid YAML"))
    }

    @Test func anUnwritableStateDirectoryIsExplained() async throws {
        let f = Fixture("services:\n  a:\n    run: [SAMPLE]\n")
        // A state_dir beneath a regular file cannot be created, even by root.
        f.dir.write("blocker", "")
        var text = try String(contentsOfFile: f.config, encoding: .utf8)
        text = text.replacingOccurrences(
            of: "state_dir: \(f.stateDir)",
            with: "state_dir: \(f.dir.file("blocker"))/state"
        )
        try text.write(toFile: f.config, atomically: true, encoding: .utf8)
        let result = try await runCommand(Binaries.warden, ["run", "-c", f.config])
        #expect(result.exitCode == 1)
        #expect(result.stderr.contains("cannot create the state directory"))
        #expect(result.stderr.contains("choose a writable state_dir"))
    }

    @Test func aTakenPortIsReportedBeforeAnythingStarts() async throws {
        let port = freePort()
        // Something else (this test) listens on the port the service's probe would use.
        // Close-on-exec: a process another test forks meanwhile must not hold it too (it would be
        // reported as the owner).
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(fd) }
        #expect(bindLoopback(fd, port: port) == port)
        #expect(listen(fd, 8) == 0)
        let f = Fixture(
            """
            services:
              other:
                run: [SAMPLE]
              api:
                run: [SAMPLE, --port, "\(port)"]
                ready: { tcp: 127.0.0.1:\(port) }
            """
        )
        let result = try await runCommand(Binaries.warden, ["run", "-c", f.config])
        #expect(result.exitCode == 1)
        #expect(result.stderr.contains("services.api.ready: port \(port) is already in use by pid \(getpid())"))
        #expect(result.stderr.contains("nothing was started"))
        #expect(processesTagged(stateDir: f.stateDir).isEmpty)
    }

    @Test func aSecondWardenOnTheSameStateDirectoryIsRefused() async throws {
        let f = Fixture("services:\n  a:\n    run: [SAMPLE]\n")
        let first = try f.start()
        _ = try await f.waitRunning(["a"])
        let second = try await runCommand(Binaries.warden, ["run", "-c", f.config])
        #expect(second.exitCode == 1)
        #expect(second.stderr.contains("another Warden (pid \(first.pid)) is already running"))
        #expect(processesTagged(stateDir: f.stateDir).count == 1, "the refused Warden started nothing")
        #expect(try await first.stop() == .exited(0))
    }

    @Test func readCommandsWorkWhileRunningAndAfterwards() async throws {
        let f = Fixture(
            """
            services:
              talker:
                run: [SAMPLE, --print-every, 50ms, --message, "line from talker", --status, "talking"]
            """
        )
        let w = try f.start()
        let pids = try await f.waitRunning(["talker"])

        let table = try await warden("status", "-c", f.config)
        #expect(table.exitCode == 0)
        #expect(table.stdout.contains("SERVICE"))
        #expect(table.stdout.contains("talker   running  \(pids["talker"]!)"))
        try await eventually("status shows the notify text") { (try await f.status()).first?.statusText == "talking" }

        try await eventually("the service's output is in its log") {
            (try await warden("logs", "talker", "-c", f.config, "-n", "3")).stdout.contains("line from talker")
        }
        let logs = try await warden("logs", "talker", "-c", f.config, "-n", "2")
        #expect(logs.stdout.split(separator: "\n").count == 2)

        let restart = try await warden("restart", "talker", "-c", f.config)
        #expect(restart.exitCode == 0)
        try await f.waitFor(EventType.serviceStarted, "talker", count: 2)
        let unknown = try await warden("restart", "talkr", "-c", f.config)
        #expect(unknown.exitCode == 1)
        #expect(unknown.stderr.contains("no service named 'talkr'; did you mean 'talker'?"))

        let events = try await warden("events", "-c", f.config, "--service", "talker", "--type", "service.*")
        #expect(events.stdout.contains("service.started"))
        #expect(!events.stdout.contains("warden.started"))

        #expect(try await w.stop() == .exited(0))
        // Warden is down: the same commands read the store and the files.
        let offline = try await warden("status", "-c", f.config)
        #expect(offline.stdout.contains("Warden is not running"))
        #expect(offline.stdout.contains("talker   stopped"))
        let stored = try await f.events()
        #expect(stored.contains { $0.type == EventType.wardenStopped })
        #expect(try await warden("logs", "talker", "-c", f.config).stdout.contains("line from talker"))
        let noWarden = try await warden("restart", "talker", "-c", f.config)
        #expect(noWarden.exitCode == 1)
        #expect(noWarden.stderr.contains("Warden is not running"))
    }

    @Test func eventsFollowStreamsNewEvents() async throws {
        let f = Fixture("services:\n  s:\n    run: [SAMPLE]\n")
        let w = try f.start()
        _ = try await f.waitRunning(["s"])
        let out = TempDir()
        let fd = open(out.file("follow"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        var request = SpawnRequest(
            executable: Binaries.warden,
            arguments: [Binaries.warden, "events", "-c", f.config, "--follow", "--json"],
            environment: ProcessInfo.processInfo.environment
        )
        request.stdout = fd
        let follower = try ChildProcess.spawn(request)
        close(fd)
        try await Task.sleep(for: .milliseconds(300))
        _ = try await warden("restart", "s", "-c", f.config)
        try await eventually("the follower printed the restart") {
            let text = (try? String(contentsOfFile: out.file("follow"), encoding: .utf8)) ?? ""
            return text.components(separatedBy: "\"service.started\"").count >= 3
        }
        let lines = try String(contentsOfFile: out.file("follow"), encoding: .utf8).split(separator: "\n")
        let ids = try lines.map { try JSONDecoder.iso.decode(Event.self, from: Data($0.utf8)).id }
        #expect(ids == ids.sorted() && Set(ids).count == ids.count, "no duplicates, in order")
        follower.signalGroup(SIGTERM)
        _ = await follower.exit()
        _ = try await w.stop()
    }
}
