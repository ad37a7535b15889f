import Foundation
import WardenCore

/// What came out of one ingest request body: the valid samples, and why each rejected one was.
public struct IngestResult: Sendable {
    public var batch = SampleBatch()
    public var rejected: [Rejection] = []

    public init() {}

    /// One rejected sample.
    public struct Rejection: Sendable, Hashable, Codable {
        /// 0-based item index (JSON) or 1-based line number (text formats).
        public var item: Int
        /// The field at fault, when there is one.
        public var field: String?
        public var reason: String

        public init(item: Int, field: String?, reason: String) {
            self.item = item
            self.field = field
            self.reason = reason
        }
    }

    public var accepted: Int { batch.count }
}

/// The limits every ingested sample must respect.
public struct IngestRules: Sendable {
    /// Now, in microseconds since the epoch; also the time of samples that carry none.
    public var now: Int64
    /// The oldest acceptable time.
    public var oldest: Int64
    /// The newest acceptable time.
    public var newest: Int64

    public init(now: Date, maxAge: Duration, maxFuture: Duration) {
        self.now = Int64(now.timeIntervalSince1970 * 1e6)
        oldest = self.now - maxAge.nanoseconds / 1000
        newest = self.now + maxFuture.nanoseconds / 1000
    }

    /// Why a time is refused, or nil.
    func problem(time: Int64) -> String? {
        if time < oldest { return "the time is older than the retention of raw samples allows" }
        if time > newest { return "the time is too far in the future" }
        return nil
    }

    /// Why a value is refused, or nil.
    func problem(value: Double) -> String? {
        value.isFinite ? nil : "the value must be a finite number"
    }
}

/// A body that is not well-formed at all (as opposed to a bad item): answered with 400.
public struct MalformedBody: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// The top-level field at fault, when there is one.
    public var field: String?
    public var description: String { message }
}
