import Foundation
import WardenCore

/// Something that is wrong now (firing) or was (resolved), as notifications speak of it: labels
/// that identify it and route it (`alertname`, `service`, `severity`, `node` …), annotations for
/// people (`summary`), when it started and, once resolved, when it ended.
public struct Alert: Sendable, Hashable, Codable {
    public var labels: [String: String]
    public var annotations: [String: String]
    public var startsAt: Date
    public var endsAt: Date?
    /// One-shot alerts (an event with no end of its own) resolve themselves at this time.
    public var expiresAt: Date?

    public init(
        labels: [String: String],
        annotations: [String: String] = [:],
        startsAt: Date,
        endsAt: Date? = nil,
        expiresAt: Date? = nil
    ) {
        self.labels = labels
        self.annotations = annotations
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.expiresAt = expiresAt
    }

    public var isResolved: Bool { endsAt != nil }

    /// A stable identity of the label set (FNV-1a over the sorted pairs), as Alertmanager's.
    public var fingerprint: String { Self.fingerprint(labels) }

    public static func fingerprint(_ labels: [String: String]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for (k, v) in labels.sorted(by: { $0.key < $1.key }) {
            for byte in k.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            hash = (hash ^ 0xff) &* 0x100_0000_01b3
            for byte in v.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            hash = (hash ^ 0xfe) &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    enum CodingKeys: String, CodingKey {
        case labels, annotations
        case startsAt = "starts_at"
        case endsAt = "ends_at"
        case expiresAt = "expires_at"
    }
}

/// A silence: alerts whose labels match every matcher are not notified between `startsAt` and
/// `endsAt`. Made and expired through the API and `warden silence`; kept as events.
public struct Silence: Sendable, Hashable, Codable {
    public var id: String
    public var matchers: [LabelMatcher]
    public var startsAt: Date
    public var endsAt: Date
    public var createdBy: String
    public var comment: String

    public init(
        id: String,
        matchers: [LabelMatcher],
        startsAt: Date,
        endsAt: Date,
        createdBy: String,
        comment: String
    ) {
        self.id = id
        self.matchers = matchers
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.createdBy = createdBy
        self.comment = comment
    }

    /// `pending`, `active` or `expired` at `now`.
    public func state(at now: Date) -> String {
        now < startsAt ? "pending" : now < endsAt ? "active" : "expired"
    }

    public func mutes(_ labels: [String: String], at now: Date) -> Bool {
        startsAt <= now && now < endsAt && matchers.matches(labels)
    }

    enum CodingKeys: String, CodingKey {
        case id, matchers, comment
        case startsAt = "starts_at"
        case endsAt = "ends_at"
        case createdBy = "created_by"
    }
}

extension EventType {
    public static let silenceCreated = "silence.created"
    public static let silenceExpired = "silence.expired"
    public static let notificationSent = "notification.sent"
    public static let notificationFailed = "notification.failed"
    public static let receiverFailing = "receiver.failing"
    public static let receiverRecovered = "receiver.recovered"
}
