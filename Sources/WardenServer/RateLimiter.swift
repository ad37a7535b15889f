import Foundation
import HTTPTypes
import Hummingbird
import Synchronization
import WardenCore

/// A token bucket: `capacity` requests at once, refilled at `rate` per second. Pure: the caller
/// passes the time.
public struct TokenBucket: Sendable, Hashable {
    public let capacity: Double
    public let rate: Double
    public private(set) var tokens: Double
    public private(set) var updated: Instant

    public init(capacity: Int, rate: Double, now: Instant) {
        self.capacity = Double(capacity)
        self.rate = rate
        tokens = Double(capacity)
        updated = now
    }

    /// Takes one token if there is one; otherwise returns how long until there will be.
    public mutating func take(now: Instant) -> Duration? {
        let elapsed = max(0, (now - updated).seconds)
        tokens = min(capacity, tokens + elapsed * rate)
        updated = now
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        return .nanoseconds(Int64(((1 - tokens) / rate) * 1e9))
    }

    /// Whether the bucket is full (an idle client), so it can be forgotten.
    public func isFull(now: Instant) -> Bool { tokens + max(0, (now - updated).seconds) * rate >= capacity }
}

/// Limits each token (or each anonymous address) to the spec's rate; answers 429 with
/// Retry-After when a caller is over it.
public struct RateLimitMiddleware: RouterMiddleware {
    public typealias Context = APIContext

    let rate: Double
    let burst: Int
    let clock: any WardenClock
    private let buckets = BucketTable()

    /// The buckets by caller; bounded: idle (full) buckets are dropped when it grows large.
    final class BucketTable: Sendable {
        let table = Mutex<[String: TokenBucket]>([:])
    }

    public init(rate: Double, burst: Int, clock: any WardenClock = SystemClock()) {
        self.rate = rate
        self.burst = burst
        self.clock = clock
    }

    public func handle(
        _ request: Request,
        context: APIContext,
        next: (Request, APIContext) async throws -> Response
    ) async throws -> Response {
        let key =
            context.identity.map { $0.anonymous ? "anon:\(context.remoteAddress)" : "token:\($0.name)" }
            ?? "anon:\(context.remoteAddress)"
        let now = clock.now()
        let wait = buckets.table.withLock { table -> Duration? in
            if table.count > 10_000 { table = table.filter { !$0.value.isFull(now: now) } }
            var bucket = table[key] ?? TokenBucket(capacity: burst, rate: rate, now: now)
            let wait = bucket.take(now: now)
            table[key] = bucket
            return wait
        }
        if let wait {
            let seconds = max(1, Int(wait.seconds.rounded(.up)))
            throw APIError(.tooManyRequests, "rate_limited", "too many requests; retry in \(seconds)s")
                .with(header: .retryAfter, String(seconds))
        }
        return try await next(request, context)
    }
}
