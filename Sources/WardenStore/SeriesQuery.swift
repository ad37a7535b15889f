import Foundation
import WardenCore

/// A stored series and its most recent value.
public struct SeriesInfo: Sendable, Hashable, Codable {
    public var key: SeriesKey
    public var lastTime: Date?
    public var lastValue: Double?

    public init(key: SeriesKey, lastTime: Date? = nil, lastValue: Double? = nil) {
        self.key = key
        self.lastTime = lastTime
        self.lastValue = lastValue
    }
}

/// One series over a time range, cut into steps.
public struct SeriesQuery: Sendable, Hashable {
    public var name: String
    /// Only series carrying all of these labels.
    public var labels: [String: String]
    public var from: Date
    public var to: Date
    public var step: Duration
    /// When more series than this match, the query fails with ``SeriesQueryLimit`` before reading
    /// any sample.
    public var maxSeries: Int

    public init(
        name: String,
        labels: [String: String] = [:],
        from: Date,
        to: Date,
        step: Duration,
        maxSeries: Int = 1000
    ) {
        self.name = name
        self.labels = labels
        self.from = from
        self.to = to
        self.step = step
        self.maxSeries = maxSeries
    }
}

/// A series query matched more series than it may read.
public struct SeriesQueryLimit: Error, Sendable, CustomStringConvertible {
    /// How many series the query was allowed.
    public var limit: Int
    public var description: String { "more than \(limit) series match" }

    public init(limit: Int) { self.limit = limit }
}

/// The values of one step: min, max, average and last, and how many samples they summarise.
public struct SeriesBucket: Sendable, Hashable, Codable {
    public var start: Date
    public var min: Double
    public var max: Double
    public var avg: Double
    public var last: Double
    public var count: Int

    public init(start: Date, min: Double, max: Double, avg: Double, last: Double, count: Int) {
        self.start = start
        self.min = min
        self.max = max
        self.avg = avg
        self.last = last
        self.count = count
    }
}

/// The answer for one matching series.
public struct SeriesResult: Sendable, Hashable, Codable {
    public var key: SeriesKey
    public var buckets: [SeriesBucket]

    public init(key: SeriesKey, buckets: [SeriesBucket]) {
        self.key = key
        self.buckets = buckets
    }
}

/// What a rollup pass did.
public struct RollupReport: Sendable, Hashable {
    public var rolledUpTo: Date
    public var rawDeleted: Int
    public var rollupsDeleted: Int
    /// Series deleted because neither raw samples nor rollups of them were left.
    public var seriesDeleted: Int = 0

    public init(rolledUpTo: Date, rawDeleted: Int, rollupsDeleted: Int, seriesDeleted: Int = 0) {
        self.rolledUpTo = rolledUpTo
        self.rawDeleted = rawDeleted
        self.rollupsDeleted = rollupsDeleted
        self.seriesDeleted = seriesDeleted
    }
}

/// A bucket being assembled from raw and rolled-up parts.
package struct Partial {
    package var min: Double
    package var max: Double
    package var sum: Double
    package var count: Int
    package var last: Double
    package var lastT: Int64

    package init(min: Double, max: Double, sum: Double, count: Int, last: Double, lastT: Int64) {
        self.min = min
        self.max = max
        self.sum = sum
        self.count = count
        self.last = last
        self.lastT = lastT
    }

    /// Adds `p` to bucket `b` of `buckets`.
    package static func merge(_ p: Partial, at b: Int64, into buckets: inout [Int64: Partial]) {
        guard var existing = buckets[b] else {
            buckets[b] = p
            return
        }
        existing.min = Swift.min(existing.min, p.min)
        existing.max = Swift.max(existing.max, p.max)
        existing.sum += p.sum
        existing.count += p.count
        if p.lastT >= existing.lastT {
            existing.last = p.last
            existing.lastT = p.lastT
        }
        buckets[b] = existing
    }

    /// The buckets in order, each starting at `from + b * step` (microseconds).
    package static func buckets(_ parts: [Int64: Partial], from: Int64, step: Int64) -> [SeriesBucket] {
        parts.keys.sorted().map { b in
            let p = parts[b]!
            return SeriesBucket(
                start: StoreValues.date(from + b * step),
                min: p.min,
                max: p.max,
                avg: p.sum / Double(Swift.max(1, p.count)),
                last: p.last,
                count: p.count
            )
        }
    }
}
