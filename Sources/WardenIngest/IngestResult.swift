import Foundation
import WardenCore

/// What came out of one ingest request body: the valid samples, and why each rejected one was.
public struct IngestResult: Sendable {
    public var batch = SampleBatch()
    public var rejected: [Rejection] = []

    public init() {}

    /// One rejected sample.
    public struct Rejection: Sendable, Hashable, Codable {
        /// 0-based item index (JSON) or 1-based line number (text formats).
        public var item: Int
        /// The field at fault, when there is one.
        public var field: String?
        public var reason: String

        public init(item: Int, field: String?, reason: String) {
            self.item = item
            self.field = field
            self.reason = reason
        }
    }

    public var accepted: Int { batch.count }

    /// The item index or line number each point came from, in the order of `batch.points`.
    public private(set) var origins: [Int32] = []

    mutating func append(_ point: SampleBatch.Point, origin: Int) {
        batch.points.append(point)
        origins.append(Int32(truncatingIfNeeded: origin))
    }

    mutating func append(_ key: SeriesKey, time: Int64, value: Double, origin: Int) {
        batch.append(key, time: time, value: value)
        origins.append(Int32(truncatingIfNeeded: origin))
    }

    /// Takes out the points of every series whose flag in `admitted` (one per `batch.series`) is
    /// false, rejecting each with `reason`; returns how many points were refused.
    public mutating func refuse(series admitted: [Bool], reason: String) -> Int {
        var kept = SampleBatch()
        var keptOrigins: [Int32] = []
        var refused = 0
        var map = [Int32?](repeating: nil, count: batch.series.count)
        for (i, key) in batch.series.enumerated() where admitted[i] { map[i] = kept.seriesIndex(key) }
        for (k, p) in batch.points.enumerated() {
            if let target = map[Int(p.series)] {
                kept.points.append(SampleBatch.Point(series: target, time: p.time, value: p.value))
                keptOrigins.append(origins[k])
            } else {
                rejected.append(Rejection(item: Int(origins[k]), field: "series", reason: reason))
                refused += 1
            }
        }
        batch = kept
        origins = keptOrigins
        return refused
    }
}

/// The limits every ingested sample must respect, whatever its format.
///
/// Times are microseconds since the epoch. Every conversion from a client's number to a time is
/// checked: a timestamp that does not fit is a rejected sample, never a trap.
public struct IngestRules: Sendable {
    /// Now, in microseconds since the epoch; also the time of samples that carry none.
    public var now: Int64
    /// The oldest acceptable time.
    public var oldest: Int64
    /// The newest acceptable time.
    public var newest: Int64
    /// At most this many labels per sample (`samples.max_labels`).
    public var maxLabels: Int
    /// Label values are at most this many bytes (`samples.max_label_value`).
    public var maxLabelValue: Int

    /// JSON bodies nest at most this deep; deeper is a malformed body (a sample needs depth 4).
    public static let maxDepth = 32

    public init(
        now: Date,
        maxAge: Duration,
        maxFuture: Duration,
        maxLabels: Int = SampleRules.maxLabels,
        maxLabelValue: Int = SampleRules.maxLabelValue
    ) {
        self.now = Int64(now.timeIntervalSince1970 * 1e6)
        oldest = self.now &- maxAge.nanoseconds / 1000
        newest = self.now &+ maxFuture.nanoseconds / 1000
        self.maxLabels = maxLabels
        self.maxLabelValue = maxLabelValue
    }

    /// The rules of a spec's `samples:` section at `now`.
    public init(now: Date, samples: SamplesSpec) {
        self.init(
            now: now,
            maxAge: samples.raw,
            maxFuture: samples.maxFuture,
            maxLabels: samples.maxLabels,
            maxLabelValue: samples.maxLabelValue
        )
    }

    /// Why a time is refused, or nil.
    func problem(time: Int64) -> String? {
        if time < oldest { return "the time is older than the retention of raw samples allows" }
        if time > newest { return "the time is too far in the future" }
        return nil
    }

    /// The largest magnitude a sample may have. Beyond it, the sums that rollups, queries and
    /// detectors make of a series could overflow: a minute summing to +∞ and another to −∞ make
    /// an hourly sum of NaN, which SQLite stores as NULL, and the hourly rollup of every series
    /// would fail on its NOT NULL.
    public static let maxMagnitude = 1e150

    /// Why a value is refused, or nil.
    func problem(value: Double) -> String? {
        guard value.isFinite else { return "the value must be a finite number" }
        return abs(value) <= Self.maxMagnitude ? nil : "the value must be within ±1e150"
    }

    /// `seconds` since the epoch in microseconds, or nil when it is not finite or does not fit
    /// (`Int64(exactly:)` refuses both, without trapping).
    static func micros(seconds: Double) -> Int64? {
        Int64(exactly: (seconds * 1e6).rounded())
    }

    /// `value` units of `unitMicros` microseconds (or of a thousandth of one, for nanoseconds),
    /// or nil on overflow.
    static func micros(_ value: Int64, nanoseconds: Bool = false, unitMicros: Int64) -> Int64? {
        if nanoseconds {
            let (q, r) = value.quotientAndRemainder(dividingBy: 1000)
            return q + (r >= 500 ? 1 : (r <= -500 ? -1 : 0))
        }
        let (product, overflow) = value.multipliedReportingOverflow(by: unitMicros)
        return overflow ? nil : product
    }
}

/// Gathers the labels of one sample and holds them to the rules every format shares: valid names,
/// no name twice, at most ``IngestRules/maxLabels`` labels, values of at most
/// ``IngestRules/maxLabelValue`` bytes. The first problem is kept; later labels are ignored.
struct LabelCollector {
    private(set) var labels: [SeriesKey.Label] = []
    private(set) var problem: String?

    /// Adds one label (`valueBytes` is the value's length, checked before it is decoded).
    mutating func add(_ name: String, valueBytes: Int, rules: IngestRules, value: () -> String) {
        guard problem == nil else { return }
        if !SampleRules.isValidLabelName(name) {
            problem =
                "'\(name.prefix(80))' is not a valid label name (letters, digits and _, not starting with a digit, at most 100 bytes)"
        } else if valueBytes > rules.maxLabelValue {
            problem =
                "the value of label '\(name)' is longer than \(rules.maxLabelValue) bytes (samples.max_label_value)"
        } else if labels.contains(where: { $0.name == name }) {
            problem = "label '\(name)' appears twice"
        } else if labels.count >= rules.maxLabels {
            problem = "more than \(rules.maxLabels) labels (samples.max_labels)"
        } else {
            labels.append(SeriesKey.Label(name, value()))
        }
    }

    /// Notes a problem found by the format's own syntax (a label value that is not a string).
    mutating func fail(_ reason: String) {
        if problem == nil { problem = reason }
    }
}

/// A body that is not well-formed at all (as opposed to a bad item): answered with 400.
public struct MalformedBody: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// The top-level field at fault, when there is one.
    public var field: String?
    public var description: String { message }

    public init(message: String, field: String? = nil) {
        self.message = message
        self.field = field
    }
}

/// The lines of a line-oriented format (Prometheus text, Influx line protocol).
enum IngestLines {
    /// Calls `body` with each line of `bytes`, without its newline, and its number from 1.
    static func forEach(in bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer, Int) -> Void) {
        var line = 0
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            line += 1
            body(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), line)
            start = end + 1
        }
    }
}
