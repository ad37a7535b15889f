import Foundation
import WardenCore

/// `alerting:`: which events become alerts, where their notifications go (receivers and a
/// routing tree, as Alertmanager's), and which alerts mute others (inhibition).
public struct AlertingSpec: Sendable, Equatable {
    public var receivers: [String: ReceiverSpec] = [:]
    public var route = RouteSpec(receiver: "")
    public var inhibit: [InhibitRule] = []
    /// Event types that become one-shot alerts (besides the built-in sources).
    public var events: [String] = []
    /// How long a one-shot alert stays firing.
    public var resolveTimeout: Duration = .seconds(300)
    /// The `node` label of every alert (the host name by default).
    public var node: String = ProcessInfo.processInfo.hostName

    public init() {}
}

/// Where a notification goes, and how it is written.
public struct ReceiverSpec: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Alertmanager's webhook body (version 4), POSTed as JSON.
        case webhook(url: String)
        /// A Slack-compatible incoming webhook: `{"text": …}` (Mattermost, Rocket.Chat take it too).
        case slack(url: String)
        /// PagerDuty Events API v2: one trigger or resolve per alert, deduplicated by fingerprint.
        case pagerDuty(url: String, routingKey: Secret)
        /// Mail through an SMTP server (no authentication; a local relay) or a sendmail program.
        case email(EmailSpec)
    }

    public var name: String
    public var kind: Kind
    /// A PEM file of the authorities to trust instead of the system's (HTTPS receivers).
    public var caFile: String?
    public var timeout: Duration = .seconds(10)
    /// Attempts per notification, with doubling waits between them (1 s, 2 s, 4 s …).
    public var attempts = 5
    /// Whether resolved alerts are notified too.
    public var sendResolved = true

    public init(name: String, kind: Kind) {
        self.name = name
        self.kind = kind
    }
}

public struct EmailSpec: Sendable, Equatable {
    /// `host:port` of an SMTP server; nil with `sendmail`.
    public var smtp: String?
    /// The sendmail-compatible program (`/usr/sbin/sendmail`); nil with `smtp`.
    public var sendmail: String?
    public var from: String
    public var to: [String]

    public init(smtp: String? = nil, sendmail: String? = nil, from: String, to: [String]) {
        self.smtp = smtp
        self.sendmail = sendmail
        self.from = from
        self.to = to
    }
}

/// A node of the routing tree: alerts matching `matchers` go to `receiver` (or to the first child
/// that matches them, and further children while those `continue`), grouped by `groupBy`.
/// Children inherit what they do not set.
public struct RouteSpec: Sendable, Equatable {
    public var receiver: String
    public var matchers: [LabelMatcher] = []
    /// Labels whose values make a group (`[...]` all labels: every alert on its own).
    public var groupBy: [String] = ["alertname"]
    /// Wait this long after a group's first alert before the first notification (to gather others).
    public var groupWait: Duration = .seconds(30)
    /// Wait this long after a notification before telling of changes in the group.
    public var groupInterval: Duration = .seconds(300)
    /// Tell again of a group that still fires after this long.
    public var repeatInterval: Duration = .seconds(4 * 3600)
    /// Go on to the next sibling after this route matched.
    public var `continue` = false
    public var routes: [RouteSpec] = []

    public init(receiver: String) { self.receiver = receiver }
}

/// While an alert matching `source` fires, alerts matching `target` with the same values of the
/// `equal` labels are not notified (a node that is down mutes its services' alerts).
public struct InhibitRule: Sendable, Equatable {
    public var source: [LabelMatcher]
    public var target: [LabelMatcher]
    public var equal: [String]

    public init(source: [LabelMatcher], target: [LabelMatcher], equal: [String]) {
        self.source = source
        self.target = target
        self.equal = equal
    }
}
