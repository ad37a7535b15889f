import Foundation
import WardenCore

/// Posts incidents to `notify:` targets: JSON with the whole incident and a `text` line that chat
/// tools (Slack, Mattermost, Discord webhooks) show as the message. HTTPS with the system's
/// certificate authorities, or the target's `ca` file. Retries with exponential backoff (0.5 s,
/// 1 s, 2 s … up to 10 s) until a 2xx answer or the attempts run out.
public struct Notifier: Sendable {
    let clock: any WardenClock
    let transport: (any HTTPTransport)?

    /// `transport` nil: notifications cannot be sent, and each says so.
    public init(clock: any WardenClock = SystemClock(), transport: (any HTTPTransport)?) {
        self.clock = clock
        self.transport = transport
    }

    /// The result of a notification.
    public struct Delivery: Sendable, Hashable {
        public var delivered: Bool
        public var attempts: Int
        /// The last answer (`HTTP 200`) or error.
        public var last: String
    }

    public func post(_ body: JSONValue, to target: NotifySpec) async -> Delivery {
        guard let transport else {
            return Delivery(delivered: false, attempts: 0, last: "no outbound HTTP transport is configured")
        }
        let request = OutboundRequest.postJSON(body, to: target.url, timeout: target.timeout, caFile: target.caFile)
        var last = ""
        for attempt in 1...max(1, target.attempts) {
            do {
                let response = try await transport.send(request)
                last = "HTTP \(response.status)"
                if (200..<300).contains(response.status) {
                    return Delivery(delivered: true, attempts: attempt, last: last)
                }
            } catch {
                last = error.message
            }
            if attempt < target.attempts {
                let backoff = min(10.0, 0.5 * pow(2.0, Double(attempt - 1)))
                try? await clock.sleep(for: .milliseconds(Int64(backoff * 1000)))
            }
        }
        return Delivery(delivered: false, attempts: target.attempts, last: last)
    }

    /// The message people read.
    public static func text(_ incident: Incident) -> String {
        var text =
            "[Warden] \(incident.target): \(incident.title) — \(incident.status.rawValue.replacingOccurrences(of: "_", with: " "))"
        let tried = incident.steps.filter { $0.state != .awaitingApproval }.map {
            "\($0.action) (\($0.outcome ?? $0.state.rawValue))"
        }
        if !tried.isEmpty { text += ". Tried: " + tried.joined(separator: "; ") }
        text += ". Incident \(incident.id)."
        return text
    }
}
