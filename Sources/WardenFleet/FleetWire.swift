import Foundation
import WardenCore

/// What an agent ships to the control plane in one request: who it is, a run of its events in id
/// order, and a run of its telemetry. Shipping the same batch twice stores it once (an event is
/// keyed by node and id, a point by node and sequence number).
public struct FleetBatch: Sendable, Codable, Equatable {
    public var node: String
    public var labels: [String: String]
    public var events: [FleetEvent]
    public var samples: FleetSamples?

    public init(node: String, labels: [String: String], events: [FleetEvent], samples: FleetSamples? = nil) {
        self.node = node
        self.labels = labels
        self.events = events
        self.samples = samples
    }

    /// The most events one batch may carry.
    public static let maxEvents = 5000
    /// How far in the future an event may be stamped (clocks drift; a year ahead is a bug).
    public static let maxFuture = Duration.seconds(600)

    /// Reads a batch from its JSON, or says which field is wrong. (Faster than `JSONDecoder` for
    /// the control plane's largest bodies, and as strict: every field of the wire format is
    /// checked for its type; unknown fields are ignored.)
    public static func parse(_ bytes: [UInt8]) -> Result<FleetBatch, FleetBatchProblem> {
        guard let root = JSONValue.parse(bytes: bytes), case .object(let o) = root else {
            return .failure(FleetBatchProblem(field: nil, message: "not a JSON object"))
        }
        guard let node = o["node"]?.stringValue else { return .failure(.init(field: "node", message: "missing")) }
        var labels: [String: String] = [:]
        if let l = o["labels"], l != .null {
            guard case .object(let m) = l else { return .failure(.init(field: "labels", message: "not an object")) }
            for (k, v) in m {
                guard let text = v.stringValue else {
                    return .failure(.init(field: "labels.\(k.prefix(80))", message: "not a string"))
                }
                labels[k] = text
            }
        }
        guard case .array(let items)? = o["events"] else {
            return .failure(.init(field: "events", message: "missing or not an array"))
        }
        var events: [FleetEvent] = []
        events.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard case .object(let e) = item else {
                return .failure(.init(field: "events[\(i)]", message: "not an object"))
            }
            guard let id = e["id"]?.intValue else {
                return .failure(.init(field: "events[\(i)].id", message: "missing"))
            }
            guard let time = e["time_us"]?.intValue else {
                return .failure(.init(field: "events[\(i)].time_us", message: "missing"))
            }
            var text: [String] = []
            for key in ["type", "source", "subject"] {
                guard let value = e[key]?.stringValue else {
                    return .failure(.init(field: "events[\(i)].\(key)", message: "missing"))
                }
                text.append(value)
            }
            events.append(
                FleetEvent(
                    id: id,
                    timeUs: time,
                    type: text[0],
                    source: text[1],
                    subject: text[2],
                    payload: e["payload"] ?? [:]
                )
            )
        }
        var samples: FleetSamples?
        if let value = o["samples"], value != .null {
            switch FleetSamples.parse(value) {
            case .success(let parsed): samples = parsed
            case .failure(let problem): return .failure(problem)
            }
        }
        return .success(FleetBatch(node: node, labels: labels, events: events, samples: samples))
    }

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
        return samples?.problem(latest: latest)
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

    public init(id: Int64, timeUs: Int64, type: String, source: String, subject: String, payload: JSONValue) {
        self.id = id
        self.timeUs = timeUs
        self.type = type
        self.source = source
        self.subject = subject
        self.payload = payload
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

/// The control plane's answer to a batch: every event up to `last_id` is stored, and every point
/// up to `samples_last_id`. (The fleet's decisions come by their own long poll,
/// `/v1/fleet/decisions`.)
public struct FleetAck: Sendable, Codable, Equatable {
    public var stored: Int
    public var lastID: Int64
    /// The highest point id stored for the node (nil when the batch had no points).
    public var samplesLastID: Int64?

    enum CodingKeys: String, CodingKey {
        case stored
        case lastID = "last_id"
        case samplesLastID = "samples_last_id"
    }

    public init(stored: Int, lastID: Int64, samplesLastID: Int64? = nil) {
        self.stored = stored
        self.lastID = lastID
        self.samplesLastID = samplesLastID
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

/// What is wrong with a batch's JSON: the field at fault (nil for the whole body) and why.
public struct FleetBatchProblem: Error, Sendable, Equatable {
    public var field: String?
    public var message: String
}
