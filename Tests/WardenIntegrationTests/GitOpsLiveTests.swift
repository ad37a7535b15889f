import Foundation
import Testing
import WardenCore
import WardenHTTP
import WardenSupervisor
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A git repository on disk that the tests commit to, with SSH signing keys made here: one
/// trusted (in the allowed-signers file Warden is given), one not.
final class SpecRepository: Sendable {
    let dir: TempDir
    /// The bare repository Warden follows.
    let origin: String
    let work: String
    let allowedSigners: String
    let trustedKey: String
    let strangerKey: String

    enum Signer { case trusted, stranger, nobody }

    init() async throws {
        dir = TempDir("warden-git")
        origin = dir.file("origin.git")
        work = dir.file("work")
        trustedKey = dir.file("ops_key")
        strangerKey = dir.file("stranger_key")
        allowedSigners = dir.file("allowed_signers")
        for key in [trustedKey, strangerKey] {
            let made = try await runCommand(
                "/usr/bin/ssh-keygen",
                ["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", key]
            )
            #expect(made.exitCode == 0, "\(made.stderr)")
        }
        let pub = try String(contentsOfFile: trustedKey + ".pub", encoding: .utf8)
        try "ops@example.com \(pub)".write(toFile: allowedSigners, atomically: true, encoding: .utf8)
        try await git(["init", "--quiet", "--bare", "-b", "main", origin], in: dir.path)
        try await git(["init", "--quiet", "-b", "main", work], in: dir.path)
        try await git(["remote", "add", "origin", origin])
    }

    @discardableResult
    func git(_ arguments: [String], in cwd: String? = nil, gnupg: String? = nil) async throws -> String {
        var env = ProcessInfo.processInfo.environment
        if let gnupg { env["GNUPGHOME"] = gnupg }
        env["GIT_AUTHOR_NAME"] = "Ops"
        env["GIT_AUTHOR_EMAIL"] = "ops@example.com"
        env["GIT_COMMITTER_NAME"] = "Ops"
        env["GIT_COMMITTER_EMAIL"] = "ops@example.com"
        env["GIT_CONFIG_NOSYSTEM"] = "1"
        env["HOME"] = dir.path
        let result = try await runCommand("/usr/bin/git", arguments, environment: env, cwd: cwd ?? work)
        guard result.exitCode == 0 else {
            throw TimedOut(what: "git \(arguments.joined(separator: " ")): \(result.stderr)", seen: [])
        }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Commits `text` as `path`, signed by `signer`, and pushes it (forced when asked); returns
    /// the commit id.
    @discardableResult
    func commit(
        _ text: String,
        path: String = "node.yaml",
        by signer: Signer = .trusted,
        force: Bool = false
    )
        async throws -> String
    {
        try text.write(toFile: work + "/" + path, atomically: true, encoding: .utf8)
        try await git(["add", path])
        var arguments = ["-c", "gpg.format=ssh"]
        switch signer {
        case .trusted: arguments += ["-c", "user.signingkey=\(trustedKey)", "commit", "-S"]
        case .stranger: arguments += ["-c", "user.signingkey=\(strangerKey)", "commit", "-S"]
        case .nobody: arguments += ["commit", "--no-gpg-sign"]
        }
        try await git(arguments + ["--quiet", "--allow-empty", "-m", "change \(path)"])
        try await git(["push", "--quiet"] + (force ? ["--force"] : []) + ["origin", "HEAD:main"])
        return try await git(["rev-parse", "HEAD"])
    }
}

/// Specs from signed commits: applied, refused (unsigned, untrusted, invalid, the node's own
/// keys, a rewritten history), rolled back when a service fails, kept when the repository is
/// unreachable; drift and the webhook.
@Suite("GitOps with real repositories", .serialized, .timeLimit(.minutes(3)))
struct GitOpsLiveTests {
    init() { becomeSubreaper() }

    static func local(_ repo: SpecRepository, extra: String = "", settle: String = "1s") -> String {
        """
        gitops:
          repo: \(repo.origin)
          branch: main
          path: node.yaml
          signers: \(repo.allowedSigners)
          every: 1h
          settle: \(settle)
        \(extra)
        services: {}
        """
    }

    static let app = """
        services:
          app:
            run: [SAMPLE]
        """

    func sync(_ f: Fixture) async throws -> CommandResult {
        try await warden("gitops", "sync", "-c", f.config)
    }

    @Test func onlySignedValidCommitsAreAppliedAndEachRefusalSaysWhy() async throws {
        let repo = try await SpecRepository()
        let f = Fixture(Self.local(repo))
        let c1 = try await repo.commit(Self.app.replacingOccurrences(of: "SAMPLE", with: Binaries.sample))
        let w = try f.start()
        let applied = try await f.waitFor("gitops.applied", "gitops")
        #expect(applied.first?.payload["commit"]?.stringValue == c1)
        #expect(applied.first?.payload["signer"]?.stringValue == "ops@example.com")
        #expect(applied.first?.payload["added"]?.arrayValue?.compactMap(\.stringValue) == ["app"])
        _ = try await f.waitRunning(["app"])
        try await f.waitFor("gitops.settled", "gitops")

        let withExtra = Self.app + "\n  extra:\n    run: [SAMPLE]\n"
        let spec2 = withExtra.replacingOccurrences(of: "SAMPLE", with: Binaries.sample)
        // Unsigned.
        let unsigned = try await repo.commit(spec2, by: .nobody)
        var answer = try await sync(f)
        #expect(answer.exitCode == 1)
        #expect(answer.stdout.contains("refused \(unsigned.prefix(12)): the commit is not signed"), "\(answer.stdout)")
        // Signed by a key that is not trusted.
        let stranger = try await repo.commit(spec2 + "\n", by: .stranger)
        answer = try await sync(f)
        #expect(
            answer.stdout.contains(
                "refused \(stranger.prefix(12)): signed by a key that is not in the allowed signers"
            ),
            "\(answer.stdout)"
        )
        // Signed, but the spec does not validate: the errors are located in the commit's file.
        let invalid = try await repo.commit(spec2.replacingOccurrences(of: "run:", with: "rnu:"))
        answer = try await sync(f)
        #expect(answer.stdout.contains("the spec does not validate"), "\(answer.stdout)")
        let refusals = try await f.waitFor("gitops.refused", "gitops", count: 3)
        let errors = refusals.last?.payload["errors"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(refusals.last?.payload["commit"]?.stringValue == invalid)
        #expect(
            errors.contains { $0.hasPrefix("git:\(invalid.prefix(12)):node.yaml:3:5: services.app.rnu") },
            "\(errors)"
        )
        // Signed and valid, but it sets the node's own keys.
        _ = try await repo.commit("api: { listen: 0.0.0.0:80 }\n" + spec2)
        answer = try await sync(f)
        #expect(answer.stdout.contains("refused"), "\(answer.stdout)")
        let own = try await f.waitFor("gitops.refused", "gitops", count: 4)
        #expect(
            own.last?.payload["errors"]?.arrayValue?.first?.stringValue?.contains(":1:1: api: belongs to the node")
                == true,
            "\(own.last?.payload ?? .null)"
        )
        #expect(try await f.status().map(\.name) == ["app"], "nothing refused was applied")

        // `warden diff` shows what a good commit would change; SIGHUP applies it.
        let c2 = try await repo.commit(spec2 + "# reviewed\n")
        let diff = try await warden("diff", "-c", f.config)
        #expect(diff.exitCode == 1, "\(diff.stdout)\(diff.stderr)")
        #expect(diff.stdout.contains("+ service extra"), "\(diff.stdout)")
        #expect(diff.stdout.contains("signed by ops@example.com"), "\(diff.stdout)")
        w.signal(SIGHUP)
        let second = try await f.waitFor("gitops.applied", "gitops", count: 2)
        #expect(second.last?.payload["commit"]?.stringValue == c2)
        #expect(second.last?.payload["previous"]?.stringValue == c1)
        _ = try await f.waitRunning(["app", "extra"])
        let same = try await warden("diff", "-c", f.config)
        #expect(same.exitCode == 0 && same.stdout.contains("no changes"), "\(same.stdout)")

        // A force push to a signed commit that does not contain the applied one is refused.
        try await repo.git(["reset", "--quiet", "--hard", c1])
        let rewritten = try await repo.commit(
            Self.app.replacingOccurrences(of: "SAMPLE", with: Binaries.sample) + "#\n",
            force: true
        )
        answer = try await sync(f)
        #expect(
            answer.stdout.contains("refused \(rewritten.prefix(12)): the branch's history was rewritten"),
            "\(answer.stdout)"
        )
        #expect(try await f.status().map(\.name).sorted() == ["app", "extra"])
        let status = try await warden("gitops", "-c", f.config, "--json")
        let o = JSONValue.parse(status.stdout)
        #expect(o?["applied"]?.stringValue == c2)
        #expect(o?["head"]?.stringValue == rewritten)
        #expect(o?["drift"]?.arrayValue?.first?.stringValue?.contains("is not applied") == true, "\(status.stdout)")
        #expect(try await w.stop() == .exited(0))
    }

    @Test func aCommitThatBreaksAServiceIsRolledBackAndTheIncidentSaysSo() async throws {
        let repo = try await SpecRepository()
        let healing = """
            policies:
              app-down:
                when: service.exited
                subject: app
                then: [restart app]
            """
        let good = Self.app.replacingOccurrences(of: "SAMPLE", with: Binaries.sample)
        let c1 = try await repo.commit(healing + "\n" + good)
        let f = Fixture(Self.local(repo, settle: "2s"))
        let w = try f.start()
        try await f.waitFor("gitops.applied", "gitops")
        _ = try await f.waitRunning(["app"])
        let settled = try await f.waitFor("gitops.settled", "gitops")
        #expect(settled.first?.payload["commit"]?.stringValue == c1)

        let broken = healing + "\nservices:\n  app:\n    run: [/bin/sh, -c, 'echo bad config >&2; exit 3']\n"
        let c2 = try await repo.commit(broken)
        #expect(try await sync(f).stdout.contains("applied \(c2.prefix(12))"))
        let rolled = try await f.waitFor("gitops.rolled_back", "gitops")
        #expect(rolled.first?.payload["commit"]?.stringValue == c2)
        #expect(rolled.first?.payload["to"]?.stringValue == c1)
        #expect(rolled.first?.payload["services"]?.arrayValue?.compactMap(\.stringValue) == ["app"])
        let pids = try await f.waitRunning(["app"])
        let app = try await f.status().first { $0.name == "app" }
        #expect(app?.state == "running" && pids["app"] != nil)
        // The incident the failure opened says the node was rolled back.
        let incidents = try await f.client().send("GET", "/v1/incidents")
        let id = try #require(
            JSONValue.parse(String(decoding: incidents.body, as: UTF8.self))?["incidents"]?.arrayValue?.first?["id"]?
                .stringValue
        )
        var text = ""
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            // The healing engine adds the note once it has the rollback's event.
            text = String(decoding: try await f.client().send("GET", "/v1/incidents/\(id)").body, as: UTF8.self)
            if text.contains("rolled back") { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(text.contains("rolled back: commit \(c2.prefix(12)) left it unhealthy"), "\(text.prefix(3000))")
        // The bad commit is not applied again, not even after a restart.
        #expect(try await sync(f).stdout.contains("refused \(c2.prefix(12)): rolled back"))
        #expect(try await w.stop() == .exited(0))
        let w3 = try f.start()
        try await f.waitFor("gitops.applied", "gitops", count: 3)
        let events = try await f.events("--type", "gitops.applied")
        #expect(events.last?.payload["commit"]?.stringValue == c1, "after a restart the last good commit runs")
        _ = try await f.waitRunning(["app"])
        #expect(try await w3.stop() == .exited(0))
    }

    @Test func anUnreachableRepositoryKeepsTheLastGoodStateAndAWebhookFetchesAtOnce() async throws {
        let repo = try await SpecRepository()
        let token = TempDir("warden-hook")
        let tokenFile = token.write("token", "deploy-hook-token-1")
        let hooks = """
            hooks:
              deploy:
                format: json
                verify: { token: { secret: file:\(tokenFile), header: X-Deploy-Token } }
            """
        // A settle long enough that the operator's stop below falls inside it.
        let local = Self.local(repo, extra: hooks, settle: "15s").replacingOccurrences(
            of: "  settle: 15s\n",
            with: "  settle: 15s\n  hook: deploy\n"
        )
        let f = Fixture(local)
        let c1 = try await repo.commit(Self.app.replacingOccurrences(of: "SAMPLE", with: Binaries.sample))
        var w = try f.start()
        try await f.waitFor("gitops.settled", "gitops")
        #expect(try await w.stop() == .exited(0))

        // The repository goes away: Warden starts on the last good commit from its mirror.
        try FileManager.default.moveItem(atPath: repo.origin, toPath: repo.origin + ".away")
        w = try f.start()
        let down = try await f.waitFor("gitops.unreachable", "gitops")
        #expect(down.first?.payload["repository"]?.stringValue == repo.origin)
        let applied = try await f.waitFor("gitops.applied", "gitops", count: 2)
        #expect(applied.last?.payload["commit"]?.stringValue == c1)
        #expect(applied.last?.payload["from_mirror"]?.boolValue == true)
        _ = try await f.waitRunning(["app"])

        // Back, with a new commit: the webhook's delivery fetches it without waiting for `every`.
        try FileManager.default.moveItem(atPath: repo.origin + ".away", toPath: repo.origin)
        let c2 = try await repo.commit(
            (Self.app + "\n  extra:\n    run: [SAMPLE]\n").replacingOccurrences(of: "SAMPLE", with: Binaries.sample)
        )
        let url = "http://127.0.0.1:\(f.port)/v1/hooks/deploy"
        // A 503 says the delivery was not stored in time (a loaded machine): a sender delivers
        // again, as a forge does. Anything else is the test's verdict.
        var delivered = false
        for _ in 0..<3 where !delivered {
            let answer = await blockingWork {
                BlockingHTTPClient.shared.exchange(
                    method: "POST",
                    url: url,
                    headers: [("Content-Type", "application/json"), ("X-Deploy-Token", "deploy-hook-token-1")],
                    body: Array("{\"ref\": \"main\"}".utf8),
                    caFile: nil,
                    timeout: .seconds(30)
                )
            }
            guard case .success(let (status, body)) = answer else {
                Issue.record("the delivery failed: \(answer); Warden said: \(w.output.suffix(3000))")
                break
            }
            if status == 503 { continue }
            #expect(status == 202, "\(String(decoding: body, as: UTF8.self))")
            delivered = true
        }
        #expect(delivered, "Warden said: \(w.output.suffix(3000))")
        try await f.waitFor("gitops.reachable", "gitops")
        let third = try await f.waitFor("gitops.applied", "gitops", count: 3)
        #expect(third.last?.payload["commit"]?.stringValue == c2)
        _ = try await f.waitRunning(["app", "extra"])

        // Drift: a service of the desired spec stopped by hand (here while the commit settles:
        // not the commit's failure, no rollback) is reported, and its start ends it.
        let stopped = try await warden("stop", "-c", f.config, "extra")
        #expect(stopped.exitCode == 0, "\(stopped.stderr)")
        let drift = try await f.waitFor("gitops.drift", "gitops")
        #expect(
            drift.last?.payload["reasons"]?.arrayValue?.first?.stringValue
                == "extra is stopped; the desired spec runs it",
            "\(drift.last?.payload ?? .null)"
        )
        // The commit settles with the service still stopped.
        let settled = try await f.waitFor("gitops.settled", "gitops", count: 2)
        #expect(settled.last?.payload["commit"]?.stringValue == c2)
        let stop = try await f.events("--type", "audit.service.stop").last
        #expect(stop.map { $0.id < settled.last?.id ?? 0 } == true, "the stop came while the commit settled")
        #expect(try await f.events("--type", "gitops.rolled_back").isEmpty)
        #expect(try await warden("start", "-c", f.config, "extra").exitCode == 0)
        try await f.waitFor("gitops.in_sync", "gitops")
        #expect(try await w.stop() == .exited(0))
    }

    @Test func withGpgHomeTheKeysInItsKeyringAreTrusted() async throws {
        let repo = try await SpecRepository()
        func gpg(_ home: String, _ arguments: [String]) async throws -> String {
            var env = ProcessInfo.processInfo.environment
            env["GNUPGHOME"] = home
            let r = try await runCommand("/usr/bin/gpg", ["--batch", "--quiet"] + arguments, environment: env)
            #expect(r.exitCode == 0, "gpg \(arguments): \(r.stderr)")
            return r.stdout
        }
        let (signer, stranger, node) = (
            repo.dir.file("gpg-signer"), repo.dir.file("gpg-stranger"), repo.dir.file("gpg-node")
        )
        for home in [signer, stranger, node] {
            try FileManager.default.createDirectory(
                atPath: home,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        }
        defer {
            // Signing and importing start an agent in each home.
            for home in [signer, stranger, node] {
                var env = ProcessInfo.processInfo.environment
                env["GNUPGHOME"] = home
                _ = try? ChildProcess.spawn(
                    SpawnRequest(
                        executable: "/usr/bin/gpgconf",
                        arguments: ["gpgconf", "--kill", "all"],
                        environment: env
                    )
                )
            }
        }
        func makeKey(_ home: String) async throws -> String {
            _ = try await gpg(
                home,
                ["--passphrase", "", "--quick-gen-key", "Ops <ops@example.com>", "ed25519", "sign", "never"]
            )
            let listing = try await gpg(home, ["--list-keys", "--with-colons"])
            return try #require(
                listing.split(separator: "\n").first { $0.hasPrefix("fpr:") }?.split(
                    separator: ":",
                    omittingEmptySubsequences: false
                )[9]
            ).description
        }
        let trusted = try await makeKey(signer)
        let other = try await makeKey(stranger)
        let exported = repo.dir.file("ops.gpg")
        _ = try await gpg(signer, ["--output", exported, "--export", trusted])
        _ = try await gpg(node, ["--import", exported])

        func commit(_ text: String, home: String, key: String) async throws -> String {
            try text.write(toFile: repo.work + "/node.yaml", atomically: true, encoding: .utf8)
            try await repo.git(["add", "node.yaml"])
            try await repo.git(["-c", "user.signingkey=\(key)", "commit", "-S", "--quiet", "-m", "gpg"], gnupg: home)
            try await repo.git(["push", "--quiet", "origin", "HEAD:main"])
            return try await repo.git(["rev-parse", "HEAD"])
        }
        let good = try await commit(
            Self.app.replacingOccurrences(of: "SAMPLE", with: Binaries.sample),
            home: signer,
            key: trusted
        )
        let f = Fixture(
            Self.local(repo).replacingOccurrences(of: "signers: \(repo.allowedSigners)", with: "gpg_home: \(node)")
        )
        let w = try f.start()
        let applied = try await f.waitFor("gitops.applied", "gitops")
        #expect(applied.first?.payload["commit"]?.stringValue == good)
        #expect(applied.first?.payload["signer"]?.stringValue == "Ops <ops@example.com>")
        _ = try await f.waitRunning(["app"])
        let bad = try await commit(
            Self.app.replacingOccurrences(of: "SAMPLE", with: Binaries.sample) + "#\n",
            home: stranger,
            key: other
        )
        let answer = try await sync(f)
        #expect(answer.stdout.contains("refused \(bad.prefix(12)): the signature does not verify"), "\(answer.stdout)")
        #expect(answer.stdout.contains("No public key"), "\(answer.stdout)")
        // An SSH signature is not what gpg_home trusts, even by a key git would otherwise accept.
        let ssh = try await repo.commit(Self.app.replacingOccurrences(of: "SAMPLE", with: Binaries.sample) + "##\n")
        let sshAnswer = try await sync(f)
        #expect(
            sshAnswer.stdout.contains("refused \(ssh.prefix(12)): signed, but not with an OpenPGP key"),
            "\(sshAnswer.stdout)"
        )
        #expect(try await w.stop() == .exited(0))
    }

    @Test func gitopsSpecErrorsAreLocated() async throws {
        let dir = TempDir("warden-gitops-spec")
        let signers = dir.write("signers", "")
        let cases: [(String, String)] = [
            ("gitops: { repo: /tmp/x, path: a.yaml }", "gitops: say whose signed commits are applied"),
            ("gitops: { repo: 'ext::sh -c id', path: a.yaml, signers: \(signers) }", "gitops.repo: the ext:: and fd::"),
            (
                "gitops: { repo: '--upload-pack=id', path: a.yaml, signers: \(signers) }",
                "gitops.repo: may not start with '-'"
            ),
            (
                "gitops: { repo: /tmp/x, branch: 'a..b', path: a.yaml, signers: \(signers) }",
                "gitops.branch: 'a..b' is not a branch name"
            ),
            (
                "gitops: { repo: /tmp/x, path: ../etc/passwd, signers: \(signers) }",
                "gitops.path: '../etc/passwd' has an empty, '.' or '..' part"
            ),
            (
                "gitops: { repo: /tmp/x, path: a.yaml, signers: /nonexistent/signers }",
                "gitops.signers: /nonexistent/signers does not exist"
            ),
            (
                "gitops: { repo: /tmp/x, path: a.yaml, signers: \(signers), hook: deploy }",
                "gitops.hook: no webhook named 'deploy'"
            ),
            ("gitops: { repo: /tmp/x, path: a.yaml, signers: \(signers), every: 0s }", "gitops.every"),
            (
                "gitops: { repo: /tmp/x, path: a.yaml, signers: \(signers), waves: 25% }",
                "gitops.waves: waves are decided by the control plane"
            ),
            (
                "fleet: { control: [http://127.0.0.1:1], node: a, token: env:HOME, labels: { role: web } }\ngitops: { repo: /tmp/x, path: a.yaml, signers: \(signers), waves: 150% }",
                "gitops.waves: the first wave's share"
            ),
            (
                "fleet: { control: [http://127.0.0.1:1], node: a, token: env:HOME, labels: { role: web } }\ngitops: { repo: /tmp/x, path: 'nodes/{tier}.yaml', signers: \(signers) }",
                "gitops.path: {tier} names no label in fleet.labels"
            ),
        ]
        for (yaml, expected) in cases {
            let result = try await warden("validate", dir.write("spec.yaml", yaml + "\nservices: {}\n"))
            #expect(result.exitCode != 0)
            #expect((result.stdout + result.stderr).contains(expected), "\(yaml) → \(result.stdout)\(result.stderr)")
            #expect((result.stdout + result.stderr).contains("spec.yaml:"), "located: \(result.stdout)")
        }
    }
}

/// Rollouts in waves through a real control plane and PostgreSQL: three nodes follow one
/// branch; a commit reaches the first wave, then the others once it settled there; a commit that
/// the first wave rolls back goes no further.
@Suite("GitOps rollouts in waves", .serialized, .timeLimit(.minutes(3)))
struct GitOpsWaveTests {
    init() { becomeSubreaper() }

    @Test func aCommitReachesTheFirstWaveFirstAndABadOneGoesNoFurther() async throws {
        let repo = try await SpecRepository()
        let (pg, control) = try await FleetLiveTests.fleet()
        let app = GitOpsLiveTests.app.replacingOccurrences(of: "SAMPLE", with: Binaries.sample)
        try await repo.commit(app)
        let names = ["edge-a", "edge-b", "edge-c"]
        let nodes = names.map { name in
            FleetLiveTests.agent(
                name,
                of: control,
                GitOpsLiveTests.local(repo).replacingOccurrences(
                    of: "  settle: 1s\n",
                    with: "  settle: 1s\n  waves: 33%\n"
                )
            )
        }
        var processes: [WardenProcess] = []
        for f in nodes { processes.append(try f.start()) }
        for f in nodes {
            try await f.waitFor("gitops.settled", "gitops")
            _ = try await f.waitRunning(["app"])
        }
        func sync(_ f: Fixture) async throws -> String { try await warden("gitops", "sync", "-c", f.config).stdout }
        func node(_ name: String) -> Fixture { nodes[names.firstIndex(of: name)!] }

        // A good commit: the first wave (one of three) applies it, the others wait until it settled.
        let c2 = try await repo.commit(app + "\n  extra:\n    run: [\(Binaries.sample)]\n")
        let first2 = RolloutWaves(commit: c2, members: names, share: 0.33, settled: [], rolledBack: nil).first
        #expect(first2.count == 1)
        let rest2 = names.filter { !first2.contains($0) }
        for name in rest2 {
            let answer = try await sync(node(name))
            #expect(answer.contains("waiting \(c2.prefix(12)): waiting for the first wave"), "\(name): \(answer)")
        }
        #expect(try await sync(node(first2[0])).contains("applied \(c2.prefix(12))"))
        let settled = try await node(first2[0]).waitFor("gitops.settled", "gitops", count: 2)
        for name in rest2 {
            let applied = try await node(name).waitFor("gitops.applied", "gitops", count: 2)
            #expect(applied.last?.payload["commit"]?.stringValue == c2)
            #expect(applied.last?.payload["wave"]?.intValue == 2)
            #expect(applied.last!.time >= settled.last!.time, "\(name) applied it after the first wave settled it")
            _ = try await node(name).waitRunning(["app", "extra"])
        }

        // A commit that breaks the service: the first wave rolls it back, the others never apply it.
        let c3 = try await repo.commit("services:\n  app:\n    run: [/bin/sh, -c, 'exit 3']\n")
        let first3 = RolloutWaves(commit: c3, members: names, share: 0.33, settled: [], rolledBack: nil).first[0]
        let rest3 = names.filter { $0 != first3 }
        for name in rest3 { #expect(try await sync(node(name)).contains("waiting \(c3.prefix(12))")) }
        #expect(try await sync(node(first3)).contains("applied \(c3.prefix(12))"))
        try await node(first3).waitFor("gitops.rolled_back", "gitops")
        for name in rest3 {
            let halted = "the rollout is halted: \(first3) rolled it back"
            try await eventually("\(name) hears that the rollout is halted", timeout: .seconds(60)) {
                try await node(name).events("--type", "gitops.waiting").contains {
                    $0.payload["commit"]?.stringValue == c3
                        && $0.payload["reason"]?.stringValue?.hasPrefix(halted) == true
                }
            }
            let applied = try await node(name).events("--type", "gitops.applied")
            #expect(!applied.contains { $0.payload["commit"]?.stringValue == c3 }, "\(name) never applied it")
            #expect(try await node(name).status().map(\.name).sorted() == ["app", "extra"])
        }
        // The admission route checks what it is given, and only agents may ask.
        let agent = control.client(FleetLiveTests.agentToken)
        let group = String(repeating: "ab", count: 32)
        for (body, field) in [
            (#"{"node": "edge-a", "group": "xyz", "commit": "\#(c3)", "share": 0.5}"#, "group"),
            (#"{"node": "edge-a", "group": "\#(group)", "commit": "HEAD", "share": 0.5}"#, "commit"),
            (#"{"node": "edge-a", "group": "\#(group)", "commit": "\#(c3)", "share": 0}"#, "share"),
            (#"{"node": "edge-a", "group": "\#(group)", "commit": "\#(c3)", "share": 2}"#, "share"),
            (#"{"node": "../x", "group": "\#(group)", "commit": "\#(c3)", "share": 0.5}"#, "node"),
        ] {
            let r = try await agent.send("POST", "/v1/fleet/rollouts/admit", body: Data(body.utf8))
            let error = JSONValue.parse(String(decoding: r.body, as: UTF8.self))?["error"]
            #expect(r.status == 400 && error?["field"]?.stringValue == field, "\(body): \(r.status)")
        }
        let valid = Data(#"{"node": "edge-a", "group": "\#(group)", "commit": "\#(c3)", "share": 0.5}"#.utf8)
        #expect(try await control.client().send("POST", "/v1/fleet/rollouts/admit", body: valid).status == 403)
        for p in processes { #expect(try await p.stop() == .exited(0)) }
        await pg.stop()
    }
}
