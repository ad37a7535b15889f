import Foundation

/// The HTTP API: where it listens, who may use it, and its limits.
public struct APISpec: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// Let requests without a token read (never write).
    public var anonymousRead: Bool
    public var tokens: [TokenSpec]
    /// Largest accepted request body, in bytes.
    public var maxBody: Int
    /// Requests per second each token (or anonymous address) may make on average.
    public var rate: Double
    /// Requests a token may make at once before the rate applies.
    public var burst: Int
    /// A connection that sends nothing for this long is closed.
    public var idleTimeout: Duration
    /// A series query that runs longer than this is stopped (503).
    public var queryTimeout: Duration
    /// A series query may match at most this many series.
    public var maxQuerySeries: Int
    /// A series answer may hold at most this many points (series × steps).
    public var maxQueryPoints: Int
    /// Failed authentications an address may make (`allow` in `per`) before it must wait.
    public var authFailures: AuthFailureLimit

    public init(
        host: String = "127.0.0.1",
        port: Int = 7070,
        anonymousRead: Bool = false,
        tokens: [TokenSpec] = [],
        maxBody: Int = 8 * 1024 * 1024,
        rate: Double = 1000,
        burst: Int = 2000,
        idleTimeout: Duration = .seconds(30),
        queryTimeout: Duration = .seconds(10),
        maxQuerySeries: Int = 1000,
        maxQueryPoints: Int = 500_000,
        authFailures: AuthFailureLimit = AuthFailureLimit()
    ) {
        self.host = host
        self.port = port
        self.anonymousRead = anonymousRead
        self.tokens = tokens
        self.maxBody = maxBody
        self.rate = rate
        self.burst = burst
        self.idleTimeout = idleTimeout
        self.queryTimeout = queryTimeout
        self.maxQuerySeries = maxQuerySeries
        self.maxQueryPoints = maxQueryPoints
        self.authFailures = authFailures
    }
}

/// How many wrong tokens an address may send before it has to wait: `allow` within `per` (the
/// allowance refills evenly over that time); each further failure doubles the wait, from one
/// second up to `maxPenalty`.
public struct AuthFailureLimit: Sendable, Equatable {
    public var allow: Int
    public var per: Duration
    public var maxPenalty: Duration

    public init(allow: Int = 10, per: Duration = .seconds(60), maxPenalty: Duration = .seconds(900)) {
        self.allow = allow
        self.per = per
        self.maxPenalty = maxPenalty
    }
}

/// What a token may do. Each role includes the ones below it.
public enum Role: String, Sendable, Hashable, CaseIterable, Comparable, Codable {
    /// Read everything.
    case viewer
    /// Also act on services and ingest telemetry.
    case `operator`
    /// Also change Warden itself (reload).
    case admin

    private var rank: Int {
        switch self {
        case .viewer: return 0
        case .operator: return 1
        case .admin: return 2
        }
    }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }
}

/// A bearer token declared in the spec. The secret itself is referenced (`env:NAME`,
/// `file:PATH`) and resolved when the spec is loaded; it is never printed.
public struct TokenSpec: Sendable, Equatable {
    public var name: String
    public var role: Role
    /// Where the secret came from, for messages: `env:WARDEN_OPS_TOKEN`.
    public var reference: String
    public var secret: Secret

    public init(name: String, role: Role, reference: String, secret: Secret) {
        self.name = name
        self.role = role
        self.reference = reference
        self.secret = secret
    }
}

/// A secret value that never shows itself in descriptions, logs or dumps.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The bytes of the secret.
    public let bytes: [UInt8]

    public init(_ value: String) { bytes = Array(value.utf8) }

    public var description: String { "<secret>" }
    public var debugDescription: String { "<secret>" }
    public var customMirror: Mirror { Mirror(self, children: []) }

    /// Whether `candidate` is exactly the secret, compared in time that depends only on the
    /// candidate's length: every candidate byte is compared (against the secret repeated), and the
    /// whole length difference takes part, so a prefix or a longer or shorter guess never matches.
    /// An empty secret matches nothing.
    public func matches<C: Collection>(_ candidate: C) -> Bool where C.Element == UInt8 {
        guard !bytes.isEmpty else { return false }
        var difference = UInt(bitPattern: bytes.count) ^ UInt(bitPattern: candidate.count)
        var i = 0
        for byte in candidate {
            difference |= UInt(bytes[i % bytes.count] ^ byte)
            i += 1
        }
        return difference == 0
    }
}

/// How long telemetry samples are kept, and how many series and labels ingest may create.
public struct SamplesSpec: Sendable, Equatable {
    /// Raw samples are kept this long; older ones survive only as 1-minute rollups.
    public var raw: Duration
    /// Rollups are kept this long.
    public var retention: Duration
    /// Samples stamped further in the future than this are rejected.
    public var maxFuture: Duration
    /// Ingest may create at most this many series in all; a sample of a new series beyond it is
    /// refused (Warden's own series are not counted against it).
    public var maxSeries: Int
    /// At most this many labels per ingested sample.
    public var maxLabels: Int
    /// Ingested label values are at most this many bytes.
    public var maxLabelValue: Int

    public init(
        raw: Duration = .seconds(86400),
        retention: Duration = .seconds(30 * 86400),
        maxFuture: Duration = .seconds(600),
        maxSeries: Int = 100_000,
        maxLabels: Int = SampleRules.maxLabels,
        maxLabelValue: Int = SampleRules.maxLabelValue
    ) {
        self.raw = raw
        self.retention = retention
        self.maxFuture = maxFuture
        self.maxSeries = maxSeries
        self.maxLabels = maxLabels
        self.maxLabelValue = maxLabelValue
    }
}
