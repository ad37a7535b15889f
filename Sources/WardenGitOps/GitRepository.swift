import Foundation
import WardenCore
import WardenSupervisor

/// What one git command did.
public struct GitOutput: Sendable {
    public var status: Int32
    /// At most ``GitRepository/maxOutput`` bytes.
    public var stdout: [UInt8]
    public var stderr: String
    /// Whether stdout was longer than the limit (and cut).
    public var truncated: Bool

    public init(status: Int32, stdout: [UInt8], stderr: String, truncated: Bool = false) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
        self.truncated = truncated
    }

    var text: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs `argv` (absolute program first) with `environment` for at most `timeout`.
public typealias GitRunner =
    @Sendable (_ argv: [String], _ environment: [String: String], _ timeout: Duration) async -> GitOutput

/// A failure of git itself (not a verdict on a commit): the repository is unreachable, the
/// mirror is damaged, git is missing.
public struct GitError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// The node's mirror of the followed branch: a bare repository in the state directory that
/// `git fetch` updates, from which commits are verified and files read. Nothing is checked
/// out; nothing from the remote runs (no hooks run on fetch, the ext:: and fd:: transports are
/// off, prompts are off).
///
/// Refs it keeps: `refs/warden/head` (the branch as last fetched; a force push moves it),
/// `refs/warden/applied` and `refs/warden/good` (so their objects survive a force push).
public struct GitRepository: Sendable {
    public let directory: String
    let git: String
    let environment: [String: String]
    let run: GitRunner
    let timeout: Duration

    /// The most a command's output is read (a spec file is at most ``GitOpsSpec/maxFileSize``).
    public static let maxOutput = GitOpsSpec.maxFileSize + 1

    /// - Parameters:
    ///   - gpgHome: for GnuPG signatures, the home whose keyring is trusted.
    public init(
        directory: String,
        git: String,
        environment: [String: String],
        gpgHome: String? = nil,
        timeout: Duration,
        run: @escaping GitRunner
    ) {
        self.directory = directory
        self.git = git
        var env = environment
        env["GIT_TERMINAL_PROMPT"] = "0"
        env["GIT_ASKPASS"] = "/bin/false"
        env["SSH_ASKPASS"] = "/bin/false"
        if env["GIT_SSH_COMMAND"] == nil { env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes" }
        env["LC_ALL"] = "C"
        // Only what Warden passes counts: no system or user configuration (url rewrites, another
        // allowed-signers file, a gpg.program), no replace objects.
        env["GIT_CONFIG_NOSYSTEM"] = "1"
        env["GIT_CONFIG_GLOBAL"] = "/dev/null"
        env["GIT_NO_REPLACE_OBJECTS"] = "1"
        // With SSH trust, GnuPG gets an empty home: a PGP signature verifies against nothing.
        env["GNUPGHOME"] = gpgHome ?? (directory as NSString).appendingPathComponent("empty-gnupg")
        self.environment = env
        self.timeout = timeout
        self.run = run
    }

    /// Finds `git` on `PATH`.
    public static func findGit(environment: [String: String]) -> String? {
        let path = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/git"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    private func git(_ arguments: [String]) async -> GitOutput {
        let argv =
            [git, "-C", directory, "-c", "protocol.ext.allow=never", "-c", "protocol.fd.allow=never"] + arguments
        return await run(argv, environment, timeout)
    }

    private static func clip(_ text: String) -> String {
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let joined = lines.joined(separator: "; ")
        return joined.utf8.count > 500 ? String(decoding: joined.utf8.prefix(500), as: UTF8.self) + "…" : joined
    }

    /// Creates the bare mirror when it is not there yet.
    public func prepare() async throws(GitError) {
        let emptyHome = (directory as NSString).appendingPathComponent("empty-gnupg")
        if !FileManager.default.fileExists(atPath: emptyHome) {
            try? FileManager.default.createDirectory(
                atPath: emptyHome,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        }
        if FileManager.default.fileExists(atPath: directory + "/HEAD") {
            removeStaleLocks()
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw GitError(description: "cannot create \(directory): \(error)")
        }
        let out = await run([git, "init", "--bare", "--quiet", directory], environment, timeout)
        if out.status != 0 { throw GitError(description: "git init: \(Self.clip(out.stderr))") }
    }

    /// Removes what a git killed at its timeout left behind (locks, half-received packs): only
    /// this process runs git in the mirror, one command at a time.
    func removeStaleLocks() {
        let fm = FileManager.default
        for lock in [
            "packed-refs.lock", "shallow.lock", "refs/warden/head.lock", "refs/warden/applied.lock",
            "refs/warden/good.lock", "index.lock",
        ] {
            try? fm.removeItem(atPath: directory + "/" + lock)
        }
        let packs = directory + "/objects/pack"
        for name in (try? fm.contentsOfDirectory(atPath: packs)) ?? [] where name.hasPrefix("tmp_") {
            try? fm.removeItem(atPath: packs + "/" + name)
        }
    }

    /// Fetches `branch` of `repository` (a force push included) and returns the commit it names.
    public func fetch(_ repository: String, branch: String) async throws(GitError) -> String {
        try await prepare()
        let out = await git([
            "-c", "fetch.fsckObjects=true",
            "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--force", "--", repository,
            "+refs/heads/\(branch):refs/warden/head",
        ])
        if out.status != 0 {
            throw GitError(
                description: Self.clip(out.stderr).isEmpty
                    ? "git fetch exited with \(out.status)" : Self.clip(out.stderr)
            )
        }
        guard let head = await resolve("refs/warden/head") else {
            throw GitError(description: "the branch \(branch) was fetched but names no commit")
        }
        return head
    }

    /// The commit `ref` names, or nil.
    public func resolve(_ ref: String) async -> String? {
        let out = await git(["rev-parse", "--verify", "--quiet", "\(ref)^{commit}"])
        let sha = out.text.trimmingCharacters(in: .whitespacesAndNewlines)
        return out.status == 0 && RolloutAnswer.isCommitID(sha) ? sha : nil
    }

    /// Points `ref` (under refs/warden/) at `commit`.
    public func mark(_ ref: String, _ commit: String) async {
        _ = await git(["update-ref", ref, commit])
    }

    /// A signature's verdict.
    public enum Verdict: Sendable, Equatable {
        /// Signed by a trusted key; `signer` as git reports it.
        case good(signer: String)
        /// Unsigned, signed by a key not trusted, or a bad signature: why, in git's words.
        case refused(String)
    }

    /// Verifies `commit`'s signature with git's own `verify-commit`, after checking that it is
    /// the kind of signature the trust is for (git picks the verifier by the signature itself).
    public func verify(_ commit: String, trust: GitOpsSpec.Trust) async -> Verdict {
        let object = await git(["cat-file", "commit", commit])
        guard object.status == 0 else { return .refused("the commit cannot be read: \(Self.clip(object.stderr))") }
        let header = object.text.components(separatedBy: "\n\n").first ?? ""
        guard let signature = header.range(of: "\ngpgsig") else { return .refused("the commit is not signed") }
        let armor = header[signature.upperBound...].prefix(80)
        switch trust {
        case .ssh:
            guard armor.contains("-----BEGIN SSH SIGNATURE-----") else {
                return .refused("signed, but not with an SSH key; only the allowed signers' SSH keys are trusted")
            }
        case .gpg:
            guard armor.contains("-----BEGIN PGP SIGNATURE-----") else {
                return .refused("signed, but not with an OpenPGP key; only the keys of gpg_home are trusted")
            }
        }
        var arguments: [String] = []
        switch trust {
        case .ssh(let file): arguments += ["-c", "gpg.ssh.allowedSignersFile=\(file)"]
        case .gpg: arguments += ["-c", "gpg.ssh.allowedSignersFile=/dev/null"]
        }
        arguments += ["verify-commit", commit]
        let out = await git(arguments)
        let said = Self.clip(out.stderr)
        if out.status == 0 {
            return .good(signer: Self.signer(in: out.stderr) ?? said)
        }
        if said.isEmpty {
            return .refused("the signature does not verify (git verify-commit exited with \(out.status))")
        }
        if case .ssh = trust, said.contains("No principal matched") {
            return .refused("signed by a key that is not in the allowed signers: \(said)")
        }
        return .refused("the signature does not verify: \(said)")
    }

    /// Who signed, from `verify-commit`'s report (`Good "git" signature for NAME with …` for SSH,
    /// `Good signature from "NAME"` for GnuPG).
    static func signer(in report: String) -> String? {
        for line in report.split(separator: "\n") {
            if let r = line.range(of: "Good \"git\" signature for ") {
                let rest = line[r.upperBound...]
                return String(rest.split(separator: " ").first ?? rest)
            }
            if let r = line.range(of: "Good signature from \"") {
                let rest = line[r.upperBound...]
                return String(rest.prefix(while: { $0 != "\"" }))
            }
        }
        return nil
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors; nil when git cannot say (an
    /// object is missing).
    public func contains(_ descendant: String, ancestor: String) async -> Bool? {
        let out = await git(["merge-base", "--is-ancestor", ancestor, descendant])
        switch out.status {
        case 0: return true
        case 1: return false
        default: return nil
        }
    }

    /// What a commit says about itself.
    public struct CommitInfo: Sendable, Equatable {
        public var id: String
        public var author: String
        public var time: Date
        public var subject: String
    }

    public func info(_ commit: String) async -> CommitInfo? {
        let out = await git(["log", "-1", "--format=%H%n%an <%ae>%n%ct%n%s", commit])
        let lines = out.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard out.status == 0, lines.count >= 4, let t = Double(lines[2]) else { return nil }
        return CommitInfo(
            id: lines[0],
            author: String(lines[1].prefix(200)),
            time: Date(timeIntervalSince1970: t),
            subject: String(lines[3].prefix(200))
        )
    }

    /// A file's bytes at `commit`; throws a reason when it is missing, not a file or too large.
    public func file(_ path: String, at commit: String) async throws(GitError) -> [UInt8] {
        let object = "\(commit):\(path)"
        let kind = await git(["cat-file", "-t", object])
        guard kind.status == 0 else {
            throw GitError(description: "\(path) is not in commit \(commit.prefix(12))")
        }
        let type = kind.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard type == "blob" else { throw GitError(description: "\(path) is a \(type), not a file") }
        let size = await git(["cat-file", "-s", object])
        guard size.status == 0, let bytes = Int(size.text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw GitError(description: "cannot read the size of \(path): \(Self.clip(size.stderr))")
        }
        guard bytes <= GitOpsSpec.maxFileSize else {
            throw GitError(description: "\(path) is \(bytes) bytes; a spec may have at most \(GitOpsSpec.maxFileSize)")
        }
        let out = await git(["cat-file", "blob", object])
        guard out.status == 0, !out.truncated else {
            throw GitError(description: "cannot read \(path): \(Self.clip(out.stderr))")
        }
        return out.stdout
    }
}

extension GitRepository {
    /// Runs git through Warden's own spawner (safe next to supervised services), killing it and
    /// what it started after the timeout.
    public static let processRunner: GitRunner = { argv, environment, timeout in
        let c = await ChildProcess.captureSeparately(argv, environment: environment, timeout: timeout, limit: maxOutput)
        return GitOutput(status: c.status, stdout: c.stdout, stderr: c.stderr, truncated: c.truncated)
    }
}
