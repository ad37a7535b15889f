import Foundation
import WardenCore

extension Supervisor {
    /// What a reload changed.
    public struct ReloadSummary: Sendable, Hashable, Codable {
        public var added: [String] = []
        public var removed: [String] = []
        public var changed: [String] = []
        public var unchanged: [String] = []

        public init() {}
    }

    /// Applies a new spec, touching only what differs: added services start, removed ones stop,
    /// changed ones restart with their new definition, the rest keep running undisturbed.
    ///
    /// - Throws: ``WardenError`` when the new spec moves the state directory (restart Warden for that).
    public func reload(_ new: Spec) throws -> ReloadSummary {
        guard new.stateDir == spec.stateDir else {
            throw WardenError(
                .invalidSpec,
                "state_dir cannot change on reload (\(spec.stateDir) → \(new.stateDir)); restart Warden instead"
            )
        }
        var summary = ReloadSummary()
        let oldNames = Set(order)
        let newNames = Set(new.services.map(\.name))
        spec = new

        for name in order where !newNames.contains(name) {
            guard let s = services[name] else { continue }
            summary.removed.append(name)
            s.wanted = false
            s.removeWhenStopped = true
            perform(s.machine.stop(now: clock.now()), for: s)
            if !s.machine.hasProcess { markStopped(s) }
        }
        for svc in new.services {
            if !oldNames.contains(svc.name) {
                summary.added.append(svc.name)
                let s = ManagedService(spec: svc, logDirectory: logDirectory, seed: options.seed, now: clock.wallTime())
                services[svc.name] = s
                order.append(svc.name)
                s.wanted = true
                continue
            }
            guard let s = services[svc.name] else { continue }
            if s.spec == svc {
                summary.unchanged.append(svc.name)
                continue
            }
            summary.changed.append(svc.name)
            if s.machine.hasProcess {
                s.pendingSpec = svc
                perform(s.machine.stop(now: clock.now()), for: s)
            } else {
                replace(s, with: svc)
            }
        }
        // Keep declaration order of the new spec (removed services stay until stopped).
        order = new.services.map(\.name) + order.filter { !newNames.contains($0) }
        for name in summary.added { if let s = services[name] { startIfDependenciesReady(s, manual: false) } }
        bus.publish(
            WardenReloaded(added: summary.added, removed: summary.removed, changed: summary.changed),
            source: "supervisor",
            subject: "warden"
        )
        afterInput()
        return summary
    }

    /// Swaps in a new definition for a stopped service and starts it if it is wanted.
    func replace(_ s: ManagedService, with new: ServiceSpec) {
        s.notify?.close()
        s.notify = nil
        let fresh = ManagedService(spec: new, logDirectory: logDirectory, seed: options.seed, now: clock.wallTime())
        fresh.wanted = s.wanted
        services[new.name] = fresh
        if !shuttingDown { startIfDependenciesReady(fresh, manual: false) }
    }
}
