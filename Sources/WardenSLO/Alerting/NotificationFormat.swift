import Foundation
import WardenCore

/// What each kind of receiver is sent: the wire formats people's tools already read.
public enum NotificationFormat {
    /// Alertmanager's webhook body, version 4 (what Grafana OnCall, Keep and many relays take).
    public static func webhook(_ n: AlertDispatcher.Notification, receiver: String) -> JSONValue {
        func alert(_ a: Alert) -> JSONValue {
            .object([
                "status": .string(a.isResolved ? "resolved" : "firing"),
                "labels": .object(a.labels.mapValues { .string($0) }),
                "annotations": .object(a.annotations.mapValues { .string($0) }),
                "startsAt": .string(ISOTime.format(a.startsAt)),
                "endsAt": .string(a.endsAt.map(ISOTime.format) ?? "0001-01-01T00:00:00Z"),
                "generatorURL": .string(""),
                "fingerprint": .string(a.fingerprint),
            ])
        }
        let all = n.firing + n.resolved
        var commonAnnotations = all.first?.annotations ?? [:]
        for a in all.dropFirst() { commonAnnotations = commonAnnotations.filter { a.annotations[$0.key] == $0.value } }
        return .object([
            "version": .string("4"),
            "groupKey": .string(n.groupKey),
            "truncatedAlerts": .int(0),
            "status": .string(n.status),
            "receiver": .string(receiver),
            "groupLabels": .object(n.groupLabels.mapValues { .string($0) }),
            "commonLabels": .object(n.commonLabels.mapValues { .string($0) }),
            "commonAnnotations": .object(commonAnnotations.mapValues { .string($0) }),
            "externalURL": .string(""),
            "alerts": .array(all.map(alert)),
        ])
    }

    /// The one line (and a bullet per alert) a chat shows.
    public static func text(_ n: AlertDispatcher.Notification) -> String {
        let name = n.commonLabels["alertname"] ?? n.groupLabels["alertname"] ?? "alerts"
        let about = n.groupLabels.filter { $0.key != "alertname" }.sorted { $0.key < $1.key }.map(\.value)
        var text =
            "[\(n.status.uppercased())\(n.firing.isEmpty ? "" : ":\(n.firing.count)")] \(name)"
            + (about.isEmpty ? "" : " (\(about.joined(separator: ", ")))")
        for a in n.firing.prefix(20) { text += "\n• " + (a.annotations["summary"] ?? describe(a.labels)) }
        for a in n.resolved.prefix(20) { text += "\n✓ resolved: " + (a.annotations["summary"] ?? describe(a.labels)) }
        let more = max(0, n.firing.count - 20) + max(0, n.resolved.count - 20)
        if more > 0 { text += "\n… and \(more) more" }
        return text
    }

    /// A Slack-compatible incoming webhook's body.
    public static func slack(_ n: AlertDispatcher.Notification) -> JSONValue {
        .object(["text": .string(text(n)), "username": .string("Warden")])
    }

    /// PagerDuty Events API v2: a trigger per firing alert, a resolve per resolved one, each
    /// deduplicated by the alert's fingerprint (so a repeat updates the same PagerDuty incident).
    public static func pagerDuty(_ n: AlertDispatcher.Notification, routingKey: String, source: String) -> [JSONValue] {
        func severity(_ a: Alert) -> String {
            switch a.labels["severity"] ?? "" {
            case "critical", "page": return "critical"
            case "warning", "ticket": return "warning"
            case "info": return "info"
            default: return "error"
            }
        }
        var events: [JSONValue] = []
        for a in n.firing {
            let summary = a.annotations["summary"] ?? describe(a.labels)
            events.append(
                .object([
                    "routing_key": .string(routingKey),
                    "event_action": .string("trigger"),
                    "dedup_key": .string(a.fingerprint),
                    "payload": .object([
                        // PagerDuty takes up to 1024 characters of summary.
                        "summary": .string(String(summary.prefix(1024))),
                        "source": .string(source),
                        "severity": .string(severity(a)),
                        "timestamp": .string(ISOTime.format(a.startsAt)),
                        "component": .string(a.labels["service"] ?? a.labels["monitor"] ?? ""),
                        "class": .string(a.labels["alertname"] ?? ""),
                        "custom_details": .object(a.labels.mapValues { .string($0) }),
                    ]),
                ])
            )
        }
        for a in n.resolved {
            events.append(
                .object([
                    "routing_key": .string(routingKey),
                    "event_action": .string("resolve"),
                    "dedup_key": .string(a.fingerprint),
                ])
            )
        }
        return events
    }

    /// A plain-text mail (RFC 5322, UTF-8): what goes after SMTP's DATA, lines ending in CRLF,
    /// without dot-stuffing. Header values have their control characters removed.
    public static func email(
        _ n: AlertDispatcher.Notification,
        from: String,
        to: [String],
        date: Date,
        id: String
    ) -> String {
        func header(_ s: String) -> String {
            String(s.unicodeScalars.filter { $0.value >= 32 && $0.value != 127 }.map(Character.init)).prefix(900)
                .description
        }
        let body = text(n)
        let subject = header(body.split(separator: "\n").first.map(String.init) ?? "Warden")
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        let lines = [
            "From: \(from)",
            "To: \(to.joined(separator: ", "))",
            "Subject: \(subject)",
            "Date: \(formatter.string(from: date))",
            "Message-ID: <\(id)@warden>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "",
        ]
        let bodyLines = body.split(separator: "\n", omittingEmptySubsequences: false).map {
            String($0).replacingOccurrences(of: "\r", with: "")
        }
        return (lines + bodyLines).joined(separator: "\r\n") + "\r\n"
    }

    static func describe(_ labels: [String: String]) -> String {
        labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }
}
