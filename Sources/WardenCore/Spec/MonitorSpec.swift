import Foundation

/// The models a monitor may use, by the name its `model:` gives (WardenDetect builds one for
/// each case).
public enum MonitorModel: String, Sendable, CaseIterable {
    case oneClassSVM = "one-class-svm"
    case gaussian, robust, ewma, context, seasonal, shift, likelihood, ensemble
}

/// A `monitors:` entry: which series a monitor watches, its model, and when it alerts.
public struct MonitorSpec: Sendable, Hashable {
    public var name: String
    /// The series, in order: each becomes one feature of the monitor's vectors.
    public var series: [SeriesSelector]
    /// `one-class-svm` or a streaming detector (see ``MonitorSpec/models``).
    public var model: String
    /// How long to learn what normal looks like, in sample time.
    public var train: Duration
    /// Train a replacement model in the background this often (nil: never).
    public var retrain: Duration?
    /// Failure probability that counts toward an alert.
    public var threshold: Double
    /// How long the probability must hold at or above the threshold.
    public var holdFor: Duration
    /// ν of the One-Class SVM (the share of training samples allowed outside).
    public var nu: Double
    /// Standardise each series before the One-Class SVM (on by default).
    public var standardize: Bool
    /// Scores averaged into each probability (1: none); more smooths out noise excursions at the
    /// cost of a slightly later alert.
    public var smoothing: Int = 3
    /// Values of different series belong to one vector when their times are this close.
    public var align: Duration
    /// What to do on an alert, as written (`rebuild api`); carried out by the healing engine.
    public var heal: String?

    public init(
        name: String,
        series: [SeriesSelector],
        model: String = "one-class-svm",
        train: Duration = .seconds(600),
        retrain: Duration? = nil,
        threshold: Double = 0.9,
        holdFor: Duration = .seconds(5),
        nu: Double = 0.05,
        standardize: Bool = true,
        align: Duration = .seconds(1),
        heal: String? = nil
    ) {
        self.name = name
        self.series = series
        self.model = model
        self.train = train
        self.retrain = retrain
        self.threshold = threshold
        self.holdFor = holdFor
        self.nu = nu
        self.standardize = standardize
        self.align = align
        self.heal = heal
    }

    /// The model names a monitor accepts.
    public static let models = MonitorModel.allCases.map(\.rawValue)
}

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
