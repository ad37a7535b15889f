import Foundation
import Logging
import Testing
import WardenCore
import WardenDefense
import WardenHTTP
import WardenStore
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The defense service end to end without the kernel: a real log file followed, real parsing and
/// scoring, the analyst over a real socket, bans in a real store (dry-run firewall).
@Suite("Defense service", .timeLimit(.minutes(1)))
struct DefenseServiceTests {
    struct Node {
        let dir: TempDir
        let bus = EventBus()
        let log: EventLog
        let bans: BanManager
        let service: DefenseService
        let task: Task<Void, Never>
        let path: String

        /// A defense service over `dir` (a fresh one by default; the same one again to restart).
        init(dir: TempDir = TempDir("warden-defense"), _ configure: (inout DefenseSpec) -> Void) throws {
            self.dir = dir
            path = dir.file("auth.log")
            if !FileManager.default.fileExists(atPath: path) { dir.write("auth.log", "") }
            var spec = DefenseSpec()
            spec.watches = [.log(path: path, parser: "sshd", fromStart: false)]
            configure(&spec)
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            log = EventLog(bus.subscribe(name: "test"))
            bans = BanManager(
                spec: spec,
                firewall: DryRunFirewall(),
                store: try SQLiteStore(path: dir.file("warden.db")),
                safety: BanSafety(allow: spec.allow),
                bus: bus,
                logger: logger
            )
            let service = DefenseService(
                .init(
                    spec: spec,
                    bans: bans,
                    bus: bus,
                    logger: logger,
                    directory: dir.file("defense"),
                    transport: AsyncHTTPTransport.shared
                )
            )
            self.service = service
            task = Task { try? await service.run() }
        }

        func append(_ lines: [String]) {
            let fd = open(path, O_WRONLY | O_APPEND)
            defer { close(fd) }
            for l in lines { _ = (l + "\n").withCString { write(fd, $0, strlen($0)) } }
        }

        func stop() async {
            task.cancel()
            _ = await task.value
        }
    }

    /// Now (or `offset` seconds from now) as a log line states it, by default as syslog does.
    static func stamp(_ offset: TimeInterval = 0, format: String = "MMM dd HH:mm:ss") -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = .current
        f.dateFormat = format
        return f.string(from: Date().addingTimeInterval(offset))
    }

    /// A backlog is judged by the times its lines state: failures spread over most of an hour
    /// that arrive at once do not add up as if they had come together; failures older than
    /// every scenario's window count for nothing; a line from the future counts as now.
    @Test func aBacklogIsJudgedByTheTimesItsLinesState() async throws {
        let n = try Node { _ in }
        try await n.log.wait(for: "defense.started")
        func failed(_ a: String, _ offset: TimeInterval) -> String {
            "\(Self.stamp(offset)) node sshd[7]: Failed password for root from \(a) port 22 ssh2"
        }
        // ssh-bruteforce: 5 in 10 minutes, leaking one per 2 minutes. These five are 140 s
        // apart (the last one now): each has leaked away before the next, by the log's clock.
        n.append((0..<5).map { failed("203.0.113.51", -Double(4 - $0) * 140) })
        // Five within a minute, but two hours ago: over long before this backlog was read.
        n.append((0..<5).map { failed("203.0.113.52", -7200 + Double($0)) })
        // Five stamped an hour ahead: counted as now, so they ban.
        n.append((0..<5).map { _ in failed("203.0.113.53", 3600) })
        let applied = try await n.log.wait(for: "ban.applied", "203.0.113.53")
        #expect(applied.count == 1)
        // The same five spread lines, stamped now: a ban (the check is not blind).
        n.append((0..<5).map { _ in failed("203.0.113.54", 0) })
        _ = try await n.log.wait(for: "ban.applied", "203.0.113.54")
        #expect(n.log.events("threat.detected", "203.0.113.51").isEmpty)
        #expect(n.log.events("threat.detected", "203.0.113.52").isEmpty)
        await n.stop()
    }

    static func preauth(_ a: String) -> String {
        "\(Self.stamp()) node sshd[7]: Connection closed by \(a) port 9 [preauth]"
    }

    @Test func theAnalystTipsABorderlineAddressIntoABan() async throws {
        let chat = FakeChatServer(content: #"{"verdict": "malicious", "confidence": 0.9, "reason": "slow probing"}"#)
        let n = try Node { spec in
            spec.scenarios = [
                ScenarioSpec(
                    name: "probe",
                    on: ["ssh.preauth"],
                    kind: .bucket(capacity: 1, leakPerSecond: 0),
                    score: 0.6
                )
            ]
            spec.analyst = AnalystSpec(url: "http://127.0.0.1:\(chat.port)/v1", model: "m")
        }
        try await n.log.wait(for: "defense.started")
        n.append([Self.preauth("203.0.113.7")])
        let applied = try await n.log.wait(for: "ban.applied", "203.0.113.7")
        #expect(applied[0].payload["by"]?.stringValue == "analyst")
        #expect(applied[0].payload["evidence"]?["analyst"]?["reason"]?.stringValue == "slow probing")
        #expect(applied[0].payload["evidence"]?["adjusted_score"]?.doubleValue == 1.05)

        // The same model calls the next one harmless: no ban, the review is on record.
        chat.answer.withLock { $0.content = #"{"verdict": "benign", "confidence": 1, "reason": "our monitoring"}"# }
        n.append([Self.preauth("198.51.100.8")])
        let reviewed = try await n.log.wait(for: "threat.reviewed", "198.51.100.8")
        #expect(reviewed[0].payload["banned"]?.boolValue == false)
        #expect(await !n.bans.isBanned(IPAddress("198.51.100.8")!))
        await n.stop()
    }

    /// However sure the model is, an allowlisted address is not banned.
    @Test func theAnalystCannotGetAnAllowlistedAddressBanned() async throws {
        let chat = FakeChatServer(content: #"{"verdict": "malicious", "confidence": 1, "reason": "certainly"}"#)
        let n = try Node { spec in
            spec.allow = [CIDR("10.9.0.0/16")!]
            spec.scenarios = [
                ScenarioSpec(
                    name: "probe",
                    on: ["ssh.preauth"],
                    kind: .bucket(capacity: 1, leakPerSecond: 0),
                    score: 0.6
                )
            ]
            spec.analyst = AnalystSpec(url: "http://127.0.0.1:\(chat.port)/v1", model: "m")
        }
        try await n.log.wait(for: "defense.started")
        n.append([Self.preauth("10.9.8.7")])
        let refused = try await n.log.wait(for: "ban.refused", "10.9.8.7")
        #expect(refused[0].payload["reason"]?.stringValue?.contains("allowlisted") == true, "\(refused[0].payload)")
        #expect(chat.requests.withLock { $0.count } == 1, "the model was asked, and said malicious")
        #expect(n.log.events("ban.applied", "10.9.8.7").isEmpty)
        #expect(await !n.bans.isBanned(IPAddress("10.9.8.7")!))
        await n.stop()
    }

    /// The log-based built-in scenarios other than brute force, from real lines in real files.
    @Test func probingScanningAndErrorStormsAreBannedFromRealLogLines() async throws {
        let dir = TempDir("warden-defense")
        let access = dir.write("access.log", "")
        let n = try Node(dir: dir) { spec in
            spec.watches.append(.log(path: access, parser: "nginx", fromStart: false))
        }
        try await n.log.wait(for: "defense.started")
        func appendAccess(_ lines: [String]) {
            let fd = open(access, O_WRONLY | O_APPEND)
            defer { close(fd) }
            for l in lines { _ = (l + "\n").withCString { write(fd, $0, strlen($0)) } }
        }
        func request(_ address: String, _ path: String, _ status: Int) -> String {
            "\(address) - - [\(Self.stamp(format: "dd/MMM/yyyy:HH:mm:ss Z"))] \"GET \(path) HTTP/1.1\" \(status) 12 \"-\" \"x\""
        }
        // ssh-probing: connections dropped before authentication, 0.5 per ten (scores decay, so
        // two firings a moment apart are just short of 1: three are sure to reach it).
        n.append(Array(repeating: Self.preauth("203.0.113.31"), count: 30))
        // http-scanner: three paths only scanners ask for (answered 200 or not).
        appendAccess(["/wp-login.php", "/.env", "/.git/config"].map { request("203.0.113.32", $0, 200) })
        // http-errors: 150 4xx answers, 0.5 per fifty.
        appendAccess((0..<150).map { request("203.0.113.33", "/page/\($0)", 404) })
        for (address, scenario) in [
            ("203.0.113.31", "ssh-probing"), ("203.0.113.32", "http-scanner"), ("203.0.113.33", "http-errors"),
        ] {
            let applied = try await n.log.wait(for: "ban.applied", address)
            #expect(applied[0].payload["reason"]?.stringValue == scenario, "\(address): \(applied[0].payload)")
        }
        // A few errors or a single odd path from a normal client are not enough.
        appendAccess(Array(repeating: request("198.51.100.34", "/missing", 404), count: 10))
        appendAccess([request("198.51.100.34", "/.env", 404)])
        n.append(Array(repeating: Self.preauth("198.51.100.34"), count: 5))
        appendAccess(Array(repeating: request("203.0.113.35", "/wp-admin/", 404), count: 3))
        try await n.log.wait(for: "ban.applied", "203.0.113.35")
        #expect(n.log.events("threat.detected", "198.51.100.34").isEmpty)
        await n.stop()
    }

    /// Debian's own fail2ban configuration with a jail.local that enables two jails: the spec's
    /// `fail2ban:` turns each into a watch, its filter and a count; an address is banned on the
    /// jail's maxretry-th failure for the jail's bantime, and not before.
    @Test func fail2bansJailsBanByTheirFiltersCountsAndBantimes() async throws {
        let dir = TempDir("warden-defense")
        let etc = dir.file("fail2ban")
        try FileManager.default.copyItem(atPath: "/etc/fail2ban", toPath: etc)
        let errorLog = dir.write("error.log", "")
        dir.write(
            "fail2ban/jail.local",
            """
            [sshd]
            enabled = true
            backend = auto
            logpath = \(dir.file("auth.log"))
            maxretry = 3
            bantime = 2h
            ignoreip = 198.51.100.0/24

            [nginx-http-auth]
            enabled = true
            logpath = \(dir.file("err*.log"))
            maxretry = 2
            bantime = 5m
            """
        )
        dir.write("auth.log", "")
        let loader = SpecLoader(environment: [:], sections: [DefenseSection.self])
        let spec = try loader.parse(
            "defense:\n  firewall: dry-run\n  fail2ban: \(etc)\n",
            file: "warden.yaml",
            baseDir: dir.path
        )
        let defense = try #require(spec.defense)
        #expect(defense.jails.map(\.name) == ["nginx-http-auth", "sshd"])
        // Each jail's parser, on a line its filter counts.
        let sshLine = Array(
            "\(Self.stamp()) belka sshd[31602]: Failed password for invalid user ROOT from 203.0.113.41 port 50273 ssh2"
                .utf8
        )
        let parser = try #require(LineParsers.make("fail2ban:sshd", spec: defense))
        var emitted: [String] = []
        _ = sshLine.withUnsafeBufferPointer { parser.parse($0) { s, a in emitted.append("\(s) \(a)") } }
        #expect(emitted == ["f2b.sshd 203.0.113.41"])
        let n = try Node(dir: dir) { $0 = defense }
        try await n.log.wait(for: "defense.started")
        let ssh =
            "\(Self.stamp()) belka sshd[31602]: Failed password for invalid user ROOT from 203.0.113.41 port 50273 ssh2"
        func nginx(_ a: String) -> String {
            "\(Self.stamp(format: "yyyy/MM/dd HH:mm:ss")) [error] 2865#0: *66647 user \"xyz\": password mismatch, client: \(a), server: h, request: \"GET / HTTP/1.1\", host: \"h\""
        }
        // nginx-http-auth's two failures ban.
        let fd = open(errorLog, O_WRONLY | O_APPEND)
        for l in [nginx("203.0.113.43"), nginx("203.0.113.43")] {
            _ = (l + "\n").withCString { write(fd, $0, strlen($0)) }
        }
        close(fd)
        let web = try await n.log.wait(for: "ban.applied", "203.0.113.43")
        #expect(web[0].payload["reason"]?.stringValue == "fail2ban-nginx-http-auth", "\(web[0].payload)")
        // sshd's third failure bans; two do not.
        let other = ssh.replacingOccurrences(of: "203.0.113.41", with: "203.0.113.42")
        let ignored = ssh.replacingOccurrences(of: "203.0.113.41", with: "198.51.100.9")
        n.append([ignored, ignored, ignored, ssh, other, ssh, other, ssh])
        let applied = try await n.log.wait(for: "ban.applied", "203.0.113.41")
        #expect(applied[0].payload["reason"]?.stringValue == "fail2ban-sshd", "\(applied[0].payload)")
        let bans = await n.bans.active()
        let sshBan = try #require(bans.first { $0.address.description == "203.0.113.41" })
        let webBan = try #require(bans.first { $0.address.description == "203.0.113.43" })
        #expect(abs(sshBan.expiresAt.timeIntervalSince(sshBan.createdAt) - 7200) < 1, "sshd's bantime")
        #expect(abs(webBan.expiresAt.timeIntervalSince(webBan.createdAt) - 300) < 1, "nginx-http-auth's bantime")
        #expect(n.log.events("threat.detected", "203.0.113.42").isEmpty, "two of sshd's three")
        // sshd's ignoreip is sshd's: three sshd failures do not ban an address in it, and
        // nginx-http-auth's two still do.
        #expect(n.log.events("threat.detected", "198.51.100.9").isEmpty, "sshd ignores 198.51.100.0/24")
        let fd2 = open(errorLog, O_WRONLY | O_APPEND)
        for l in [nginx("198.51.100.9"), nginx("198.51.100.9")] {
            _ = (l + "\n").withCString { write(fd2, $0, strlen($0)) }
        }
        close(fd2)
        let ignoredBan = try await n.log.wait(for: "ban.applied", "198.51.100.9")
        #expect(ignoredBan[0].payload["reason"]?.stringValue == "fail2ban-nginx-http-auth")
        await n.stop()
    }

    @Test func aSilentAnalystLeavesTheDecisionToTheRules() async throws {
        let chat = FakeChatServer(content: #"{"verdict": "benign", "confidence": 1}"#, delay: 5)
        let n = try Node { spec in
            var analyst = AnalystSpec(url: "http://127.0.0.1:\(chat.port)/v1", model: "m")
            analyst.timeout = .milliseconds(300)
            spec.analyst = analyst
        }
        try await n.log.wait(for: "defense.started")
        n.append(
            (0..<5).map { "\(Self.stamp()) node sshd[7]: Failed password for root from 203.0.113.9 port \($0) ssh2" }
        )
        let applied = try await n.log.wait(for: "ban.applied", "203.0.113.9")
        #expect(applied[0].payload["by"]?.stringValue == "scenario")
        #expect(applied[0].payload["evidence"]?["analyst"]?["fallback"]?.stringValue == "rules")
        await n.stop()
    }

    @Test func aLogThatChangesFormatIsReported() async throws {
        let n = try Node { _ in }
        try await n.log.wait(for: "defense.started")
        // A quiet auth.log holds only other programs' lines: that is not blindness.
        n.append(
            (0..<250).map { "\(Self.stamp()) node CRON[\($0)]: pam_unix(cron:session): session closed for user root" }
        )
        // Then the format changes.
        n.append(
            (0..<250).map { "2026-11-24 10:00:00,000 auth WARNING login failure user=root src=203.0.113.1 #\($0)" }
        )
        let blind = try await n.log.wait(for: "defense.source.blind", n.path)
        #expect(blind[0].payload["parser"]?.stringValue == "sshd")
        #expect(blind[0].payload["example"]?.stringValue?.contains("auth WARNING") == true)
        #expect(blind.count == 1, "reported once, not per line")
        await n.stop()
    }

    /// A restarted service reads what was written while it was down, once, and nothing twice.
    @Test func positionsSurviveARestartOfTheService() async throws {
        func failures(_ address: String, _ n: Int) -> [String] {
            (0..<n).map { "\(Self.stamp()) node sshd[7]: Failed password for root from \(address) port \($0) ssh2" }
        }
        let first = try Node { _ in }
        try await first.log.wait(for: "defense.started")
        first.append(failures("203.0.113.10", 5))
        try await first.log.wait(for: "ban.applied", "203.0.113.10")
        await first.stop()
        let saved = try #require(FileManager.default.contents(atPath: first.dir.file("defense/positions.json")))
        #expect(JSONValue.parse(String(decoding: saved, as: UTF8.self))?[first.path]?["offset"]?.intValue ?? 0 > 0)

        // While it is down: four failures of another address, three more of the first.
        first.append(failures("198.51.100.20", 4) + failures("203.0.113.10", 3))
        let second = try Node(dir: first.dir) { _ in }
        try await second.log.wait(for: "defense.started")
        second.append(failures("198.51.100.20", 1))
        // The fifth failure bans only if the four written while it was down were read.
        try await second.log.wait(for: "threat.detected", "198.51.100.20")
        // And the first address's old lines were not read again: three new failures are not five.
        #expect(second.log.events("threat.detected", "203.0.113.10").isEmpty)
        await second.stop()
    }
}
