import Foundation
import WardenCore

/// Watches a group of series (one vector per sample), learns what normal looks like, and reports
/// when the failure probability has stayed high for long enough: the engine behind a spec's
/// `monitors:` entry.
///
/// A monitor is a pure value: it never reads a clock (each sample carries its time), never does
/// I/O and is `Codable`, so its whole state — training buffer, fitted model, detectors, calibrator,
/// alert state — can be stored and restored across restarts.
///
/// Its life:
/// 1. **Training.** For `trainingWindow` of sample time (and at least `minimumTrainingSamples`
///    samples) it only learns. A One-Class SVM collects the samples (thinned evenly beyond
///    `maximumTrainingSamples`), then fits on four in five of them and calibrates on the fifth
///    (split conformal: scores of samples the model did not see). Streaming detectors learn from
///    every sample and calibrate on the scores of the second half of the window.
/// 2. **Scoring.** Each sample gets a raw score and a failure probability (``ConformalCalibrator``).
///    Samples not followed by an alert for a while (and not taken during one) are judged normal
///    and refresh the calibrator, so it follows slow drift without learning from anomalies.
/// 3. **Alerting.** When the probability has been at or above `threshold` continuously for
///    `holdFor`, the outcome is ``MonitorOutcome/alert(_:)`` — once per episode; when it falls below
///    again, ``MonitorOutcome/cleared(_:)``.
///
/// Driving it:
/// ```swift
/// var monitor = try Monitor(configuration: .init(features: 3, trainingWindow: .seconds(600),
///                                                threshold: 0.9, holdFor: .seconds(5)))
/// for sample in samples {                       // in time order, one vector per timestamp
///     switch try monitor.observe(sample.values, at: sample.time) {
///     case .alert(let score): heal(because: score)  // publish anomaly.scored / act
///     case .cleared(let score): recovered(score)
///     default: break
///     }
/// }
/// let saved = try JSONEncoder().encode(monitor)   // persist; decode to resume exactly here
/// ```
public struct Monitor: Sendable, Codable {
    /// What it watches and when it alerts.
    public let configuration: MonitorConfiguration
    private var state: State
    private var calibrator: ConformalCalibrator
    private var aboveSince: Date?
    private var alerting = false
    /// The last sample's time.
    private var lastTime: Date?
    /// Until when samples are recovery from a heal, not evidence.
    private var recoveringUntil: Date?

    private struct Training: Sendable, Codable {
        var start: Date?
        var seen = 0
        var stride = 1
        var samples: FeatureMatrix
        var detectors: PerFeatureDetector?
    }

    private enum State: Sendable, Codable {
        case training(Training)
        case svm(OneClassSVM)
        case streaming(PerFeatureDetector)
    }

    /// Creates an untrained monitor; throws when the configuration is invalid.
    public init(configuration: MonitorConfiguration) throws {
        try configuration.validate()
        self.configuration = configuration
        calibrator = ConformalCalibrator(capacity: configuration.calibrationSize, smoothing: configuration.smoothing)
        state = .training(Self.freshTraining(configuration))
    }

    private static func freshTraining(_ configuration: MonitorConfiguration) -> Training {
        var training = Training(samples: FeatureMatrix(columns: configuration.features))
        if case .streaming(let kind) = configuration.model {
            training.detectors = PerFeatureDetector(kind: kind, features: configuration.features, monitoring: true)
        }
        return training
    }

    /// Whether training is over.
    public var isTrained: Bool {
        if case .training = state { return false }
        return true
    }

    /// Whether an alert is active (reported and not yet cleared).
    public var isAlerting: Bool { alerting }

    /// The fitted One-Class SVM, once trained with that model.
    public var svm: OneClassSVM? {
        if case .svm(let model) = state { return model }
        return nil
    }

    /// Forgets the model, the calibration and the alert state and starts training again.
    public mutating func retrain() {
        calibrator = ConformalCalibrator(capacity: configuration.calibrationSize, smoothing: configuration.smoothing)
        state = .training(Self.freshTraining(configuration))
        aboveSince = nil
        alerting = false
        recoveringUntil = nil
    }

    /// Tells the monitor its alert is being acted on (the heal started). The probability goes back to its
    /// resting point, and for `afterHeal` (from the last sample's time) samples are taken for the
    /// target's recovery: they are neither evidence nor learned as normal. After that, readings
    /// that still look anomalous lift the probability again and a new alert follows.
    public mutating func healed() {
        guard isTrained else { return }
        calibrator.healed()
        aboveSince = nil
        recoveringUntil = lastTime.map { $0.addingTimeInterval(configuration.afterHeal.seconds) }
    }

    /// Feeds one sample of a one-series monitor.
    public mutating func observe(_ value: Double, at time: Date) throws -> MonitorOutcome {
        try observe([value], at: time)
    }

    /// Feeds one sample: one value per feature, in the configuration's order, taken at `time`.
    ///
    /// Samples must come in time order. Throws only when fitting the model fails (a
    /// ``WardenError``); a sample with a NaN or infinite value is ``MonitorOutcome/skipped``, and
    /// a value beyond ±``AnyStreamingDetector/valueLimit`` (ingest takes any finite number) counts
    /// as that limit, so that no sum or square of the model's overflows.
    public mutating func observe(_ values: [Double], at time: Date) throws -> MonitorOutcome {
        precondition(values.count == configuration.features, "expected \(configuration.features) values")
        guard values.allSatisfy(\.isFinite) else { return .skipped }
        let limit = AnyStreamingDetector.valueLimit
        var values = values
        if values.contains(where: { abs($0) > limit }) { values = values.map { min(max($0, -limit), limit) } }
        lastTime = time
        switch state {
        case .training(var training):
            state = .svm(Self.placeholder)  // release the buffer so that it is mutated in place
            do {
                let (outcome, next) = try train(&training, values, time)
                state = next ?? .training(training)
                return outcome
            } catch {
                state = .training(training)
                throw error
            }
        case .svm(let model):
            let raw = -model.decision(values)
            return decide(raw: raw, features: nil, time: time)
        case .streaming(var detectors):
            state = .svm(Self.placeholder)
            let raw = detectors.observe(values, at: time.timeIntervalSince1970)
            state = .streaming(detectors)
            return decide(raw: raw, features: detectors.lastScores, time: time)
        }
    }

    /// A one-coefficient model, standing in for the state while it is being mutated in place.
    private static let placeholder = OneClassSVM(
        parameters: .init(),
        gamma: 1,
        standardizer: nil,
        supportIndices: [0],
        supportVectors: FeatureMatrix(rows: [[0]]),
        coefficients: [1],
        rho: 0,
        iterations: 0
    )

    /// Learns from one sample; returns the outcome and, when training is over, the next state.
    private mutating func train(
        _ training: inout Training,
        _ values: [Double],
        _ time: Date
    ) throws -> (MonitorOutcome, State?) {
        let start = training.start ?? time
        training.start = start
        training.seen += 1
        let elapsed = time.timeIntervalSince(start)
        let window = configuration.trainingWindow.seconds
        if var detectors = training.detectors {
            training.detectors = nil
            let raw = detectors.observe(values, at: time.timeIntervalSince1970)
            training.detectors = detectors
            if elapsed >= window / 2 && training.seen * 2 >= configuration.minimumTrainingSamples {
                calibrator.learn(raw)
            }
        } else {
            if (training.seen - 1) % training.stride == 0 { training.samples.append(values) }
            if training.samples.rows >= configuration.maximumTrainingSamples {
                training.samples = Self.thinned(training.samples)
                training.stride *= 2
            }
        }
        let done = elapsed >= window && training.seen >= configuration.minimumTrainingSamples
        guard done else {
            let byTime = window > 0 ? min(1, elapsed / window) : 1
            let byCount = min(1, Double(training.seen) / Double(configuration.minimumTrainingSamples))
            return (.training(progress: min(byTime, byCount)), nil)
        }
        switch configuration.model {
        case .streaming:
            guard let detectors = training.detectors else { preconditionFailure("streaming monitor without detectors") }
            return (.trained(samples: training.seen), .streaming(detectors))
        case .oneClassSVM(let parameters):
            let (fit, held) = Self.split(training.samples)
            let model = try OneClassSVM.fit(fit, parameters: parameters)
            for r in 0..<held.rows { calibrator.learn(-model.decision(held[row: r])) }
            return (.trained(samples: training.samples.rows), .svm(model))
        }
    }

    /// Every other row (the buffer is full: keep an even thinning of the whole window).
    private static func thinned(_ m: FeatureMatrix) -> FeatureMatrix {
        var out = FeatureMatrix(columns: m.columns)
        for r in stride(from: 0, to: m.rows, by: 2) { out.append(m[row: r]) }
        return out
    }

    /// Four in five rows to fit, every fifth to calibrate.
    private static func split(_ m: FeatureMatrix) -> (FeatureMatrix, FeatureMatrix) {
        var fit = FeatureMatrix(columns: m.columns)
        var held = FeatureMatrix(columns: m.columns)
        for r in 0..<m.rows {
            if r % 5 == 4 { held.append(m[row: r]) } else { fit.append(m[row: r]) }
        }
        return (fit, held)
    }

    /// The evidence at which the probability reaches the threshold (the threshold itself with no
    /// calibration): the calibrator keeps extreme scores of an episode that got this far out of
    /// its reference.
    private var evidenceLine: Double {
        guard let map = configuration.calibration else { return configuration.threshold }
        let threshold = configuration.threshold
        if let i = map.probability.firstIndex(where: { $0 >= threshold }) {
            guard i > 0 else { return 0 }
            // Between two knots: the evidence where the line crosses, in log-odds.
            let (p0, p1) = (map.probability[i - 1], map.probability[i])
            let t = p1 > p0 ? (threshold - p0) / (p1 - p0) : 1
            let (x0, x1) = (ProbabilityMap.logit(map.evidence[i - 1]), ProbabilityMap.logit(map.evidence[i]))
            return ProbabilityMap.sigmoid(x0 + t * (x1 - x0))
        }
        return 1
    }

    private mutating func decide(raw: Double, features: [Double]?, time: Date) -> MonitorOutcome {
        let evidence: Double
        if let until = recoveringUntil, time < until {
            evidence = calibrator.probabilityWithoutEvidence()
        } else {
            recoveringUntil = nil
            evidence = calibrator.probability(raw, learning: !alerting, line: evidenceLine)
        }
        let probability = configuration.calibration?(evidence) ?? evidence
        let above = probability >= configuration.threshold
        aboveSince = above ? aboveSince ?? time : nil
        let score = MonitorScore(
            time: time,
            raw: raw,
            probability: probability,
            evidence: evidence,
            features: features,
            aboveSince: aboveSince
        )
        if let since = aboveSince {
            if !alerting && time.timeIntervalSince(since) >= configuration.holdFor.seconds {
                alerting = true
                calibrator.discardPending()
                return .alert(score)
            }
            return .scored(score)
        }
        if alerting {
            alerting = false
            return .cleared(score)
        }
        return .scored(score)
    }
}
