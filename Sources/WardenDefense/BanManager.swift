import CWardenSys
import Foundation
import Logging
import WardenCore

/// What became of a request to ban.
public enum BanOutcome: Sendable {
    case banned(Ban)
    /// Already banned (a scenario firing again); the ban in force.
    case already(Ban)
    /// The address may never be banned; why.
    case refused(String)
    /// Too many new bans in the window (`defense.max_bans`).
    case capped
}

/// Owns the bans: decides durations (escalating for repeat offenders), keeps the safety rules and
/// the rate cap, puts bans in the firewall in batches, stores them so they survive a restart,
/// restores them with their remaining time, and reports each as an event.
///
/// If the firewall fails, Warden says so loudly (`firewall.failed`) and goes on in dry-run rather
/// than stopping.
public actor BanManager {
    let spec: DefenseSpec
    var firewall: any Firewall
    let store: any BanStore
    var safety: BanSafety
    let bus: EventBus
    let clock: any WardenClock
    let logger: Logger
    /// The bans in force (and those ended but not yet expired by ``expireDue()``).
    var bans = BanTable()
    /// Addresses whose ban ended lately: the kernel may hold them a moment longer (its timeout is
    /// rounded up to the second), so they are not known to be out of the set.
    var ended: [IPAddress: Date] = [:]
    /// The same, oldest first, to forget them in order.
    var endedOrder: [(at: Date, address: IPAddress)] = []
    var endedHead = 0
    var recent: [Instant] = []
    var pending: [([FirewallChange], CheckedContinuation<Void, Never>)] = []
    var flushing = false
    public private(set) var capped = 0

    public init(
        spec: DefenseSpec,
        firewall: any Firewall,
        store: any BanStore,
        safety: BanSafety,
        bus: EventBus,
        clock: any WardenClock = SystemClock(),
        logger: Logger
    ) {
        self.spec = spec
        self.firewall = firewall
        self.store = store
        self.safety = safety
        self.bus = bus
        self.clock = clock
        self.logger = logger
    }

    /// The firewall in use (`dry-run` after a failure).
    public var firewallName: String { firewall.name }

    /// Creates the firewall's table afresh and puts back every ban still in force, with its
    /// remaining time.
    public func start() async {
        let now = clock.wallTime()
        let stored = (try? await store.activeBans(at: now)) ?? []
        var changes: [FirewallChange] = []
        var previous: Ban?
        for var ban in stored {
            if let previous { ban.shareNotes(with: previous) }
            previous = ban
            // A spec change may have allowlisted an address since it was banned.
            if let why = safety.refusal(ban.address) {
                var lifted = ban
                lifted.liftedAt = now
                lifted.liftedBy = "warden (\(why))"
                _ = try? await store.saveBan(lifted)
                continue
            }
            bans.insert(ban)
            // The table is made afresh: nothing is in it yet.
            changes.append(.addNew(ban.address, seconds: Int(ban.expiresAt.timeIntervalSince(now).rounded(.up))))
        }
        do {
            try await firewall.prepare(changes)
        } catch {
            await fail(error, changes)
        }
        if !stored.isEmpty {
            bus.publish(
                BansRestored(count: bans.count, firewall: firewall.name),
                source: "defense",
                subject: "firewall"
            )
        }
    }

    func fail(_ error: FirewallError, _ changes: [FirewallChange]) async {
        Self.reportFailure(error, firewall: firewall.name, bus: bus, logger: logger)
        let fallback = DryRunFirewall()
        try? await fallback.prepare(changes)
        firewall = fallback
    }

    /// Says loudly that `firewall` cannot be used (a critical log line and `firewall.failed`):
    /// bans go on being recorded, but in dry-run.
    public static func reportFailure(_ error: FirewallError, firewall: String, bus: EventBus, logger: Logger) {
        logger.critical(
            "the firewall failed; bans are recorded but not enforced (dry-run)",
            metadata: ["warden.firewall": "\(firewall)", "warden.error": "\(error.message)"]
        )
        bus.publish(FirewallFailed(error: error.message), source: "defense", subject: firewall)
    }

    /// Bans `address` unless safety forbids it. `duration` nil: by the escalation rule.
    public func ban(
        _ address: IPAddress,
        reason: String,
        source: String,
        evidence: JSONValue = .null,
        duration: Duration? = nil,
        manual: Bool = false
    ) async -> BanOutcome {
        if let why = safety.refusal(address) {
            bus.publish(BanRefused(reason: why, wantedBy: source), source: "defense", subject: address.description)
            return .refused(why)
        }
        let now = clock.wallTime()
        if let current = bans[address], current.isActive(at: now), !manual { return .already(current) }
        if !manual {
            let t = clock.now()
            recent.removeAll { t - $0 >= spec.maxBans.window }
            if recent.count >= spec.maxBans.count {
                capped += 1
                let limit = "\(spec.maxBans.count) in \(DurationFormat.format(spec.maxBans.window))"
                bus.publish(BanCapped(reason: reason, limit: limit), source: "defense", subject: address.description)
                return .capped
            }
            recent.append(t)
        }
        let offence = ((try? await store.banCount(of: address)) ?? 0) + 1
        let length = duration ?? spec.ban.duration(offence: offence)
        var ban = Ban(
            address: address,
            reason: reason,
            source: source,
            createdAt: now,
            expiresAt: now.addingTimeInterval(length.seconds),
            offence: offence,
            evidence: evidence
        )
        if var previous = bans[address], previous.isActive(at: now) {
            // A person replaced a ban in force: the old one ends now.
            previous.liftedAt = now
            previous.liftedBy = source
            _ = try? await store.saveBan(previous)
        }
        do {
            ban.id = try await store.saveBan(ban)
        } catch {
            logger.error("cannot store a ban", metadata: ["warden.address": "\(address)", "warden.error": "\(error)"])
        }
        bans.insert(ban)
        await enqueue(.add(address, seconds: Int(length.seconds.rounded(.up))))
        let applied = BanApplied(
            reason: reason,
            by: source,
            offence: offence,
            seconds: Int64(length.seconds.rounded(.up)),
            until: ISOTime.format(ban.expiresAt),
            firewall: firewall.name,
            evidence: evidence
        )
        bus.publish(applied, source: "defense", subject: address.description)
        return .banned(ban)
    }

    /// What a list of addresses banned at once came to.
    public struct ListOutcome: Sendable, Equatable {
        /// Newly banned.
        public var banned = 0
        /// Banned already (their bans in force are kept).
        public var already = 0
        /// Refused by the safety rules, with why (loopback, allowlisted, own).
        public var refused: [(address: IPAddress, why: String)] = []

        public static func == (a: Self, b: Self) -> Bool {
            a.banned == b.banned && a.already == b.already
                && a.refused.map { "\($0.address) \($0.why)" } == b.refused.map { "\($0.address) \($0.why)" }
        }
    }

    /// Bans a list of addresses for `duration` (a blocklist, a person's list): every one the safety
    /// rules allow and that is not banned already, stored in one transaction and put in the
    /// firewall as one batch, however long the list. Like a ban by hand, it is not capped by
    /// `max_bans` and does not escalate; it is announced by one `ban.list` event, not one per
    /// address (nor does it become a fleet decision).
    public func banList(
        _ addresses: [IPAddress],
        duration: Duration,
        reason: String,
        source: String
    ) async -> ListOutcome {
        let now = clock.wallTime()
        var outcome = ListOutcome()
        var fresh: [Ban] = []
        var seen = Set<IPAddress>()
        // Every ban of the list is a copy of this one: they share its reason and source.
        let template = Ban(
            address: .v4(0),
            reason: reason,
            source: source,
            createdAt: now,
            expiresAt: now.addingTimeInterval(duration.seconds),
            offence: 1
        )
        for address in addresses where seen.insert(address).inserted {
            if let why = safety.refusal(address) {
                outcome.refused.append((address, why))
                continue
            }
            if let end = bans.end(of: address), end > now {
                outcome.already += 1
                continue
            }
            var ban = template
            ban.address = address
            fresh.append(ban)
        }
        do {
            let ids = try await store.insertBans(fresh)
            for i in fresh.indices where i < ids.count { fresh[i].id = ids[i] }
        } catch {
            logger.error(
                "cannot store a list of bans",
                metadata: ["warden.count": "\(fresh.count)", "warden.error": "\(error)"]
            )
        }
        let seconds = Int(duration.seconds.rounded(.up))
        // Asked before the bans go into the table (after, every address would seem to be in
        // the firewall already and be cleared first: three elements a ban instead of one).
        let changes: [FirewallChange] = fresh.map {
            mayBeInFirewall($0.address, now: now)
                ? .add($0.address, seconds: seconds) : .addNew($0.address, seconds: seconds)
        }
        bans.reserve(fresh.count)
        for ban in fresh { bans.insert(ban) }
        outcome.banned = fresh.count
        if !changes.isEmpty { await enqueueAll(changes) }
        // A long list leaves megabytes of parsing and batching behind: give them back.
        if addresses.count >= 10_000 { warden_release_free_memory() }
        bus.publish(
            BanList(
                banned: outcome.banned,
                already: outcome.already,
                refused: outcome.refused.count,
                seconds: Int64(seconds),
                reason: reason,
                by: source,
                firewall: firewall.name
            ),
            source: "defense",
            subject: "list"
        )
        return outcome
    }

    /// Lifts the ban in force on `address`; nil when there is none.
    public func unban(_ address: IPAddress, by who: String) async -> Ban? {
        let now = clock.wallTime()
        guard var ban = bans[address], ban.isActive(at: now) else { return nil }
        ban.liftedAt = now
        ban.liftedBy = who
        _ = try? await store.saveBan(ban)
        bans.remove(address)
        await enqueue(.remove(address))
        bus.publish(BanLifted(by: who), source: "defense", subject: address.description)
        return ban
    }

    /// Bans in force, soonest to expire first.
    public func active() -> [Ban] {
        let now = clock.wallTime()
        return bans.all().filter { $0.isActive(at: now) }.sorted { $0.expiresAt < $1.expiresAt }
    }

    /// Every ban, newest first, from the store.
    public func history(limit: Int) async throws -> [Ban] { try await store.bans(limit: limit) }

    public func isBanned(_ address: IPAddress) -> Bool { bans.end(of: address).map { $0 > clock.wallTime() } == true }

    /// What the firewall holds.
    public func firewallEntries() async throws(FirewallError) -> [IPAddress: Int] { try await firewall.list() }

    /// Records the bans that ran out (the kernel already dropped them); returns how many. Costs
    /// what is due, not what is held.
    ///
    /// Each is announced by a `ban.expired` event, up to ``expiryEventsPerPass`` of them in one
    /// pass; beyond that (a list banned together ends together) by one `ban.list.expired` event
    /// that counts them.
    @discardableResult
    public func expireDue() -> Int {
        let now = clock.wallTime()
        var count = 0
        var unannounced = 0
        bans.expire(by: now, describing: Self.expiryEventsPerPass) { address, ban in
            ended[address] = now
            endedOrder.append((now, address))
            count += 1
            guard let ban else {
                unannounced += 1
                return
            }
            bus.publish(
                BanExpired(reason: ban.reason, offence: ban.offence),
                source: "defense",
                subject: address.description
            )
        }
        forgetEnded(now: now)
        if unannounced > 0 {
            bus.publish(BansExpired(count: unannounced), source: "defense", subject: "list")
        }
        if count >= 10_000 { warden_release_free_memory() }
        return count
    }

    /// How long after its ban ended an address may still be in the kernel's set.
    static let endedMargin: TimeInterval = 10

    /// Forgets the addresses that ended long enough ago (in order: costs what it forgets).
    func forgetEnded(now: Date) {
        while endedHead < endedOrder.count, now.timeIntervalSince(endedOrder[endedHead].at) >= Self.endedMargin {
            let (at, address) = endedOrder[endedHead]
            if ended[address] == at { ended[address] = nil }
            endedHead += 1
        }
        if endedHead > 1024, endedHead * 2 > endedOrder.count {
            endedOrder.removeFirst(endedHead)
            endedHead = 0
        }
    }

    /// Whether `address` may be in the firewall's set: banned now (by Warden's count), or ended
    /// less than ``endedMargin`` ago.
    func mayBeInFirewall(_ address: IPAddress, now: Date) -> Bool {
        if bans.contains(address) { return true }
        guard let at = ended[address] else { return false }
        return now.timeIntervalSince(at) < Self.endedMargin
    }

    /// The most `ban.expired` events one expiry pass publishes.
    static let expiryEventsPerPass = 100

    /// When the next ban runs out.
    public func nextExpiry() -> Date? { bans.nextEnd() }

    // MARK: - Batching

    /// Queues a change; returns once it is in the firewall. Changes queued while a batch is being
    /// applied go in together as the next batch.
    func enqueue(_ change: FirewallChange) async { await enqueueAll([change]) }

    /// Queues changes that go in together; returns once they are in the firewall.
    func enqueueAll(_ changes: [FirewallChange]) async {
        await withCheckedContinuation { c in
            pending.append((changes, c))
            if !flushing {
                flushing = true
                Task { await self.flush() }
            }
        }
    }

    func flush() async {
        while !pending.isEmpty {
            let batch = pending
            pending = []
            do {
                try await firewall.apply(batch.flatMap(\.0))
            } catch {
                // A batch is one transaction: refused, it changed nothing. Rebuild the table
                // with every ban in force (what the batch meant included) before giving up on
                // the firewall: one refused batch must not leave the node unprotected.
                let all = active().map {
                    FirewallChange.add($0.address, seconds: Int($0.expiresAt.timeIntervalSinceNow.rounded(.up)))
                }
                do {
                    try await firewall.prepare(
                        all.map { change in
                            guard case .add(let a, let s) = change else { return change }
                            return .addNew(a, seconds: max(1, s))
                        }
                    )
                    logger.warning(
                        "a firewall batch was refused; the table was rebuilt with every ban in force",
                        metadata: ["warden.error": "\(error.message)", "warden.bans": "\(all.count)"]
                    )
                    bus.publish(
                        FirewallRebuilt(error: error.message, bans: all.count),
                        source: "defense",
                        subject: firewall.name
                    )
                } catch let again {
                    await fail(again, all)
                }
            }
            for (_, c) in batch { c.resume() }
        }
        flushing = false
    }
}
