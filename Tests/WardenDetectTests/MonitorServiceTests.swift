import Foundation
import Logging
import Synchronization
import Testing
import WardenCore
import WardenDetect
import WardenTestSupport

@Suite("Vector alignment")
struct VectorAlignerTests {
    @Test func valuesAtTheSameInstantFormOneVector() {
        var a = VectorAligner(features: 3, tolerance: 1000)
        #expect(a.add(feature: 0, time: 1_000_000, value: 1).isEmpty)
        #expect(a.add(feature: 2, time: 1_000_400, value: 3).isEmpty)
        let out = a.add(feature: 1, time: 999_800, value: 2)
        #expect(out.count == 1)
        #expect(out.first?.values == [1, 2, 3])
    }

    @Test func aMissingValueIsFilledFromTheLastOneWhenALaterVectorCompletes() {
        var a = VectorAligner(features: 2, tolerance: 0)
        _ = a.add(feature: 0, time: 1, value: 10)
        _ = a.add(feature: 1, time: 1, value: 20)  // vector at t=1 complete
        _ = a.add(feature: 0, time: 2, value: 11)  // t=2 misses feature 1
        _ = a.add(feature: 0, time: 3, value: 12)
        let out = a.add(feature: 1, time: 3, value: 23)
        #expect(out.map(\.time) == [2, 3])
        #expect(out.map(\.values) == [[11, 20], [12, 23]])
        #expect(a.add(feature: 0, time: 2, value: 99).isEmpty, "an instant already emitted is not emitted again")
    }
}

/// A monitor service fed through the sample feed, publishing on a real bus.
@Suite("Monitor service", .timeLimit(.minutes(2)))
struct MonitorServiceTests {
    final class MemoryStates: MonitorStateStore {
        let saved = Mutex<[String: Data]>([:])
        func loadMonitor(_ name: String) async throws -> Data? { saved.withLock { $0[name] } }
        func saveMonitor(_ name: String, _ data: Data) async throws { saved.withLock { $0[name] = data } }
    }

    let base = Date(timeIntervalSince1970: 1_800_000_000)

    /// One batch per second of vitals: heart rate, SpO2, temperature; `spo2` decides the oxygen.
    func vitals(second: Int, spo2: Double? = nil, rng: inout SplitMix64) -> SampleBatch {
        var b = SampleBatch()
        let t = Int64((base.timeIntervalSince1970 + Double(second)) * 1e6)
        let noise = { (scale: Double, r: inout SplitMix64) in (r.nextUnit() - 0.5) * scale }
        b.append(SeriesKey(name: "vitals.hr", labels: ["crew": "a"]), time: t, value: 72 + noise(6, &rng))
        b.append(
            SeriesKey(name: "vitals.spo2", labels: ["crew": "a"]),
            time: t,
            value: spo2 ?? (97.5 + noise(1.5, &rng))
        )
        b.append(SeriesKey(name: "vitals.temp", labels: ["crew": "a"]), time: t, value: 36.8 + noise(0.4, &rng))
        // A series nobody watches.
        b.append(SeriesKey(name: "other.metric"), time: t, value: 1)
        return b
    }

    func spec(_ model: String = "one-class-svm") -> MonitorSpec {
        MonitorSpec(
            name: "life-support",
            series: [.init(name: "vitals.hr"), .init(name: "vitals.spo2"), .init(name: "vitals.temp")],
            model: model,
            train: .seconds(300),
            threshold: 0.9,
            holdFor: .seconds(5),
            heal: "rebuild api"
        )
    }

    @Test func trainsThenAlertsWhenOxygenFallsAndClearsWhenItRecovers() async throws {
        let feed = FanOut<SampleBatch>()
        let bus = EventBus()
        let log = EventLog(bus.subscribe(name: "test"))
        let states = MemoryStates()
        let recorded = Mutex(0)
        let service = try MonitorService(
            spec: spec(),
            feed: feed,
            bus: bus,
            states: states,
            record: { b in recorded.withLock { $0 += b.count } },
            logger: Logger(label: "test")
        )
        let running = Task { try await service.run() }
        var rng = SplitMix64(seed: 1)
        for s in 0..<400 { feed.send(vitals(second: s, rng: &rng)) }
        let trained = try await log.wait(for: "monitor.trained", "life-support")
        #expect(trained[0].payload["samples"]?.intValue ?? 0 >= 290)
        #expect(log.events("monitor.alert").isEmpty, "normal vitals raise no alert")
        // Hypoxia: SpO2 slides to 85 %.
        for s in 400..<420 { feed.send(vitals(second: s, spo2: 97 - Double(s - 400) * 0.6, rng: &rng)) }
        let alert = try await log.wait(for: "monitor.alert", "life-support")
        let p = alert[0].payload
        #expect(p["probability"]?.doubleValue ?? 0 >= 0.9)
        #expect(p["heal"]?.stringValue == "rebuild api")
        #expect(p["for"]?.stringValue == "5s")
        #expect(p["series"]?["vitals.spo2"]?["value"]?.doubleValue ?? 100 < 95)
        #expect(log.events("anomaly.scored").contains { ($0.payload["probability"]?.doubleValue ?? 0) >= 0.9 })
        // Recovery.
        for s in 420..<460 { feed.send(vitals(second: s, rng: &rng)) }
        try await log.wait(for: "monitor.cleared", "life-support")
        #expect(log.events("monitor.alert").count == 1, "one alert per episode")
        try await eventually("probabilities recorded") { recorded.withLock { $0 } > 50 }
        running.cancel()
        _ = try? await running.value
    }

    @Test func aRestartedMonitorResumesTrainedAndStillAlerts() async throws {
        let states = MemoryStates()
        var rng = SplitMix64(seed: 2)
        do {
            let feed = FanOut<SampleBatch>()
            let bus = EventBus()
            let log = EventLog(bus.subscribe(name: "test"))
            let service = try MonitorService(
                spec: spec(),
                feed: feed,
                bus: bus,
                states: states,
                record: { _ in },
                logger: Logger(label: "t")
            )
            let running = Task { try await service.run() }
            for s in 0..<350 { feed.send(vitals(second: s, rng: &rng)) }
            try await log.wait(for: "monitor.trained")
            running.cancel()
            _ = try? await running.value
        }
        #expect(states.saved.withLock { $0["life-support"] } != nil)
        // A new service with the same spec: no training, alerts at once.
        let feed = FanOut<SampleBatch>()
        let bus = EventBus()
        let log = EventLog(bus.subscribe(name: "test"))
        let service = try MonitorService(
            spec: spec(),
            feed: feed,
            bus: bus,
            states: states,
            record: { _ in },
            logger: Logger(label: "t")
        )
        let running = Task { try await service.run() }
        for s in 350..<360 { feed.send(vitals(second: s, rng: &rng)) }
        for s in 360..<380 { feed.send(vitals(second: s, spo2: 84, rng: &rng)) }
        try await log.wait(for: "monitor.alert")
        #expect(log.events("monitor.training").isEmpty && log.events("monitor.trained").isEmpty)
        running.cancel()
        _ = try? await running.value

        // A changed spec does not reuse the old model.
        let feed2 = FanOut<SampleBatch>()
        let bus2 = EventBus()
        let log2 = EventLog(bus2.subscribe(name: "test"))
        let changed = try MonitorService(
            spec: spec("ensemble"),
            feed: feed2,
            bus: bus2,
            states: states,
            record: { _ in },
            logger: Logger(label: "t")
        )
        let running2 = Task { try await changed.run() }
        feed2.send(vitals(second: 400, rng: &rng))
        try await log2.wait(for: "monitor.training")
        running2.cancel()
        _ = try? await running2.value
    }

    /// A detector's state may hold NaN ("not known yet": the seasonal detector's phase width
    /// before it has seen 16 intervals), which JSON cannot: the state is saved all the same (it
    /// once failed with a warning, and a restart trained again).
    @Test func aStateThatHoldsNaNIsSavedAndRestored() async throws {
        let states = MemoryStates()
        var rng = SplitMix64(seed: 3)
        let first = try Running(spec("ensemble"), states: states)
        first.feed.send(vitals(second: 0, rng: &rng))
        try await first.log.wait(for: "monitor.training")
        await first.stop()  // stopping saves the state
        let data = try #require(states.saved.withLock { $0["life-support"] })
        #expect(String(decoding: data, as: UTF8.self).contains("\"nan\""), "the NaN is in the saved state")
        // Restored by a new service with the same spec, it goes on where it was: it finishes the
        // training it began without announcing a new one (a service that could not restore it
        // announces "monitor.training" at its first sample).
        let second = try Running(spec("ensemble"), states: states)
        for s in 1..<350 { second.feed.send(vitals(second: s, rng: &rng)) }
        try await second.log.wait(for: "monitor.trained")
        #expect(second.log.events("monitor.training").isEmpty, "the saved state was restored")
        await second.stop()
    }

    /// A monitor service running on a feed and a bus of its own.
    struct Running {
        let feed = FanOut<SampleBatch>()
        let log: EventLog
        let task: Task<Void, any Error>

        init(_ spec: MonitorSpec, states: MemoryStates) throws {
            let bus = EventBus()
            log = EventLog(bus.subscribe(name: "test"))
            let service = try MonitorService(
                spec: spec,
                feed: feed,
                bus: bus,
                states: states,
                record: { _ in },
                logger: Logger(label: "t")
            )
            task = Task { try await service.run() }
        }

        func stop() async {
            task.cancel()
            _ = try? await task.value
        }
    }

    /// The spec's model names and the engine's models agree both ways, name for name.
    @Test func everySpecModelNameIsAnEngineModel() throws {
        for model in MonitorModel.allCases {
            #expect(MonitorConfiguration.Model(model).description == model.rawValue)
            #expect(
                try MonitorConfiguration.Model.named(model.rawValue.uppercased()) == MonitorConfiguration.Model(model)
            )
        }
        for kind in DetectorKind.allCases { #expect(kind.model.rawValue == kind.rawValue) }
        #expect(try MonitorConfiguration.Model.named("ocsvm") == .defaultSVM)
        #expect(throws: WardenError.self) { try MonitorConfiguration.Model.named("lstm") }
    }
}
