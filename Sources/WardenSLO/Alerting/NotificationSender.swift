import Foundation
import WardenCore

/// Runs a program with `input` on its standard input; its exit status and output.
public typealias ProgramRunner = @Sendable (_ argv: [String], _ input: String) async -> (status: Int32, output: String)

/// Delivers one notification to one receiver, retrying with doubling waits (1 s, 2 s, 4 s …, at
/// most 30 s) until it is taken or the receiver's attempts run out.
struct NotificationSender: Sendable {
    let transport: (any HTTPTransport)?
    let runner: ProgramRunner?
    let clock: any WardenClock
    let node: String

    struct Delivery: Sendable {
        var delivered: Bool
        var attempts: Int
        /// The last answer or error.
        var last: String
    }

    func send(_ n: AlertDispatcher.Notification, to receiver: ReceiverSpec) async -> Delivery {
        var last = ""
        let attempts = max(1, receiver.attempts)
        for attempt in 1...attempts {
            switch await once(n, receiver) {
            case .success(let answer): return Delivery(delivered: true, attempts: attempt, last: answer)
            case .failure(let error): last = error.message
            }
            if attempt < attempts {
                let wait = min(30.0, pow(2.0, Double(attempt - 1)))
                do { try await clock.sleep(for: .milliseconds(Int64(wait * 1000))) } catch { break }
            }
        }
        return Delivery(delivered: false, attempts: attempts, last: last)
    }

    private func once(_ n: AlertDispatcher.Notification, _ r: ReceiverSpec) async -> Result<String, OutboundError> {
        switch r.kind {
        case .webhook(let url): return await post(NotificationFormat.webhook(n, receiver: r.name), to: url, r)
        case .slack(let url): return await post(NotificationFormat.slack(n), to: url, r)
        case .pagerDuty(let url, let key):
            let routingKey = String(decoding: key.bytes, as: UTF8.self)
            var answer = ""
            for event in NotificationFormat.pagerDuty(n, routingKey: routingKey, source: node) {
                switch await post(event, to: url, r) {
                case .success(let a): answer = a
                case .failure(let e): return .failure(e)
                }
            }
            return .success(answer)
        case .email(let email):
            let message = NotificationFormat.email(
                n,
                from: email.from,
                to: email.to,
                date: clock.wallTime(),
                id: UUID().uuidString.lowercased()
            )
            let timeout = r.timeout
            do {
                if let smtp = email.smtp, let hp = HostPort.parse(smtp, defaultPort: 25) {
                    try await blockingWork {
                        try SMTPClient(host: hp.0, port: UInt16(clamping: hp.1), timeout: timeout).send(
                            from: email.from,
                            to: email.to,
                            message: message
                        )
                    }
                    return .success("250 accepted")
                } else if let sendmail = email.sendmail {
                    // `sendmail -i -f FROM -- TO…`, the message (LF line ends) on its input, run as
                    // Warden runs every program (reaped by its reaper, killed past its time).
                    guard let runner else { return .failure(OutboundError("no program runner is configured")) }
                    let result = await runner(
                        [sendmail, "-i", "-f", email.from, "--"] + email.to,
                        message.replacingOccurrences(of: "\r\n", with: "\n")
                    )
                    guard result.status == 0 else {
                        return .failure(
                            OutboundError("\(sendmail) exited \(result.status): \(result.output.prefix(200))")
                        )
                    }
                    return .success("sendmail exited 0")
                }
                return .failure(OutboundError("no smtp or sendmail"))
            } catch {
                return .failure(OutboundError("\(error)"))
            }
        }
    }

    private func post(_ body: JSONValue, to url: String, _ r: ReceiverSpec) async -> Result<String, OutboundError> {
        guard let transport else { return .failure(OutboundError("no outbound HTTP transport is configured")) }
        do {
            let response = try await transport.send(
                OutboundRequest.postJSON(body, to: url, timeout: r.timeout, caFile: r.caFile)
            )
            guard (200..<300).contains(response.status) else {
                let text = String(decoding: response.body.prefix(200), as: UTF8.self)
                return .failure(OutboundError("HTTP \(response.status) \(text)"))
            }
            return .success("HTTP \(response.status)")
        } catch let error as OutboundError {
            return .failure(error)
        } catch {
            return .failure(OutboundError("\(error)"))
        }
    }
}
