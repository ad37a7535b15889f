import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import WardenCore

/// What the uplink reads and remembers on its node: the node's own event log is the outbox
/// (durable, in id order), and the position is the last id the control plane acknowledged.
public protocol UplinkSource: Sendable {
    /// Up to `limit` events with ids above `afterID`, oldest first.
    func events(after afterID: Int64, limit: Int) async throws -> [Event]
    /// The highest id recorded.
    func lastEventID() async throws -> Int64
    /// The last acknowledged id (0 before the first acknowledgement).
    func shippedPosition() async throws -> Int64
    /// Remembers the last acknowledged id, durably.
    func setShippedPosition(_ id: Int64) async throws
    /// The last fleet decision applied (0 before the first).
    func decisionPosition() async throws -> Int64
    /// Remembers the last fleet decision applied, durably.
    func setDecisionPosition(_ id: Int64) async throws
    /// Up to `limit` points with sequence numbers above `afterID`, in order.
    func samples(after afterID: Int64, limit: Int) async throws -> FleetSamples
    /// The last acknowledged point (0 before the first acknowledgement).
    func samplesPosition() async throws -> Int64
    /// Remembers the last acknowledged point, durably.
    func setSamplesPosition(_ id: Int64) async throws
}

/// Ships the node's events and telemetry to the control plane, at least once and in order, and applies the
/// fleet's decisions (bans decided on other nodes) as soon as they are made: a request to
/// `/v1/fleet/decisions` is kept open for them (a long poll), and made again when it answers.
///
/// It calls every `every` even with nothing to ship: the control plane knows the node is alive.
///
/// Every `every`, the events after the acknowledged position go out in batches; the position
/// moves only when a control plane answers 200, so nothing is lost when the control plane, the
/// network or this process dies, and a batch sent twice is stored once (events are keyed by node
/// and id). The control planes of the spec are tried in turn; failures back off (up to 30 s). A
/// batch the control plane refuses (4xx: a bad credential, a batch it finds wrong) is logged
/// loudly and retried with the same back-off, never skipped.
public final class Uplink: Service, Sendable {
    let spec: FleetSpec
    let source: any UplinkSource
    let transport: any HTTPTransport
    let clock: any WardenClock
    let logger: Logger
    let apply: @Sendable ([FleetDecision]) async -> Void
    let onSamplesDropped: @Sendable (Int64) -> Void
    private let state = Mutex(State())

    struct State {
        var shipped: Int64 = 0
        var samplesShipped: Int64 = 0
        var decided: Int64 = 0
        var failures = 0
        var lastError: String?
        var target = 0
    }

    public init(
        spec: FleetSpec,
        source: any UplinkSource,
        transport: any HTTPTransport,
        clock: any WardenClock = SystemClock(),
        logger: Logger,
        apply: @escaping @Sendable ([FleetDecision]) async -> Void = { _ in },
        onSamplesDropped: @escaping @Sendable (Int64) -> Void = { _ in }
    ) {
        self.apply = apply
        self.onSamplesDropped = onSamplesDropped
        self.spec = spec
        self.source = source
        self.transport = transport
        self.clock = clock
        self.logger = logger
    }

    /// The last id the control plane acknowledged.
    public var shipped: Int64 { state.withLock { $0.shipped } }
    /// Why the last attempt failed, while it is failing.
    public var lastError: String? { state.withLock { $0.lastError } }

    public func run() async throws {
        let start = try await source.shippedPosition()
        let samplesStart = try await source.samplesPosition()
        let decided = try await source.decisionPosition()
        state.withLock {
            $0.shipped = start
            $0.samplesShipped = samplesStart
            $0.decided = decided
        }
        let poller = Task { await self.pollDecisions() }
        defer { poller.cancel() }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let delay: Duration
            do {
                try await shipAll()
                state.withLock {
                    $0.failures = 0
                    $0.lastError = nil
                }
                delay = spec.every
            } catch {
                let failures = state.withLock { s -> Int in
                    s.failures += 1
                    s.lastError = "\(error)"
                    return s.failures
                }
                rotate(from: (error as? UplinkError)?.target ?? state.withLock { $0.target })
                if failures == 1 || failures % 30 == 0 {
                    logger.warning(
                        "cannot ship to the control plane; keeping the events and trying again",
                        metadata: ["warden.error": "\(error)", "warden.failures": "\(failures)"]
                    )
                }
                delay = Self.backoff(failures: failures, every: spec.every)
            }
            try? await cancelWhenGracefulShutdown { try await self.clock.sleep(for: delay) }
        }
        // One last try at shutdown, so a clean stop leaves nothing behind that could be sent.
        try? await shipAll()
    }

    /// `every` doubled per failure in a row, at most 30 s.
    package static func backoff(failures: Int, every: Duration) -> Duration {
        let factor = 1 << min(failures, 10)
        return min(every * factor, .seconds(30))
    }

    /// Unshipped events, and how long the oldest of them has waited.
    let outboxDepth = Gauge(label: "warden_fleet_outbox_events")
    let outboxAge = Gauge(label: "warden_fleet_outbox_age_seconds")

    /// Points dropped by the node's retention before they could be shipped.
    let samplesDropped = Counter(label: "warden_fleet_outbox_samples_dropped")
    /// The most points one batch carries.
    static let samplesPerBatch = 10_000

    /// Ships batches until nothing new is left (at least one call: it says the node is alive).
    func shipAll() async throws {
        var first = true
        while true {
            let (after, samplesAfter) = state.withLock { ($0.shipped, $0.samplesShipped) }
            let events = try await source.events(after: after, limit: spec.batch)
            let samples = try await source.samples(after: samplesAfter, limit: Self.samplesPerBatch)
            if first {
                first = false
                let last = try await source.lastEventID()
                outboxDepth.record(max(0, last - after))
                outboxAge.record(events.first.map { max(0, clock.wallTime().timeIntervalSince($0.time)) } ?? 0)
            }
            if let firstPoint = samples.points.first, firstPoint.id > samplesAfter + 1, samplesAfter > 0 {
                // Rows grow by one; a gap is what retention deleted before it could be shipped.
                let gap = firstPoint.id - samplesAfter - 1
                samplesDropped.increment(by: Int(gap))
                logger.error(
                    "the node's retention (samples.raw) dropped telemetry before it could be shipped",
                    metadata: ["warden.dropped": "\(gap)"]
                )
                onSamplesDropped(gap)
            }
            // Decisions come by the long poll, not with the answer.
            let batch = FleetBatch(
                node: spec.node,
                labels: spec.labels,
                events: events.map(FleetEvent.init),
                samples: samples.isEmpty ? nil : samples
            )
            let ack = try await send(batch)
            if let last = events.last {
                guard ack.lastID >= last.id else {
                    throw UplinkError("the control plane acknowledged up to \(ack.lastID), not \(last.id)")
                }
                try await source.setShippedPosition(last.id)
                state.withLock { $0.shipped = last.id }
            }
            if let last = samples.points.last {
                guard let stored = ack.samplesLastID, stored >= last.id else {
                    throw UplinkError(
                        "the control plane acknowledged points up to \(ack.samplesLastID ?? 0), not \(last.id)"
                    )
                }
                try await source.setSamplesPosition(last.id)
                state.withLock { $0.samplesShipped = last.id }
            }
            if events.count < spec.batch && samples.points.count < Self.samplesPerBatch { return }
        }
    }

    /// Waits for the fleet's decisions on the control plane, applies them in order and remembers
    /// the last; again and again, with a back-off when the control plane cannot be reached.
    func pollDecisions() async {
        var failures = 0
        while !Task.isCancelled {
            do {
                let decided = state.withLock { $0.decided }
                let decisions = try await fetchDecisions(after: decided)
                failures = 0
                let fresh = decisions.filter { $0.id > decided }.sorted { $0.id < $1.id }
                if let newest = fresh.last?.id {
                    await apply(fresh)
                    try await source.setDecisionPosition(newest)
                    state.withLock { $0.decided = newest }
                }
            } catch {
                failures += 1
                if failures == 1 || failures % 30 == 0 {
                    logger.warning(
                        "cannot fetch the fleet's decisions; trying again",
                        metadata: ["warden.error": "\(error)", "warden.failures": "\(failures)"]
                    )
                }
                try? await clock.sleep(for: Self.backoff(failures: failures, every: spec.every))
            }
        }
    }

    /// How long a decisions request is held open by the control plane: 15 to 25 s, drawn per
    /// request, so that agents started together do not all renew their polls at once.
    static let pollWait = 15...25

    func fetchDecisions(after: Int64) async throws -> [FleetDecision] {
        let node = spec.node.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? spec.node
        let wait = Int.random(in: Self.pollWait)
        var (request, base, used) = request("/v1/fleet/decisions?node=\(node)&after=\(after)&wait=\(wait)")
        request.method = "GET"
        request.timeout = .seconds(Int64(wait) + 15)
        let response: OutboundResponse
        do {
            response = try await transport.send(request)
        } catch {
            rotate(from: used)
            throw UplinkError("\(base): \(error.message)", target: used)
        }
        guard response.status == 200 else {
            throw UplinkError(
                "\(base) answered \(response.status): \(String(decoding: response.body.prefix(300), as: UTF8.self))"
            )
        }
        guard let list = JSONValue.parse(bytes: response.body)?["decisions"],
            let data = try? JSONEncoder().encode(list),
            let decisions = try? JSONDecoder().decode([FleetDecision].self, from: data)
        else { throw UplinkError("\(base) answered 200 without decisions") }
        return decisions
    }

    /// A request to `path` of the control plane in turn, with the credential and CA file; that
    /// control plane's base URL, for messages; and the turn it was taken at, for ``rotate(from:)``.
    func request(_ path: String) -> (OutboundRequest, String, Int) {
        let used = state.withLock { $0.target }
        let url = spec.control[used % spec.control.count]
        let base = url.hasSuffix("/") ? String(url.dropLast()) : url
        var request = OutboundRequest(url: base + path)
        request.headers = [("authorization", "Bearer " + String(decoding: spec.token.bytes, as: UTF8.self))]
        request.caFile = spec.caFile
        return (request, base, used)
    }

    /// Moves on to the next control plane after one failed at turn `used`, unless another call
    /// already moved on from it: the shipping loop and the decisions poll fail together when a
    /// replica dies, and two moves would take both back to the dead one (with two control
    /// planes), each failure backing off longer.
    package func rotate(from used: Int) {
        state.withLock { if $0.target == used { $0.target += 1 } }
    }

    /// The turn the next request is made at (the control plane is `control[turn % count]`).
    package var turn: Int { state.withLock { $0.target } }

    /// Asks the control plane whether this node may apply `commit` of the spec followed by
    /// `group` (a rollout in waves; `share`: the first wave's share of the group).
    public func admit(commit: String, group: String, share: Double) async throws -> RolloutAnswer {
        let body: JSONValue = .object([
            "node": .string(spec.node), "group": .string(group), "commit": .string(commit), "share": .double(share),
        ])
        let (response, base) = try await post("/v1/fleet/rollouts/admit", Array(body.jsonText.utf8), rotate: true)
        guard let answer = try? JSONDecoder().decode(RolloutAnswer.self, from: Data(response.body)) else {
            throw UplinkError("\(base) answered 200 without an answer")
        }
        return answer
    }

    /// POSTs JSON to `path` of the control plane in turn; the answer when it is 200. With
    /// `rotate`, a control plane that cannot be reached makes the next call go to the next one
    /// (the shipping loop rotates on any failure itself).
    func post(_ path: String, _ body: [UInt8], rotate: Bool = false) async throws -> (OutboundResponse, String) {
        var (request, base, used) = request(path)
        request.method = "POST"
        request.headers.append(("content-type", "application/json"))
        request.body = body
        request.timeout = .seconds(10)
        let response: OutboundResponse
        do {
            response = try await transport.send(request)
        } catch {
            if rotate { self.rotate(from: used) }
            throw UplinkError("\(base): \(error.message)", target: used)
        }
        guard response.status == 200 else {
            let text = String(decoding: response.body.prefix(300), as: UTF8.self)
            throw UplinkError("\(base) answered \(response.status): \(text)", target: used)
        }
        return (response, base)
    }

    func send(_ batch: FleetBatch) async throws -> FleetAck {
        let (response, base) = try await post("/v1/fleet/events", Array(try JSONEncoder().encode(batch)))
        guard let ack = try? JSONDecoder().decode(FleetAck.self, from: Data(response.body)) else {
            throw UplinkError("\(base) answered 200 without an acknowledgement")
        }
        return ack
    }
}

/// Why a batch was not acknowledged.
public struct UplinkError: Error, CustomStringConvertible {
    public var description: String
    /// The turn of the control plane that failed (nil: not a control plane's failure).
    var target: Int?
    init(_ description: String, target: Int? = nil) {
        self.description = description
        self.target = target
    }
}
