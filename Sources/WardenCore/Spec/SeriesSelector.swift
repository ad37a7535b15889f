import Foundation

/// A series by name, optionally narrowed by labels: `vitals.spo2` or `vitals.spo2{crew="a"}`.
public struct SeriesSelector: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var labels: [String: String]

    public init(name: String, labels: [String: String] = [:]) {
        self.name = name
        self.labels = labels
    }

    /// Whether a series matches (same name, and every selector label present with its value).
    public func matches(_ key: SeriesKey) -> Bool {
        guard key.name == name else { return false }
        if labels.isEmpty { return true }
        let have = key.labelDictionary
        return labels.allSatisfy { have[$0.key] == $0.value }
    }

    /// Parses `name` or `name{a="1",b="2"}`; nil when malformed.
    public static func parse(_ text: String) -> SeriesSelector? {
        guard let brace = text.firstIndex(of: "{") else {
            return SampleRules.isValidSeriesName(text) ? SeriesSelector(name: text) : nil
        }
        let name = String(text[..<brace])
        guard SampleRules.isValidSeriesName(name), text.hasSuffix("}") else { return nil }
        let inner = text[text.index(after: brace)..<text.index(before: text.endIndex)]
        var labels: [String: String] = [:]
        for part in inner.split(separator: ",") where !part.trimmingCharacters(in: .whitespaces).isEmpty {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, SampleRules.isValidLabelName(kv[0]) else { return nil }
            var value = kv[1]
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
                value = String(value.dropFirst().dropLast())
            }
            labels[kv[0]] = value
        }
        return SeriesSelector(name: name, labels: labels)
    }

    public var description: String {
        labels.isEmpty ? name : SeriesKey(name: name, labels: labels).text
    }
}
