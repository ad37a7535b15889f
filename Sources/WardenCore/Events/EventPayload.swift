import Foundation

/// The payload of one event type, typed: what a publisher fills in and a reader gets back.
///
/// The payload's coding keys are the event's JSON keys, which is what the API, the dashboard and
/// stored events show; a conforming type spells them (snake_case) in its `CodingKeys`. Optional
/// properties that are nil are left out of the JSON. Publish with
/// ``EventBus/publish(_:source:subject:)`` and read with ``Event/decode(_:)``.
public protocol EventPayload: Codable, Sendable, Equatable {
    /// The event type this payload belongs to, such as `incident.opened`.
    static var type: String { get }
}

extension EventPayload {
    /// The payload as an event's JSON. A number that is not finite is written as the string
    /// `nan`, `inf` or `-inf` (JSON has no such numbers) and read back as the number.
    public var json: JSONValue {
        // Encoding a plain struct of strings, numbers and JSON values cannot fail; a payload that
        // somehow does is published empty rather than not at all.
        guard let data = try? NonFiniteJSON.encoder().encode(self),
            let value = try? JSONDecoder().decode(JSONValue.self, from: data)
        else { return .object([:]) }
        return value
    }

    /// The payload of `json`, or nil when it does not have this payload's shape.
    public init?(json: JSONValue) {
        guard let data = try? JSONEncoder().encode(json),
            let value = try? NonFiniteJSON.decoder().decode(Self.self, from: data)
        else { return nil }
        self = value
    }
}

/// JSON coders for values that may hold NaN or an infinity (a detector's "not known yet", a
/// score): JSON has neither, so they are written as the strings "nan", "inf" and "-inf".
public enum NonFiniteJSON {
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf",
            negativeInfinity: "-inf",
            nan: "nan"
        )
        return e
    }

    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf",
            negativeInfinity: "-inf",
            nan: "nan"
        )
        return d
    }
}

extension Event {
    /// This event's payload as `P`, or nil when the event is of another type or its payload does
    /// not have `P`'s shape (an event posted through the API may carry anything).
    public func decode<P: EventPayload>(_: P.Type) -> P? {
        guard type == P.type else { return nil }
        return P(json: payload)
    }
}

extension EventDraft {
    /// A draft of `payload`'s event type.
    public init<P: EventPayload>(_ payload: P, source: String, subject: String, time: Date? = nil) {
        self.init(type: P.type, source: source, subject: subject, payload: payload.json, time: time)
    }
}

extension EventBus {
    /// Publishes a typed event.
    @discardableResult
    public func publish<P: EventPayload>(_ payload: P, source: String, subject: String) -> Event {
        publish(EventDraft(payload, source: source, subject: subject))
    }
}
