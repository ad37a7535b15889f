import WardenCore

/// The events of healing: an incident's life and the actions taken for it. Every one of them is
/// about the incident's target (a service or monitor) and names the incident by `id`.
extension EventType {
    public static let incidentOpened = IncidentOpened.type
    public static let incidentResumed = IncidentResumed.type
    public static let incidentHeld = IncidentHeld.type
    public static let incidentAwaitingApproval = IncidentAwaitingApproval.type
    public static let incidentEscalated = IncidentEscalated.type
    public static let incidentResolved = IncidentResolved.type
    public static let incidentCancelled = IncidentCancelled.type
    public static let incidentDryRun = IncidentDryRunEnded.type
    public static let actionStarted = ActionStarted.type
    public static let actionFinished = ActionFinished.type
}

/// An event opened an incident.
public struct IncidentOpened: EventPayload {
    public static let type = "incident.opened"
    public var id: String
    public var title: String
    public var policy: String
    /// The id of the event that opened it.
    public var trigger: Int64
}

/// An incident open when Warden stopped goes on from `rung`.
public struct IncidentResumed: EventPayload {
    public static let type = "incident.resumed"
    public var id: String
    public var rung: Int
}

/// The guards stopped an incident: `actions` already ran on its target within the window.
public struct IncidentHeld: EventPayload {
    public static let type = "incident.held"
    public var id: String
    public var actions: Int
}

/// The next action needs a person's approval.
public struct IncidentAwaitingApproval: EventPayload {
    public static let type = "incident.awaiting_approval"
    public var id: String
    public var action: String
}

/// Every action was tried and health did not come back.
public struct IncidentEscalated: EventPayload {
    public static let type = "incident.escalated"
    public var id: String
    public var actions: Int
}

/// Health came back.
public struct IncidentResolved: EventPayload {
    public static let type = "incident.resolved"
    public var id: String
    /// Milliseconds from opening to resolution.
    public var mttrMs: Int64
    public var how: String

    enum CodingKeys: String, CodingKey {
        case id, how
        case mttrMs = "mttr_ms"
    }
}

/// A person closed the incident.
public struct IncidentCancelled: EventPayload {
    public static let type = "incident.cancelled"
    public var id: String
    public var by: String
}

/// A dry-run incident went through its whole ladder without acting.
public struct IncidentDryRunEnded: EventPayload {
    public static let type = "incident.dry_run"
    public var id: String
    public var actions: Int
}

/// An action of an incident started.
public struct ActionStarted: EventPayload {
    public static let type = "action.started"
    public var id: String
    public var action: String
    public var rung: Int
}

/// An action of an incident ended: `outcome` says how (`dry_run` when it was not run at all);
/// `ok` and `healthy` are there when it ran.
public struct ActionFinished: EventPayload {
    public static let type = "action.finished"
    public var id: String
    public var action: String
    public var outcome: String
    public var ok: Bool?
    public var healthy: Bool?
}
