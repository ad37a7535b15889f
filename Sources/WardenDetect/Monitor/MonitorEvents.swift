import WardenCore

/// A monitor's training events. Each is about the monitor.
extension EventType {
    public static let monitorTraining = MonitorTraining.type
    public static let monitorTrained = MonitorTrained.type
    /// A background retraining took over: ``MonitorTrained``.
    public static let monitorRetrained = "monitor.retrained"
    public static let monitorFailed = MonitorFailed.type
}

/// A monitor started learning what normal looks like.
public struct MonitorTraining: EventPayload {
    public static let type = "monitor.training"
    /// How long it learns, such as `1h`.
    public var train: String
    public var model: String
}

/// A monitor learned from `samples` and scores from now on (also the payload of
/// `monitor.retrained`, when a background retraining took over).
public struct MonitorTrained: EventPayload {
    public static let type = "monitor.trained"
    public var samples: Int
    public var model: String
}

/// A monitor could not learn; it starts over.
public struct MonitorFailed: EventPayload {
    public static let type = "monitor.failed"
    public var reason: String
}

/// A monitor's score: the payload of `anomaly.scored`, `monitor.alert` and `monitor.cleared`
/// (read it from any of the three with ``MonitorScored/init(_:)``).
public struct MonitorScored: EventPayload {
    public static let type = EventType.anomalyScored

    /// One series' value and, for models that have one, its share of the score.
    public struct Series: Codable, Sendable, Equatable {
        public var value: Double
        public var score: Double?
    }

    /// The probability of a failure, 0...1 (four decimals).
    public var probability: Double
    /// The probability that an anomaly is under way, before the monitor's `calibration:` (the
    /// same as `probability` without one; four decimals; absent from events recorded before it was added).
    public var evidence: Double?
    /// The model's own score before calibration.
    public var raw: Double
    public var threshold: Double
    /// When the scored samples were taken (ISO 8601).
    public var at: String
    /// By series selector.
    public var series: [String: Series]
    public var model: String
    /// Alerts only: how long the probability must stay high (such as `2m`).
    public var holdFor: String?
    /// Alerts only: since when it has been high (ISO 8601).
    public var since: String?
    /// Alerts only: the healing policy to run.
    public var heal: String?

    enum CodingKeys: String, CodingKey {
        case probability, evidence, raw, threshold, at, series, model, since, heal
        case holdFor = "for"
    }
}

extension MonitorScored {
    /// The score of any of the three scoring events, or nil for another event.
    public init?(_ event: Event) {
        let types = [EventType.anomalyScored, EventType.monitorAlert, EventType.monitorCleared]
        guard types.contains(event.type), let s = MonitorScored(json: event.payload) else { return nil }
        self = s
    }
}
