import WardenCore

/// How one series query is read: which minutes from the 1-minute rollups and which times from
/// raw samples. Pure: the stores run the two range reads it names and fold the rows into steps
/// with ``SeriesFold``.
///
/// When the step is a whole number of minutes, steps start on whole minutes (the range's start
/// is rounded down to its minute), so that every rolled-up minute falls inside one step: every
/// minute already rolled up is read from the rollups (one row a minute instead of every sample),
/// and only the minutes not yet rolled up are read raw. A last partial minute is read raw while
/// raw samples of it are kept, else its whole minute from the rollups. With any other step, the
/// rollups are read only where raw samples are gone (each minute counted in the step it starts in).
///
/// When the step is a whole number of hours, steps start on whole hours, and every hour already
/// rolled up into the 1-hour rollups is read from them (one row an hour); the minutes after them
/// as above.
package struct SeriesPlan: Sendable, Equatable {
    package static let minute: Int64 = 60_000_000
    package static let hour: Int64 = 3_600_000_000

    /// Where step 0 starts (µs).
    package var origin: Int64
    package var step: Int64
    /// The hours read from the 1-hour rollups: buckets in this range.
    package var hours: Range<Int64>?
    /// The minutes read from the rollups: buckets in this range.
    package var rollups: Range<Int64>?
    /// The times read from raw samples.
    package var raw: Range<Int64>?

    /// - Parameters:
    ///   - watermark: every minute before it is rolled up (nil before the first rollup).
    ///   - rawCutoff: raw samples before it are gone (nil when none was deleted).
    ///   - hourWatermark: every hour before it is in the 1-hour rollups (nil before the first).
    package init(from: Int64, to: Int64, step: Int64, watermark: Int64?, rawCutoff: Int64?, hourWatermark: Int64? = nil)
    {
        let minute = Self.minute
        let step = max(1, step)
        self.step = step
        let rolled = watermark ?? Int64.min
        let rawFrom = rawCutoff ?? Int64.min
        guard step % minute == 0 else {
            origin = from
            rollups = from < min(to, rawFrom) ? from..<min(to, rawFrom) : nil
            let start = max(from, rawFrom)
            raw = start < to ? start..<to : nil
            return
        }
        var first = Self.floor(from, minute)
        if step % Self.hour == 0 {
            first = Self.floor(from, Self.hour)
            let hoursEnd = min(hourWatermark ?? Int64.min, Self.floor(to, Self.hour))
            if first < hoursEnd {
                hours = first..<hoursEnd
            }
        }
        origin = first
        let minutesFrom = max(first, hours?.upperBound ?? first)
        let lastMinute = Self.floor(to, minute)
        var end = min(rolled, lastMinute)
        // A partial last minute whose raw samples are gone: its whole minute, if rolled up.
        if end == lastMinute, to > lastMinute, rawFrom > lastMinute, lastMinute + minute <= rolled {
            end = lastMinute + minute
        }
        rollups = minutesFrom < end ? minutesFrom..<end : nil
        let start = max(minutesFrom, end, rawFrom)
        raw = start < to ? start..<to : nil
    }

    /// The step `t` falls in.
    package func index(_ t: Int64) -> Int64 { Self.floor(t - origin, step) / step }

    /// `value` rounded down to a multiple of `unit` (also below zero).
    package static func floor(_ value: Int64, _ unit: Int64) -> Int64 {
        let r = value % unit
        return r < 0 ? value - r - unit : value - r
    }
}
