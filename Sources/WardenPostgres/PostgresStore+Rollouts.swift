import Foundation
import PostgresNIO
import WardenCore
import WardenStore

/// GitOps rollouts in waves, decided from what the nodes shipped (their `gitops.settled` and
/// `gitops.rolled_back` events, kept in `fleet_state`) and from who follows which spec.
extension PostgresStore {
    /// Records that `node` follows `group` and answers whether it may apply `commit`: the group's
    /// members are the nodes that asked about it and called the control plane since
    /// `aliveSince` (a node gone for good does not hold a rollout up).
    public func admit(
        node: String,
        group: String,
        commit: String,
        share: Double,
        now: Date,
        aliveSince: Date
    ) async throws -> RolloutAnswer {
        let micros = StoreValues.micros(now)
        try await client.query(
            """
            INSERT INTO rollout_members (grp, node, seen) VALUES (\(group), \(node), \(micros))
            ON CONFLICT (grp, node) DO UPDATE SET seen = excluded.seen
            """,
            logger: logger
        )
        var members: [String] = [node]
        for try await name in try await client.query(
            """
            SELECT m.node FROM rollout_members m JOIN nodes n ON n.name = m.node
            WHERE m.grp = \(group) AND n.last_contact >= \(StoreValues.micros(aliveSince))
            LIMIT 100000
            """,
            logger: logger
        ).decode(String.self) where name != node {
            members.append(name)
        }
        var settled: Set<String> = []
        var rolledBack: (node: String, reasons: String)?
        for try await (who, type, detail) in try await client.query(
            """
            SELECT node, type, detail FROM fleet_state WHERE kind = 'rollout' AND key = \(commit)
            ORDER BY node LIMIT 100000
            """,
            logger: logger
        ).decode((String, String, String).self) {
            if type == "gitops.settled" { settled.insert(who) }
            if type == "gitops.rolled_back", rolledBack == nil { rolledBack = (who, detail) }
        }
        return RolloutWaves(commit: commit, members: members, share: share, settled: settled, rolledBack: rolledBack)
            .answer(for: node)
    }
}
