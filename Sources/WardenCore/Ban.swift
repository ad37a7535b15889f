import Foundation

/// One ban of one address: why, until when, and how it ended.
public struct Ban: Sendable, Hashable {
    public var id: Int64?
    public var address: IPAddress
    /// The scenarios that triggered it, or a person's reason.
    public var reason: String
    /// `scenario`, `analyst` or `manual:<who>`.
    public var source: String
    public var createdAt: Date
    public var expiresAt: Date
    /// 1 for a first ban of this address, 2 for the next, … (the duration escalates with it).
    public var offence: Int
    /// What was seen: scores, scenarios, log lines, the analyst's verdict.
    public var evidence: JSONValue
    /// Set when a person lifted it before it expired.
    public var liftedAt: Date?
    public var liftedBy: String?

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
        self.reason = reason
        self.source = source
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.offence = offence
        self.evidence = evidence
        self.liftedAt = liftedAt
        self.liftedBy = liftedBy
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
