/// The events of prediction that other domains read: a monitor's scores (healing opens incidents
/// on alerts). Each is about the monitor; the training events are WardenDetect's.
extension EventType {
    /// The probability stayed at or above the threshold for the monitor's `for`: ``MonitorScored``.
    public static let monitorAlert = "monitor.alert"
    /// The probability fell below the threshold again: ``MonitorScored``.
    public static let monitorCleared = "monitor.cleared"
    /// The probability moved: ``MonitorScored``.
    public static let anomalyScored = MonitorScored.type
}

/// A monitor's score: the payload of `anomaly.scored`, `monitor.alert` and `monitor.cleared`
/// (read it from any of the three with ``MonitorScored/init(_:)``).
public struct MonitorScored: EventPayload {
    public static let type = "anomaly.scored"

    /// One series' value and, for models that have one, its share of the score.
    public struct Series: Codable, Sendable, Equatable {
        public var value: Double
        public var score: Double?

        public init(value: Double, score: Double? = nil) {
            self.value = value
            self.score = score
        }
    }

    /// The probability of a failure, 0...1 (four decimals).
    public var probability: Double
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
        case probability, raw, threshold, at, series, model, since, heal
        case holdFor = "for"
    }

    public init(
        probability: Double,
        raw: Double,
        threshold: Double,
        at: String,
        series: [String: Series],
        model: String,
        holdFor: String? = nil,
        since: String? = nil,
        heal: String? = nil
    ) {
        self.probability = probability
        self.raw = raw
        self.threshold = threshold
        self.at = at
        self.series = series
        self.model = model
        self.holdFor = holdFor
        self.since = since
        self.heal = heal
    }

    /// The score of any of the three scoring events, or nil for another event.
    public init?(_ event: Event) {
        let types = [EventType.anomalyScored, EventType.monitorAlert, EventType.monitorCleared]
        guard types.contains(event.type), let s = MonitorScored(json: event.payload) else { return nil }
        self = s
    }
}
