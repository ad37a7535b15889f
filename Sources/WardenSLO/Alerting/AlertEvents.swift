import Foundation
import WardenCore

/// A silence was made (`silence.created`, about its id): everything needed to make it again.
public struct SilenceCreated: EventPayload {
    public static let type = EventType.silenceCreated
    public var matchers: [String]
    public var startsAt: String
    public var endsAt: String
    public var createdBy: String
    public var comment: String

    public init(silence: Silence) {
        matchers = silence.matchers.map(\.description)
        startsAt = ISOTime.format(silence.startsAt)
        endsAt = ISOTime.format(silence.endsAt)
        createdBy = silence.createdBy
        comment = silence.comment
    }

    /// The silence again, from its event.
    public static func silence(from event: Event) -> Silence? {
        guard let p = event.decode(Self.self), let start = ISOTime.parse(p.startsAt), let end = ISOTime.parse(p.endsAt)
        else { return nil }
        let matchers = p.matchers.compactMap { try? LabelMatcher.parse($0) }
        guard matchers.count == p.matchers.count else { return nil }
        return Silence(
            id: event.subject,
            matchers: matchers,
            startsAt: start,
            endsAt: end,
            createdBy: p.createdBy,
            comment: p.comment
        )
    }

    enum CodingKeys: String, CodingKey {
        case matchers, comment
        case startsAt = "starts_at"
        case endsAt = "ends_at"
        case createdBy = "created_by"
    }
}

/// A silence was ended before its time (`silence.expired`, about its id) by `by`.
public struct SilenceExpired: EventPayload {
    public static let type = EventType.silenceExpired
    public var by: String
}

/// A notification reached its receiver (`notification.sent`, about the receiver).
public struct NotificationSent: EventPayload {
    public static let type = EventType.notificationSent
    public var group: String
    public var status: String
    public var firing: Int
    public var resolved: Int
    public var attempts: Int
}

/// A notification did not reach its receiver after every attempt (`notification.failed`).
public struct NotificationFailed: EventPayload {
    public static let type = EventType.notificationFailed
    public var group: String
    public var status: String
    public var attempts: Int
    public var error: String
}

/// A receiver failed `failures` notifications in a row (`receiver.failing`).
public struct ReceiverFailing: EventPayload {
    public static let type = EventType.receiverFailing
    public var failures: Int
    public var error: String
}

/// A receiver that was failing took a notification again (`receiver.recovered`).
public struct ReceiverRecovered: EventPayload {
    public static let type = EventType.receiverRecovered
    public var failures: Int
}
