import WardenCore

/// Good and total events over one window.
public struct WindowCount: Sendable, Equatable, Codable {
    public var good: Double
    public var total: Double

    public init(good: Double, total: Double) {
        self.good = good
        self.total = total
    }

    /// The share of good events (1 when there were none: no events spend no budget).
    public var sli: Double { total > 0 ? good / total : 1 }

    /// How fast the budget burns: the share of bad events over the share the objective allows
    /// (1 spends exactly the budget over the window).
    public func burn(objective: Double) -> Double { (1 - sli) / (1 - objective) }
}

/// An SLO evaluated at one time. Pure.
public struct SLOStatus: Sendable, Equatable, Codable {
    public var name: String
    public var service: String
    public var objective: Double
    public var windowSeconds: Double
    /// Over the whole window.
    public var sli: Double
    public var events: Double
    /// The share of the window's error budget left (negative when overspent).
    public var budgetLeft: Double
    public var alerts: [AlertStatus]

    public struct AlertStatus: Sendable, Equatable, Codable {
        public var severity: String
        public var longSeconds: Double
        public var shortSeconds: Double
        public var threshold: Double
        public var longBurn: Double
        public var shortBurn: Double
        public var firing: Bool
    }

    /// Evaluates `spec` from the counts of its window and of each alert's two windows (`counts`
    /// keyed by window length in seconds).
    public static func evaluate(_ spec: SLOSpec, counts: [Double: WindowCount]) -> SLOStatus {
        let whole = counts[spec.window.seconds] ?? WindowCount(good: 0, total: 0)
        let alerts = spec.alerts.map { rule -> AlertStatus in
            let long = (counts[rule.long.seconds] ?? WindowCount(good: 0, total: 0)).burn(objective: spec.objective)
            let short = (counts[rule.short.seconds] ?? WindowCount(good: 0, total: 0)).burn(objective: spec.objective)
            return AlertStatus(
                severity: rule.severity,
                longSeconds: rule.long.seconds,
                shortSeconds: rule.short.seconds,
                threshold: rule.burn,
                longBurn: long,
                shortBurn: short,
                firing: long >= rule.burn && short >= rule.burn
            )
        }
        return SLOStatus(
            name: spec.name,
            service: spec.service,
            objective: spec.objective,
            windowSeconds: spec.window.seconds,
            sli: whole.sli,
            events: whole.total,
            budgetLeft: 1 - whole.burn(objective: spec.objective),
            alerts: alerts
        )
    }

    /// The windows whose counts ``evaluate(_:counts:)`` needs, in seconds.
    public static func windows(_ spec: SLOSpec) -> [Duration] {
        var seen: Set<Double> = []
        var out: [Duration] = []
        for d in [spec.window] + spec.alerts.flatMap({ [$0.long, $0.short] }) where seen.insert(d.seconds).inserted {
            out.append(d)
        }
        return out
    }
}

/// An alert that started or ended, for the event log (`slo.burn.firing`, `slo.burn.resolved`).
public struct SLOBurnEvent: EventPayload {
    public static let type = "slo.burn"
    public var slo: String
    public var service: String
    public var severity: String
    public var burn: Double
    public var threshold: Double
    public var long: String
    public var short: String
    public var budgetLeft: Double
}
