import Foundation

/// Something that happened, in Warden's one vocabulary: every step of the control loop is an event.
///
/// Events are immutable once published. `id` is assigned by the ``EventBus`` and increases strictly
/// in publication order on a node, so a reader can resume after the last id it saw.
public struct Event: Sendable, Hashable, Codable, Identifiable {
    /// Strictly increasing sequence number on this node (assigned by the bus).
    public var id: Int64
    /// When it happened (wall clock).
    public var time: Date
    /// What happened, dotted: `service.exited`, `probe.failed`, `audit.restart`.
    public var type: String
    /// The component that saw it: `supervisor`, `store`, `api`.
    public var source: String
    /// What it is about: a service name, an address, a monitor.
    public var subject: String
    /// Details; small and typed by the event's `type`.
    public var payload: JSONValue

    /// Creates an event; usually done by ``EventBus/publish(_:)``.
    public init(id: Int64, time: Date, type: String, source: String, subject: String, payload: JSONValue = .object([:]))
    {
        self.id = id
        self.time = time
        self.type = type
        self.source = source
        self.subject = subject
        self.payload = payload
    }
}

/// An event before the bus has given it an id and a time.
public struct EventDraft: Sendable, Hashable {
    public var type: String
    public var source: String
    public var subject: String
    public var payload: JSONValue
    /// When it happened, if not now.
    public var time: Date?

    public init(type: String, source: String, subject: String, payload: JSONValue = .object([:]), time: Date? = nil) {
        self.type = type
        self.source = source
        self.subject = subject
        self.payload = payload
        self.time = time
    }
}

/// Which events a reader wants: a time range, types, a subject, after an id, at most `limit`.
public struct EventQuery: Sendable, Hashable {
    /// Only events at or after this time.
    public var since: Date?
    /// Only events before this time.
    public var until: Date?
    /// Only these types; a type ending in `.*` (or `*`) matches by prefix.
    public var types: [String]
    /// Only events about this subject.
    public var subject: String?
    /// Only events with an id greater than this (for paging forward and resuming).
    public var afterID: Int64?
    /// Only events with an id smaller than this (for paging backward).
    public var beforeID: Int64?
    /// At most this many, oldest first unless `newestFirst`.
    public var limit: Int
    /// Return the newest events first (still at most `limit`).
    public var newestFirst: Bool

    public init(
        since: Date? = nil,
        until: Date? = nil,
        types: [String] = [],
        subject: String? = nil,
        afterID: Int64? = nil,
        limit: Int = 1000,
        newestFirst: Bool = false,
        beforeID: Int64? = nil
    ) {
        self.since = since
        self.until = until
        self.types = types
        self.subject = subject
        self.afterID = afterID
        self.beforeID = beforeID
        self.limit = limit
        self.newestFirst = newestFirst
    }

    /// Whether `event` passes every filter except `limit`.
    public func matches(_ event: Event) -> Bool {
        if let since, event.time < since { return false }
        if let until, event.time >= until { return false }
        if let subject, event.subject != subject { return false }
        if let afterID, event.id <= afterID { return false }
        if let beforeID, event.id >= beforeID { return false }
        if !types.isEmpty && !types.contains(where: { Self.type($0, matches: event.type) }) { return false }
        return true
    }

    /// Whether a type pattern (`service.exited`, `service.*`, `*`) matches `type`.
    public static func type(_ pattern: String, matches type: String) -> Bool {
        if pattern == "*" { return true }
        if pattern.hasSuffix(".*") { return type.hasPrefix(pattern.dropLast(1)) }
        return pattern == type
    }
}

/// Numeric telemetry: one value of one series at one time.
public struct Sample: Sendable, Hashable, Codable {
    /// Series name, dotted: `service.cpu`, `vitals.spo2`.
    public var series: String
    /// Labels that distinguish series of the same name: `service=api`.
    public var labels: [String: String]
    /// When it was measured (wall clock).
    public var time: Date
    /// The value; always finite.
    public var value: Double

    public init(series: String, labels: [String: String] = [:], time: Date, value: Double) {
        self.series = series
        self.labels = labels
        self.time = time
        self.value = value
    }
}
