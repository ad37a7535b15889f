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
        // The probability is the posterior the p-value leads to from the resting point.
        var posterior = AnomalyPosterior(weight: 1)
        #expect(c.probability(10) == posterior.update(1.0 / 6))
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

    /// `smoothing` samples make one witness: an extreme score moves the probability less, and it
    /// takes about `smoothing` times as many extreme scores to cross the same line.
    @Test func smoothingSpreadsTheEvidenceOverSamples() {
        func samplesToCross(_ smoothing: Int) -> Int {
            var c = ConformalCalibrator(capacity: 999, smoothing: smoothing)
            for s in 1...999 { c.learn(Double(s)) }
            for n in 1...100 where c.probability(1000) >= 0.9 { return n }
            return 0
        }
        let one = samplesToCross(1)
        let three = samplesToCross(3)
        #expect(one >= 2 && one <= 4, "\(one)")
        #expect(three >= 2 * one && three <= 4 * one, "\(three) against \(one)")
    }

    /// A score joins the reference only after it has waited its turn, unless an alert discards the
    /// scores still waiting: the first samples of an anomaly never become "normal".
    @Test func scoresWaitBeforeTheyAreLearnedAndAnAlertDiscardsThem() {
        var c = ConformalCalibrator(capacity: 50, smoothing: 3)
        for s in 0..<50 { c.learn(Double(s)) }
        for _ in 0..<20 { _ = c.probability(100) }
        c.discardPending()
        for _ in 0..<20 { _ = c.probability(100, learning: false) }
        #expect(c.pValue(100) == 1.0 / 51, "discarded or unlearned scores entered the reference")
        // Scores that wait their turn are learned: they push out the old reference.
        for _ in 0..<200 { _ = c.probability(25) }
        #expect(c.pValue(49.5) == 1.0 / 51 && c.pValue(24) == 1, "waiting scores were not learned")
    }

    /// A harmless excursion too short for an alert (a heart rate racing for a minute) lifts the
    /// probability: its extreme scores are not learned, or a failure of the same size would look
    /// normal later; its milder scores are, so that the reference still follows drift.
    @Test func anExcursionsExtremeScoresAreNotLearnedItsMildOnesAre() {
        var c = ConformalCalibrator(capacity: 1000, smoothing: 1)
        for s in 0..<1000 { c.learn(Double(s)) }
        for i in 0..<30 { _ = c.probability(i % 2 == 0 ? 5000 : 995) }  // extreme, then mild (p = 6/1001)
        for _ in 0..<100 { _ = c.probability(500) }
        #expect(c.current < 0.1)
        #expect(c.pValue(5000) == 1.0 / 1001, "the excursion's extreme scores entered the reference")
        #expect(c.pValue(995) > 15.0 / 1001, "the excursion's mild scores were not learned")
        // Extreme scores with no episode around them (the probability never reached the line)
        // are normal variation: learned.
        var d = ConformalCalibrator(capacity: 1000, smoothing: 1)
        for s in 0..<1000 { d.learn(Double(s)) }
        for i in 0..<300 { _ = d.probability(i % 50 == 0 ? 5000 : 500) }
        #expect(d.pValue(5000) > 1.0 / 1001, "isolated extreme scores were not learned")
    }

    /// An alert's scores are not learned: the same anomaly again, after normal samples, alerts
    /// again (had they been learned, it would look normal).
    @Test func anAlertsScoresAreNotLearned() throws {
        var rng = SplitMix(seed: 71)
        var monitor = try Monitor(
            configuration: .init(
                features: 1,
                model: .streaming(.gaussian),
                trainingWindow: .seconds(300),
                threshold: 0.9,
                holdFor: .seconds(3)
            )
        )
        var alerts: [Int] = []
        for second in 0..<1000 {
            let high = (600..<630).contains(second) || (700..<730).contains(second)
            let value = (high ? 30.0 : 10.0) + Double(rng.next() % 100) / 100
            if case .alert = try monitor.observe(value, at: Self.t0 + Double(second)) { alerts.append(second) }
        }
        #expect(alerts.count == 2 && alerts.first! < 630 && alerts.last! >= 700 && alerts.last! < 730, "\(alerts)")
    }

    /// The Heimdall scenario: a One-Class SVM monitor on vitals learns for ten minutes, stays quiet
    /// on normal data, alerts within seconds of a fever (the evidence, then the hold) and clears
    /// when it passes.
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
        // Scores beyond every one of the 120 held-out ones: about eight witnesses, then the hold.
        #expect(alerts.first.map { (1208...1216).contains($0) } == true, "alert at \(alerts)")
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
        let first = try #require(crossed)
        #expect(first >= Self.t0 + 600 && first <= Self.t0 + 605, "crossed at \(first)")
        #expect(alertAt == first + 10)
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

    /// With a `calibration:` the monitor shows the evidence through the map and its threshold
    /// applies to the mapped probability: a map that takes evidence 0.9 to 0.35 with threshold
    /// 0.35 alerts on exactly the sample where the same stream, uncalibrated, alerts at 0.9; every
    /// score's probability is the map of its evidence, and the evidence is the uncalibrated
    /// monitor's probability.
    @Test func aCalibratedMonitorShowsTheMappedEvidenceAndActsOnIt() throws {
        let map = try ProbabilityMap(evidence: [0.01, 0.5, 0.9, 0.97], probability: [0.03, 0.2, 0.35, 0.7])
        func run(_ calibration: ProbabilityMap?, threshold: Double) throws -> (scores: [MonitorScore], alerts: [Int]) {
            var rng = SplitMix(seed: 71)
            var monitor = try Monitor(
                configuration: .init(
                    features: 1,
                    model: .streaming(.robust),
                    trainingWindow: .seconds(300),
                    threshold: threshold,
                    holdFor: .seconds(5),
                    calibration: calibration
                )
            )
            var scores: [MonitorScore] = []
            var alerts: [Int] = []
            for second in 0..<1200 {
                // A normal stretch, a mild bump that fades, then a lasting anomaly.
                var value = 10.0 + Double(rng.next() % 100) / 100
                if second >= 500 && second < 520 { value += 1.5 }
                if second >= 900 { value += 30 }
                let outcome = try monitor.observe(value, at: Self.t0 + Double(second))
                if let score = outcome.score { scores.append(score) }
                if case .alert = outcome { alerts.append(second) }
            }
            return (scores, alerts)
        }
        let plain = try run(nil, threshold: 0.9)
        let mapped = try run(map, threshold: 0.35)
        #expect(!plain.alerts.isEmpty && plain.alerts == mapped.alerts, "\(plain.alerts) against \(mapped.alerts)")
        #expect(plain.scores.count == mapped.scores.count)
        for (a, b) in zip(plain.scores, mapped.scores) {
            #expect(a.evidence == a.probability && b.evidence == a.probability)
            #expect(abs(b.probability - map(a.probability)) < 1e-12)
        }
        #expect(mapped.scores.contains { $0.probability > 0.5 } && mapped.scores.allSatisfy { $0.probability <= 0.7 })
        // A threshold between knots: 0.3 is two thirds of the way from 0.2 (evidence 0.5) to 0.35
        // (evidence 0.9) in log-odds, so the plain monitor's line is that evidence.
        let logit09 = log(0.9) - log1p(-0.9)
        let line = 1 / (1 + exp(-(0 + (0.3 - 0.2) / (0.35 - 0.2) * (logit09 - 0))))
        #expect(abs(line - 0.8122) < 0.001)
        let between = try run(map, threshold: 0.3)
        let plainAtLine = try run(nil, threshold: line)
        #expect(!between.alerts.isEmpty && between.alerts == plainAtLine.alerts, "\(between.alerts)")
        #expect(zip(between.scores, plainAtLine.scores).allSatisfy { $0.evidence == $1.evidence })
        #expect(throws: WardenError.self) {
            try Monitor(configuration: .init(features: 1, threshold: 0.9, calibration: map))
        }
    }

    /// After a heal the probability goes back to rest; for `afterHeal` the readings are recovery
    /// (no alert however anomalous they still look); if they stay anomalous after that, a new
    /// alert follows.
    @Test func aHealIsFollowedByRecoveryThenANewAlertIfTheAnomalyStays() throws {
        var rng = SplitMix(seed: 61)
        var monitor = try Monitor(
            configuration: .init(
                features: 1,
                model: .streaming(.robust),
                trainingWindow: .seconds(300),
                threshold: 0.9,
                holdFor: .seconds(5),
                smoothing: 1,
                afterHeal: .seconds(60)
            )
        )
        var alerts: [Int] = []
        var healedAt: Int?
        var cleared: Int?
        for second in 0..<1000 {
            let value = (second >= 600 ? 500.0 : 10.0) + Double(rng.next() % 100) / 100
            let outcome = try monitor.observe(value, at: Self.t0 + Double(second))
            if case .alert = outcome {
                alerts.append(second)
                if healedAt == nil {
                    monitor.healed()
                    healedAt = second
                }
            }
            if case .cleared = outcome, cleared == nil { cleared = second }
            if let h = healedAt, second > h, second < h + 60 {
                #expect(outcome.score.map { $0.probability < 0.1 } == true, "second \(second)")
            }
        }
        let first = try #require(alerts.first)
        #expect(first >= 605 && first <= 615, "\(alerts)")
        #expect(cleared == first + 1, "cleared at \(String(describing: cleared))")
        #expect(alerts.count == 2, "\(alerts)")
        // The second: once the minute of recovery is over, a few witnesses and the hold.
        #expect(alerts.count == 2 && alerts[1] > first + 60 + 5 && alerts[1] <= first + 60 + 20, "\(alerts)")
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
