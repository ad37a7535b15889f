import Foundation
import WardenCore

/// An SLO's alerts over recorded traffic, as the running agent would have raised and notified
/// them: the burn rates evaluated at every row (``SLOStatus/evaluate(_:counts:)``), each alert that
/// starts or stops firing made an event as ``SLOService`` publishes it, turned into an alert by
/// ``AlertSources`` and notified by an ``AlertDispatcher`` with `route`. For `warden slo replay` and
/// `bench/slo`: a month of traffic in seconds.
public struct SLOReplay {
    /// Good and total events in the interval ending at `time`.
    public struct Row: Sendable, Equatable {
        public var time: Date
        public var good: Double
        public var total: Double

        public init(time: Date, good: Double, total: Double) {
            self.time = time
            self.good = good
            self.total = total
        }
    }

    public enum Output: Sendable, Equatable {
        /// An alert rule started (`firing`) or stopped firing.
        case alert(time: Date, severity: String, firing: Bool, long: String, short: String, burn: Double)
        /// A notification the dispatcher sent.
        case notification(time: Date, status: String, severity: String, alerts: Int)
    }

    public let spec: SLOSpec
    public let route: RouteSpec

    public init(spec: SLOSpec, route: RouteSpec) {
        self.spec = spec
        self.route = route
    }

    /// Runs over `rows` (in time order, one interval each).
    public func run(_ rows: [Row]) -> [Output] {
        guard !rows.isEmpty else { return [] }
        var alerting = AlertingSpec()
        alerting.receivers = [route.receiver: ReceiverSpec(name: route.receiver, kind: .webhook(url: "http://replay"))]
        alerting.route = route
        alerting.node = "replay"
        let sources = AlertSources(spec: alerting)
        var dispatcher = AlertDispatcher(spec: alerting)
        // Prefix sums: the count in (t - w, t] is two lookups.
        var good = [0.0]
        var total = [0.0]
        for r in rows {
            good.append(good.last! + r.good)
            total.append(total.last! + r.total)
        }
        let times = rows.map(\.time.timeIntervalSince1970)
        func index(after t: Double) -> Int {
            // The first row whose time is after t.
            var lo = 0
            var hi = times.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if times[mid] <= t { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
        let windows = SLOStatus.windows(spec)
        var firing: Set<Int> = []
        var out: [Output] = []
        var id: Int64 = 0
        func flush(until t: Date) {
            var now = dispatcher.nextDeadline(after: .distantPast) ?? t
            while now <= t {
                for n in dispatcher.flush(now: now) {
                    out.append(
                        .notification(
                            time: now,
                            status: n.status,
                            severity: n.commonLabels["severity"] ?? "",
                            alerts: n.firing.count + n.resolved.count
                        )
                    )
                }
                guard let next = dispatcher.nextDeadline(after: now), next > now else { break }
                now = next
            }
        }
        for (i, row) in rows.enumerated() {
            let t = times[i]
            var counts: [Double: WindowCount] = [:]
            for w in windows {
                let from = index(after: t - w.seconds)
                counts[w.seconds] = WindowCount(good: good[i + 1] - good[from], total: total[i + 1] - total[from])
            }
            flush(until: row.time.addingTimeInterval(-0.001))
            let status = SLOStatus.evaluate(spec, counts: counts)
            for (k, alert) in status.alerts.enumerated() where alert.firing != firing.contains(k) {
                if alert.firing { firing.insert(k) } else { firing.remove(k) }
                let long = DurationFormat.format(.seconds(alert.longSeconds))
                let short = DurationFormat.format(.seconds(alert.shortSeconds))
                out.append(
                    .alert(
                        time: row.time,
                        severity: alert.severity,
                        firing: alert.firing,
                        long: long,
                        short: short,
                        burn: alert.longBurn
                    )
                )
                let payload = SLOBurnEvent(
                    slo: spec.name,
                    service: spec.service,
                    severity: alert.severity,
                    burn: alert.longBurn,
                    threshold: alert.threshold,
                    long: long,
                    short: short,
                    budgetLeft: status.budgetLeft
                ).json
                id += 1
                let event = Event(
                    id: id,
                    time: row.time,
                    type: alert.firing ? "slo.burn.firing" : "slo.burn.resolved",
                    source: "slo",
                    subject: spec.name,
                    payload: payload
                )
                switch sources.change(for: event) {
                case .fire(let a): dispatcher.fire(a, now: row.time)
                case .resolve(let fp, let at): dispatcher.resolve(fingerprint: fp, at: at)
                case nil: break
                }
            }
            flush(until: row.time)
        }
        return out
    }
}
