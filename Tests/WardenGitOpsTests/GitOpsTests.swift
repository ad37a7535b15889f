import Foundation
import Testing
import WardenCore
import WardenFleet
import WardenTestSupport

@testable import WardenGitOps

@Suite("GitOps: names git is given, spec differences, remembered state")
struct GitOpsSpecTests {
    @Test func namesThatGitWouldReadAsSomethingElseAreRefused() {
        for bad in [
            "-x", "a..b", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b", "/a", "a/", "a.lock", "a//b", "@",
            "a@{1}", ".a", "a/.b", "",
        ] {
            #expect(GitOpsSection.branchProblem(bad) != nil, "\(bad)")
        }
        for good in ["main", "release/2026.12", "ops-nodes_1"] { #expect(GitOpsSection.branchProblem(good) == nil) }
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "-a", "a\u{0}b", "a\nb"] {
            #expect(GitOpsSection.pathProblem(bad) != nil, "\(bad)")
        }
        #expect(GitOpsSection.pathProblem("nodes/web.yaml") == nil)
        for bad in [
            "", "-oProxyCommand=x", "ext::sh -c id", "EXT::x", "fd::3", "a\nb", String(repeating: "a", count: 5000),
        ] {
            #expect(GitOpsSection.repositoryProblem(bad) != nil, "\(bad.prefix(20))")
        }
        for good in [
            "https://git.example.com/ops/specs.git", "ssh://git@host/specs", "/srv/specs.git", "git@host:specs",
        ] {
            #expect(GitOpsSection.repositoryProblem(good) == nil)
        }
    }

    @Test func aDiffNamesServicesAndTheFieldsThatDiffer() throws {
        let loader = SpecLoader()
        let old = try loader.parse(
            "services:\n  a: { run: [/bin/sleep, '1'] }\n  b: { run: [/bin/true] }\n",
            file: "old",
            baseDir: "/"
        )
        let new = try loader.parse(
            "retention: { events: 2d }\nservices:\n  a: { run: [/bin/sleep, '2'] }\n  c: { run: [/bin/true] }\n",
            file: "new",
            baseDir: "/"
        )
        let diff = SpecDiff(from: old, to: new)
        #expect(diff.added == ["c"])
        #expect(diff.removed == ["b"])
        #expect(diff.changed.keys.sorted() == ["a"])
        #expect(
            diff.changed["a"]?.contains { $0.hasPrefix("run: [\"/bin/sleep\", \"1\"] → [\"/bin/sleep\", \"2\"]") }
                == true,
            "\(diff.changed)"
        )
        #expect(diff.sections == ["retention"])
        #expect(SpecDiff(from: new, to: new).isEmpty)
    }

    @Test func aPathNamesTheNodesFleetLabels() throws {
        let dir = TempDir("warden-gitops-path")
        let signers = dir.write("signers", "")
        setenv("WARDEN_TEST_GITOPS_TOKEN", "agent-token-0123456789", 1)
        let loader = SpecLoader(sections: [FleetSection.self, GitOpsSection.self])
        let spec = try loader.parse(
            """
            fleet: { control: [http://127.0.0.1:1], node: web-1, token: env:WARDEN_TEST_GITOPS_TOKEN, labels: { role: web, dc: fra } }
            gitops: { repo: /srv/specs.git, path: 'nodes/{dc}/{role}.yaml', signers: \(signers), waves: 25% }
            services: {}
            """,
            file: "spec.yaml",
            baseDir: dir.path
        )
        #expect(spec.gitops?.path == "nodes/fra/web.yaml")
        #expect(spec.gitops?.waves == 0.25)
        // A label whose value has braces is not expanded again.
        let braces = try loader.parse(
            """
            fleet: { control: [http://127.0.0.1:1], node: web-1, token: env:WARDEN_TEST_GITOPS_TOKEN, labels: { role: '{role}' } }
            gitops: { repo: /srv/specs.git, path: 'nodes/{role}.yaml', signers: \(signers) }
            services: {}
            """,
            file: "spec.yaml",
            baseDir: dir.path
        )
        #expect(braces.gitops?.path == "nodes/{role}.yaml")
        #expect(throws: SpecErrors.self) {
            try loader.parse(
                """
                fleet: { control: [http://127.0.0.1:1], node: web-1, token: env:WARDEN_TEST_GITOPS_TOKEN, labels: { role: '..' } }
                gitops: { repo: /srv/specs.git, path: 'nodes/{role}/x.yaml', signers: \(signers) }
                services: {}
                """,
                file: "spec.yaml",
                baseDir: dir.path
            )
        }
    }

    @Test func theStateRemembersAtMostAHundredRolledBackCommits() throws {
        var state = GitOpsState()
        for i in 0..<150 { state.remember(bad: "c\(i)", "why \(i)") }
        #expect(state.bad.count == 100)
        #expect(state.bad["c49"] == nil && state.bad["c50"] == "why 50")
        let dir = TempDir("warden-gitops-state")
        try state.save(dir.file("g/state.json"))
        #expect(GitOpsState.load(dir.file("g/state.json")) == state)
        #expect(GitOpsState.load(dir.write("junk", "{not json")) == GitOpsState())
    }
}

@Suite("GitOps: the mirror with a real git")
struct GitRepositoryTests {
    func git(_ arguments: [String], in dir: String) async throws {
        var env = ProcessInfo.processInfo.environment
        env["GIT_AUTHOR_NAME"] = "t"
        env["GIT_AUTHOR_EMAIL"] = "t@example.com"
        env["GIT_COMMITTER_NAME"] = "t"
        env["GIT_COMMITTER_EMAIL"] = "t@example.com"
        env["GIT_CONFIG_NOSYSTEM"] = "1"
        let r = try await runCommand("/usr/bin/git", arguments, environment: env, cwd: dir)
        #expect(r.exitCode == 0, "git \(arguments): \(r.stderr)")
    }

    @Test func filesAreReadWithinLimitsAndMissingOnesSaySo() async throws {
        let dir = TempDir("warden-gitrepo")
        let work = dir.file("work")
        try await git(["init", "--quiet", "-b", "main", work], in: dir.path)
        _ = dir.write("work/node.yaml", "services: {}\n")
        try FileManager.default.createDirectory(atPath: work + "/sub", withIntermediateDirectories: true)
        _ = dir.write("work/sub/x", "x")
        try String(repeating: "#", count: GitOpsSpec.maxFileSize + 1).write(
            toFile: work + "/big.yaml",
            atomically: true,
            encoding: .utf8
        )
        try await git(["add", "."], in: work)
        try await git(["commit", "--quiet", "--no-gpg-sign", "-m", "one"], in: work)
        let repo = GitRepository(
            directory: dir.file("mirror.git"),
            git: "/usr/bin/git",
            environment: ProcessInfo.processInfo.environment,
            timeout: .seconds(30),
            run: GitRepository.processRunner
        )
        let head = try await repo.fetch(work, branch: "main")
        #expect(head.count == 40)
        #expect(try await repo.file("node.yaml", at: head) == Array("services: {}\n".utf8))
        await #expect(throws: GitError.self) { try await repo.file("missing.yaml", at: head) }
        do {
            _ = try await repo.file("big.yaml", at: head)
            Issue.record("a file over the limit was read")
        } catch {
            #expect(error.description.contains("a spec may have at most"), "\(error)")
        }
        do {
            _ = try await repo.file("sub", at: head)
            Issue.record("a directory was read as a file")
        } catch {
            #expect(error.description.contains("is a tree, not a file"), "\(error)")
        }
        #expect(
            await repo.verify(head, trust: .ssh(allowedSigners: dir.write("signers", "")))
                == .refused("the commit is not signed")
        )
        do {
            _ = try await repo.fetch(work, branch: "nosuch")
            Issue.record("a missing branch was fetched")
        } catch {
            #expect(error.description.contains("nosuch"), "\(error)")
        }
        do {
            _ = try await repo.fetch(dir.file("nowhere"), branch: "main")
            Issue.record("a missing repository was fetched")
        } catch {
            #expect(!error.description.isEmpty)
        }
    }
}
