/// What a token may do. Each role includes the ones below it.
public enum Role: String, Sendable, Hashable, CaseIterable, Comparable, Codable {
    /// Read everything.
    case viewer
    /// Also act on services and ingest telemetry.
    case `operator`
    /// Also change Warden itself (reload).
    case admin

    private var rank: Int {
        switch self {
        case .viewer: return 0
        case .operator: return 1
        case .admin: return 2
        }
    }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }
}
