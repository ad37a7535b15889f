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
        // A node follows one spec: asking about this group ends its membership of any other.
        try await client.query(
            """
            WITH gone AS (DELETE FROM rollout_members WHERE node = \(node) AND grp <> \(group) RETURNING 1)
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
        // The first wave is chosen once per commit, by the first request about it, and kept:
        // nodes that join later or ask in another order do not change it.
        var waves = RolloutWaves(
            commit: commit,
            members: members,
            share: share,
            settled: settled,
            rolledBack: rolledBack
        )
        let chosen = waves.first.joined(separator: "\n")
        for try await stored in try await client.query(
            """
            WITH ins AS (
                INSERT INTO rollout_waves (grp, commit_id, first_wave) VALUES (\(group), \(commit), \(chosen))
                ON CONFLICT (grp, commit_id) DO NOTHING RETURNING first_wave
            )
            SELECT first_wave FROM ins
            UNION ALL SELECT first_wave FROM rollout_waves WHERE grp = \(group) AND commit_id = \(commit)
            LIMIT 1
            """,
            logger: logger
        ).decode(String.self) {
            waves.fixedFirst = stored.split(separator: "\n").map(String.init)
        }
        return waves.answer(for: node)
    }
}
