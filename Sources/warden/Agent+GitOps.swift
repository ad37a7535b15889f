import Crypto
import Foundation
import Logging
import Synchronization
import WardenCore
import WardenFleet
import WardenGitOps
import WardenServer
import WardenStore
import WardenSupervisor

extension Agent {
    /// The service that keeps the node at its repository's head; its mirror and state live in
    /// `<state_dir>/gitops/`.
    static func gitops(
        _ g: GitOpsSpec,
        spec: Spec,
        stateDirectory: StateDirectory,
        bus: EventBus,
        logger: Logger,
        uplink: Late<Uplink>?,
        apply: @escaping @Sendable (Spec) async throws -> Supervisor.ReloadSummary,
        statuses: @escaping @Sendable () async -> [ServiceStatus]
    ) throws -> GitOpsService {
        let environment = ProcessEnvironment.current()
        guard let git = GitRepository.findGit(environment: environment) else {
            throw WardenError(.invalidSpec, "gitops: needs git, and there is none on PATH (apt-get install git)")
        }
        var gpgHome: String?
        if case .gpg(let home) = g.trust { gpgHome = home }
        let directory = (stateDirectory.path as NSString).appendingPathComponent("gitops")
        let repository = GitRepository(
            directory: (directory as NSString).appendingPathComponent("mirror.git"),
            git: git,
            environment: environment,
            gpgHome: gpgHome,
            timeout: g.timeout,
            run: GitRepository.processRunner
        )
        return GitOpsService(
            .init(
                spec: g,
                repository: repository,
                local: spec,
                parse: { text, file throws(SpecErrors) in try composeFromGit(text, file: file, local: spec) },
                apply: apply,
                statuses: statuses,
                bus: bus,
                stateFile: (directory as NSString).appendingPathComponent("state.json"),
                logger: logger,
                gate: uplink.map { uplink in
                    let group = Self.rolloutGroup(g)
                    let share = g.waves ?? 1
                    return { commit in
                        guard let link = uplink.value else {
                            return RolloutAnswer(admit: false, wave: 0, reason: "the fleet uplink is not running")
                        }
                        do {
                            return try await link.admit(commit: commit, group: group, share: share)
                        } catch {
                            return RolloutAnswer(
                                admit: false,
                                wave: 0,
                                reason: "the control plane cannot be asked (\(error)); waiting"
                            )
                        }
                    }
                }
            )
        )
    }

    /// The nodes that follow the same repository, branch and path roll out together: their
    /// group is the SHA-256 of the three.
    static func rolloutGroup(_ g: GitOpsSpec) -> String {
        SHA256.hash(data: Data("\(g.repository)\n\(g.branch)\n\(g.path)".utf8)).map { String(format: "%02x", $0) }
            .joined()
    }

    /// A spec from git with the node's own keys (``GitOpsSpec/nodeKeys``) taken from its local
    /// spec; relative paths resolve against the local spec's directory.
    static func composeFromGit(_ text: String, file: String, local: Spec) throws(SpecErrors) -> Spec {
        let absolute =
            local.path.hasPrefix("/") ? local.path : FileManager.default.currentDirectoryPath + "/" + local.path
        let base = ((absolute as NSString).deletingLastPathComponent as NSString).standardizingPath
        var spec = try SpecLoader.warden().parse(text, file: file, baseDir: base)
        spec.path = local.path
        spec.stateDir = local.stateDir
        spec.sections[APISection.self] = local.sections[APISection.self]
        spec.sections[GitOpsSection.self] = local.sections[GitOpsSection.self]
        spec.sections[FleetSection.self] = local.sections[FleetSection.self]
        spec.sections[StoreSection.self] = local.sections[StoreSection.self]
        spec.sections[BackupSection.self] = local.sections[BackupSection.self]
        spec.sections[HooksSection.self] = local.sections[HooksSection.self]
        return spec
    }
}

/// A value made after the closures that use it.
final class Late<Value: Sendable>: Sendable {
    private let box = Mutex<Value?>(nil)
    var value: Value? { box.withLock { $0 } }
    func set(_ value: Value?) { box.withLock { $0 = value } }
}
