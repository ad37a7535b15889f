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
}
