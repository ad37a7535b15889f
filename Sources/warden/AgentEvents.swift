import WardenCore

/// Warden started (`warden.started`): its process, spec, how many services and where the API is.
struct WardenStarted: EventPayload {
    static let type = EventType.wardenStarted
    var pid: Int64
    var spec: String
    var services: Int
    /// `host:port`.
    var api: String
}
