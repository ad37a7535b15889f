import Foundation

/// The events of prediction that other domains read: a monitor's scores (healing opens incidents
/// on alerts). Each is about the monitor; WardenDetect owns their payload (`MonitorScored`) and
/// the training events.
extension EventType {
    /// The probability stayed at or above the threshold for the monitor's `for`.
    public static let monitorAlert = "monitor.alert"
    /// The probability fell below the threshold again.
    public static let monitorCleared = "monitor.cleared"
    /// The probability moved.
    public static let anomalyScored = "anomaly.scored"
}

/// What other domains read of a monitor's score: healing titles an incident with the probability
/// and adds the series around the alert to its evidence.
public struct MonitorScoreView: Decodable, Sendable, Equatable {
    /// The probability of a failure, 0...1.
    public var probability: Double
    /// By series selector.
    public var series: [String: JSONValue]

    /// The score of an `anomaly.scored`, `monitor.alert` or `monitor.cleared` event, or nil for
    /// another event or a payload without these fields.
    public init?(_ event: Event) {
        let types = [EventType.anomalyScored, EventType.monitorAlert, EventType.monitorCleared]
        guard types.contains(event.type), let data = try? JSONEncoder().encode(event.payload),
            let view = try? NonFiniteJSON.decoder().decode(Self.self, from: data)
        else { return nil }
        self = view
    }
}
