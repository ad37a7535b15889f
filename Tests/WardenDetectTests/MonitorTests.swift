import Foundation
import Testing
import WardenCore
import WardenDetect

@Suite("Calibration and monitors")
struct MonitorTests {
    /// Normal vitals: heart rate, SpO2, temperature; `fever` raises the temperature only.
    static func vitals(_ rng: inout SplitMix, fever: Bool = false) -> [Double] {
        func gauss(_ mean: Double, _ sd: Double) -> Double {
            var s = 0.0
            for _ in 0..<6 { s += Double(rng.next() % 1_000_000) / 1_000_000 }
            return mean + sd * (s - 3) * 1.4142
        }
        return [gauss(72, 4), gauss(97.5, 0.6), fever ? gauss(38.8, 0.1) : gauss(36.8, 0.15)]
    }

    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func pValuesCountTheReferenceAtLeastAsExtreme() {
        var c = ConformalCalibrator(capacity: 5, smoothing: 1)
        #expect(c.pValue(3) == 1)
        for s in [1.0, 2, 3, 4, 5] { c.learn(s) }
        #expect(c.pValue(3) == 4.0 / 6)  // 3, 4, 5 and itself
        #expect(c.pValue(10) == 1.0 / 6)
        #expect(c.pValue(0) == 1)
        c.learn(6)  // evicts 1
        #expect(c.pValue(1.5) == 6.0 / 6)
        #expect(c.probability(10) == 1 - 1.0 / 6)
    }

    /// The guarantee the probability's meaning rests on: on exchangeable (here i.i.d.) normal data,
    /// P(p ≤ α) ≤ α.
    @Test func pValuesAreValidOnNormalData() {
        var rng = SplitMix(seed: 11)
        var c = ConformalCalibrator(capacity: 500, smoothing: 1)
        for _ in 0..<500 { c.learn(Double(rng.next() % 1_000_000)) }
        var below = 0
        let trials = 20_000
        for _ in 0..<trials where c.pValue(Double(rng.next() % 1_000_000)) <= 0.05 { below += 1 }
        let rate = Double(below) / Double(trials)
        #expect(rate <= 0.05 + 0.006 && rate >= 0.05 - 0.015, "rate \(rate)")
    }

    @Test func smoothingAveragesTheLastProbabilities() {
        var c = ConformalCalibrator(capacity: 9, smoothing: 2)
        for s in 1...9 { c.learn(Double(s)) }
        let a = c.probability(100)  // 1 - 1/10
        let b = c.probability(0)  // 1 - 10/10
        #expect(abs(a - 0.9) < 1e-12)
        #expect(abs(b - 0.45) < 1e-12)
    }

    /// The Heimdall scenario: a One-Class SVM monitor on vitals learns for ten minutes, stays quiet
    /// on normal data, alerts five seconds into a fever and clears when it passes.
    @Test func svmMonitorAlertsOnAFeverAfterTheHoldAndClears() throws {
        var rng = SplitMix(seed: 21)
        var monitor = try Monitor(
            configuration: .init(features: 3, trainingWindow: .seconds(600), threshold: 0.9, holdFor: .seconds(5))
        )
        var trainedAt: Int?
        var alerts: [Int] = []
        var clears: [Int] = []
        for second in 0..<1500 {
            let fever = (1200..<1230).contains(second)
            let outcome = try monitor.observe(Self.vitals(&rng, fever: fever), at: Self.t0 + Double(second))
            switch outcome {
            case .trained: trainedAt = second
            case .alert(let score):
                alerts.append(second)
                #expect(score.probability >= 0.9)
                #expect(score.time.timeIntervalSince(score.aboveSince!) >= 5)
            case .cleared: clears.append(second)
            case .training: #expect(second <= 600)
            default: break
            }
        }
        #expect(trainedAt == 600)
        #expect(monitor.svm?.standardizer != nil)
        #expect(alerts.count == 1, "alerts at \(alerts)")
        #expect(clears.count == 1, "cleared at \(clears)")
        #expect(alerts.first.map { (1205...1209).contains($0) } == true, "alert at \(alerts)")
        #expect(clears.first.map { (1230...1235).contains($0) } == true, "cleared at \(clears)")
        #expect(!monitor.isAlerting)
    }

    /// The hold: with smoothing 1 and a step the model cannot miss, the alert comes exactly `for`
    /// after the probability first crossed the threshold, and not before.
    @Test func alertComesExactlyAfterTheHold() throws {
        var rng = SplitMix(seed: 31)
        var monitor = try Monitor(
            configuration: .init(
                features: 1,
                model: .streaming(.robust),
                trainingWindow: .seconds(300),
                threshold: 0.95,
                holdFor: .seconds(10),
                smoothing: 1
            )
        )
        var crossed: Date?
        var alertAt: Date?
        for second in 0..<700 {
            let value = (second >= 600 ? 500.0 : 10.0) + Double(rng.next() % 100) / 100
            let outcome = try monitor.observe(value, at: Self.t0 + Double(second))
            if let s = outcome.score, s.probability >= 0.95, crossed == nil, second >= 600 { crossed = s.time }
            if case .alert(let s) = outcome { alertAt = s.time }
        }
        #expect(crossed == Self.t0 + 600)
        #expect(alertAt == Self.t0 + 610)
    }

    @Test func streamingEnsembleMonitorAlertsOnALevelShiftAndNamesTheFeature() throws {
        var rng = SplitMix(seed: 41)
        var monitor = try Monitor(
            configuration: .init(
                features: 2,
                model: .streaming(.ensemble),
                trainingWindow: .seconds(900),
                threshold: 0.95,
                holdFor: .seconds(3)
            )
        )
        var alert: MonitorScore?
        for second in 0..<2000 {
            let a = 50 + Double(rng.next() % 1000) / 100
            var b = 20 + Double(rng.next() % 1000) / 100
            if second >= 1800 { b += 40 }
            if case .alert(let s) = try monitor.observe([a, b], at: Self.t0 + Double(second)) { alert = alert ?? s }
        }
        let s = try #require(alert)
        #expect(s.time >= Self.t0 + 1803 && s.time <= Self.t0 + 1830)
        #expect(s.features![1] > s.features![0])
    }

    /// Persist in the middle of an episode, restore, continue: the same outcomes as without stopping.
    @Test(arguments: [MonitorConfiguration.Model.defaultSVM, .streaming(.ensemble), .streaming(.robust)])
    func persistenceIsSeamless(model: MonitorConfiguration.Model) throws {
        let configuration = MonitorConfiguration(
            features: 3,
            model: model,
            trainingWindow: .seconds(300),
            threshold: 0.9,
            holdFor: .seconds(5)
        )
        var rng = SplitMix(seed: 51)
        let samples = (0..<900).map { Self.vitals(&rng, fever: (700..<740).contains($0)) }
        var uninterrupted = try Monitor(configuration: configuration)
        let expected = try samples.enumerated().map { try uninterrupted.observe($1, at: Self.t0 + Double($0)) }
        var first = try Monitor(configuration: configuration)
        for i in 0..<703 { _ = try first.observe(samples[i], at: Self.t0 + Double(i)) }
        var restored = try JSONDecoder().decode(Monitor.self, from: JSONEncoder().encode(first))
        for i in 703..<900 {
            #expect(try restored.observe(samples[i], at: Self.t0 + Double(i)) == expected[i], "sample \(i)")
        }
        #expect(expected.contains { if case .alert = $0 { true } else { false } })
    }

    @Test func skipsNonFiniteSamplesAndValidatesItsConfiguration() throws {
        var monitor = try Monitor(configuration: .init(features: 2))
        #expect(try monitor.observe([1, .nan], at: Self.t0) == .skipped)
        #expect(throws: WardenError.self) { try Monitor(configuration: .init(features: 0)) }
        #expect(throws: WardenError.self) { try Monitor(configuration: .init(features: 1, threshold: 1.5)) }
        #expect(throws: WardenError.self) {
            try Monitor(configuration: .init(features: 1, model: .oneClassSVM(.init(nu: 0))))
        }
        #expect(try MonitorConfiguration.Model.named("one-class-svm") == .defaultSVM)
        #expect(try MonitorConfiguration.Model.named("gaussian") == .streaming(.gaussian))
    }
}
