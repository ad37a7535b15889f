import Foundation
import WardenCore
import WardenDefense
import WardenFleet

/// The fleet's decisions applied to this node's bans: a ban decided elsewhere is banned here for
/// what is left of it (this node's safety rules and `max_bans` still apply: loopback, its
/// allowlist and its own addresses are never banned), a lift lifts it here.
enum FleetBans {
    static func apply(_ decisions: [FleetDecision], to bans: BanManager) async {
        for d in decisions {
            guard let address = IPAddress(d.address) else { continue }
            switch d.kind {
            case .ban:
                guard let seconds = d.seconds, seconds > 0 else { continue }
                _ = await bans.ban(
                    address,
                    reason: "fleet: \(d.reason) (decided on \(d.origin))",
                    source: FleetDecision.by,
                    evidence: ["origin": .string(d.origin), "decision": .int(d.id)],
                    duration: .seconds(seconds)
                )
            case .lift:
                _ = await bans.unban(address, by: FleetDecision.by)
            }
        }
    }
}
