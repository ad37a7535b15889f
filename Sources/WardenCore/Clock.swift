import CWardenSys
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A point on a monotonic timeline, in nanoseconds from an arbitrary origin.
///
/// Instants from different clocks are not comparable; use one clock per component. Arithmetic
/// saturates rather than trapping, so `Instant.distantFuture + x` stays in the distant future.
public struct Instant: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Nanoseconds from the clock's origin.
    public var nanoseconds: Int64

    /// Creates an instant `nanoseconds` after the clock's origin.
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    /// An instant later than any a clock will report.
    public static let distantFuture = Instant(nanoseconds: .max)

    public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    public static func + (lhs: Instant, rhs: Duration) -> Instant {
        let (sum, overflow) = lhs.nanoseconds.addingReportingOverflow(rhs.nanoseconds)
        if overflow { return rhs > .zero ? .distantFuture : Instant(nanoseconds: .min) }
        return Instant(nanoseconds: sum)
    }

    public static func - (lhs: Instant, rhs: Duration) -> Instant { lhs + .nanoseconds(-rhs.nanoseconds) }

    public static func - (lhs: Instant, rhs: Instant) -> Duration {
        let (diff, overflow) = lhs.nanoseconds.subtractingReportingOverflow(rhs.nanoseconds)
        return overflow ? (lhs > rhs ? .nanoseconds(Int64.max) : .nanoseconds(Int64.min)) : .nanoseconds(diff)
    }

    public var description: String { "\(Double(nanoseconds) / 1e9)s" }
}

/// The source of time for every timing decision in Warden.
///
/// Production code uses ``SystemClock``; state machines and their tests use ``ManualClock`` so that
/// backoff, cooldowns and deadlines are tested without sleeping.
public protocol WardenClock: Sendable {
    /// The current monotonic instant.
    func now() -> Instant
    /// The current wall-clock time, for records people read.
    func wallTime() -> Date
    /// Suspends until `deadline` has passed or the task is cancelled (then throws CancellationError).
    func sleep(until deadline: Instant) async throws
}

extension WardenClock {
    /// Suspends for `duration`.
    public func sleep(for duration: Duration) async throws {
        try await sleep(until: now() + duration)
    }
}

/// The machine's monotonic clock (CLOCK_MONOTONIC) and its wall clock.
public struct SystemClock: WardenClock {
    public init() {}

    public func now() -> Instant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Instant(nanoseconds: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }

    public func wallTime() -> Date { Date() }

    public func sleep(until deadline: Instant) async throws {
        // The same clock (CLOCK_MONOTONIC), without libdispatch's once-a-second timer.
        try await Sleeper.shared.sleep(until: deadline.nanoseconds)
    }
}

extension Duration {
    /// The duration in (fractional) seconds.
    public var seconds: Double {
        let (s, attos) = components
        return Double(s) + Double(attos) / 1e18
    }

    /// The duration in whole nanoseconds (saturating).
    public var nanoseconds: Int64 {
        let (s, attos) = components
        let (ns, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return s > 0 ? .max : .min }
        let (sum, o2) = ns.addingReportingOverflow(attos / 1_000_000_000)
        return o2 ? (s > 0 ? .max : .min) : sum
    }

    /// The duration in whole milliseconds.
    public var milliseconds: Int64 { nanoseconds / 1_000_000 }
}

extension Task where Failure == any Error {
    /// The task's value; cancelling the caller cancels the task too (an unstructured task is not
    /// cancelled with the one that awaits it otherwise).
    public func valueCancellingWithCaller() async throws -> Success {
        try await withTaskCancellationHandler {
            try await value
        } onCancel: {
            cancel()
        }
    }
}
