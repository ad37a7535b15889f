import Foundation

/// A series: a name and a set of labels (kept sorted by label name).
public struct SeriesKey: Sendable, Hashable, Codable, Comparable {
    public var name: String
    /// Sorted by label name; names are unique.
    public var labels: [Label]

    public struct Label: Sendable, Hashable, Codable, Comparable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
        public static func < (a: Label, b: Label) -> Bool { (a.name, a.value) < (b.name, b.value) }
    }

    /// Creates a key; labels are sorted.
    public init(name: String, labels: [Label] = []) {
        self.name = name
        self.labels = labels.sorted()
    }

    public init(name: String, labels: [String: String]) {
        self.init(name: name, labels: labels.map { Label($0.key, $0.value) })
    }

    /// The labels as a dictionary.
    public var labelDictionary: [String: String] {
        Dictionary(labels.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
    }

    /// Prometheus-style text: `name{a="1",b="2"}`.
    public var text: String {
        if labels.isEmpty { return name }
        return name + "{" + labels.map { "\($0.name)=\"\($0.value)\"" }.joined(separator: ",") + "}"
    }

    public static func < (a: SeriesKey, b: SeriesKey) -> Bool {
        if a.name != b.name { return a.name < b.name }
        return a.labels.lexicographicallyPrecedes(b.labels)
    }
}

/// Samples grouped by series, the unit of ingest and storage: each series appears once, points
/// refer to it by index.
public struct SampleBatch: Sendable {
    public var series: [SeriesKey] = []
    public var points: [Point] = []

    /// One value of one series.
    public struct Point: Sendable, Hashable {
        /// Index into ``SampleBatch/series``.
        public var series: Int32
        /// Microseconds since the Unix epoch.
        public var time: Int64
        public var value: Double

        public init(series: Int32, time: Int64, value: Double) {
            self.series = series
            self.time = time
            self.value = value
        }
    }

    private var index: [SeriesKey: Int32] = [:]

    public init() {}

    public var isEmpty: Bool { points.isEmpty }
    public var count: Int { points.count }

    /// The index of `key`, adding it when new.
    public mutating func seriesIndex(_ key: SeriesKey) -> Int32 {
        if let i = index[key] { return i }
        let i = Int32(series.count)
        series.append(key)
        index[key] = i
        return i
    }

    /// Adds one point.
    public mutating func append(_ key: SeriesKey, time: Int64, value: Double) {
        points.append(Point(series: seriesIndex(key), time: time, value: value))
    }

    /// Adds everything in `other`.
    public mutating func append(contentsOf other: SampleBatch) {
        let map = other.series.map { seriesIndex($0) }
        points.reserveCapacity(points.count + other.points.count)
        for p in other.points { points.append(Point(series: map[Int(p.series)], time: p.time, value: p.value)) }
    }

    /// The points as ``Sample`` values.
    public var samples: [Sample] {
        points.map { p in
            let key = series[Int(p.series)]
            return Sample(
                series: key.name,
                labels: key.labelDictionary,
                time: Date(timeIntervalSince1970: Double(p.time) / 1e6),
                value: p.value
            )
        }
    }
}

/// What makes a sample acceptable.
public enum SampleRules {
    /// Series names: letters, digits, `_`, `:` and `.`, not starting with a digit (Prometheus names plus dots).
    public static func isValidSeriesName<S: StringProtocol>(_ name: S) -> Bool {
        guard let first = name.utf8.first, !(48...57).contains(first), name.utf8.count <= 200 else { return false }
        return name.utf8.allSatisfy { isWordByte($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }
    }

    /// Label names: letters, digits and `_`, not starting with a digit.
    public static func isValidLabelName<S: StringProtocol>(_ name: S) -> Bool {
        guard let first = name.utf8.first, !(48...57).contains(first), name.utf8.count <= 100 else { return false }
        return name.utf8.allSatisfy(isWordByte)
    }

    static func isWordByte(_ b: UInt8) -> Bool {
        (97...122).contains(b) || (65...90).contains(b) || (48...57).contains(b) || b == UInt8(ascii: "_")
    }

    /// At most this many labels per sample.
    public static let maxLabels = 32
    /// Label values are at most this long.
    public static let maxLabelValue = 1024
}
