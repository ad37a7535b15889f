import WardenCore
import Yams

/// One service level objective: which events are good, what share must be, over which window,
/// and when to alert on the budget burning.
public struct SLOSpec: Sendable, Equatable {
    public var name: String
    /// The service whose health probe gives the events (one per probe run); with `counters`,
    /// only a name to show (may be empty).
    public var service: String
    /// Events counted by the service itself instead: the increase of a counter of good events
    /// and of one of all events (a reset to a lower value counts from zero).
    public var counters: CounterSLI?
    /// Good when the probe passed and, when set, answered within this.
    public var latency: Duration?
    /// The share of good events to keep, such as 0.999.
    public var objective: Double
    public var window: Duration
    public var alerts: [BurnAlert]

    public init(
        name: String,
        service: String,
        latency: Duration? = nil,
        objective: Double,
        window: Duration = .seconds(30 * 86400),
        alerts: [BurnAlert] = BurnAlert.workbook
    ) {
        self.name = name
        self.service = service
        self.latency = latency
        self.objective = objective
        self.window = window
        self.alerts = alerts
    }
}

/// Good and total events from two counters a service exports (`good:` and `total:`), such as
/// `http_requests_total{code="200"}` and `http_requests_total`.
public struct CounterSLI: Sendable, Equatable {
    public var good: SeriesSelector
    public var total: SeriesSelector

    public init(good: SeriesSelector, total: SeriesSelector) {
        self.good = good
        self.total = total
    }
}

/// A multi-window burn-rate alert: it fires when the budget burns at least `burn` times as fast
/// as the objective allows over both the `long` window and the `short` one (the short window makes
/// it stop soon after the burn stops), and is resolved when either falls below.
public struct BurnAlert: Sendable, Equatable, Codable {
    public var long: Duration
    public var short: Duration
    public var burn: Double
    public var severity: String

    public init(long: Duration, short: Duration, burn: Double, severity: String) {
        self.long = long
        self.short = short
        self.burn = burn
        self.severity = severity
    }

    /// The Site Reliability Workbook's rules for a 30-day window: 2 % of the budget in an hour,
    /// 5 % in six hours (pages), 10 % in three days (a ticket).
    public static let workbook = [
        BurnAlert(long: .seconds(3600), short: .seconds(300), burn: 14.4, severity: "page"),
        BurnAlert(long: .seconds(6 * 3600), short: .seconds(1800), burn: 6, severity: "page"),
        BurnAlert(long: .seconds(3 * 86400), short: .seconds(6 * 3600), burn: 1, severity: "ticket"),
    ]
}

extension Spec {
    /// The spec's SLOs, in the order written (none when the loader had no ``SLOSection``).
    public var slos: [SLOSpec] { sections[SLOSection.self] ?? [] }
}

/// Reads `slos:`:
///
/// ```yaml
/// slos:
///   api-available:
///     service: api            # its health probe's runs are the events
///     objective: 99.9%        # or 0.999
///     window: 30d
///   api-fast:
///     service: api
///     latency: 200ms          # good: passed within 200 ms
///     objective: 99%
///     alerts:                 # the workbook's three rules by default
///       - { long: 1h, short: 5m, burn: 14.4, severity: page }
/// ```
public enum SLOSection: SpecSection {
    public static let key = "slos"
    static let sloKeys = ["service", "good", "total", "latency", "objective", "window", "alerts"]

    public static func read(_ node: Node, _ context: SpecContext, _ r: inout YAMLReader) -> [SLOSpec]? {
        guard let entries = r.namedEntries(node, key: "slos", what: "SLOs") else { return nil }
        let services = Set(context.spec.services.map(\.name))
        var slos: [SLOSpec] = []
        for (name, keyNode, value) in entries.prefix(10_000) {
            let key = "slos.\(name)"
            guard name.utf8.count <= 100, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                r.fail(keyNode, key, "SLO names are 1 to 100 letters, digits, '-', '_' or '.'")
                continue
            }
            guard let f = r.mapping(value, key: key, allowed: sloKeys, required: ["objective"]) else {
                continue
            }
            var counters: CounterSLI?
            if f["good"] != nil || f["total"] != nil {
                guard let gn = f["good"], let tn = f["total"] else {
                    r.fail(
                        f["good"] ?? f["total"],
                        key,
                        "good and total go together: the counter of good events and that of all of them"
                    )
                    continue
                }
                guard let good = readSelector(gn, key: "\(key).good", &r),
                    let total = readSelector(tn, key: "\(key).total", &r)
                else { continue }
                if let ln = f["latency"] {
                    r.fail(
                        ln,
                        "\(key).latency",
                        "latency is for SLOs over a health probe; with counters, count the fast events in good"
                    )
                    continue
                }
                counters = CounterSLI(good: good, total: total)
            }
            // The service: whose health probe gives the events, or (with counters) a name to show.
            var service = ""
            if let sn = f["service"] {
                guard let wanted = r.string(sn, key: "\(key).service") else { continue }
                guard let spec = context.spec.services.first(where: { $0.name == wanted }) else {
                    var message = "found '\(wanted.prefix(100))'; expected one of the services"
                    if let guess = DidYouMean.suggest(wanted, from: Array(services)) {
                        message += " (did you mean '\(guess)'?)"
                    }
                    r.fail(sn, "\(key).service", message)
                    continue
                }
                if spec.health == nil && counters == nil {
                    r.fail(
                        sn,
                        "\(key).service",
                        "the service '\(wanted)' has no health probe: its runs are this SLO's events"
                    )
                    continue
                }
                service = wanted
            } else if counters == nil {
                r.fail(
                    keyNode,
                    key,
                    "expected service (its health probe's runs are the events) or good and total (counters)"
                )
                continue
            }
            guard let on = f["objective"], let objective = readObjective(on, key: "\(key).objective", &r) else {
                continue
            }
            var slo = SLOSpec(name: name, service: service, objective: objective)
            slo.counters = counters
            if let n = f["latency"],
                let d = r.duration(n, key: "\(key).latency", min: .milliseconds(1), max: .seconds(3600))
            {
                slo.latency = d
            }
            if let n = f["window"],
                let d = r.duration(n, key: "\(key).window", min: .seconds(60), max: .seconds(400 * 86400))
            {
                slo.window = d
            }
            if let n = f["alerts"] {
                guard let alerts = readAlerts(n, key: key, window: slo.window, &r) else { continue }
                slo.alerts = alerts
            }
            slos.append(slo)
        }
        return slos
    }

    /// An SLO's `alerts:` list (nil when it is not a list of up to 10 rules; a bad rule is
    /// reported and left out).
    static func readAlerts(_ n: Node, key: String, window: Duration, _ r: inout YAMLReader) -> [BurnAlert]? {
        guard case .sequence(let items) = n, items.count <= 10 else {
            r.fail(
                n,
                "\(key).alerts",
                "expected a list of up to 10 rules like { long: 1h, short: 5m, burn: 14.4, severity: page }"
            )
            return nil
        }
        var alerts: [BurnAlert] = []
        for (i, item) in items.enumerated() {
            let k = "\(key).alerts[\(i)]"
            guard
                let a = r.mapping(
                    item,
                    key: k,
                    allowed: ["long", "short", "burn", "severity"],
                    required: ["long", "short", "burn"]
                ),
                let ln = a["long"],
                let long = r.duration(ln, key: "\(k).long", min: .seconds(1), max: window),
                let shn = a["short"],
                let short = r.duration(shn, key: "\(k).short", min: .seconds(1), max: long),
                let bn = a["burn"]
            else { continue }
            guard let burn = Double(bn.scalar?.string ?? ""), burn.isFinite, burn > 0, burn <= 1000 else {
                r.fail(bn, "\(k).burn", "expected how many times faster than allowed the budget burns, such as 14.4")
                continue
            }
            var severity = "page"
            if let sv = a["severity"], let text = r.string(sv, key: "\(k).severity") {
                guard !text.isEmpty, text.utf8.count <= 50 else {
                    r.fail(sv, "\(k).severity", "expected a short word such as page or ticket")
                    continue
                }
                severity = text
            }
            alerts.append(BurnAlert(long: long, short: short, burn: burn, severity: severity))
        }
        return alerts
    }

    /// A series selector such as `http_requests_total{service="api"}`.
    static func readSelector(_ n: Node, key: String, _ r: inout YAMLReader) -> SeriesSelector? {
        guard let text = r.string(n, key: key) else { return nil }
        guard text.utf8.count <= 1000, let selector = SeriesSelector.parse(text) else {
            r.fail(
                n,
                key,
                "found '\(text.prefix(100))'; expected a series such as http_requests_total{service=\"api\"}"
            )
            return nil
        }
        return selector
    }

    /// `99.9%` or `0.999`: strictly between 0 and 1.
    static func readObjective(_ node: Node, key: String, _ r: inout YAMLReader) -> Double? {
        let text = node.scalar?.string ?? ""
        var value: Double?
        if text.hasSuffix("%") { value = Double(text.dropLast()).map { $0 / 100 } } else { value = Double(text) }
        guard let v = value, v.isFinite, v > 0, v < 1 else {
            r.fail(
                node,
                key,
                "found \(YAMLReader.describe(node)); expected a share below 100 %, such as 99.9% or 0.999"
            )
            return nil
        }
        return v
    }
}
