import Foundation
import WardenCore

/// A webhook body as events. Pure. A body that is not what its format says is refused whole,
/// saying which field is at fault.
public enum HookMapper {
    /// Most alerts taken from one Alertmanager or Grafana notification.
    public static let maxAlerts = 1000

    public struct Refusal: Error, Sendable, Equatable {
        public var message: String
        public var field: String?
    }

    /// The events of one delivery. `header(name)`: the request's header.
    public static func events(
        _ spec: HookSpec,
        body: [UInt8],
        header: (String) -> String?
    ) -> Result<[EventDraft], Refusal> {
        guard case .object(let fields)? = JSONValue.parse(bytes: body) else {
            return .failure(Refusal(message: "the body must be a JSON object", field: nil))
        }
        let source = "hook:\(spec.name)"
        switch spec.format {
        case .alertmanager, .grafana:
            guard let alerts = fields["alerts"]?.arrayValue else {
                return .failure(
                    Refusal(message: "expected an 'alerts' list (Alertmanager's webhook body)", field: "alerts")
                )
            }
            guard alerts.count <= maxAlerts else {
                return .failure(Refusal(message: "more than \(maxAlerts) alerts in one notification", field: "alerts"))
            }
            var drafts: [EventDraft] = []
            for (i, alert) in alerts.enumerated() {
                guard let status = alert["status"]?.stringValue, status == "firing" || status == "resolved" else {
                    return .failure(
                        Refusal(message: "expected status firing or resolved", field: "alerts[\(i)].status")
                    )
                }
                guard let labels = alert["labels"]?.objectValue, let name = labels["alertname"]?.stringValue,
                    !name.isEmpty
                else {
                    return .failure(Refusal(message: "expected labels with an alertname", field: "alerts[\(i)].labels"))
                }
                var payload: [String: JSONValue] = ["labels": .object(labels)]
                for key in ["annotations", "startsAt", "endsAt", "fingerprint", "generatorURL"] {
                    if let v = alert[key] { payload[key] = v }
                }
                for key in ["receiver", "groupKey", "externalURL"] {
                    if let v = fields[key] { payload[key] = v }
                }
                drafts.append(
                    EventDraft(
                        type: "alert.\(status)",
                        source: source,
                        subject: String(name.prefix(200)),
                        payload: .object(payload)
                    )
                )
            }
            return .success(drafts)
        case .github:
            guard let kind = header("X-GitHub-Event"), !kind.isEmpty, kind.utf8.count <= 50,
                kind.allSatisfy({ $0.isLetter || $0 == "_" })
            else {
                return .failure(
                    Refusal(message: "the X-GitHub-Event header is missing or not a GitHub event name", field: nil)
                )
            }
            var payload: [String: JSONValue] = [:]
            if let action = fields["action"] { payload["action"] = action }
            if let repository = fields["repository"]?["full_name"] { payload["repository"] = repository }
            if let sender = fields["sender"]?["login"] { payload["sender"] = sender }
            for key in ["ref", "before", "after", "compare"] { if let v = fields[key] { payload[key] = v } }
            if let delivery = header("X-GitHub-Delivery") {
                payload["delivery"] = .string(String(delivery.prefix(100)))
            }
            let subject = fields["repository"]?["full_name"]?.stringValue ?? "github"
            return .success([
                EventDraft(
                    type: "github.\(kind.lowercased())",
                    source: source,
                    subject: String(subject.prefix(200)),
                    payload: .object(payload)
                )
            ])
        case .json:
            var subject = spec.name
            if let path = spec.subjectPath {
                var value: JSONValue? = .object(fields)
                for part in path.split(separator: ".") { value = value?[String(part)] }
                if let text = value?.stringValue, !text.isEmpty { subject = String(text.prefix(200)) }
            }
            return .success([
                EventDraft(type: spec.eventType, source: source, subject: subject, payload: .object(fields))
            ])
        }
    }
}
