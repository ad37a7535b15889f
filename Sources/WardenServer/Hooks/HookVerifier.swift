import Crypto
import Foundation
import Synchronization
import WardenCore

/// Checks that a webhook's caller holds the hook's secret. Pure: the headers, body and time are
/// given. Every comparison of secret material is in constant time.
public enum HookVerifier {
    public enum Outcome: Sendable, Equatable {
        /// Verified; `replayKey` identifies the delivery (accepted once).
        case verified(replayKey: String?)
        /// Refused, saying why (never echoing a secret).
        case refused(String)
    }

    /// `header(name)`: the request's header (case-insensitive). `now`: Unix seconds.
    public static func verify(
        _ verification: HookSpec.Verification,
        header: (String) -> String?,
        body: [UInt8],
        now: Double
    ) -> Outcome {
        switch verification {
        case .token(let name, let secret):
            guard var value = header(name) else { return .refused("the \(name) header is missing") }
            if name.lowercased() == "authorization" {
                guard value.lowercased().hasPrefix("bearer ") else {
                    return .refused("the Authorization header must be 'Bearer <token>'")
                }
                value = String(value.dropFirst(7))
            }
            return secret.matches(Array(value.utf8)) ? .verified(replayKey: nil) : .refused("the token is not valid")
        case .github(let secret):
            guard let signature = header("X-Hub-Signature-256") else {
                return .refused("the X-Hub-Signature-256 header is missing")
            }
            guard signature.hasPrefix("sha256="), signature.utf8.count == 71 else {
                return .refused("X-Hub-Signature-256 must be sha256=<64 hex digits>")
            }
            let expected = "sha256=" + hex(hmac(secret, body))
            guard Secret(expected).matches(Array(signature.lowercased().utf8)) else {
                return .refused("the signature does not match the body")
            }
            let delivery = header("X-GitHub-Delivery").flatMap { $0.utf8.count <= 100 ? $0 : nil }
            return .verified(replayKey: "github:" + (delivery ?? signature))
        case .timestamped(let name, let secret, let tolerance):
            guard let value = header(name), value.utf8.count <= 2048 else {
                return .refused("the \(name) header is missing")
            }
            var timestamp: Int64?
            var signatures: [String] = []
            for part in value.split(separator: ",").prefix(20) {
                let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard pair.count == 2 else { continue }
                if pair[0] == "t" { timestamp = Int64(pair[1]) }
                if pair[0] == "v1", pair[1].utf8.count == 64 { signatures.append(pair[1].lowercased()) }
            }
            guard let timestamp, !signatures.isEmpty else {
                return .refused("\(name) must be t=<unix seconds>,v1=<64 hex digits>")
            }
            guard abs(Double(timestamp) - now) <= tolerance.seconds else {
                return .refused(
                    "the signature's time is more than \(DurationFormat.format(tolerance)) from now (a replay, or a clock that is off)"
                )
            }
            let expected = Secret(hex(hmac(secret, Array("\(timestamp).".utf8) + body)))
            guard let matched = signatures.first(where: { expected.matches(Array($0.utf8)) }) else {
                return .refused("the signature does not match the body")
            }
            return .verified(replayKey: "v1:" + matched)
        }
    }

    static func hmac(_ secret: Secret, _ data: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: secret.bytes)))
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Deliveries seen recently, so that each is accepted once: a key is remembered for `keep`, and
/// at most `limit` keys are (the oldest go first), so a flood cannot grow it without bound.
public final class ReplayGuard: Sendable {
    private struct State {
        var seen: [String: Instant] = [:]
        var order: [String] = []
        var head = 0
    }
    private let state = Mutex(State())
    let keep: Duration
    let limit: Int

    public init(keep: Duration = .seconds(86_400), limit: Int = 100_000) {
        self.keep = keep
        self.limit = limit
    }

    /// True the first time `key` is offered (within `keep`), false after.
    public func firstTime(_ key: String, now: Instant) -> Bool {
        state.withLock { s in
            while s.head < s.order.count {
                let oldest = s.order[s.head]
                guard let at = s.seen[oldest], now - at >= keep || s.seen.count >= limit else { break }
                s.seen[oldest] = nil
                s.head += 1
            }
            if s.head > 1024, s.head * 2 > s.order.count {
                s.order.removeFirst(s.head)
                s.head = 0
            }
            if let at = s.seen[key], now - at < keep { return false }
            s.seen[key] = now
            s.order.append(key)
            return true
        }
    }
}
