import WardenCore

/// Samples with the sequence number each got when a node stored it (its row in the node's
/// store): a node ships them in that order, and whoever receives them keeps the highest number
/// it has stored, so that a point shipped twice is stored once.
public struct SequencedSamples: Sendable {
    public var series: [SeriesKey]
    public var points: [Point]

    public struct Point: Sendable, Equatable {
        /// Index into ``SequencedSamples/series``.
        public var series: Int
        public var id: Int64
        /// Microseconds since the Unix epoch.
        public var time: Int64
        public var value: Double

        public init(series: Int, id: Int64, time: Int64, value: Double) {
            self.series = series
            self.id = id
            self.time = time
            self.value = value
        }
    }

    public init(series: [SeriesKey] = [], points: [Point] = []) {
        self.series = series
        self.points = points
    }
}
