import Foundation
import WardenCore
import WardenSupervisor

/// A request on the local control socket: one JSON object per line.
///
/// This is the interim local interface used by the CLI until the HTTP API exists.
public struct ControlRequest: Codable, Sendable {
    public enum Command: String, Codable, Sendable {
        case status, start, stop, restart, events, reload, ping
    }

    public var command: Command
    public var service: String?
    /// For `events`: the filter; with `follow`, keep the connection open and stream new events.
    public var types: [String]?
    public var subject: String?
    public var since: Date?
    public var afterID: Int64?
    public var limit: Int?
    public var follow: Bool?

    public init(
        command: Command,
        service: String? = nil,
        types: [String]? = nil,
        subject: String? = nil,
        since: Date? = nil,
        afterID: Int64? = nil,
        limit: Int? = nil,
        follow: Bool? = nil
    ) {
        self.command = command
        self.service = service
        self.types = types
        self.subject = subject
        self.since = since
        self.afterID = afterID
        self.limit = limit
        self.follow = follow
    }

    /// The event filter this request describes.
    public var query: EventQuery {
        EventQuery(since: since, types: types ?? [], subject: subject, afterID: afterID, limit: limit ?? 1000)
    }
}

/// An answer on the control socket. A `follow` request gets one answer with the stored events,
/// then one line per new event (`event` set).
public struct ControlResponse: Codable, Sendable {
    public var ok: Bool
    public var error: String?
    public var services: [ServiceStatus]?
    public var events: [Event]?
    public var event: Event?
    public var reload: Supervisor.ReloadSummary?

    public init(
        ok: Bool,
        error: String? = nil,
        services: [ServiceStatus]? = nil,
        events: [Event]? = nil,
        event: Event? = nil,
        reload: Supervisor.ReloadSummary? = nil
    ) {
        self.ok = ok
        self.error = error
        self.services = services
        self.events = events
        self.event = event
        self.reload = reload
    }
}

/// JSON coding shared by both ends of the control socket.
public enum ControlCoding {
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601WithFractionalSeconds
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601WithFractionalSeconds
        return d
    }
}

extension JSONEncoder.DateEncodingStrategy {
    /// ISO 8601 with milliseconds (`2026-11-24T06:46:00.123Z`).
    public static var iso8601WithFractionalSeconds: JSONEncoder.DateEncodingStrategy {
        .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true)))
        }
    }
}

extension JSONDecoder.DateDecodingStrategy {
    /// Accepts ISO 8601 with or without fractional seconds.
    public static var iso8601WithFractionalSeconds: JSONDecoder.DateDecodingStrategy {
        .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            if let d = try? Date(text, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true)) {
                return d
            }
            if let d = try? Date(text, strategy: .iso8601) { return d }
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not an ISO 8601 date: \(text)")
            )
        }
    }
}
