import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import WardenCore

/// Where monitors keep their state between runs (implemented over the store at the composition root).
public protocol MonitorStateStore: Sendable {
    /// The saved state of monitor `name`, or nil.
    func loadMonitor(_ name: String) async throws -> Data?
    /// Replaces the saved state of monitor `name`.
    func saveMonitor(_ name: String, _ data: Data) async throws
}

/// Runs one spec monitor: reads the sample feed, assembles vectors of its series, scores them with
/// its ``Monitor``, and publishes what it finds.
///
/// Events: `monitor.training` (once, when training starts), `monitor.trained`, `anomaly.scored`
/// (when the probability moves by 0.05 or crosses the threshold, and at least every 10 s of sample
/// time), `monitor.alert` (the probability held at or above the threshold for the `for` duration;
/// the payload carries the values of every series), `monitor.cleared` and `monitor.retrained`.
/// The probability is also recorded as the series `monitor.probability{monitor=…}`.
///
/// With `retrain`, a replacement model trains in the background on samples judged normal and
/// takes over when it is ready, so scoring never stops. The monitor's whole state is saved every
/// minute, after training and at shutdown, and restored at start when the spec has not changed.
public final class MonitorService: Service {
    let spec: MonitorSpec
    let configuration: MonitorConfiguration
    let feed: FanOut<SampleBatch>
    let bus: EventBus
    let states: (any MonitorStateStore)?
    let record: @Sendable (SampleBatch) async -> Void
    let clock: any WardenClock
    let logger: Logger
    private let subscription: FanOutSubscription<SampleBatch>
    /// The heal actions started for this monitor's alerts (`action.started`).
    private let heals: FanOutSubscription<Event>
    private let healsPending = Atomic<Int>(0)

    /// Saved state: the monitor and the spec it was made for.
    struct Saved: Codable {
        var specDigest: String
        var monitor: Monitor
        var lastTrained: Date?
    }

    public init(
        spec: MonitorSpec,
        feed: FanOut<SampleBatch>,
        bus: EventBus,
        states: (any MonitorStateStore)?,
        record: @escaping @Sendable (SampleBatch) async -> Void,
        clock: any WardenClock = SystemClock(),
        logger: Logger
    ) throws {
        self.spec = spec
        self.configuration = try Self.configuration(spec)
        self.feed = feed
        self.bus = bus
        self.states = states
        self.record = record
        self.clock = clock
        self.logger = logger
        subscription = feed.subscribe(name: "monitor-\(spec.name)", capacity: 10_000)
        let policy = "monitor:\(spec.name)"
        heals = bus.subscribe(name: "monitor-heals-\(spec.name)", capacity: 1000) { event in
            guard event.source == "heal" else { return false }
            switch event.type {
            case "incident.opened": return event.payload["policy"]?.stringValue == policy
            case "action.started": return true
            default: return false
            }
        }
    }

    /// The engine configuration a spec entry describes.
    public static func configuration(_ spec: MonitorSpec) throws -> MonitorConfiguration {
        var model = try MonitorConfiguration.Model.named(spec.model)
        if case .oneClassSVM = model { model = .oneClassSVM(.init(nu: spec.nu, standardize: spec.standardize)) }
        let config = MonitorConfiguration(
            features: spec.series.count,
            model: model,
            trainingWindow: spec.train,
            threshold: spec.threshold,
            holdFor: spec.holdFor,
            smoothing: spec.smoothing,
            afterHeal: spec.afterHeal,
            calibration: spec.calibration
        )
        try config.validate()
        return config
    }

    /// What a saved state must have been made for. Without a calibration it is written as it was
    /// before calibrations existed, so that an upgraded Warden restores the states it saved (a
    /// calibration only changes what the evidence is shown as, but it is part of the spec).
    var digest: String {
        var text = "\(configuration)"
        if configuration.calibration == nil { text = text.replacingOccurrences(of: ", calibration: nil", with: "") }
        return "\(text)|\(spec.series.map(\.description))"
    }

    public func run() async throws {
        var state = await restore()
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.followHeals() }
                await loop(&state)
                self.heals.finish()
            }
        } onGracefulShutdown: {
            self.subscription.finish()
            self.heals.finish()
        }
        // A heal that finished after the last samples still counts in what is saved.
        if healsPending.exchange(0, ordering: .relaxed) > 0 { state.monitor.healed() }
        await save(state)
    }

    /// Counts the actions started for this monitor's incidents (the healing engine opens one per
    /// alert under the policy `monitor:<name>`; its actions are about their own targets). A heal
    /// counts from its start: what the monitor sees from then on is the target's recovery (were it
    /// to wait for the action's verdict, a rebuild's health check would keep the probability of a
    /// failure already dealt with high for its whole settle time).
    private func followHeals() async {
        var incidents: [String] = []
        for await event in heals {
            guard let id = event.payload["id"]?.stringValue else { continue }
            if event.type == "incident.opened" {
                incidents.append(id)
                if incidents.count > 16 { incidents.removeFirst() }
            } else if incidents.contains(id) {
                healsPending.add(1, ordering: .relaxed)
            }
        }
    }

    /// What the loop carries.
    struct RunState {
        var monitor: Monitor
        var shadow: Monitor?
        var lastTrained: Date?
        var aligner: VectorAligner
        var announcedTraining = false
        var lastPublished: (time: Date, probability: Double, above: Bool)?
        /// When the state was last saved (the clock's time), to save it about once a minute.
        var lastSaved: Instant
        var probabilities = SampleBatch()
    }

    private func restore() async -> RunState {
        let fresh = try! Monitor(configuration: configuration)  // validated in init
        var state = RunState(
            monitor: fresh,
            aligner: VectorAligner(features: spec.series.count, tolerance: spec.align.nanoseconds / 1000),
            lastSaved: clock.now()
        )
        guard let states else { return state }
        do {
            if let data = try await states.loadMonitor(spec.name) {
                let saved = try Self.decoder().decode(Saved.self, from: data)
                if saved.specDigest == digest {
                    state.monitor = saved.monitor
                    state.lastTrained = saved.lastTrained
                    state.announcedTraining = true
                    logger.info(
                        "monitor state restored",
                        metadata: ["warden.monitor": "\(spec.name)", "warden.trained": "\(saved.monitor.isTrained)"]
                    )
                } else {
                    logger.info("monitor spec changed; training again", metadata: ["warden.monitor": "\(spec.name)"])
                }
            }
        } catch {
            logger.warning(
                "cannot restore monitor state; training again",
                metadata: ["warden.monitor": "\(spec.name)", "warden.error": "\(error)"]
            )
        }
        return state
    }

    /// JSON has no NaN or infinity, and detectors use NaN for "not known yet" (a seasonal
    /// detector's phase width before it has seen 16 intervals): they are written as strings.
    static func encoder() -> JSONEncoder { NonFiniteJSON.encoder() }

    static func decoder() -> JSONDecoder { NonFiniteJSON.decoder() }

    private func save(_ state: RunState) async {
        guard let states else { return }
        do {
            let data = try Self.encoder().encode(
                Saved(specDigest: digest, monitor: state.monitor, lastTrained: state.lastTrained)
            )
            try await states.saveMonitor(spec.name, data)
        } catch {
            logger.warning(
                "cannot save monitor state",
                metadata: ["warden.monitor": "\(spec.name)", "warden.error": "\(error)"]
            )
        }
    }

    private func loop(_ state: inout RunState) async {
        while true {
            let batches = await subscription.nextBatch(max: 64)
            if batches.isEmpty { return }
            if healsPending.exchange(0, ordering: .relaxed) > 0 { state.monitor.healed() }
            for batch in batches {
                // Which of this batch's series feed which feature.
                var featureOf = [Int?](repeating: nil, count: batch.series.count)
                var any = false
                for (i, key) in batch.series.enumerated() {
                    if let f = spec.series.firstIndex(where: { $0.matches(key) }) {
                        featureOf[i] = f
                        any = true
                    }
                }
                guard any else { continue }
                for p in batch.points {
                    guard let feature = featureOf[Int(p.series)] else { continue }
                    for vector in state.aligner.add(feature: feature, time: p.time, value: p.value) {
                        await process(vector.values, at: Date(timeIntervalSince1970: Double(vector.time) / 1e6), &state)
                    }
                }
            }
            if !state.probabilities.isEmpty {
                await record(state.probabilities)
                state.probabilities = SampleBatch()
            }
            if clock.now() - state.lastSaved > .seconds(60) {
                state.lastSaved = clock.now()
                await save(state)
            }
        }
    }

    private func process(_ values: [Double], at time: Date, _ state: inout RunState) async {
        if !state.announcedTraining {
            state.announcedTraining = true
            publish(MonitorTraining(train: DurationFormat.format(spec.train), model: spec.model))
        }
        let outcome: MonitorOutcome
        do {
            outcome = try state.monitor.observe(values, at: time)
        } catch {
            logger.error(
                "monitor could not train",
                metadata: ["warden.monitor": "\(spec.name)", "warden.error": "\(error)"]
            )
            publish(MonitorFailed(reason: "\(error)"))
            state.monitor.retrain()
            return
        }
        switch outcome {
        case .training, .skipped:
            return
        case .trained(let samples):
            state.lastTrained = time
            publish(MonitorTrained(samples: samples, model: spec.model))
            await save(state)
            return
        case .scored(let score):
            note(score, values: values, &state)
        case .alert(let score):
            note(score, values: values, &state, force: true)
            var payload = scored(score, values: values)
            payload.holdFor = DurationFormat.format(spec.holdFor)
            payload.since = score.aboveSince.map(ISOTime.format)
            payload.heal = spec.heal
            logger.warning(
                "monitor alert",
                metadata: ["warden.monitor": "\(spec.name)", "warden.probability": "\(score.probability)"]
            )
            publish(EventType.monitorAlert, payload)
        case .cleared(let score):
            note(score, values: values, &state, force: true)
            publish(EventType.monitorCleared, scored(score, values: values))
        }
        retrainIfDue(values, at: time, outcome.score, &state)
    }

    /// Background retraining: a replacement learns from normal samples and takes over when ready.
    private func retrainIfDue(_ values: [Double], at time: Date, _ score: MonitorScore?, _ state: inout RunState) {
        guard let every = spec.retrain, let trained = state.lastTrained else { return }
        if state.shadow == nil, time.timeIntervalSince(trained) >= every.seconds {
            state.shadow = try? Monitor(configuration: configuration)
        }
        guard var shadow = state.shadow, let score, score.probability < spec.threshold else { return }
        do {
            if case .trained(let samples) = try shadow.observe(values, at: time) {
                state.monitor = shadow
                state.shadow = nil
                state.lastTrained = time
                publish(EventType.monitorRetrained, MonitorTrained(samples: samples, model: spec.model))
                return
            }
            state.shadow = shadow
        } catch {
            state.shadow = nil
            logger.warning(
                "background retraining failed",
                metadata: ["warden.monitor": "\(spec.name)", "warden.error": "\(error)"]
            )
        }
    }

    /// Records the probability and publishes `anomaly.scored` when it moved enough.
    private func note(_ score: MonitorScore, values: [Double], _ state: inout RunState, force: Bool = false) {
        state.probabilities.append(
            SeriesKey(name: "monitor.probability", labels: ["monitor": spec.name]),
            time: Int64(score.time.timeIntervalSince1970 * 1e6),
            value: score.probability
        )
        let above = score.probability >= spec.threshold
        if !force, let last = state.lastPublished, abs(score.probability - last.probability) < 0.05,
            above == last.above,
            score.time.timeIntervalSince(last.time) < 10
        {
            return
        }
        state.lastPublished = (score.time, score.probability, above)
        publish(scored(score, values: values))
    }

    private func scored(_ score: MonitorScore, values: [Double]) -> MonitorScored {
        var series: [String: MonitorScored.Series] = [:]
        for (i, selector) in spec.series.enumerated() {
            let f = score.features.flatMap { i < $0.count ? $0[i] : nil }
            series[selector.description] = .init(value: values[i], score: f)
        }
        return MonitorScored(
            probability: (score.probability * 10_000).rounded() / 10_000,
            evidence: (score.evidence * 10_000).rounded() / 10_000,
            raw: score.raw,
            threshold: spec.threshold,
            at: ISOTime.format(score.time),
            series: series,
            model: spec.model
        )
    }

    private func publish(_ payload: some EventPayload) {
        bus.publish(payload, source: "monitor", subject: spec.name)
    }

    /// Publishes `payload` under another type than its own (alerts and clears carry a score).
    private func publish(_ type: String, _ payload: some EventPayload) {
        bus.publish(type, source: "monitor", subject: spec.name, payload: payload.json)
    }
}
