import Logging
import ServiceLifecycle
import UnixSignals
import WardenCore

/// Reloads the spec on SIGHUP: a valid new spec is applied by difference; an invalid one is
/// reported (event `warden.reload_failed` with every problem) and the running spec stays.
public struct ReloadOnHangup: Service {
    let path: String
    let supervisor: Supervisor
    let loader: SpecLoader
    let logger: Logger
    let others: @Sendable (Spec) async -> Void
    /// What SIGHUP does instead of reading the spec file again (with `gitops:`, a sync).
    let instead: (@Sendable () async -> ReloadOutcome)?

    /// - Parameter others: called with every new spec the supervisor accepted, for the other
    ///   components that follow the spec (healing policies).
    public init(
        path: String,
        supervisor: Supervisor,
        loader: SpecLoader,
        logger: Logger,
        others: @escaping @Sendable (Spec) async -> Void = { _ in },
        instead: (@Sendable () async -> ReloadOutcome)? = nil
    ) {
        self.instead = instead
        self.path = path
        self.supervisor = supervisor
        self.loader = loader
        self.logger = logger
        self.others = others
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            await reload()
        }
    }

    /// Loads the spec file again and applies it.
    @discardableResult
    public func reload() async -> ReloadOutcome {
        if let instead { return await instead() }
        var problems: [String]
        do {
            let spec = try loader.load(path: path)
            let summary = try await supervisor.reload(spec)
            await others(spec)
            logger.info(
                "spec reloaded",
                metadata: [
                    "warden.added": "\(summary.added)", "warden.removed": "\(summary.removed)",
                    "warden.changed": "\(summary.changed)",
                ]
            )
            return .applied(summary)
        } catch let errors as SpecErrors {
            problems = errors.issues.map(\.description)
        } catch {
            problems = ["\(error)"]
        }
        logger.error("spec reload failed; keeping the running spec", metadata: ["warden.errors": "\(problems)"])
        supervisor.bus.publish(WardenReloadFailed(errors: problems), source: "supervisor", subject: "warden")
        return .invalid(problems)
    }
}

/// The result of a reload.
public enum ReloadOutcome: Sendable {
    /// The new spec was applied.
    case applied(Supervisor.ReloadSummary)
    /// The new spec has these problems; nothing changed.
    case invalid([String])
}
