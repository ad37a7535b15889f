import WardenCore

/// A verified commit was applied to the node (`gitops.applied`), the way SIGHUP applies a spec.
public struct GitOpsApplied: EventPayload {
    public static let type = "gitops.applied"
    public var commit: String
    public var previous: String?
    public var signer: String
    public var subject: String
    public var added: [String]
    public var removed: [String]
    public var changed: [String]
    /// Set when the branch's history was rewritten (a force push) and `allow_rewrites` let it in.
    public var rewritten: Bool?
    /// Set when the node fell back on its last good commit because the repository could not be read.
    public var fromMirror: Bool?
    /// In a rollout in waves: which wave the node was in.
    public var wave: Int?

    enum CodingKeys: String, CodingKey {
        case commit, previous, signer, subject, added, removed, changed, rewritten, wave
        case fromMirror = "from_mirror"
    }
}

/// A verified, valid commit waits for its wave (`gitops.waiting`): the control plane has not
/// admitted it yet, or the rollout is halted (a node of the first wave rolled it back).
public struct GitOpsWaiting: EventPayload {
    public static let type = "gitops.waiting"
    public var commit: String
    public var wave: Int
    public var reason: String
}

/// A commit was not applied: unsigned, an untrusted or bad signature, a rewritten history, a
/// missing file or a spec that does not validate (`errors`, located in `git:<commit>:<path>`).
public struct GitOpsRefused: EventPayload {
    public static let type = "gitops.refused"
    public var commit: String
    public var reason: String
    public var errors: [String]?
}

/// The repository could not be fetched; the node keeps its running state.
public struct GitOpsUnreachable: EventPayload {
    public static let type = "gitops.unreachable"
    public var repository: String
    public var error: String
    /// The commit the node goes on running (nil: its local spec).
    public var running: String?
}

/// The repository can be fetched again.
public struct GitOpsReachable: EventPayload {
    public static let type = "gitops.reachable"
    public var repository: String
}

/// Every service a commit added or changed stayed up through `settle`: it is the last good one.
public struct GitOpsSettled: EventPayload {
    public static let type = "gitops.settled"
    public var commit: String
}

/// A commit left services unhealthy and the node went back to `to` (nil: its local spec).
public struct GitOpsRolledBack: EventPayload {
    public static let type = "gitops.rolled_back"
    public var commit: String
    public var to: String?
    public var services: [String]
    public var reasons: [String]
}

/// The running state differs from the desired one (`gitops.drift`), or agrees again
/// (`gitops.in_sync`, without reasons).
public struct GitOpsDrift: EventPayload {
    public static let type = "gitops.drift"
    public var reasons: [String]
}

public struct GitOpsInSync: EventPayload {
    public static let type = "gitops.in_sync"
    public var commit: String?
}
