import Foundation
import WardenCore
import Yams

/// `gitops:`: the node's desired state comes from a file in a git repository. The local spec
/// file holds this section and what belongs to the node itself (``GitOpsSpec/nodeKeys``); the
/// file in git holds the rest (services, healing, defense, …) and may not set the node's keys.
///
/// Only commits whose signature verifies against `signers` (SSH, git's allowed-signers format)
/// or the keys in `gpg_home` (GnuPG) are applied.
public struct GitOpsSpec: Sendable, Equatable {
    /// What `git fetch` is given: a URL (https, ssh, git, file) or a path.
    public var repository: String
    public var branch: String
    /// The spec file's path inside the repository.
    public var path: String
    /// How often the branch is fetched.
    public var every: Duration = .seconds(60)
    /// How long services added or changed by a commit must stay up before the commit counts as
    /// good; one that fails within it rolls the node back to the last good commit. Zero: never.
    public var settle: Duration = .seconds(60)
    public var trust: Trust
    /// Whether a branch whose new head does not contain the applied commit (a force push) is
    /// followed; refused by default, as it can bring back an old, signed state.
    public var allowRewrites = false
    /// A webhook (`hooks:`) whose deliveries make the node fetch at once.
    public var hook: String?
    /// How long one git command may take.
    public var timeout: Duration = .seconds(60)
    /// In a fleet: the share of the nodes following the same repository, branch and path that
    /// apply a commit first; the others wait until those settle it (the control plane decides).
    /// nil: the node applies commits on its own.
    public var waves: Double?

    /// Whose signatures are trusted.
    public enum Trust: Sendable, Equatable {
        /// An SSH allowed-signers file (`gpg.ssh.allowedSignersFile`).
        case ssh(allowedSigners: String)
        /// A GnuPG home directory whose keyring holds the trusted keys.
        case gpg(home: String)
    }

    /// Top-level keys that belong to the node, read from its local spec and refused in git: the
    /// repository may not point the node elsewhere, open its API or move its state.
    public static let nodeKeys = ["state_dir", "api", "gitops", "fleet", "store", "backup", "hooks"]

    /// The largest spec file taken from a repository.
    public static let maxFileSize = 4 << 20

    public init(repository: String, branch: String = "main", path: String, trust: Trust) {
        self.repository = repository
        self.branch = branch
        self.path = path
        self.trust = trust
    }
}

extension Spec {
    /// The node's `gitops:` section (nil without one, or when the loader had no ``GitOpsSection``).
    public var gitops: GitOpsSpec? { sections[GitOpsSection.self] }
}

public enum GitOpsSection: SpecSection {
    public static let key = "gitops"
    static let keys = [
        "repo", "branch", "path", "every", "settle", "signers", "gpg_home", "allow_rewrites", "hook", "timeout",
        "waves",
    ]

    public static func read(top: YAMLReader.Fields, _ context: SpecContext, _ r: inout YAMLReader) -> GitOpsSpec? {
        guard let node = top[key] else { return nil }
        guard let f = r.mapping(node, key: key, allowed: keys, required: ["repo", "path"]) else { return nil }
        var ok = true
        var repository = ""
        if let n = f["repo"], let s = r.string(n, key: "gitops.repo", what: "a URL or path of a git repository") {
            if let problem = Self.repositoryProblem(s) {
                r.fail(n, "gitops.repo", problem)
                ok = false
            } else {
                repository = s.contains("://") || s.contains("@") ? s : SpecLoader.absolute(s, base: context.baseDir)
            }
        }
        var branch = "main"
        if let n = f["branch"], let s = r.string(n, key: "gitops.branch", what: "a branch name") {
            if let problem = Self.branchProblem(s) {
                r.fail(n, "gitops.branch", problem)
                ok = false
            } else {
                branch = s
            }
        }
        var path = ""
        let labels = top["fleet"]?.mapping?["labels"]?.mapping
        if let n = f["path"], let written = r.string(n, key: "gitops.path", what: "a path inside the repository") {
            // `{label}` stands for the node's fleet label: nodes/{role}.yaml.
            // One pass: a label's value is never read again for braces.
            var s = ""
            var missing: [String] = []
            var rest = Substring(written)
            while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
                s += rest[..<open]
                let name = String(rest[rest.index(after: open)..<close])
                if let value = labels?[Node(name)]?.string {
                    s += value
                } else {
                    missing.append(name)
                }
                rest = rest[rest.index(after: close)...]
            }
            s += rest
            if let name = missing.first {
                r.fail(n, "gitops.path", "{\(name.prefix(64))} names no label in fleet.labels")
                ok = false
            } else if let problem = Self.pathProblem(s) {
                r.fail(n, "gitops.path", problem)
                ok = false
            } else {
                path = s
            }
        }
        var trust: GitOpsSpec.Trust?
        switch (f["signers"], f["gpg_home"]) {
        case (nil, nil):
            r.fail(
                node,
                "gitops",
                "say whose signed commits are applied: signers: (an SSH allowed-signers file) or gpg_home: (a GnuPG home)"
            )
            ok = false
        case (.some(let a), .some):
            r.fail(a, "gitops.signers", "give signers or gpg_home, not both")
            ok = false
        case (.some(let n), nil):
            if let s = r.string(n, key: "gitops.signers", what: "an SSH allowed-signers file") {
                let file = SpecLoader.absolute(s, base: context.baseDir)
                if let problem = Self.readableProblem(file, directory: false) {
                    r.fail(n, "gitops.signers", problem)
                    ok = false
                }
                trust = .ssh(allowedSigners: file)
            }
        case (nil, .some(let n)):
            if let s = r.string(n, key: "gitops.gpg_home", what: "a GnuPG home directory") {
                let dir = SpecLoader.absolute(s, base: context.baseDir)
                if let problem = Self.readableProblem(dir, directory: true) {
                    r.fail(n, "gitops.gpg_home", problem)
                    ok = false
                }
                trust = .gpg(home: dir)
            }
        }
        var spec = GitOpsSpec(
            repository: repository,
            branch: branch,
            path: path,
            trust: trust ?? .ssh(allowedSigners: "")
        )
        if let n = f["every"], let d = r.duration(n, key: "gitops.every", min: .seconds(1), max: .seconds(86400)) {
            spec.every = d
        }
        if let n = f["settle"], let d = r.duration(n, key: "gitops.settle", min: .zero, max: .seconds(86400)) {
            spec.settle = d
        }
        if let n = f["timeout"], let d = r.duration(n, key: "gitops.timeout", min: .seconds(1), max: .seconds(3600)) {
            spec.timeout = d
        }
        if let n = f["waves"] {
            if top["fleet"] == nil {
                r.fail(n, "gitops.waves", "waves are decided by the control plane: they need a fleet: section")
                ok = false
            } else if let share = Self.share(n) {
                spec.waves = share
            } else {
                r.fail(n, "gitops.waves", "the first wave's share: a percentage above 0% and at most 100% (25%)")
                ok = false
            }
        }
        if let n = f["allow_rewrites"], let b = r.bool(n, key: "gitops.allow_rewrites") { spec.allowRewrites = b }
        if let n = f["hook"], let s = r.string(n, key: "gitops.hook", what: "the name of a webhook in hooks:") {
            let hooks = top["hooks"]?.mapping.map { $0.keys.compactMap { $0.string } } ?? []
            if !hooks.contains(s) {
                r.fail(
                    n,
                    "gitops.hook",
                    hooks.isEmpty
                        ? "no webhook named '\(s)': declare it under hooks:"
                        : "no webhook named '\(s)'; hooks: has \(hooks.sorted().joined(separator: ", "))"
                )
                ok = false
            }
            spec.hook = s
        }
        return ok && trust != nil ? spec : nil
    }

    /// `25%` or `0.25` as 0.25; nil when not in (0, 1].
    static func share(_ node: Node) -> Double? {
        guard let text = node.scalar?.string else { return nil }
        let value = text.hasSuffix("%") ? Double(text.dropLast()).map { $0 / 100 } : Double(text)
        guard let value, value.isFinite, value > 0, value <= 1 else { return nil }
        return value
    }

    /// Why `repository` cannot be given to git, or nil. An argument starting with `-` would be
    /// read as an option, and git's `ext::` transport runs a command.
    static func repositoryProblem(_ repository: String) -> String? {
        if repository.isEmpty { return "empty; give a URL (https://…, ssh://…, file://…) or a path" }
        if repository.utf8.count > 4096 { return "longer than 4096 bytes" }
        if repository.hasPrefix("-") { return "may not start with '-'" }
        if repository.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return "contains a control character"
        }
        let lower = repository.lowercased()
        if lower.hasPrefix("ext::") || lower.hasPrefix("fd::") {
            return "the ext:: and fd:: transports run commands; use https://, ssh://, git://, file:// or a path"
        }
        return nil
    }

    /// Why `branch` is not a branch name git accepts (git-check-ref-format), or nil.
    static func branchProblem(_ branch: String) -> String? {
        if branch.isEmpty || branch.utf8.count > 255 { return "a branch name of 1 to 255 bytes" }
        if branch.hasPrefix("-") || branch.hasPrefix("/") || branch.hasSuffix("/") || branch.hasSuffix(".")
            || branch.hasSuffix(".lock") || branch.contains("..") || branch.contains("//") || branch.contains("@{")
            || branch == "@"
        {
            return "'\(branch)' is not a branch name git accepts"
        }
        let bad: Set<Character> = [" ", "~", "^", ":", "?", "*", "[", "\\"]
        if branch.contains(where: { bad.contains($0) || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } ?? false }) {
            return
                "'\(branch)' has a character git does not allow in a branch name (space ~ ^ : ? * [ \\ or a control character)"
        }
        if branch.split(separator: "/").contains(where: { $0.hasPrefix(".") }) {
            return "a part of '\(branch)' starts with '.'"
        }
        return nil
    }

    /// Why `path` is not a plain relative path inside a repository, or nil.
    static func pathProblem(_ path: String) -> String? {
        if path.isEmpty || path.utf8.count > 1024 { return "a relative path of 1 to 1024 bytes" }
        if path.hasPrefix("/") || path.hasPrefix("-") { return "a path relative to the repository's root" }
        if path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return "contains a control character"
        }
        if path.split(separator: "/", omittingEmptySubsequences: false).contains(where: {
            $0 == ".." || $0 == "." || $0.isEmpty
        }) {
            return "'\(path)' has an empty, '.' or '..' part"
        }
        return nil
    }

    static func readableProblem(_ path: String, directory: Bool) -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            return "\(path) does not exist"
        }
        if isDirectory.boolValue != directory {
            return directory ? "\(path) is not a directory" : "\(path) is a directory, not a file"
        }
        guard FileManager.default.isReadableFile(atPath: path) else { return "\(path) cannot be read" }
        return nil
    }
}
