import Foundation
import WardenCore

/// Which events make alerts and which end them. Built in: an SLO's burn-rate alert
/// (`slo.burn.firing` until `slo.burn.resolved`), a monitor's (`monitor.alert` until
/// `monitor.cleared`), a service given up on (`service.failed` until `service.ready`), and OOM kills
/// (`service.oom_killed`, one-shot). The spec's `alerting.events` add one-shot alerts of any type.
/// Every alert carries `alertname`, `severity`, `node` and what it is about.
public struct AlertSources: Sendable {
    public enum Change: Sendable, Equatable {
        case fire(Alert)
        case resolve(fingerprint: String, at: Date)
    }

    let node: String
    let oneShot: Set<String>
    let resolveTimeout: TimeInterval

    public init(spec: AlertingSpec) {
        node = spec.node
        oneShot = Set(spec.events)
        resolveTimeout = spec.resolveTimeout.timeInterval
    }

    /// The event types to listen to.
    public var types: [String] {
        Array(
            Set([
                "slo.burn.firing", "slo.burn.resolved", EventType.monitorAlert, EventType.monitorCleared,
                EventType.serviceFailed, EventType.serviceReady, EventType.serviceOOMKilled,
            ]).union(oneShot)
        ).sorted()
    }

    /// The longest label value kept (a subject or payload comes from whoever published the event).
    static let maxValue = 1024

    public func change(for event: Event) -> Change? {
        func clip(_ s: String) -> String { String(decoding: s.utf8.prefix(Self.maxValue), as: UTF8.self) }
        let p = event.payload
        var labels = ["node": clip(node)]
        var annotations: [String: String] = [:]
        switch event.type {
        case "slo.burn.firing", "slo.burn.resolved":
            labels["alertname"] = "SLOBurnRate"
            labels["slo"] = clip(p["slo"]?.stringValue ?? event.subject)
            labels["service"] = clip(p["service"]?.stringValue ?? "")
            labels["severity"] = clip(p["severity"]?.stringValue ?? "page")
            // Each rule is an alert of its own (the two page rules fire and resolve apart).
            labels["window"] = clip("\(p["long"]?.stringValue ?? "?")/\(p["short"]?.stringValue ?? "?")")
            let burn = p["burn"]?.doubleValue ?? 0
            let budget = (p["budget_left"]?.doubleValue ?? p["budgetLeft"]?.doubleValue ?? 0) * 100
            annotations["summary"] =
                "SLO \(labels["slo"]!) burns its error budget \(String(format: "%.1f", burn))x too fast over "
                + "\(p["long"]?.stringValue ?? "?")/\(p["short"]?.stringValue ?? "?"); \(String(format: "%.1f", budget)) % of the budget left"
            return event.type == "slo.burn.firing"
                ? .fire(Alert(labels: labels, annotations: annotations, startsAt: event.time))
                : .resolve(fingerprint: Alert.fingerprint(labels), at: event.time)
        case EventType.monitorAlert, EventType.monitorCleared:
            labels["alertname"] = "FailurePredicted"
            labels["monitor"] = clip(event.subject)
            labels["severity"] = "warning"
            let probability = (p["probability"]?.doubleValue ?? 0) * 100
            annotations["summary"] = "monitor \(labels["monitor"]!) predicts a failure (\(Int(probability)) %)"
            return event.type == EventType.monitorAlert
                ? .fire(Alert(labels: labels, annotations: annotations, startsAt: event.time))
                : .resolve(fingerprint: Alert.fingerprint(labels), at: event.time)
        case EventType.serviceFailed, EventType.serviceReady:
            labels["alertname"] = "ServiceFailed"
            labels["service"] = clip(event.subject)
            labels["severity"] = "critical"
            annotations["summary"] =
                "service \(labels["service"]!) failed \(p["failures"]?.intValue ?? 0) times in \(p["window"]?.stringValue ?? "its window") and was given up on: \(clip(p["reason"]?.stringValue ?? ""))"
            return event.type == EventType.serviceFailed
                ? .fire(Alert(labels: labels, annotations: annotations, startsAt: event.time))
                : .resolve(fingerprint: Alert.fingerprint(labels), at: event.time)
        case EventType.serviceOOMKilled:
            labels["alertname"] = "ServiceOOMKilled"
            labels["service"] = clip(event.subject)
            labels["severity"] = "warning"
            annotations["summary"] =
                "the OOM killer killed \(p["kills"]?.intValue ?? 1) process(es) of \(labels["service"]!)"
            return .fire(oneShot(labels, annotations, at: event.time))
        default:
            guard oneShot.contains(event.type) else { return nil }
            labels["alertname"] = clip(event.type)
            labels["subject"] = clip(event.subject)
            labels["severity"] = clip(p["severity"]?.stringValue ?? "warning")
            if let summary = p["summary"]?.stringValue ?? p["message"]?.stringValue {
                annotations["summary"] = clip(summary)
            } else {
                annotations["summary"] = "\(labels["alertname"]!) about \(labels["subject"]!)"
            }
            return .fire(oneShot(labels, annotations, at: event.time))
        }
    }

    private func oneShot(_ labels: [String: String], _ annotations: [String: String], at time: Date) -> Alert {
        Alert(
            labels: labels,
            annotations: annotations,
            startsAt: time,
            expiresAt: time.addingTimeInterval(resolveTimeout)
        )
    }
}
