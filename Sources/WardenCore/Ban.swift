import Foundation

/// One ban of one address: why, until when, and how it ended.
///
/// The fields read on the hot paths are stored inline; the why (reason, source, evidence, who
/// lifted it) is kept in one immutable box that copies of a ban share, so the bans of one list
/// (a blocklist of a million addresses, all with the same reason) hold one box between them, and
/// a ban in the ban table costs its few inline fields (about 90 bytes) rather than every string
/// and value of its own. Setting one of those fields makes the ban a box of its own.
public struct Ban: Sendable, Hashable {
    public var address: IPAddress
    public var createdAt: Date
    public var expiresAt: Date
    /// 1 for a first ban of this address, 2 for the next, … (the duration escalates with it).
    public var offence: Int
    public var id: Int64?
    /// Set when a person lifted it before it expired.
    public var liftedAt: Date?
    private var notes: Notes

    /// The scenarios that triggered it, or a person's reason.
    public var reason: String {
        get { notes.reason }
        set {
            notes = Notes(reason: newValue, source: notes.source, evidence: notes.evidence, liftedBy: notes.liftedBy)
        }
    }
    /// `scenario`, `analyst` or `manual:<who>`.
    public var source: String {
        get { notes.source }
        set {
            notes = Notes(reason: notes.reason, source: newValue, evidence: notes.evidence, liftedBy: notes.liftedBy)
        }
    }
    /// What was seen: scores, scenarios, log lines, the analyst's verdict.
    public var evidence: JSONValue {
        get { notes.evidence }
        set { notes = Notes(reason: notes.reason, source: notes.source, evidence: newValue, liftedBy: notes.liftedBy) }
    }
    /// Who lifted it, when a person did.
    public var liftedBy: String? {
        get { notes.liftedBy }
        set { notes = Notes(reason: notes.reason, source: notes.source, evidence: notes.evidence, liftedBy: newValue) }
    }

    public init(
        id: Int64? = nil,
        address: IPAddress,
        reason: String,
        source: String,
        createdAt: Date,
        expiresAt: Date,
        offence: Int,
        evidence: JSONValue = .null,
        liftedAt: Date? = nil,
        liftedBy: String? = nil
    ) {
        self.id = id
        self.address = address
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.offence = offence
        self.liftedAt = liftedAt
        self.notes = Notes(reason: reason, source: source, evidence: evidence, liftedBy: liftedBy)
    }

    /// Shares `other`'s why (reason, source, evidence, who lifted it) when it is the same:
    /// bans read back from the store, a list's one after another, then hold one copy of it.
    public mutating func shareNotes(with other: Ban) {
        if notes !== other.notes && notes == other.notes { notes = other.notes }
    }

    /// The shared part: immutable, compared and hashed by value.
    final class Notes: Sendable, Hashable {
        let reason: String
        let source: String
        let evidence: JSONValue
        let liftedBy: String?

        init(reason: String, source: String, evidence: JSONValue, liftedBy: String?) {
            self.reason = reason
            self.source = source
            self.evidence = evidence
            self.liftedBy = liftedBy
        }

        static func == (a: Notes, b: Notes) -> Bool {
            a === b
                || (a.reason == b.reason && a.source == b.source && a.evidence == b.evidence
                    && a.liftedBy == b.liftedBy)
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(reason)
            hasher.combine(source)
            hasher.combine(evidence)
            hasher.combine(liftedBy)
        }
    }

    /// In force at `now`: not lifted and not expired.
    public func isActive(at now: Date) -> Bool { liftedAt == nil && expiresAt > now }

    /// The API's and the CLI's form.
    public func json(now: Date) -> JSONValue {
        var f: [String: JSONValue] = [
            "address": .string(address.description), "reason": .string(reason), "source": .string(source),
            "created_at": .string(ISOTime.format(createdAt)), "expires_at": .string(ISOTime.format(expiresAt)),
            "offence": .int(Int64(offence)), "active": .bool(isActive(at: now)),
            "remaining_seconds": .int(isActive(at: now) ? Int64(expiresAt.timeIntervalSince(now).rounded(.up)) : 0),
            "evidence": evidence,
        ]
        if let id { f["id"] = .int(id) }
        if let liftedAt { f["lifted_at"] = .string(ISOTime.format(liftedAt)) }
        if let liftedBy { f["lifted_by"] = .string(liftedBy) }
        return .object(f)
    }
}

/// Where bans are kept, so that they survive a Warden restart. Every save is committed before it
/// returns.
public protocol BanStore: Sendable {
    /// Inserts (id nil) or updates a ban; returns its id.
    @discardableResult func saveBan(_ ban: Ban) async throws -> Int64
    /// Inserts new bans (ids nil) in one transaction; returns their ids, in order.
    func insertBans(_ bans: [Ban]) async throws -> [Int64]
    /// The bans in force at `now`, one per address (the latest).
    func activeBans(at now: Date) async throws -> [Ban]
    /// How many bans this address has had.
    func banCount(of address: IPAddress) async throws -> Int
    /// Newest first.
    func bans(limit: Int) async throws -> [Ban]
}
