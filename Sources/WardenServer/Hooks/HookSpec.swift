import WardenCore

/// `hooks:`: named webhooks (`POST /v1/hooks/{name}`) that outside systems call to publish events,
/// each with how its caller proves itself and how its body becomes events.
public struct HookSpec: Sendable, Equatable {
    public var name: String
    public var verify: Verification
    public var format: Format
    /// Largest accepted body, in bytes.
    public var maxBody: Int
    /// For `format: json`: the event type, and the dotted path of the field whose value is the
    /// subject (the hook's name when absent or not a string).
    public var eventType: String
    public var subjectPath: String?

    /// How the caller proves itself. Secrets are compared in constant time.
    public enum Verification: Sendable, Equatable {
        /// A header carries a shared token (`Authorization: Bearer <token>` by default).
        case token(header: String, secret: Secret)
        /// GitHub's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`; the delivery id
        /// (`X-GitHub-Delivery`) is accepted once.
        case github(secret: Secret)
        /// A timestamped signature in Stripe's style: `<header>: t=<unix seconds>,v1=<hex
        /// HMAC-SHA256 of "t.body">`, refused outside `tolerance` of now; a signature is
        /// accepted once.
        case timestamped(header: String, secret: Secret, tolerance: Duration)
    }

    /// How the body becomes events.
    public enum Format: String, Sendable, Equatable, CaseIterable {
        /// Alertmanager's webhook (version 4): one `alert.firing` or `alert.resolved` per alert.
        case alertmanager
        /// Grafana's alerting webhook: the same shape, the same events.
        case grafana
        /// A GitHub webhook: one `github.<X-GitHub-Event>` event about the repository.
        case github
        /// Any JSON object: one event of `event.type`, the body as its payload.
        case json
    }

    public init(
        name: String,
        verify: Verification,
        format: Format,
        maxBody: Int = 1 << 20,
        eventType: String? = nil,
        subjectPath: String? = nil
    ) {
        self.name = name
        self.verify = verify
        self.format = format
        self.maxBody = maxBody
        self.eventType = eventType ?? "hook.\(name)"
        self.subjectPath = subjectPath
    }
}
