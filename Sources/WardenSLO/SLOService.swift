import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import WardenCore
import WardenStore

/// Computes the spec's SLOs and alerts when their error budget burns too fast.
///
/// Each run of an SLO's health probe is one event, good or bad, stored as a sample of
/// `slo.events{slo=NAME}` (1 good, 0 bad) as it arrives from the sample feed: the store's rollups
/// then count any window cheaply, and a restart loses nothing. Every `every` the windows of each
/// SLO are counted, its status (SLI, budget left, each alert's burn over its long and short
/// window) kept for `/v1/slos`, and each alert that starts or stops firing published as
/// `slo.burn.firing` or `slo.burn.resolved`, which healing and people can act on.
public final class SLOService: Service, Sendable {
    let slos: [SLOSpec]
    let store: any Store
    let bus: EventBus
    let clock: any WardenClock
    let every: Duration
    let logger: Logger
    private let subscription: FanOutSubscription<SampleBatch>
    private let state = Mutex<(statuses: [SLOStatus], firing: Set<String>)>(([], []))
    /// The last value of each counter an SLO counts.
    private let lastCounts = Mutex<[CounterKey: Double]>([:])

    public init(
        slos: [SLOSpec],
        feed: FanOut<SampleBatch>,
        store: any Store,
        bus: EventBus,
        clock: any WardenClock = SystemClock(),
        every: Duration = .seconds(30),
        logger: Logger
    ) {
        self.slos = slos
        self.store = store
        self.bus = bus
        self.clock = clock
        self.every = every
        self.logger = logger
        self.subscription = feed.subscribe(name: "slo", capacity: 10_000)
    }

    /// How often to evaluate: a fifth of the shortest alert window, between 1 s and 30 s (the
    /// workbook's 5-minute short window is looked at every 30 s).
    public static func evaluationInterval(_ slos: [SLOSpec]) -> Duration {
        let shortest = slos.flatMap(\.alerts).map(\.short).min() ?? .seconds(150)
        return min(max(shortest / 5, .seconds(1)), .seconds(30))
    }

    /// The last evaluation of every SLO.
    public var statuses: [SLOStatus] { state.withLock { $0.statuses } }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.classify() }
            group.addTask { await self.evaluateForever() }
            await group.next()
            group.cancelAll()
        }
    }

    /// Turns probe samples into SLO events.
    private func classify() async {
        await withGracefulShutdownHandler {
            while true {
                let batches = await subscription.nextBatch(max: 1000)
                if batches.isEmpty { return }
                var out = SampleBatch()
                for batch in batches {
                    Self.events(of: batch, for: slos, into: &out)
                    lastCounts.withLock { Self.counterEvents(of: batch, for: slos, last: &$0, into: &out) }
                }
                if !out.isEmpty {
                    do { try await store.appendSamples(out) } catch {
                        logger.error("cannot store SLO events", metadata: ["warden.error": "\(error)"])
                    }
                }
            }
        } onGracefulShutdown: {
            self.subscription.finish()
        }
    }

    /// The SLO events in `batch`: one per health-probe run of an SLO's service.
    static func events(of batch: SampleBatch, for slos: [SLOSpec], into out: inout SampleBatch) {
        struct Run {
            var up: Double?
            var latency: Double?
        }
        var runs: [String: [Int64: Run]] = [:]
        for p in batch.points {
            let key = batch.series[Int(p.series)]
            guard key.name == "probe.up" || key.name == "probe.latency_seconds" else { continue }
            let labels = key.labelDictionary
            guard labels["probe"] == "health", let service = labels["service"] else { continue }
            if key.name == "probe.up" {
                runs[service, default: [:]][p.time, default: Run()].up = p.value
            } else {
                runs[service, default: [:]][p.time, default: Run()].latency = p.value
            }
        }
        guard !runs.isEmpty else { return }
        for slo in slos where slo.counters == nil {
            guard let mine = runs[slo.service] else { continue }
            let key = SeriesKey(name: "slo.events", labels: [.init("slo", slo.name)])
            for (time, run) in mine {
                guard let up = run.up else { continue }
                var good = up >= 1
                if let limit = slo.latency, let latency = run.latency { good = good && latency <= limit.seconds }
                out.append(key, time: time, value: good ? 1 : 0)
            }
        }
    }

    /// The increases of the counters of SLOs with `good:` and `total:` in `batch`, as samples of
    /// `slo.good{slo}` and `slo.total{slo}` (a counter's first value is its baseline; a value
    /// below the last one is a reset and counts from zero). At most `limit` counters are followed.
    static func counterEvents(
        of batch: SampleBatch,
        for slos: [SLOSpec],
        last: inout [CounterKey: Double],
        into out: inout SampleBatch,
        limit: Int = 100_000
    ) {
        let index = SelectorIndex(slos)
        guard !index.isEmpty else { return }
        // The series are matched once per batch, not once per point (ingest runs through here),
        // and only against the selectors the index finds for them.
        var matched: [Int: [CounterKey]] = [:]
        for (i, key) in batch.series.enumerated() {
            for candidate in index.candidates(for: key) where candidate.selector.matches(key) {
                matched[i, default: []].append(CounterKey(slo: candidate.slo, good: candidate.good, series: key))
            }
        }
        guard !matched.isEmpty else { return }
        for p in batch.points where p.value.isFinite && p.value >= 0 {
            guard let keys = matched[Int(p.series)] else { continue }
            for id in keys {
                let previous = last[id]
                // Label values come from whoever ingests: past `limit` counters, new ones are
                // not followed (memory stays bounded; the ones already followed still count).
                if previous == nil && last.count >= limit { continue }
                last[id] = p.value
                guard let previous else { continue }
                let increase = p.value >= previous ? p.value - previous : p.value
                if increase > 0 {
                    out.append(
                        SeriesKey(name: id.good ? "slo.good" : "slo.total", labels: [.init("slo", id.slo)]),
                        time: p.time,
                        value: increase
                    )
                }
            }
        }
    }

    /// The SLOs' counter selectors by series name and by one of their labels, so that a series is
    /// checked against the few selectors that may match it rather than every SLO's.
    struct SelectorIndex {
        struct Entry {
            var slo: String
            var good: Bool
            var selector: SeriesSelector
        }
        /// By name: the selectors without labels, and the others under their first label's
        /// name and value.
        private var plain: [String: [Entry]] = [:]
        private var labelled: [String: [String: [String: [Entry]]]] = [:]

        init(_ slos: [SLOSpec]) {
            for slo in slos {
                guard let c = slo.counters else { continue }
                for (selector, good) in [(c.good, true), (c.total, false)] {
                    let entry = Entry(slo: slo.name, good: good, selector: selector)
                    if let first = selector.labels.min(by: { $0.key < $1.key }) {
                        labelled[selector.name, default: [:]][first.key, default: [:]][first.value, default: []]
                            .append(entry)
                    } else {
                        plain[selector.name, default: []].append(entry)
                    }
                }
            }
        }

        var isEmpty: Bool { plain.isEmpty && labelled.isEmpty }

        /// The selectors that may match `key` (each still to be checked).
        func candidates(for key: SeriesKey) -> [Entry] {
            var out = plain[key.name] ?? []
            if let byLabel = labelled[key.name] {
                for label in key.labels { out += byLabel[label.name]?[label.value] ?? [] }
            }
            return out
        }
    }

    /// One counter of one SLO: its last value is kept under this.
    struct CounterKey: Hashable {
        var slo: String
        var good: Bool
        var series: SeriesKey
    }

    private func evaluateForever() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await evaluate()
            try? await cancelWhenGracefulShutdown { try await self.clock.sleep(for: self.every) }
        }
    }

    /// Counts every SLO's windows and publishes the alerts that changed.
    ///
    /// One store query per window length and series name reads every SLO's count at once (the
    /// SLO is a label of `slo.events`, `slo.good` and `slo.total`): a round costs a few queries
    /// however many SLOs there are, not one per SLO and window.
    public func evaluate() async {
        let now = clock.wallTime()
        var byWindow: [Double: [String: WindowCount]] = [:]
        let windows = Dictionary(grouping: slos.flatMap { slo in SLOStatus.windows(slo).map { ($0, slo) } }) {
            $0.0.seconds
        }
        for (seconds, pairs) in windows {
            let window = pairs[0].0
            var counts: [String: WindowCount] = [:]
            if pairs.contains(where: { $0.1.counters != nil }) {
                let good = await sums("slo.good", over: window, until: now)
                let total = await sums("slo.total", over: window, until: now)
                for (_, slo) in pairs where slo.counters != nil {
                    counts[slo.name] = WindowCount(good: good[slo.name]?.sum ?? 0, total: total[slo.name]?.sum ?? 0)
                }
            }
            if pairs.contains(where: { $0.1.counters == nil }) {
                let events = await sums("slo.events", over: window, until: now)
                for (_, slo) in pairs where slo.counters == nil {
                    let e = events[slo.name]
                    counts[slo.name] = WindowCount(good: e?.sum ?? 0, total: e?.count ?? 0)
                }
            }
            byWindow[seconds] = counts
        }
        var statuses: [SLOStatus] = []
        for slo in slos {
            var counts: [Double: WindowCount] = [:]
            for window in SLOStatus.windows(slo) {
                counts[window.seconds] = byWindow[window.seconds]?[slo.name] ?? WindowCount(good: 0, total: 0)
            }
            statuses.append(SLOStatus.evaluate(slo, counts: counts))
        }
        let changed = state.withLock { s -> [(SLOStatus, SLOStatus.AlertStatus, Bool)] in
            var changed: [(SLOStatus, SLOStatus.AlertStatus, Bool)] = []
            for status in statuses {
                for alert in status.alerts {
                    let id = "\(status.name) \(alert.severity) \(alert.longSeconds)/\(alert.shortSeconds)"
                    if alert.firing, s.firing.insert(id).inserted { changed.append((status, alert, true)) }
                    if !alert.firing, s.firing.remove(id) != nil { changed.append((status, alert, false)) }
                }
            }
            s.statuses = statuses
            return changed
        }
        for (status, alert, firing) in changed {
            let event = SLOBurnEvent(
                slo: status.name,
                service: status.service,
                severity: alert.severity,
                burn: alert.longBurn,
                threshold: alert.threshold,
                long: DurationFormat.format(.seconds(alert.longSeconds)),
                short: DurationFormat.format(.seconds(alert.shortSeconds)),
                budgetLeft: status.budgetLeft
            )
            bus.publish(
                firing ? "slo.burn.firing" : "slo.burn.resolved",
                source: "slo",
                subject: status.name,
                payload: event.json
            )
        }
    }

    /// The sum and the number of the samples of each `name{slo=…}` over `window` up to `now`, by
    /// SLO, in one query; when more series match than the store lets one query read (series of
    /// SLOs no longer in the spec), one query per SLO instead.
    func sums(_ name: String, over window: Duration, until now: Date) async -> [String: (sum: Double, count: Double)] {
        let query = SeriesQuery(
            name: name,
            from: now.addingTimeInterval(-window.seconds),
            to: now,
            step: window,
            maxSeries: slos.count + 64
        )
        do {
            var out: [String: (sum: Double, count: Double)] = [:]
            for result in try await store.query(query) {
                guard let slo = result.key.labelDictionary["slo"] else { continue }
                var entry = out[slo] ?? (0, 0)
                for bucket in result.buckets {
                    entry.sum += bucket.avg * Double(bucket.count)
                    entry.count += Double(bucket.count)
                }
                out[slo] = entry
            }
            return out
        } catch is SeriesQueryLimit {
            var out: [String: (sum: Double, count: Double)] = [:]
            for slo in slos {
                var one = query
                one.labels = ["slo": slo.name]
                one.maxSeries = 1
                guard let results = try? await store.query(one) else { continue }
                let buckets = results.flatMap(\.buckets)
                out[slo.name] = (
                    buckets.reduce(0) { $0 + $1.avg * Double($1.count) }, buckets.reduce(0) { $0 + Double($1.count) }
                )
            }
            return out
        } catch {
            logger.error("cannot count SLO events", metadata: ["warden.error": "\(error)"])
            return [:]
        }
    }
}
