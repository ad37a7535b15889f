import Foundation
import WardenCore

/// A run of a node's telemetry on the wire: the series it names, and points in the order the node
/// recorded them. Each point carries the node's own sequence number (`id`), so the control plane
/// stores a point shipped twice once: it keeps, per node, the highest id it has stored.
///
/// In JSON: `{"series": [{"name": "cpu", "labels": {"host": "a"}}], "points": [[0, 17, 1700000000000000, 0.5]]}`;
/// a point is `[series index, id, time in µs, value]`, and a value that is not finite is the
/// string `"NaN"`, `"+Inf"` or `"-Inf"`.
public struct FleetSamples: Sendable, Equatable {
    public var series: [SeriesKey]
    public var points: [Point]

    public struct Point: Sendable, Equatable {
        /// Index into ``FleetSamples/series``.
        public var series: Int
        /// The node's sequence number of this point: increasing within a batch and across batches.
        public var id: Int64
        /// Microseconds since the Unix epoch.
        public var timeUs: Int64
        public var value: Double

        public init(series: Int, id: Int64, timeUs: Int64, value: Double) {
            self.series = series
            self.id = id
            self.timeUs = timeUs
            self.value = value
        }
    }

    public init(series: [SeriesKey], points: [Point]) {
        self.series = series
        self.points = points
    }

    /// The most points one batch may carry.
    public static let maxPoints = 50_000
    /// The most series one batch may name.
    public static let maxSeries = 5_000

    public var isEmpty: Bool { points.isEmpty }

    /// The highest id among the points (0 when there are none).
    public var lastID: Int64 { points.last?.id ?? 0 }

    /// The points as a ``SampleBatch`` (ids dropped).
    public var batch: SampleBatch {
        var b = SampleBatch()
        let map = series.map { b.seriesIndex($0) }
        for p in points { b.points.append(.init(series: map[p.series], time: p.timeUs, value: p.value)) }
        return b
    }

    // MARK: - JSON

    var json: JSONValue {
        .object([
            "series": .array(
                series.map { key in
                    .object([
                        "name": .string(key.name),
                        "labels": .object(
                            Dictionary(uniqueKeysWithValues: key.labels.map { ($0.name, .string($0.value)) })
                        ),
                    ])
                }
            ),
            "points": .array(
                points.map { p in
                    .array([.int(Int64(p.series)), .int(p.id), .int(p.timeUs), Self.encode(p.value)])
                }
            ),
        ])
    }

    static func encode(_ value: Double) -> JSONValue {
        if value.isNaN { return .string("NaN") }
        if value.isInfinite { return .string(value > 0 ? "+Inf" : "-Inf") }
        return .double(value)
    }

    static func decode(_ value: JSONValue) -> Double? {
        switch value.stringValue {
        case "NaN"?: return .nan
        case "+Inf"?: return .infinity
        case "-Inf"?: return -.infinity
        case .some: return nil
        case nil: return value.doubleValue
        }
    }

    /// Reads the `samples` member of a batch, or says which field is wrong. Types only: what the
    /// values must be is ``problem(now:)``'s.
    static func parse(_ value: JSONValue) -> Result<FleetSamples, FleetBatchProblem> {
        guard case .object(let o) = value else { return .failure(.init(field: "samples", message: "not an object")) }
        guard case .array(let list)? = o["series"] else {
            return .failure(.init(field: "samples.series", message: "missing or not an array"))
        }
        guard list.count <= maxSeries else {
            return .failure(.init(field: "samples.series", message: "at most \(maxSeries) series per batch"))
        }
        var series: [SeriesKey] = []
        series.reserveCapacity(list.count)
        for (i, item) in list.enumerated() {
            guard let name = item["name"]?.stringValue else {
                return .failure(.init(field: "samples.series[\(i)].name", message: "missing or not a string"))
            }
            var labels: [SeriesKey.Label] = []
            if let l = item["labels"], l != .null {
                guard case .object(let m) = l, m.count <= SampleRules.maxLabels else {
                    return .failure(
                        .init(
                            field: "samples.series[\(i)].labels",
                            message: "not an object of at most \(SampleRules.maxLabels) labels"
                        )
                    )
                }
                for (k, v) in m {
                    guard let text = v.stringValue else {
                        return .failure(
                            .init(field: "samples.series[\(i)].labels.\(k.prefix(80))", message: "not a string")
                        )
                    }
                    labels.append(.init(k, text))
                }
            }
            series.append(SeriesKey(name: name, labels: labels))
        }
        guard case .array(let items)? = o["points"] else {
            return .failure(.init(field: "samples.points", message: "missing or not an array"))
        }
        guard items.count <= maxPoints else {
            return .failure(.init(field: "samples.points", message: "at most \(maxPoints) points per batch"))
        }
        var points: [Point] = []
        points.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard case .array(let p) = item, p.count == 4, let s = p[0].intValue, let id = p[1].intValue,
                let t = p[2].intValue, let v = decode(p[3])
            else {
                return .failure(
                    .init(field: "samples.points[\(i)]", message: "expected [series index, id, time_us, value]")
                )
            }
            guard s >= 0, s < series.count else {
                return .failure(
                    .init(field: "samples.points[\(i)]", message: "series index \(s) is not among the \(series.count)")
                )
            }
            points.append(Point(series: Int(s), id: id, timeUs: t, value: v))
        }
        return .success(FleetSamples(series: series, points: points))
    }

    /// The first problem of these samples, as the field at fault and what is wrong; nil when
    /// they are fine. `latest` is the latest time (µs) a point may have.
    func problem(latest: Int64) -> (field: String, message: String)? {
        if series.count > Self.maxSeries { return ("samples.series", "at most \(Self.maxSeries) series per batch") }
        if points.count > Self.maxPoints { return ("samples.points", "at most \(Self.maxPoints) points per batch") }
        for (i, key) in series.enumerated() {
            if !SampleRules.isValidSeriesName(key.name) {
                return ("samples.series[\(i)].name", "not a valid series name")
            }
            if key.labels.count > SampleRules.maxLabels {
                return ("samples.series[\(i)].labels", "at most \(SampleRules.maxLabels) labels")
            }
            for label in key.labels
            where !SampleRules.isValidLabelName(label.name) || label.value.utf8.count > SampleRules.maxLabelValue {
                return (
                    "samples.series[\(i)].labels.\(label.name.prefix(80))",
                    "a label is a valid name with a value of at most \(SampleRules.maxLabelValue) bytes"
                )
            }
        }
        var previous: Int64 = 0
        for (i, p) in points.enumerated() {
            if p.series < 0 || p.series >= series.count {
                return ("samples.points[\(i)]", "the series index is not among the batch's series")
            }
            if p.id <= previous { return ("samples.points[\(i)]", "ids must be positive and increasing") }
            previous = p.id
            if p.timeUs > latest { return ("samples.points[\(i)]", "the point is stamped more than 10m in the future") }
            if p.timeUs < 0 { return ("samples.points[\(i)]", "the time is before 1970") }
        }
        return nil
    }
}

extension FleetSamples: Codable {
    public init(from decoder: any Decoder) throws {
        let value = try JSONValue(from: decoder)
        switch Self.parse(value) {
        case .success(let samples): self = samples
        case .failure(let problem):
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "\(problem.field ?? ""): \(problem.message)")
            )
        }
    }

    public func encode(to encoder: any Encoder) throws { try json.encode(to: encoder) }
}

/// Telemetry the node recorded was deleted by its retention (`samples.raw`) before it could be
/// shipped: the control plane was away for longer than raw samples are kept
/// (`fleet.outbox.samples_dropped`).
public struct OutboxSamplesDropped: EventPayload {
    public static let type = "fleet.outbox.samples_dropped"
    public var dropped: Int64

    public init(dropped: Int64) { self.dropped = dropped }
}
