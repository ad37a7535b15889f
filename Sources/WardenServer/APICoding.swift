import Foundation
import WardenCore

/// JSON as the API writes and reads it: sorted keys, dates in ISO 8601 with milliseconds, and a
/// number that is not finite (an aggregate that overflowed) as Prometheus writes it: the strings
/// `"+Inf"`, `"-Inf"` and `"NaN"`, where JSON has no number for it.
public enum APICoding {
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601WithFractionalSeconds
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "+Inf",
            negativeInfinity: "-Inf",
            nan: "NaN"
        )
        return e
    }

    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601WithFractionalSeconds
        d.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "+Inf",
            negativeInfinity: "-Inf",
            nan: "NaN"
        )
        return d
    }

    /// Formats a date the way the API does (ISO 8601, UTC, milliseconds).
    public static func format(_ date: Date) -> String { ISOTime.format(date) }

    /// Parses an ISO 8601 time, with or without fractions (no zone: UTC).
    public static func parseDate(_ text: String) -> Date? { ISOTime.parse(text) }
}

extension JSONEncoder.DateEncodingStrategy {
    /// ISO 8601 with milliseconds (`2026-11-24T06:46:00.123Z`).
    public static var iso8601WithFractionalSeconds: JSONEncoder.DateEncodingStrategy {
        .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(APICoding.format(date))
        }
    }
}

extension JSONDecoder.DateDecodingStrategy {
    /// Accepts ISO 8601 with or without fractional seconds.
    public static var iso8601WithFractionalSeconds: JSONDecoder.DateDecodingStrategy {
        .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            if let d = APICoding.parseDate(text) { return d }
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not an ISO 8601 date: \(text)")
            )
        }
    }
}
