import Foundation
import Testing

@testable import WardenStore

/// Which part of a series query is read from the 1-minute rollups and which from raw samples.
@Suite("Series query plans")
struct SeriesPlanTests {
    let m: Int64 = 60_000_000
    let s: Int64 = 1_000_000

    @Test func wholeMinuteStepsReadEveryRolledUpMinuteFromTheRollups() {
        // 24 h at 1-minute steps, rolled up to two minutes ago, raw kept for a day.
        let now = 1_000_000 * m + 17 * s
        let plan = SeriesPlan(
            from: now - 1440 * m,
            to: now,
            step: m,
            watermark: now - 17 * s - 2 * m,
            rawCutoff: now - 1440 * m - 5 * m
        )
        #expect(plan.origin == now - 17 * s - 1440 * m, "steps start on the minute")
        #expect(plan.rollups == plan.origin..<(now - 17 * s - 2 * m))
        #expect(plan.raw == (now - 17 * s - 2 * m)..<now, "only what is not rolled up yet is read raw")
        #expect(
            plan.index(plan.origin) == 0 && plan.index(plan.origin + m - 1) == 0 && plan.index(plan.origin + m) == 1
        )
    }

    /// Whole-hour steps start on the hour and read every rolled-up hour from the hourly rollups,
    /// then minutes, then raw samples; minute steps never read hours.
    @Test func wholeHourStepsReadRolledUpHoursFromTheHourlyRollups() {
        let h = 60 * m
        // 30 days at 1-hour steps, hours rolled up to the last whole hour before the minutes.
        let now = 10_000 * h + 25 * m + 17 * s
        let plan = SeriesPlan(
            from: now - 720 * h,
            to: now,
            step: h,
            watermark: now - 17 * s - 2 * m,
            rawCutoff: now - 24 * h,
            hourWatermark: 10_000 * h
        )
        #expect(plan.origin == 10_000 * h - 720 * h, "steps start on the hour")
        #expect(plan.hours == plan.origin..<(10_000 * h))
        #expect(plan.rollups == (10_000 * h)..<(now - 17 * s - 2 * m))
        #expect(plan.raw == (now - 17 * s - 2 * m)..<now)
        // Before any hour is rolled up: minutes as before.
        let early = SeriesPlan(from: now - 2 * h, to: now, step: h, watermark: now - 17 * s, rawCutoff: nil)
        #expect(early.hours == nil)
        #expect(early.rollups == (10_000 * h - 2 * h)..<(now - 17 * s))
        // A minute step does not read hours.
        let minutes = SeriesPlan(
            from: now - 2 * h,
            to: now,
            step: m,
            watermark: now - 17 * s,
            rawCutoff: nil,
            hourWatermark: 10_000 * h
        )
        #expect(minutes.hours == nil)
        #expect(minutes.rollups == (now - 17 * s - 2 * h)..<(now - 17 * s))
    }

    @Test func aPartialLastMinuteIsReadRawWhileItsSamplesAreKept() {
        let plan = SeriesPlan(from: 100 * m, to: 110 * m + 30 * s, step: 5 * m, watermark: 200 * m, rawCutoff: 50 * m)
        #expect(plan.rollups == (100 * m)..<(110 * m))
        #expect(plan.raw == (110 * m)..<(110 * m + 30 * s))
        // The same range once its raw samples are gone: the whole last minute from the rollups.
        let old = SeriesPlan(from: 100 * m, to: 110 * m + 30 * s, step: 5 * m, watermark: 200 * m, rawCutoff: 150 * m)
        #expect(old.rollups == (100 * m)..<(111 * m))
        #expect(old.raw == nil)
    }

    @Test func otherStepsUseRollupsOnlyWhereRawSamplesAreGone() {
        let plan = SeriesPlan(from: 100 * m + 7 * s, to: 200 * m, step: 12 * s, watermark: 190 * m, rawCutoff: 150 * m)
        #expect(plan.origin == 100 * m + 7 * s)
        #expect(plan.rollups == (100 * m + 7 * s)..<(150 * m))
        #expect(plan.raw == (150 * m)..<(200 * m))
        let fresh = SeriesPlan(from: 100 * m + 7 * s, to: 200 * m, step: 12 * s, watermark: nil, rawCutoff: nil)
        #expect(fresh.rollups == nil && fresh.raw == (100 * m + 7 * s)..<(200 * m))
    }

    @Test func beforeAnyRollupEverythingIsRaw() {
        let plan = SeriesPlan(from: 100 * m + 7 * s, to: 160 * m, step: m, watermark: nil, rawCutoff: nil)
        #expect(plan.rollups == nil)
        #expect(plan.raw == (100 * m)..<(160 * m))
    }

    @Test func timesBeforeTheEpochFallInTheRightStep() {
        let plan = SeriesPlan(from: -90 * s, to: 0, step: m, watermark: nil, rawCutoff: nil)
        #expect(plan.origin == -2 * m)
        #expect(plan.index(-61 * s) == 0 && plan.index(-60 * s) == 1 && plan.index(-1) == 1)
    }
}
