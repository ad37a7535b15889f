import Foundation

/// How long telemetry samples are kept, and how many series and labels ingest may create.
public struct SamplesSpec: Sendable, Equatable {
    /// Raw samples are kept this long; older ones survive only as 1-minute rollups.
    public var raw: Duration
    /// 1-minute rollups are kept this long.
    public var retention: Duration
    /// 1-hour rollups are kept this long (at least as long as the 1-minute ones).
    public var hourly: Duration
    /// Samples stamped further in the future than this are rejected.
    public var maxFuture: Duration
    /// Ingest may create at most this many series in all; a sample of a new series beyond it is
    /// refused (Warden's own series are not counted against it).
    public var maxSeries: Int
    /// At most this many labels per ingested sample.
    public var maxLabels: Int
    /// Ingested label values are at most this many bytes.
    public var maxLabelValue: Int

    public init(
        raw: Duration = .seconds(86400),
        retention: Duration = .seconds(30 * 86400),
        hourly: Duration = .seconds(365 * 86400),
        maxFuture: Duration = .seconds(600),
        maxSeries: Int = 100_000,
        maxLabels: Int = SampleRules.maxLabels,
        maxLabelValue: Int = SampleRules.maxLabelValue
    ) {
        self.raw = raw
        self.retention = retention
        self.hourly = max(hourly, retention)
        self.maxFuture = maxFuture
        self.maxSeries = maxSeries
        self.maxLabels = maxLabels
        self.maxLabelValue = maxLabelValue
    }
}
