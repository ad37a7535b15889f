import Foundation
import Testing
import WardenCore
import WardenDefense
import WardenTestSupport

@Suite("The defense section of the spec")
struct DefenseSpecTests {
    let loader = SpecLoader(
        environment: ["PATH": "/usr/bin:/bin", "ANALYST_TOKEN": "sk-test"],
        sections: [DefenseSection.self]
    )

    func load(_ defense: String) throws(SpecErrors) -> Spec {
        try loader.parse(
            "services:\n  svc:\n    run: /bin/sleep 100\ndefense:\n" + defense,
            file: "warden.yaml",
            baseDir: "/etc/warden"
        )
    }

    func problems(_ defense: String) -> [String] {
        do {
            _ = try load(defense)
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    @Test func readsEveryField() throws {
        let spec = try load(
            """
              firewall: iptables
              table: edge
              allow: [10.0.0.0/8, 192.168.1.7, "2001:db8::/32"]
              ssh_ports: [22, 2222]
              watch:
                - connections
                - { connections: true, every: 250ms }
                - { log: logs/auth.log, parser: sshd, from: start }
                - { log: /var/log/nginx/access.log, parser: nginx }
                - { log: /var/log/app.log, parser: app-login }
                - { journal: ssh.service, parser: sshd }
                - { journal: "*", parser: sshd, directory: /var/log/journal/remote }
              parsers:
                app-login: { pattern: 'login failed for \\S+ from (?<addr>\\S+)', signal: app.login_failed }
              scenarios:
                ssh-bruteforce: { capacity: 3, leak: 3/5m }
                ssh-probing: off
                app-abuse: { on: app.login_failed, capacity: 10, leak: 1/s, score: 0.5 }
                crowd: { on: conn.concurrent, above: 200 }
              threshold: 2
              half_life: 30m
              ban: { first: 1h, repeat: x2, max: 30d }
              max_bans: 10 in 1m
              max_addresses: 5000
              analyst: { url: "http://127.0.0.1:11434/v1", model: llama3.2, timeout: 1500ms, concurrency: 3, token: env:ANALYST_TOKEN }
            """
        )
        let d = try #require(spec.defense)
        #expect(d.firewall == .iptables)
        #expect(d.table == "edge")
        #expect(d.allow.map(\.description) == ["10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32"])
        #expect(d.sshPorts == [22, 2222])
        #expect(
            d.watches == [
                .connections(every: .seconds(1)), .connections(every: .milliseconds(250)),
                .log(path: "/etc/warden/logs/auth.log", parser: "sshd", fromStart: true),
                .log(path: "/var/log/nginx/access.log", parser: "nginx", fromStart: false),
                .log(path: "/var/log/app.log", parser: "app-login", fromStart: false),
                .journal(unit: "ssh.service", parser: "sshd", directory: nil),
                .journal(unit: nil, parser: "sshd", directory: "/var/log/journal/remote"),
            ]
        )
        #expect(d.parsers.map(\.signal) == ["app.login_failed"])
        let names = d.scenarios.map(\.name)
        #expect(!names.contains("ssh-probing"))
        #expect(names.contains("app-abuse") && names.contains("crowd"))
        let brute = try #require(d.scenarios.first { $0.name == "ssh-bruteforce" })
        #expect(brute.kind == .bucket(capacity: 3, leakPerSecond: 0.01))
        #expect(
            brute.on == ["ssh.auth_failure", "ssh.invalid_user", "ssh.max_auth"],
            "overrides keep what they do not set"
        )
        #expect(d.scenarios.first { $0.name == "crowd" }?.kind == .gauge(above: 200))
        #expect(d.threshold == 2)
        #expect(d.halfLife == .seconds(1800))
        #expect(d.ban == BanSpec(first: .seconds(3600), multiplier: 2, max: .seconds(30 * 86_400)))
        #expect(d.ban.duration(offence: 3) == .seconds(4 * 3600))
        #expect(d.maxBans == GiveUp(count: 10, window: .seconds(60)))
        #expect(d.maxAddresses == 5000)
        #expect(d.analyst?.model == "llama3.2")
        #expect(d.analyst?.timeout == .milliseconds(1500))
        #expect(d.analyst?.concurrency == 3)
        #expect(d.analyst?.token.map { String(decoding: $0.bytes, as: UTF8.self) } == "sk-test")
    }

    @Test func noSectionNoDefense() throws {
        let spec = try loader.parse("services:\n  svc:\n    run: /bin/sleep 100\n", file: "w.yaml", baseDir: "/tmp")
        #expect(spec.defense == nil)
    }

    @Test(arguments: [
        ("  firewall: pf\n", "defense.firewall: found 'pf'; expected one of nftables, iptables, dry-run"),
        ("  allow: [10.0.0.0/33]\n", "defense.allow[0]: found '10.0.0.0/33'; expected an address or block"),
        ("  watch:\n    - { log: /var/log/auth.log, parser: sshdd }\n", "no parser 'sshdd'; did you mean 'sshd'?"),
        ("  watch:\n    - { log: /var/log/auth.log }\n", "missing required key 'parser'"),
        ("  watch:\n    - conections\n", "found 'conections'; expected connections"),
        (
            "  scenarios:\n    mine: { on: ssh.auth_fail }\n",
            "no signal 'ssh.auth_fail'; did you mean 'ssh.auth_failure'?"
        ),
        (
            "  scenarios:\n    x: { on: conn.new, above: 3, capacity: 2 }\n",
            "a bucket (capacity, leak) or a gauge (above), not both"
        ),
        (
            "  scenarios:\n    ssh-brute: off\n",
            "no built-in scenario 'ssh-brute' to switch off; did you mean 'ssh-bruteforce'?"
        ),
        ("  scenarios:\n    ssh-bruteforce: { leak: fast }\n", "expected a rate such as 5/10m or 1/s"),
        ("  parsers:\n    app: { pattern: 'failed from (\\S+)', signal: app.x }\n", "needs a named group (?<addr>...)"),
        ("  parsers:\n    app: { pattern: '(?<addr>[', signal: app.x }\n", "not a valid regular expression"),
        ("  ban: { first: 1h, max: 10m }\n", "defense.ban.max: the longest ban must be at least the first (1h)"),
        ("  ban: { repeat: times4 }\n", "expected a multiplier such as x4"),
        ("  analyst: { url: ftp://api.example.com/v1, model: m }\n", "it must start with http:// or https://"),
        (
            "  analyst: { url: 'https://user:pw@api.example.com/v1', model: m }\n",
            "credentials in the URL are not allowed"
        ),
        ("  analyst: { url: http://127.0.0.1:1/v1 }\n", "missing required key 'model'"),
        ("  max_bans: lots\n", "defense.max_bans"),
        ("  thresold: 1\n", "unknown key 'thresold'; did you mean 'threshold'?"),
    ])
    func badSectionsAreExplained(yaml: String, expected: String) {
        let found = problems(yaml)
        #expect(found.contains { $0.contains(expected) && $0.hasPrefix("warden.yaml:") }, "\(found)")
    }

    @Test func moreScenariosThanTheEngineCanNumberAreRefused() {
        let own = (0..<260).map { "    s\($0): { on: ssh.auth_failure, capacity: 5, leak: 1/s }\n" }.joined()
        let found = problems("  scenarios:\n" + own)
        #expect(
            found.contains { $0.contains("defense.scenarios:") && $0.contains("at most 255") },
            "\(found.prefix(3))"
        )
    }

    /// `fail2ban:` with a configuration Warden cannot carry out names the jail and why, at the key.
    @Test func fail2banJailsThatCannotBeCarriedOutAreLocatedErrors() throws {
        #expect(problems("  fail2ban: /nonexistent/fail2ban\n").first?.contains("jail.conf does not exist") == true)
        let dir = TempDir("warden-f2b")
        let etc = dir.file("etc")
        try FileManager.default.copyItem(atPath: "/etc/fail2ban", toPath: etc)
        let cases: [(String, String)] = [
            (
                "[sshd]\nenabled = true\nbackend = auto\nlogpath = /var/log/x\nmaxretry = 0\n",
                "maxretry '0' is not a count"
            ),
            (
                "[sshd]\nenabled = true\nbackend = auto\nlogpath = /var/log/x\nfindtime = 10 parsecs\n",
                "findtime '10 parsecs'"
            ),
            ("[sshd]\nenabled = true\nbackend = auto\nlogpath = relative.log\n", "not an absolute path"),
            ("[sshd]\nenabled = true\nbackend = auto\nlogpath = /nonexistent/*.log\n", "matches no file"),
            ("[sshd]\nenabled = true\nfilter = ../../etc/passwd\nlogpath = /var/log/x\n", "is not a name in filter.d"),
            ("[sshd]\nenabled = true\nfilter = nosuch\nlogpath = /var/log/x\n", "filter.d/nosuch.conf"),
            ("[broken]\nenabled = true\nlogpath = /var/log/x\n", "ICU does not take"),
            (
                "[sshd]\nenabled = true\nbackend = auto\nlogpath = /var/log/x\nignoreip = example.com\n",
                "ignoreip 'example.com'"
            ),
            ("[sshd]\nenabled = false\n", "no jail is enabled"),
        ]
        dir.write("etc/filter.d/broken.conf", "[Definition]\nfailregex = ^(unclosed <HOST>$\n")
        for (local, expected) in cases {
            dir.write("etc/jail.local", local)
            try? FileManager.default.removeItem(atPath: etc + "/jail.d/defaults-debian.conf")
            let found = problems("  fail2ban: \(etc)\n")
            #expect(found.count == 1 && found[0].contains("warden.yaml:5:") && found[0].contains(expected), "\(found)")
        }
        // A glob that finds more files than Warden follows for one jail.
        let logs = dir.file("logs")
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        for i in 0...Fail2banJails.maxFiles {
            FileManager.default.createFile(atPath: "\(logs)/\(i).log", contents: nil)
        }
        dir.write("etc/jail.local", "[sshd]\nenabled = true\nbackend = auto\nlogpath = \(logs)/*.log\n")
        let many = problems("  fail2ban: \(etc)\n")
        #expect(many.count == 1 && many[0].contains("logpath names 1001 files; at most 1000"), "\(many)")
        dir.write(
            "etc/jail.local",
            "[sshd]\nenabled = true\nbackend = auto\nlogpath = /var/log/x\nfindtime = 1h 30m\nbantime = -1\nmaxretry = 2\n"
        )
        let jail = try #require(try load("  fail2ban: \(etc)\n").defense?.jails.first)
        #expect(jail.findTime == .seconds(5400))
        #expect(jail.banTime == .seconds(365 * 86_400), "a permanent ban is Warden's longest: every ban expires")
        #expect(jail.maxRetry == 2)
    }
}
