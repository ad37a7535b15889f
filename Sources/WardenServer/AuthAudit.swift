import Synchronization
import WardenCore

/// Sums failed authentications per address and reports them as one `audit.auth.failed` event per
/// address and period, so that a client hammering the API with wrong tokens costs a few records,
/// not one per request.
///
/// Counted: requests with a token that matches nothing (or a malformed `Authorization` header),
/// requests refused while their address was made to wait, and writes without any token. A period
/// reports at most ``maxAddresses`` addresses (those with the most failures); the rest are
/// summed in one event with the subject `others`.
public final class AuthAudit: Sendable {
    struct Tally: Sendable {
        var failures = 0
        var refused = 0
        var unauthenticated = 0
        var problem = ""
        var longestWait: Duration = .zero
    }

    /// Addresses reported one by one per period.
    public static let maxAddresses = 100

    private let tallies = Mutex<[String: Tally]>([:])
    let bus: EventBus

    public init(bus: EventBus) { self.bus = bus }

    /// A token that matched nothing; `earned` is the wait it brought, if any.
    func failed(_ key: String, problem: String, earned: Duration?) {
        tallies.withLock { t in
            t[key, default: Tally()].failures += 1
            t[key, default: Tally()].problem = problem
            if let earned { t[key, default: Tally()].longestWait = max(t[key, default: Tally()].longestWait, earned) }
        }
    }

    /// A request refused because its address is waiting.
    func refused(_ key: String) {
        tallies.withLock { t in t[key, default: Tally()].refused += 1 }
    }

    /// A write refused for want of any token.
    func unauthenticated(_ key: String) {
        tallies.withLock { t in t[key, default: Tally()].unauthenticated += 1 }
    }

    /// Publishes and clears the tallies (called every ten seconds and at shutdown).
    public func flush() {
        let current = tallies.withLock { t -> [String: Tally] in
            defer { t = [:] }
            return t
        }
        guard !current.isEmpty else { return }
        let ordered = current.sorted {
            ($0.value.failures + $0.value.refused, $1.key) > ($1.value.failures + $1.value.refused, $0.key)
        }
        for (key, tally) in ordered.prefix(Self.maxAddresses) { publish(key, tally, addresses: 1) }
        let rest = ordered.dropFirst(Self.maxAddresses)
        if !rest.isEmpty {
            var sum = Tally()
            for (_, t) in rest {
                sum.failures += t.failures
                sum.refused += t.refused
                sum.unauthenticated += t.unauthenticated
                sum.longestWait = max(sum.longestWait, t.longestWait)
            }
            sum.problem = "many addresses"
            publish("others", sum, addresses: rest.count)
        }
    }

    private func publish(_ key: String, _ t: Tally, addresses: Int) {
        let failures = AuthFailures(
            remote: key,
            failures: t.failures,
            refused: t.refused,
            unauthenticated: t.unauthenticated,
            addresses: addresses,
            problem: t.problem.isEmpty ? nil : t.problem,
            waitMs: t.longestWait > .zero ? t.longestWait.milliseconds : nil
        )
        bus.publish(failures, source: "api", subject: key)
    }
}
