import Logging
import WardenCore

/// Acts on a service for someone other than an incident's ladder (a workflow's `heal` step).
///
/// ``HealEngine`` is the implementation: such an action runs through the same executor as a
/// ladder's rung, under the same per-target guards (an action from either counts against the
/// other's cooldown and limit), one at a time on a service (a workflow's action is refused while
/// another is under way; a ladder's waits for a workflow's to end), and in dry-run mode does
/// nothing but say so.
public protocol ServiceHealer: Sendable {
    /// Carries out `action` (a restart, start, stop or rebuild) unless the target's guards say
    /// wait or hold, in which case nothing is done and the result says why. `origin` names who
    /// asked (`workflow triage, run r-12`); `folder` keeps a rebuild's output.
    func act(_ action: HealAction, origin: String, folder: String) async -> HealMachine.ActionResult
}

extension HealEngine: ServiceHealer {
    public func act(_ action: HealAction, origin: String, folder: String) async -> HealMachine.ActionResult {
        guard let target = action.service else {
            return .init(ok: false, outcome: "\(action) is not an action on a service")
        }
        // Names can come from a webhook's body: only the spec's services, and no guard is kept
        // for anything else.
        guard spec.services.contains(where: { $0.name == target }) else {
            return .init(ok: false, outcome: "there is no service named '\(target)'")
        }
        guard busy[target] == nil else {
            return .init(ok: false, outcome: "another action on \(target) is under way")
        }
        let healing = spec.healing
        if healing.dryRun { return .init(ok: true, outcome: "dry run: would \(action)") }
        let now = now()
        switch machine.admitDirect(target: target, cooldown: healing.cooldown, max: healing.max, at: now.instant) {
        case .hold(let count):
            return .init(
                ok: false,
                outcome:
                    "held: \(count) actions on \(target) within \(DurationFormat.format(healing.max.window)); Warden stops acting on it until a person looks"
            )
        case .wait(let until):
            return .init(
                ok: false,
                outcome:
                    "\(target) is cooling down after its last action: \(DurationFormat.format(until - now.instant)) to go"
            )
        case .act:
            break
        }
        d.logger.notice("acting for \(origin)", metadata: ["warden.action": "\(action)"])
        busy[target] = []
        defer { give(target) }
        do {
            return try await serviceAction(action, folder: folder)
        } catch {
            return .init(ok: false, outcome: "\(error)")
        }
    }
}
