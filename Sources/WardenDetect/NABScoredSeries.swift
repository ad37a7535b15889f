/// One series' anomaly scores and its labelled windows, ready for scoring.
public struct NABScoredSeries: Sendable {
    /// `<category>/<series>.csv`.
    public var name: String
    /// Row timestamps (microseconds; any monotonic unit works as long as windows use the same).
    public var times: [Int64]
    /// One anomaly score in [0, 1] per row.
    public var scores: [Double]
    /// The labelled windows.
    public var windows: [NABWindow]

    /// Creates a scored series.
    public init(name: String, times: [Int64], scores: [Double], windows: [NABWindow]) {
        precondition(times.count == scores.count, "one score per row")
        self.name = name
        self.times = times
        self.scores = scores
        self.windows = windows
    }
}
