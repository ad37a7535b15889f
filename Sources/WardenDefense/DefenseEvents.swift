import WardenCore

/// The events of defense: threats seen and bans applied, refused and ended. Each is about an
/// address, except `ban.restored` (about the firewall) and `ban.list` (about a list).
extension EventType {
    public static let threatDetected = ThreatSeen.type
    /// An analyst looked at a threat and it was not banned: ``ThreatSeen`` with `banned` false.
    public static let threatReviewed = "threat.reviewed"
    public static let banApplied = BanApplied.type
    public static let banRefused = BanRefused.type
    public static let banCapped = BanCapped.type
    public static let banLifted = BanLifted.type
    public static let banExpired = BanExpired.type
    public static let banRestored = BansRestored.type
    public static let banList = BanList.type
    public static let banListExpired = BansExpired.type
    public static let defenseStarted = DefenseStarted.type
    public static let defenseSourceFailed = DefenseSourceFailed.type
    public static let defenseSourceBlind = DefenseSourceBlind.type
    public static let firewallFailed = FirewallFailed.type
}

/// An address crossed the threat threshold (`threat.detected`), or was reviewed and let go
/// (`threat.reviewed`).
public struct ThreatSeen: EventPayload {
    public static let type = "threat.detected"
    /// The scenarios' score (three decimals).
    public var score: Double
    /// The scenarios that fired, oldest first.
    public var scenarios: [String]
    /// The address's last log lines.
    public var lines: [String]
    /// The analyst's verdict, or why there is none.
    public var analyst: JSONValue?
    /// The score after the analyst's verdict.
    public var adjustedScore: Double?
    /// Set (false) on `threat.reviewed`.
    public var banned: Bool?

    enum CodingKeys: String, CodingKey {
        case score, scenarios, lines, analyst, banned
        case adjustedScore = "adjusted_score"
    }
}

/// An address is banned in the firewall until `until`.
public struct BanApplied: EventPayload {
    public static let type = "ban.applied"
    public var reason: String
    /// Who wanted it: `scenario`, `analyst`, or the API's caller.
    public var by: String
    /// How many times this address has been banned, this one included.
    public var offence: Int
    public var seconds: Int64
    /// When it expires (ISO 8601).
    public var until: String
    public var firewall: String
    public var evidence: JSONValue
}

/// A ban was not applied because the address must never be banned.
public struct BanRefused: EventPayload {
    public static let type = "ban.refused"
    /// Why: `loopback`, `allowlisted (10.0.0.0/8)`, ...
    public var reason: String
    public var wantedBy: String

    enum CodingKeys: String, CodingKey {
        case reason
        case wantedBy = "wanted_by"
    }
}

/// A ban was not applied because too many were applied recently (`max_bans`).
public struct BanCapped: EventPayload {
    public static let type = "ban.capped"
    public var reason: String
    /// The limit, such as `10 in 1m`.
    public var limit: String
}

/// A list of addresses was banned at once (`BanManager.banList`): how many, for how long, why.
public struct BanList: EventPayload {
    public static let type = "ban.list"
    public var banned: Int
    /// Banned already: their bans in force were kept.
    public var already: Int
    /// Refused by the safety rules (loopback, allowlisted, own addresses).
    public var refused: Int
    public var seconds: Int64
    public var reason: String
    public var by: String
    public var firewall: String
}

/// A person lifted a ban.
public struct BanLifted: EventPayload {
    public static let type = "ban.lifted"
    public var by: String
}

/// A ban ran out.
public struct BanExpired: EventPayload {
    public static let type = "ban.expired"
    public var reason: String
    public var offence: Int
}

/// More bans ran out at once than are announced one by one (a list banned together).
public struct BansExpired: EventPayload {
    public static let type = "ban.list.expired"
    /// How many, beyond those announced by `ban.expired`.
    public var count: Int
}

/// At start, the bans in force were put back in the firewall.
public struct BansRestored: EventPayload {
    public static let type = "ban.restored"
    public var count: Int
    public var firewall: String
}

/// Defense is watching: which firewall enforces its bans and how many logs and journals it reads.
public struct DefenseStarted: EventPayload {
    public static let type = "defense.started"
    public var firewall: String
    public var logs: Int
    public var journals: Int
}

/// A log source cannot be read at all (`subject` names it, such as `journal:sshd`).
public struct DefenseSourceFailed: EventPayload {
    public static let type = "defense.source.failed"
    public var error: String
}

/// A log source's lines stopped matching its parser: defense is blind to it until they match.
public struct DefenseSourceBlind: EventPayload {
    public static let type = "defense.source.blind"
    public var parser: String
    /// Lines in a row that the parser did not recognize.
    public var unrecognizedLines: Int
    /// The last of them (at most 300 bytes).
    public var example: String

    enum CodingKeys: String, CodingKey {
        case parser, example
        case unrecognizedLines = "unrecognized_lines"
    }
}

/// The firewall refused a change: bans go on being recorded, but `now` (`dry-run`) they are not
/// enforced (`subject` is the firewall).
public struct FirewallFailed: EventPayload {
    public static let type = "firewall.failed"
    public var error: String
    public var now: String

    public init(error: String, now: String = "dry-run") {
        self.error = error
        self.now = now
    }
}

/// A firewall batch was refused (`error`) and the table was rebuilt in one transaction with the
/// `bans` in force (`firewall.rebuilt`): the node stays protected.
public struct FirewallRebuilt: EventPayload {
    public static let type = "firewall.rebuilt"
    public var error: String
    public var bans: Int
}
