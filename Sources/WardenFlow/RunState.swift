import Foundation
import WardenCore
import WardenStore

/// A workflow run as it goes: saved whole (as the `runs` row's JSON) after every change, so a
/// Warden that dies resumes each run from what it last recorded.
public struct RunState: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable {
        case running, waiting, succeeded, failed
    }

    public var id: String
    public var workflow: String
    public var status: Status
    /// What started it: the event (type, subject, source, payload, id).
    public var trigger: JSONValue
    public var created: Date
    public var updated: Date
    public var finished: Date?
    public var error: String?
    /// The last `store: { record: … }`.
    public var result: JSONValue?
    public var steps: [String: StepState]

    public init(id: String, workflow: String, trigger: JSONValue, created: Date, steps: [String]) {
        self.id = id
        self.workflow = workflow
        status = .running
        self.trigger = trigger
        self.created = created
        updated = created
        self.steps = Dictionary(uniqueKeysWithValues: steps.map { ($0, StepState()) })
    }

    /// Ends the run: `status`, `error`, the time, and any step still running or waiting failed.
    public mutating func end(_ status: Status, error: String?, at time: Date) {
        self.status = status
        self.error = error
        finished = time
        for (name, s) in steps where s.status == .running || s.status == .waiting {
            steps[name]?.status = .failed
            steps[name]?.error = error ?? "the run ended"
        }
    }

    /// Ends the run as succeeded if `workflow` has nothing left for it to do, so that the last
    /// step's settling and the run's end are saved as one change. (A failure is left to the
    /// engine, which waits for the failed step's parallel siblings before it ends the run.)
    mutating func endIfDone(_ workflow: WorkflowSpec, at time: Date) {
        if case .finished(.succeeded, nil) = WorkflowPlan.next(workflow, self) {
            end(.succeeded, error: nil, at: time)
        }
    }

    /// The context templates and conditions read: `event`, `steps.NAME.{status,output}`, `run`.
    public var context: JSONValue {
        var s: [String: JSONValue] = [:]
        for (name, step) in steps {
            s[name] = ["status": .string(step.status.rawValue), "output": step.output ?? .null]
        }
        return [
            "event": trigger, "steps": .object(s),
            "run": ["id": .string(id), "workflow": .string(workflow)],
        ]
    }

    public var record: RunRecord {
        RunRecord(
            id: id,
            workflow: workflow,
            status: status.rawValue,
            created: created,
            updated: updated,
            data: Self.json(self)
        )
    }

    public init?(_ record: RunRecord) {
        guard let data = record.data.jsonText.data(using: .utf8),
            let state = try? Self.decoder.decode(RunState.self, from: data)
        else { return nil }
        self = state
    }

    public static func json(_ state: RunState) -> JSONValue {
        guard let data = try? encoder.encode(state) else { return .null }
        return JSONValue.parse(bytes: Array(data)) ?? .null
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601withFractionalSeconds
        e.keyEncodingStrategy = .convertToSnakeCase
        return e
    }()
    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601withFractionalSeconds
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }()
}

/// One step of a run.
public struct StepState: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable {
        /// Not started.
        case pending
        case running
        /// Waiting for a person (`approve`) or for time (`wait`).
        case waiting
        case succeeded
        /// Its `when` did not hold, or every step it needs was skipped.
        case skipped
        /// Failed, and the run went on with the step's `fallback` output.
        case fallback
        case failed

        /// Whether steps that need it may go on.
        public var isSettled: Bool { [.succeeded, .skipped, .fallback].contains(self) }
    }

    public var status: Status = .pending
    public var attempts = 0
    public var input: JSONValue?
    public var output: JSONValue?
    public var error: String?
    public var started: Date?
    public var finished: Date?
    public var durationMs: Int64?
    /// What the step's kind records: a model call's endpoint, tokens and latency; an approval's author.
    public var detail: JSONValue?
    /// Until when a `wait` step waits.
    public var until: Date?

    public init() {}
}

extension JSONEncoder.DateEncodingStrategy {
    static let iso8601withFractionalSeconds = custom { date, encoder in
        var c = encoder.singleValueContainer()
        try c.encode(ISOTime.format(date))
    }
}

extension JSONDecoder.DateDecodingStrategy {
    static let iso8601withFractionalSeconds = custom { decoder in
        let c = try decoder.singleValueContainer()
        let text = try c.decode(String.self)
        guard let d = ISOTime.parse(text) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an ISO 8601 time: \(text)")
        }
        return d
    }
}
