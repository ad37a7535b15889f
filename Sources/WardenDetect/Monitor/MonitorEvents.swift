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
