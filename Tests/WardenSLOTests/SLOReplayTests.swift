import Foundation
import Testing
import WardenCore
import WardenSLO

/// Recorded traffic through the burn-rate rules and the dispatcher, as `warden slo replay` and
/// bench/slo use it.
@Suite("SLO replay")
struct SLOReplayTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// `days` of 1,000 requests a minute, with `bad(minute)` of them failing.
    func rows(days: Int, bad: (Int) -> Double) -> [SLOReplay.Row] {
        (0..<(days * 1440)).map { m in
            SLOReplay.Row(time: Self.t0.addingTimeInterval(Double(m) * 60), good: 1000 - bad(m), total: 1000)
        }
    }

    func replay(_ rows: [SLOReplay.Row]) -> [SLOReplay.Output] {
        var route = RouteSpec(receiver: "pager")
        route.groupBy = ["alertname", "slo"]
        route.groupWait = .seconds(30)
        route.groupInterval = .seconds(300)
        route.repeatInterval = .seconds(4 * 3600)
        return SLOReplay(spec: SLOSpec(name: "api", service: "api", objective: 0.999), route: route).run(rows)
    }

    @Test func aFastBurnPagesWithinMinutesOnceAndResolves() {
        // Day 2, 10:00: 20 % of requests fail for 20 minutes.
        let start = 1440 + 600
        let out = replay(rows(days: 3) { (start..<(start + 20)).contains($0) ? 200 : 0 })
        let firing = out.compactMap { o -> (Date, String, String)? in
            if case .alert(let t, let severity, true, let long, let short, _) = o {
                return (t, severity, "\(long)/\(short)")
            }
            return nil
        }
        let first = firing.min { $0.0 < $1.0 }
        #expect(first?.1 == "page")
        #expect(first?.2 == "1h/5m")
        let delay = (first?.0.timeIntervalSince(Self.t0.addingTimeInterval(Double(start) * 60))) ?? .infinity
        // 14.4x over both 1h and 5m: 20 % errors pass 1.44 % of the hour within five minutes.
        #expect(delay <= 300, "paged after \(delay) s")
        let pages = out.compactMap { o -> Date? in
            if case .notification(let t, "firing", "page", _) = o { return t }
            return nil
        }
        #expect(pages.count == 1, "the two page rules are one notification: \(pages)")
        #expect(pages.first.map { $0.timeIntervalSince(first!.0) } ?? -1 <= 60, "sent after group_wait")
        let resolved = out.contains { o in
            if case .notification(_, "resolved", _, _) = o { return true }
            return false
        }
        #expect(resolved)
    }

    @Test func aBlipAndAQuietMonthDoNotPage() {
        let out = replay(rows(days: 4) { m in m == 3000 ? 500 : (m > 0 && m % 5000 == 0 ? 1 : 0) })
        #expect(!out.contains { if case .notification = $0 { return true } else { return false } }, "\(out)")
    }
}
