import Foundation
import WardenCore

/// Something went wrong with a target, and what Warden did about it: opened by the first
/// triggering event, it holds every piece of evidence and every action with its outcome, and is
/// resolved (with the time it took) once health is back.
public struct Incident: Sendable, Hashable, Codable, Identifiable {
    public enum Status: String, Sendable, Hashable, Codable, CaseIterable {
        /// Being healed.
        case open
        /// An action waits for a person's approval.
        case awaitingApproval = "awaiting_approval"
        /// Health came back.
        case resolved
        /// Every rung was tried and health did not come back: a person must look.
        case escalated
        /// Warden stopped acting on the target (too many actions in the window): a person must look.
        case held
        /// A person cancelled it.
        case cancelled
        /// Dry-run: what would have been done is recorded; nothing was done.
        case dryRun = "dry_run"

        /// Whether the incident is over.
        public var isClosed: Bool { self == .resolved || self == .cancelled || self == .dryRun }
    }

    /// A fact that belongs to the incident.
    public struct Evidence: Sendable, Hashable, Codable {
        public var time: Date
        /// `event`, `samples` or `note`.
        public var kind: String
        public var summary: String
        public var eventID: Int64?
        public var data: JSONValue?

        public init(time: Date, kind: String, summary: String, eventID: Int64? = nil, data: JSONValue? = nil) {
            self.time = time
            self.kind = kind
            self.summary = summary
            self.eventID = eventID
            self.data = data
        }

        enum CodingKeys: String, CodingKey {
            case time, kind, summary, data
            case eventID = "event_id"
        }
    }

    /// One action of the ladder.
    public struct Step: Sendable, Hashable, Codable {
        public enum State: String, Sendable, Hashable, Codable {
            case awaitingApproval = "awaiting_approval"
            case running, succeeded, failed
            case dryRun = "dry_run"
            case interrupted, skipped
        }

        public var rung: Int
        public var action: String
        public var state: State
        public var startedAt: Date?
        public var finishedAt: Date?
        /// What happened, for people: `restarted; healthy after 120 ms`, `exit code 1`.
        public var outcome: String?
        /// Whether health was back after the action (nil when not checked).
        public var healthy: Bool?
        /// Details: rebuild step results, the notify answer.
        public var detail: JSONValue?

        public init(rung: Int, action: String, state: State, startedAt: Date? = nil) {
            self.rung = rung
            self.action = action
            self.state = state
            self.startedAt = startedAt
        }

        enum CodingKeys: String, CodingKey {
            case rung, action, state, outcome, healthy, detail
            case startedAt = "started_at"
            case finishedAt = "finished_at"
        }
    }

    public var id: String
    public var title: String
    public var policy: String
    /// The service (or `policy:subject`) the incident is about; one incident per target at a time.
    public var target: String
    public var status: Status
    public var openedAt: Date
    public var closedAt: Date?
    /// Time to recover, when resolved.
    public var mttrMs: Int64?
    /// The next rung of the ladder to try.
    public var rung: Int
    public var evidence: [Evidence]
    public var steps: [Step]
    public var dryRun: Bool

    public init(id: String, title: String, policy: String, target: String, openedAt: Date, dryRun: Bool) {
        self.id = id
        self.title = title
        self.policy = policy
        self.target = target
        self.status = .open
        self.openedAt = openedAt
        self.rung = 0
        self.evidence = []
        self.steps = []
        self.dryRun = dryRun
    }

    enum CodingKeys: String, CodingKey {
        case id, title, policy, target, status, rung, evidence, steps
        case openedAt = "opened_at"
        case closedAt = "closed_at"
        case mttrMs = "mttr_ms"
        case dryRun = "dry_run"
    }
}

extension Incident {
    /// The incident as JSON (the API's and the CLI's form; dates in ISO 8601).
    public var json: JSONValue {
        (try? JSONEncoder.incident.encode(self)).flatMap { JSONValue.parse(String(decoding: $0, as: UTF8.self)) }
            ?? .null
    }

    /// Reads the JSON form back.
    public init?(json: JSONValue) {
        guard let decoded = try? JSONDecoder.incident.decode(Incident.self, from: Data(json.jsonText.utf8)) else {
            return nil
        }
        self = decoded
    }

    /// The fields a list shows.
    public var summary: JSONValue {
        var fields: [String: JSONValue] = [
            "id": .string(id), "title": .string(title), "policy": .string(policy), "target": .string(target),
            "status": .string(status.rawValue), "opened_at": .string(ISOTime.format(openedAt)),
            "actions": .int(Int64(steps.count)),
        ]
        if let closedAt { fields["closed_at"] = .string(ISOTime.format(closedAt)) }
        if let mttrMs { fields["mttr_ms"] = .int(mttrMs) }
        return .object(fields)
    }
}
