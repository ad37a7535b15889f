import Foundation
import WardenCore

/// What an agent ships to the control plane in one request: who it is, and a run of its events
/// in id order. Shipping the same batch twice stores it once (an event is keyed by node and id).
public struct FleetBatch: Sendable, Codable, Equatable {
    public var node: String
    public var labels: [String: String]
    public var events: [FleetEvent]
    /// The last fleet decision this node has applied: the answer carries the ones after it.
    public var decisionsAfter: Int64?

    enum CodingKeys: String, CodingKey {
        case node, labels, events
        case decisionsAfter = "decisions_after"
    }

    public init(node: String, labels: [String: String], events: [FleetEvent], decisionsAfter: Int64? = nil) {
        self.node = node
        self.labels = labels
        self.events = events
        self.decisionsAfter = decisionsAfter
    }

    /// The most events one batch may carry.
    public static let maxEvents = 5000
    /// How far in the future an event may be stamped (clocks drift; a year ahead is a bug).
    public static let maxFuture = Duration.seconds(600)

    /// The first problem of this batch, as the field at fault and what is wrong; nil when it is
    /// fine. `now` is the control plane's time.
    public func problem(now: Date) -> (field: String, message: String)? {
        if !FleetNames.isValid(node) {
            return (
                "node",
                "'\(node.prefix(80))' is not a valid node name; use letters, digits, '-', '_' and '.' (at most 64)"
            )
        }
        if labels.count > 32 { return ("labels", "at most 32 labels") }
        for (k, v) in labels where !FleetNames.isValid(k) || v.utf8.count > 256 {
            return ("labels.\(k.prefix(80))", "a label is a valid name with a value of at most 256 bytes")
        }
        if events.count > Self.maxEvents { return ("events", "at most \(Self.maxEvents) events per batch") }
        let latest = Int64((now.timeIntervalSince1970 + Self.maxFuture.seconds) * 1_000_000)
        var previous: Int64 = 0
        for (i, e) in events.enumerated() {
            if e.id <= previous { return ("events[\(i)].id", "ids must be positive and increasing") }
            previous = e.id
            if e.timeUs > latest { return ("events[\(i)].time_us", "the event is stamped more than 10m in the future") }
            if e.timeUs < 0 { return ("events[\(i)].time_us", "the time is before 1970") }
            for (name, text) in [("type", e.type), ("source", e.source), ("subject", e.subject)]
            where text.isEmpty || text.utf8.count > 256 {
                return ("events[\(i)].\(name)", "must be 1 to 256 bytes")
            }
        }
        return nil
    }
}

/// One event on the wire: its time in microseconds, exactly as the node stored it.
public struct FleetEvent: Sendable, Codable, Equatable {
    public var id: Int64
    public var timeUs: Int64
    public var type: String
    public var source: String
    public var subject: String
    public var payload: JSONValue

    enum CodingKeys: String, CodingKey {
        case id, type, source, subject, payload
        case timeUs = "time_us"
    }

    public init(_ event: Event) {
        id = event.id
        timeUs = Int64((event.time.timeIntervalSince1970 * 1_000_000).rounded())
        type = event.type
        source = event.source
        subject = event.subject
        payload = event.payload
    }

    public var event: Event {
        Event(
            id: id,
            time: Date(timeIntervalSince1970: Double(timeUs) / 1_000_000),
            type: type,
            source: source,
            subject: subject,
            payload: payload
        )
    }
}

/// The control plane's answer to a batch: every event up to `last_id` is stored, and these are
/// the fleet's decisions the node has not had yet.
public struct FleetAck: Sendable, Codable, Equatable {
    public var stored: Int
    public var lastID: Int64
    public var decisions: [FleetDecision]

    enum CodingKeys: String, CodingKey {
        case stored, decisions
        case lastID = "last_id"
    }

    public init(stored: Int, lastID: Int64, decisions: [FleetDecision] = []) {
        self.stored = stored
        self.lastID = lastID
        self.decisions = decisions
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        stored = try c.decode(Int.self, forKey: .stored)
        lastID = try c.decode(Int64.self, forKey: .lastID)
        decisions = try c.decodeIfPresent([FleetDecision].self, forKey: .decisions) ?? []
    }
}

/// What one node decided that every node applies: a ban of an address (for what is left of it)
/// or the lift of one. Each node's own safety rules still win (loopback, its allowlist, its own
/// addresses are never banned).
public struct FleetDecision: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable { case ban, lift }
    /// Increasing across the fleet: a node asks for those after the last it applied.
    public var id: Int64
    public var kind: Kind
    public var address: String
    /// For a ban: how long it still runs.
    public var seconds: Int64?
    public var reason: String
    /// The node that decided.
    public var origin: String

    public init(id: Int64, kind: Kind, address: String, seconds: Int64?, reason: String, origin: String) {
        self.id = id
        self.kind = kind
        self.address = address
        self.seconds = seconds
        self.reason = reason
        self.origin = origin
    }

    /// Who a node's ban or lift is by when the fleet made it: such bans and lifts are not
    /// decisions of their own (or they would echo around the fleet).
    public static let by = "fleet"
}

/// Node and label names.
public enum FleetNames {
    /// Letters, digits, '-', '_' and '.', 1 to 64 of them, starting with a letter or digit.
    public static func isValid(_ name: String) -> Bool { SpecLoader.isValidName(name) }
}
