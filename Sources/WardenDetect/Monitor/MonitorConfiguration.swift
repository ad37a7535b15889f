import WardenCore

/// What a ``Monitor`` watches and when it alerts: the `monitors:` section of a spec, as values.
public struct MonitorConfiguration: Sendable, Hashable, Codable {
    /// The model that scores samples.
    public enum Model: Sendable, Hashable, Codable, CustomStringConvertible {
        /// A One-Class SVM fitted on the training window (standardised by default).
        case oneClassSVM(OneClassSVM.Parameters)
        /// One streaming detector per feature, learning online; the score of a sample is the
        /// largest unit score among its features.
        case streaming(DetectorKind)

        /// The One-Class SVM as monitors use it: ν = 0.05, gamma `scale`, standardised features.
        public static let defaultSVM = Model.oneClassSVM(.init(nu: 0.05, standardize: true))

        public var description: String {
            switch self {
            case .oneClassSVM: "one-class-svm"
            case .streaming(let kind): kind.rawValue
            }
        }

        /// The model a spec names.
        public init(_ model: MonitorModel) {
            switch model {
            case .oneClassSVM: self = .defaultSVM
            case .gaussian: self = .streaming(.gaussian)
            case .robust: self = .streaming(.robust)
            case .ewma: self = .streaming(.ewma)
            case .context: self = .streaming(.context)
            case .seasonal: self = .streaming(.seasonal)
            case .shift: self = .streaming(.shift)
            case .likelihood: self = .streaming(.likelihood)
            case .ensemble: self = .streaming(.ensemble)
            }
        }

        /// Parses a model name: one of ``MonitorModel`` (`ocsvm` and `svm` for the One-Class SVM
        /// too), case-insensitively.
        public static func named(_ name: String) throws -> Model {
            switch name.lowercased() {
            case "ocsvm", "svm": return .defaultSVM
            case let lower:
                if let model = MonitorModel(rawValue: lower) { return Model(model) }
                return .streaming(try DetectorKind.named(name))
            }
        }
    }

    /// Values per sample (the monitored series, in a fixed order).
    public var features: Int
    /// The model.
    public var model: Model
    /// How long to learn what normal looks like before scoring, measured in sample time.
    public var trainingWindow: Duration
    /// Samples needed before training may end, whatever the window.
    public var minimumTrainingSamples: Int
    /// Training samples kept for fitting (older ones are thinned evenly beyond this).
    public var maximumTrainingSamples: Int
    /// The failure probability at which the monitor starts counting towards an alert.
    public var threshold: Double
    /// How long the probability must stay at or above the threshold before the alert.
    public var holdFor: Duration
    /// Normal scores kept by the calibrator.
    public var calibrationSize: Int
    /// Consecutive samples that count as one witness (see ``ConformalCalibrator``).
    public var smoothing: Int
    /// After a heal, how long samples are the target's recovery rather than evidence.
    public var afterHeal: Duration
    /// What the evidence has been found to mean as a failure probability (nil: the evidence is
    /// shown as it is). The threshold applies to the mapped probability.
    public var calibration: ProbabilityMap?

    /// Creates a configuration; defaults match the spec's example (`threshold: 0.9`, `for: 5s`).
    public init(
        features: Int,
        model: Model = .defaultSVM,
        trainingWindow: Duration = .seconds(600),
        minimumTrainingSamples: Int = 50,
        maximumTrainingSamples: Int = 5000,
        threshold: Double = 0.9,
        holdFor: Duration = .seconds(5),
        calibrationSize: Int = 1000,
        smoothing: Int = 3,
        afterHeal: Duration = .seconds(30),
        calibration: ProbabilityMap? = nil
    ) {
        self.features = features
        self.model = model
        self.trainingWindow = trainingWindow
        self.minimumTrainingSamples = minimumTrainingSamples
        self.maximumTrainingSamples = maximumTrainingSamples
        self.threshold = threshold
        self.holdFor = holdFor
        self.calibrationSize = calibrationSize
        self.smoothing = smoothing
        self.afterHeal = afterHeal
        self.calibration = calibration
    }

    /// Throws a ``WardenError`` (`invalidParameter`) naming the first value out of range.
    public func validate() throws {
        func fail(_ message: String) -> WardenError { WardenError(.invalidParameter, message) }
        guard features >= 1 else { throw fail("a monitor needs at least one series, got \(features)") }
        guard (0...1).contains(threshold) else { throw fail("threshold must be in [0, 1], got \(threshold)") }
        guard trainingWindow >= .zero else { throw fail("train must not be negative") }
        guard holdFor >= .zero else { throw fail("for must not be negative") }
        guard afterHeal >= .zero else { throw fail("after_heal must not be negative") }
        guard minimumTrainingSamples >= 2 else { throw fail("at least 2 training samples are needed") }
        guard maximumTrainingSamples >= minimumTrainingSamples else {
            throw fail("maximumTrainingSamples must be at least minimumTrainingSamples")
        }
        guard calibrationSize >= 1, smoothing >= 1 else {
            throw fail("calibration size and smoothing must be positive")
        }
        if let problem = calibration?.unusable(threshold: threshold)?.problem {
            throw fail("threshold \(threshold) \(problem)")
        }
        if case .oneClassSVM(let p) = model {
            guard p.nu > 0, p.nu <= 1 else { throw fail("nu must be in (0, 1], got \(p.nu)") }
        }
    }
}
