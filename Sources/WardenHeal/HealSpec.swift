import Foundation
import WardenCore

/// One rung of a healing ladder.
public enum HealAction: Sendable, Hashable, CustomStringConvertible {
    case restart(String)
    case stop(String)
    case start(String)
    /// Run the service's rebuild steps, then start it.
    case rebuild(String)
    /// A runbook command; success is exit code 0.
    case exec(CommandStep)
    /// POST the incident to a `notify:` target.
    case notify(String)

    /// The service this action acts on, if any.
    public var service: String? {
        switch self {
        case .restart(let s), .stop(let s), .start(let s), .rebuild(let s): return s
        case .exec, .notify: return nil
        }
    }

    public var description: String {
        switch self {
        case .restart(let s): return "restart \(s)"
        case .stop(let s): return "stop \(s)"
        case .start(let s): return "start \(s)"
        case .rebuild(let s): return "rebuild \(s)"
        case .exec(let c): return "exec " + c.run.joined(separator: " ")
        case .notify(let n): return "notify \(n)"
        }
    }

    /// The word an action starts with in a spec.
    public enum Verb: String, Sendable, CaseIterable {
        case restart, stop, start, rebuild, exec, notify
    }

    /// This action's verb.
    public var verb: Verb {
        switch self {
        case .restart: .restart
        case .stop: .stop
        case .start: .start
        case .rebuild: .rebuild
        case .exec: .exec
        case .notify: .notify
        }
    }

    /// The verbs an action may start with.
    public static let verbs = Verb.allCases.map(\.rawValue)
}

/// Where `notify` actions POST incidents.
public struct NotifySpec: Sendable, Hashable {
    public var name: String
    public var url: String
    public var timeout: Duration
    /// Attempts before giving up (with exponential backoff between them).
    public var attempts: Int
    /// A PEM file of the certificate authorities to trust for this target instead of the system's.
    public var caFile: String?

    public init(name: String, url: String, timeout: Duration = .seconds(5), attempts: Int = 5, caFile: String? = nil) {
        self.name = name
        self.url = url
        self.timeout = timeout
        self.attempts = attempts
        self.caFile = caFile
    }
}

/// A condition on an event: `payload.failures >= 3`.
public struct EventCondition: Sendable, Hashable, CustomStringConvertible {
    public enum Op: String, Sendable, Hashable, CaseIterable {
        case eq = "=="
        case ne = "!="
        case ge = ">="
        case le = "<="
        case gt = ">"
        case lt = "<"
        case contains = "~"
    }

    /// A dotted path into the event: `type`, `subject`, `source` or `payload.x.y`.
    public var field: String
    public var op: Op
    public var value: String

    public init(field: String, op: Op, value: String) {
        self.field = field
        self.op = op
        self.value = value
    }

    public var description: String { "\(field) \(op.rawValue) \(value)" }

    /// Whether `event` satisfies the condition (numbers compare as numbers, the rest as text).
    public func holds(for event: Event) -> Bool {
        let found: JSONValue?
        switch field {
        case "type": found = .string(event.type)
        case "subject": found = .string(event.subject)
        case "source": found = .string(event.source)
        default:
            var current: JSONValue? = event.payload
            for part in field.split(separator: ".").dropFirst() where current != nil {
                current = current?[String(part)]
            }
            found = field.hasPrefix("payload.") ? current : nil
        }
        guard let found else { return op == .ne }
        if let a = found.doubleValue, let b = Double(value) {
            switch op {
            case .eq: return a == b
            case .ne: return a != b
            case .ge: return a >= b
            case .le: return a <= b
            case .gt: return a > b
            case .lt: return a < b
            case .contains: return String(describing: a).contains(value)
            }
        }
        let text: String
        switch found {
        case .string(let s): text = s
        case .bool(let b): text = b ? "true" : "false"
        default: text = found.jsonText
        }
        switch op {
        case .eq: return text == value
        case .ne: return text != value
        case .contains: return text.contains(value)
        case .ge: return text >= value
        case .le: return text <= value
        case .gt: return text > value
        case .lt: return text < value
        }
    }
}

/// A healing policy: which events, then which ladder of actions, with which guards.
public struct PolicySpec: Sendable, Hashable {
    public var name: String
    /// Event type patterns (`service.failed`, `probe.*`).
    public var when: [String]
    /// Only events about this subject (nil: any).
    public var subject: String?
    public var conditions: [EventCondition]
    /// The ladder: each rung is tried when the one before did not bring health back.
    public var then: [HealAction]
    /// How long to wait for health after each action.
    public var verify: Duration
    /// Health must hold this long, uninterrupted, to count as back.
    public var settle: Duration
    /// No new action on the same target within this time of the last one.
    public var cooldown: Duration
    /// At most this many actions per target per window; then Warden stops and calls a human.
    public var max: GiveUp
    /// Record what would be done, do nothing.
    public var dryRun: Bool
    /// Wait for a person's approval (API or CLI) before each action.
    public var approve: Bool

    public init(
        name: String,
        when: [String],
        subject: String? = nil,
        conditions: [EventCondition] = [],
        then: [HealAction],
        verify: Duration = .seconds(30),
        settle: Duration = .seconds(3),
        cooldown: Duration = .zero,
        max: GiveUp = GiveUp(count: 5, window: .seconds(3600)),
        dryRun: Bool = false,
        approve: Bool = false
    ) {
        self.name = name
        self.when = when
        self.subject = subject
        self.conditions = conditions
        self.then = then
        self.verify = verify
        self.settle = settle
        self.cooldown = cooldown
        self.max = max
        self.dryRun = dryRun
        self.approve = approve
    }

    /// Whether `event` triggers this policy.
    public func matches(_ event: Event) -> Bool {
        guard when.contains(where: { EventQuery.type($0, matches: event.type) }) else { return false }
        if let subject, subject != "*", subject != event.subject { return false }
        return conditions.allSatisfy { $0.holds(for: event) }
    }
}

/// Healing defaults and limits for the whole node.
public struct HealingSpec: Sendable, Hashable {
    /// At most this many actions run at once across all targets.
    public var concurrency: Int
    /// Every policy in dry-run.
    public var dryRun: Bool
    /// Defaults for policies that do not set their own.
    public var verify: Duration
    public var settle: Duration
    public var cooldown: Duration
    public var max: GiveUp
    /// Where to tell people when Warden stops acting on a target (a `notify:` name).
    public var escalate: String?

    public init(
        concurrency: Int = 4,
        dryRun: Bool = false,
        verify: Duration = .seconds(30),
        settle: Duration = .seconds(3),
        cooldown: Duration = .zero,
        max: GiveUp = GiveUp(count: 5, window: .seconds(3600)),
        escalate: String? = nil
    ) {
        self.concurrency = concurrency
        self.dryRun = dryRun
        self.verify = verify
        self.settle = settle
        self.cooldown = cooldown
        self.max = max
        self.escalate = escalate
    }

    /// A policy with these defaults for its guards, timing and dry run.
    public func policy(
        _ name: String,
        when: [String],
        subject: String,
        conditions: [EventCondition] = [],
        then ladder: [HealAction]
    ) -> PolicySpec {
        PolicySpec(
            name: name,
            when: when,
            subject: subject,
            conditions: conditions,
            then: ladder,
            verify: verify,
            settle: settle,
            cooldown: cooldown,
            max: max,
            dryRun: dryRun
        )
    }
}
