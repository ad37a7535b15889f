import Foundation
import WardenCore

/// Decides which notifications go out when: alerts are routed through the tree to receivers,
/// gathered into groups by their `group_by` labels, and each group is told of after its
/// `group_wait`, of changes no sooner than `group_interval` after its last notification, and again
/// every `repeat_interval` while it fires; resolved alerts are told of once (to receivers that
/// want them). Silenced and inhibited alerts are left out of notifications.
///
/// Pure: time comes in as arguments. The caller feeds alerts and silences and calls
/// ``flush(now:)`` at ``nextDeadline`` (or sooner; an early call sends nothing that is not due).
public struct AlertDispatcher: Sendable {
    /// One message to one receiver about one group.
    public struct Notification: Sendable, Equatable {
        public var receiver: String
        public var groupKey: String
        public var groupLabels: [String: String]
        public var firing: [Alert]
        public var resolved: [Alert]
        public var status: String { firing.isEmpty ? "resolved" : "firing" }
        /// Labels all its alerts share.
        public var commonLabels: [String: String] {
            let all = firing + resolved
            guard var common = all.first?.labels else { return [:] }
            for alert in all.dropFirst() { common = common.filter { alert.labels[$0.key] == $0.value } }
            return common
        }
    }

    struct Group: Sendable {
        var route: RouteSpec
        var labels: [String: String]
        /// When its first notification was due (its first alert, plus group_wait).
        var firstDue: Date
        var alerts: [String: Alert] = [:]
        var nextFlush: Date?
        var lastSent: Date?
        /// The alerts told of as firing in the last notification.
        var notifiedFiring: Set<String> = []
    }

    public let spec: AlertingSpec
    /// Every alert firing, or resolved and not yet told of, by fingerprint.
    public private(set) var alerts: [String: Alert] = [:]
    public private(set) var silences: [String: Silence] = [:]
    private var groups: [String: Group] = [:]
    private var lastFlush: Date?

    /// The most alerts held at once: past it, new alerts are refused (and counted).
    public static let maxAlerts = 10_000
    public private(set) var refused = 0

    public init(spec: AlertingSpec) { self.spec = spec }

    // MARK: - Input

    /// An alert fires (or fires again, which changes nothing but its annotations).
    public mutating func fire(_ alert: Alert, now: Date) {
        let fp = alert.fingerprint
        var alert = alert
        if let existing = alerts[fp], !existing.isResolved {
            alert.startsAt = existing.startsAt
        } else if alerts[fp] == nil, alerts.count >= Self.maxAlerts {
            refused += 1
            return
        }
        alerts[fp] = alert
        for (key, route) in routes(for: alert.labels) {
            var group =
                groups[key]
                ?? Group(
                    route: route,
                    labels: groupLabels(alert.labels, route),
                    firstDue: now + route.groupWait.timeInterval
                )
            let isNew = group.alerts[fp].map { $0.isResolved } ?? true
            group.alerts[fp] = alert
            if group.lastSent == nil {
                if group.nextFlush == nil { group.nextFlush = now + route.groupWait.timeInterval }
            } else if isNew {
                schedule(&group, now: now)
            }
            groups[key] = group
        }
    }

    /// The alert with this fingerprint ended at `at`.
    public mutating func resolve(fingerprint fp: String, at: Date) {
        guard var alert = alerts[fp], !alert.isResolved else { return }
        alert.endsAt = at
        alerts[fp] = alert
        for key in groups.keys where groups[key]!.alerts[fp] != nil {
            groups[key]!.alerts[fp] = alert
        }
        rescheduleAll(now: at)
    }

    /// Adds or replaces a silence.
    public mutating func setSilence(_ silence: Silence, now: Date) {
        silences[silence.id] = silence
        rescheduleAll(now: now)
    }

    /// Ends a silence now (kept, expired, for the record).
    public mutating func expireSilence(id: String, at: Date) {
        guard var silence = silences[id], silence.endsAt > at else { return }
        silence.endsAt = max(silence.startsAt, at)
        silences[id] = silence
        rescheduleAll(now: at)
    }

    /// Forgets silences that ended before `cutoff`.
    public mutating func dropSilences(endedBefore cutoff: Date) {
        silences = silences.filter { $0.value.endsAt >= cutoff }
    }

    // MARK: - Output

    /// When something is next due after `now`: a group's notification, a one-shot alert's end,
    /// or the end of a silence (what it muted may be due then).
    public func nextDeadline(after now: Date) -> Date? {
        let flushes = groups.values.compactMap(\.nextFlush)
        let expiries = alerts.values.compactMap { $0.isResolved ? nil : $0.expiresAt }
        let silenceEnds = groups.isEmpty ? [] : silences.values.map(\.endsAt).filter { $0 > now }
        return (flushes + expiries + silenceEnds).min()
    }

    /// The notifications due at `now`.
    public mutating func flush(now: Date) -> [Notification] {
        for (fp, alert) in alerts where !alert.isResolved {
            if let expiry = alert.expiresAt, expiry <= now { resolve(fingerprint: fp, at: expiry) }
        }
        // A silence that ended since the last flush releases what it muted.
        if silences.values.contains(where: { $0.endsAt <= now && $0.endsAt > (lastFlush ?? .distantPast) }) {
            rescheduleAll(now: now)
        }
        lastFlush = now
        var out: [Notification] = []
        for key in groups.keys.sorted() {
            guard var group = groups[key], let due = group.nextFlush, due <= now else { continue }
            let visible = group.alerts.values.filter { !isMuted($0, now: now) }
            let firing = visible.filter { !$0.isResolved }.sorted { $0.startsAt < $1.startsAt }
            let wantsResolved = spec.receivers[group.route.receiver]?.sendResolved ?? true
            let resolved =
                wantsResolved
                ? visible.filter { $0.isResolved && group.notifiedFiring.contains($0.fingerprint) }
                    .sorted { $0.startsAt < $1.startsAt } : []
            let firingSet = Set(firing.map(\.fingerprint))
            let changed = firingSet != group.notifiedFiring || !resolved.isEmpty
            let repeatDue = group.lastSent.map { now >= $0 + group.route.repeatInterval.timeInterval } ?? true
            var sent = false
            if (!firing.isEmpty && (changed || repeatDue)) || (firing.isEmpty && !resolved.isEmpty) {
                out.append(
                    Notification(
                        receiver: group.route.receiver,
                        groupKey: key,
                        groupLabels: group.labels,
                        firing: firing,
                        resolved: resolved
                    )
                )
                group.lastSent = now
                sent = true
            }
            if sent || firing.isEmpty { group.notifiedFiring = firingSet }
            // Resolved alerts leave the group once told of (or when nobody was told they fired).
            group.alerts = group.alerts.filter { !$0.value.isResolved }
            if group.alerts.isEmpty {
                groups[key] = nil
                continue
            }
            // Next: the repeat after a notification; otherwise (nothing sent: all muted, or
            // unchanged) no sooner than a group_interval from now, so a muted group is not
            // looked at again and again.
            let repeatAt = (group.lastSent ?? now) + group.route.repeatInterval.timeInterval
            let interval = now + group.route.groupInterval.timeInterval
            group.nextFlush = sent ? repeatAt : group.lastSent != nil ? max(repeatAt, interval) : interval
            groups[key] = group
        }
        // Resolved alerts no group holds any more are forgotten.
        let held = Set(groups.values.flatMap(\.alerts.keys))
        alerts = alerts.filter { !$0.value.isResolved || held.contains($0.key) }
        return out
    }

    // MARK: - Muting

    /// The silences that mute an alert now.
    public func silencedBy(_ alert: Alert, now: Date) -> [String] {
        silences.values.filter { $0.mutes(alert.labels, at: now) }.map(\.id).sorted()
    }

    /// The firing alerts that inhibit this one (by fingerprint).
    public func inhibitedBy(_ alert: Alert) -> [String] {
        var by: [String] = []
        let fp = alert.fingerprint
        for rule in spec.inhibit where rule.target.matches(alert.labels) {
            for (sfp, source) in alerts where sfp != fp && !source.isResolved && rule.source.matches(source.labels) {
                if rule.equal.allSatisfy({ source.labels[$0] == alert.labels[$0] }) { by.append(sfp) }
            }
        }
        return by.sorted()
    }

    func isMuted(_ alert: Alert, now: Date) -> Bool {
        !silencedBy(alert, now: now).isEmpty || !inhibitedBy(alert).isEmpty
    }

    // MARK: - Routing

    /// The routes an alert goes to, each with its group's key.
    func routes(for labels: [String: String]) -> [(key: String, route: RouteSpec)] {
        var found: [(String, RouteSpec)] = []
        func walk(_ route: RouteSpec, path: String) -> Bool {
            guard route.matchers.matches(labels) else { return false }
            var matchedChild = false
            for (i, child) in route.routes.enumerated() {
                if walk(child, path: path + "/\(i)") {
                    matchedChild = true
                    if !child.continue { break }
                }
            }
            if !matchedChild { found.append((path, route)) }
            return true
        }
        _ = walk(spec.route, path: "")
        return found.map { path, route in
            let group = groupLabels(labels, route)
            let text = group.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            return ("\(route.receiver)@\(path.isEmpty ? "/" : path){\(text)}", route)
        }
    }

    func groupLabels(_ labels: [String: String], _ route: RouteSpec) -> [String: String] {
        if route.groupBy == ["..."] { return labels }
        var group: [String: String] = [:]
        for name in route.groupBy { if let v = labels[name] { group[name] = v } }
        return group
    }

    private func schedule(_ group: inout Group, now: Date) {
        let earliest = max(now, (group.lastSent ?? now) + group.route.groupInterval.timeInterval)
        group.nextFlush = min(group.nextFlush ?? earliest, earliest)
    }

    private mutating func rescheduleAll(now: Date) {
        for key in groups.keys {
            if groups[key]!.lastSent == nil {
                // Never told of: due at the end of its group_wait, or now if that has passed.
                let due = max(now, groups[key]!.firstDue)
                groups[key]!.nextFlush = min(groups[key]!.nextFlush ?? due, due)
            } else {
                schedule(&groups[key]!, now: now)
            }
        }
    }
}

extension Duration {
    var timeInterval: TimeInterval { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
