import Foundation
import Testing
import WardenCore

@testable import WardenIngest

/// The rules every format shares, at their edges: the time window, rounding nanoseconds to
/// microseconds, conversions that do not fit, the nesting limit.
@Suite("Ingest rules at their edges")
struct IngestRulesTests: Parsing {
    /// The node's clock reads 1,800,000,000 s; raw samples are kept a day and may be ten minutes
    /// ahead. Both ends of the window are inside it, to the microsecond.
    @Test func theTimeWindowIncludesBothEnds() {
        let oldest: Int64 = 1_799_913_600_000_000_000  // ns: now minus a day
        let newest: Int64 = 1_800_000_600_000_000_000  // ns: now plus ten minutes
        let r = influx("m v=1 \(oldest)\nm v=2 \(oldest - 1000)\nm v=3 \(newest)\nm v=4 \(newest + 1000)\n")
        #expect(r.batch.points.map(\.value) == [1, 3])
        #expect(r.rejected.map(\.item) == [2, 4])
        #expect(r.rejected.first?.reason.contains("older") == true)
        #expect(r.rejected.last?.reason.contains("future") == true)
    }

    /// Nanoseconds are rounded to the nearest microsecond, halves away from zero.
    @Test func nanosecondsRoundToTheNearestMicrosecond() {
        let base: Int64 = 1_800_000_000_000_000_000
        let r = influx("m v=1 \(base + 499)\nm v=2 \(base + 500)\nm v=3 \(base + 1499)\nm v=4 \(base + 1500)\n")
        #expect(r.batch.points.map(\.time) == [nowMicros, nowMicros + 1, nowMicros + 1, nowMicros + 2])
        // Before 1970 (the window refuses those, the conversion still rounds them right).
        #expect(IngestRules.micros(-499, nanoseconds: true, unitMicros: 1) == 0)
        #expect(IngestRules.micros(-500, nanoseconds: true, unitMicros: 1) == -1)
        #expect(IngestRules.micros(-1500, nanoseconds: true, unitMicros: 1) == -2)
        #expect(IngestRules.micros(7, unitMicros: 1000) == 7000)
        #expect(IngestRules.micros(.max / 999, unitMicros: 1000) == nil, "overflow")
    }

    /// Seconds that are not finite or do not fit in microseconds are refused, whatever their size.
    @Test func secondsThatDoNotFitAreRefused() {
        #expect(IngestRules.micros(seconds: 1_800_000_000.5) == 1_800_000_000_500_000)
        #expect(IngestRules.micros(seconds: .nan) == nil)
        #expect(IngestRules.micros(seconds: .infinity) == nil)
        #expect(IngestRules.micros(seconds: 9.3e12) == nil)
        #expect(IngestRules.micros(seconds: -9.3e12) == nil)
        #expect(IngestRules.micros(seconds: 9.2e12) == 9_200_000_000_000_000_000)
    }

    /// A value Warden skips (an unknown field's) may nest 32 levels deep, not one more.
    @Test func thirtyTwoLevelsAreAllowedNotThirtyThree() throws {
        func body(_ arrays: Int) -> String {
            #"{"samples": [{"series": "a", "v": 1, "x": "# + String(repeating: "[", count: arrays)
                + String(repeating: "]", count: arrays) + "}]}"
        }
        let r = try json(body(32))
        #expect(r.rejected.first?.field == "x")
        do {
            _ = try json(body(33))
            Issue.record("accepted a body nested 33 deep")
        } catch {
            #expect(error.message.contains("nested deeper than 32"), "\(error.message)")
        }
    }

    /// Refusing the points of some series keeps the others, each with its origin.
    @Test func refusingSeriesKeepsTheRestInOrder() {
        var r = prometheus("a 1\nb 2\na 3\nc 4\n")
        let refused = r.refuse(series: r.batch.series.map { $0.name == "a" }, reason: "full")
        #expect(refused == 2)
        #expect(r.batch.points.map(\.value) == [1, 3])
        #expect(r.batch.series.map(\.name) == ["a"])
        #expect(r.rejected.map(\.item) == [2, 4])
        #expect(r.origins == [1, 3])
    }
}
