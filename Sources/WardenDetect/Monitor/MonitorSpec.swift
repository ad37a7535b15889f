import Foundation
import WardenCore

/// The models a monitor may use, by the name its `model:` gives (``MonitorConfiguration/Model``
/// builds one for each case).
public enum MonitorModel: String, Sendable, CaseIterable {
    case oneClassSVM = "one-class-svm"
    case gaussian, robust, ewma, context, seasonal, shift, likelihood, ensemble
}

/// A `monitors:` entry: which series a monitor watches, its model, and when it alerts.
public struct MonitorSpec: Sendable, Hashable {
    public var name: String
    /// The series, in order: each becomes one feature of the monitor's vectors.
    public var series: [SeriesSelector]
    /// `one-class-svm` or a streaming detector (see ``MonitorSpec/models``).
    public var model: String
    /// How long to learn what normal looks like, in sample time.
    public var train: Duration
    /// Train a replacement model in the background this often (nil: never).
    public var retrain: Duration?
    /// Failure probability that counts toward an alert.
    public var threshold: Double
    /// How long the probability must hold at or above the threshold.
    public var holdFor: Duration
    /// ν of the One-Class SVM (the share of training samples allowed outside).
    public var nu: Double
    /// Standardise each series before the One-Class SVM (on by default).
    public var standardize: Bool
    /// Consecutive samples that count as one witness (1: every sample is independent evidence);
    /// more keeps correlated noise from lifting the probability, at the cost of a later alert.
    public var smoothing: Int = 3
    /// After this monitor's heal started, how long its readings are the target's recovery rather than
    /// evidence of a new failure.
    public var afterHeal: Duration = .seconds(30)
    /// What the monitor's evidence has been found to mean as a failure probability: knots
    /// `[evidence, probability]` (nil: the evidence is the probability shown).
    public var calibration: ProbabilityMap?
    /// Values of different series belong to one vector when their times are this close.
    public var align: Duration
    /// What to do on an alert, as written (`rebuild api`); carried out by the healing engine.
    public var heal: String?

    public init(
        name: String,
        series: [SeriesSelector],
        model: String = "one-class-svm",
        train: Duration = .seconds(600),
        retrain: Duration? = nil,
        threshold: Double = 0.9,
        holdFor: Duration = .seconds(5),
        nu: Double = 0.05,
        standardize: Bool = true,
        align: Duration = .seconds(1),
        heal: String? = nil
    ) {
        self.name = name
        self.series = series
        self.model = model
        self.train = train
        self.retrain = retrain
        self.threshold = threshold
        self.holdFor = holdFor
        self.nu = nu
        self.standardize = standardize
        self.align = align
        self.heal = heal
    }

    /// The model names a monitor accepts.
    public static let models = MonitorModel.allCases.map(\.rawValue)
}
