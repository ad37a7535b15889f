import Foundation
import WardenCore

/// How the stores write the values they share: times as microseconds since the Unix epoch, and
/// a series' labels as canonical JSON (sorted keys), so that equal label sets are equal text.
package enum StoreValues {
    package static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }

    package static func date(_ micros: Int64) -> Date { Date(timeIntervalSince1970: Double(micros) / 1_000_000) }

    package static func labelsText(_ key: SeriesKey) -> String {
        JSONValue.object(
            Dictionary(key.labels.map { ($0.name, JSONValue.string($0.value)) }, uniquingKeysWith: { a, _ in a })
        ).jsonText
    }

    package static func labels(fromText text: String) -> [SeriesKey.Label] {
        guard case .object(let o)? = JSONValue.parse(text) else { return [] }
        return o.compactMap { k, v in v.stringValue.map { SeriesKey.Label(k, $0) } }
    }
}
