import Foundation

/// A control plane's answer to a node that asks whether it may apply a commit of its spec
/// repository (a rollout in waves).
public struct RolloutAnswer: Codable, Sendable, Equatable {
    public var admit: Bool
    /// 1: the first wave; 2: the rest.
    public var wave: Int
    public var reason: String

    public init(admit: Bool, wave: Int, reason: String) {
        self.admit = admit
        self.wave = wave
        self.reason = reason
    }

    /// A git commit id (SHA-1 or SHA-256, lowercase hex).
    public static func isCommitID(_ s: String) -> Bool {
        (s.utf8.count == 40 || s.utf8.count == 64)
            && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}

/// The waves of one commit's rollout to a group of nodes (the nodes that follow the same
/// repository, branch and path): a share of them first, chosen by a hash of the commit and the
/// node's name (so every commit picks a different first wave, and every replica of the control
/// plane the same one), the rest once every node of the first wave has settled the commit. A
/// node that rolled the commit back halts it: nobody else is admitted.
public struct RolloutWaves: Sendable {
    public var commit: String
    /// The group's nodes that are alive, the asking one included.
    public var members: [String]
    /// The share of the members in the first wave, in (0, 1]; at least one node.
    public var share: Double
    /// Nodes that settled the commit.
    public var settled: Set<String>
    /// A node that rolled the commit back, and why.
    public var rolledBack: (node: String, reasons: String)?
    /// The first wave as chosen when the rollout began (it is kept, not chosen again).
    public var fixedFirst: [String]?

    public init(
        commit: String,
        members: [String],
        share: Double,
        settled: Set<String>,
        rolledBack: (node: String, reasons: String)?
    ) {
        self.commit = commit
        self.members = members
        self.share = share
        self.settled = settled
        self.rolledBack = rolledBack
    }

    /// The first wave, in order.
    public var first: [String] {
        if let fixedFirst { return fixedFirst }
        let ranked = Set(members).map { node in (Self.rank(commit, node), node) }
            .sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.1)
        let count = max(1, Int((share * Double(ranked.count)).rounded(.up)))
        return Array(ranked.prefix(count))
    }

    /// FNV-1a of the commit and the node's name, mixed (SplitMix64's finalizer): the same on
    /// every replica and run.
    static func rank(_ commit: String, _ node: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in commit.utf8 + [0] + node.utf8 {
            h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 31)
    }

    /// Whether `node` may apply the commit now, and why (not).
    public func answer(for node: String) -> RolloutAnswer {
        let firstWave = first
        let wave = firstWave.contains(node) ? 1 : 2
        if let rolledBack {
            return RolloutAnswer(
                admit: false,
                wave: wave,
                reason: "the rollout is halted: \(rolledBack.node) rolled it back (\(rolledBack.reasons))"
            )
        }
        if wave == 1 {
            return RolloutAnswer(
                admit: true,
                wave: 1,
                reason: "first wave (\(firstWave.count) of \(Set(members).count))"
            )
        }
        // A node of the first wave that is gone (no contact lately) is not waited for.
        let alive = Set(members)
        let waiting = firstWave.filter { !settled.contains($0) && alive.contains($0) }
        if waiting.isEmpty {
            return RolloutAnswer(
                admit: true,
                wave: 2,
                reason: "the first wave (\(firstWave.joined(separator: ", "))) settled it"
            )
        }
        return RolloutAnswer(
            admit: false,
            wave: 2,
            reason: "waiting for the first wave to settle it: \(waiting.prefix(10).joined(separator: ", ")) not yet"
        )
    }
}
