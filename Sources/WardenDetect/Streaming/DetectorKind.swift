import WardenCore

/// The streaming detectors Warden ships, by the names the CLI and specs use.
public enum DetectorKind: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// ``WindowedGaussian`` (window 6400): NAB's baseline.
    case gaussian
    /// ``RobustZScore`` with the sliding median and MAD (window 1000).
    case robust
    /// ``RobustZScore`` with the exponentially weighted mean and absolute deviation (span 1000).
    case ewma
    /// ``ContextDetector``: novelty of the recent sequence of quantised levels.
    case context
    /// ``SeasonalResidual``: distance from the same time of day.
    case seasonal
    /// ``LevelShift``: distance of the short-term mean from the long-run median.
    case shift
    /// ``WindowedGaussian`` through ``AnomalyLikelihood``.
    case likelihood
    /// ``EnsembleDetector``: seasonal, its drift, shift and context, calibrated by record ratios, with a rest period.
    case ensemble

    public var description: String { rawValue }

    /// The spec's name for this detector (every detector can be a monitor's model).
    public var model: MonitorModel {
        switch self {
        case .gaussian: .gaussian
        case .robust: .robust
        case .ewma: .ewma
        case .context: .context
        case .seasonal: .seasonal
        case .shift: .shift
        case .likelihood: .likelihood
        case .ensemble: .ensemble
        }
    }

    /// A one-line summary for help texts.
    public var summary: String {
        switch self {
        case .gaussian: "z-score against the mean and deviation of the last 6400 values"
        case .robust: "robust z-score against the median and MAD of the last 1000 values"
        case .ewma: "z-score against an exponentially weighted mean and absolute deviation"
        case .context: "novelty of the recent sequence of quantised levels (CAD OSE family)"
        case .seasonal: "distance from the same time of day on the previous 7 days"
        case .shift: "distance of the last 32 values' mean from the median of the last 3000"
        case .likelihood: "anomaly likelihood of the windowed Gaussian's scores"
        case .ensemble: "seasonal + its drift + shift + context, record-ratio calibrated, one alarm per event"
        }
    }

    /// Parses a name; throws a ``WardenError`` listing the valid ones.
    public static func named(_ name: String) throws -> DetectorKind {
        guard let kind = DetectorKind(rawValue: name.lowercased()) else {
            let valid = allCases.map(\.rawValue).joined(separator: ", ")
            throw WardenError(.invalidParameter, "unknown detector '\(name)'; expected one of \(valid)")
        }
        return kind
    }

    /// A new detector of this kind with its default parameters.
    public func make() -> AnyStreamingDetector {
        switch self {
        case .gaussian: AnyStreamingDetector(WindowedGaussian())
        case .robust: AnyStreamingDetector(RobustZScore())
        case .ewma: AnyStreamingDetector(RobustZScore(estimator: .ewma))
        case .context: AnyStreamingDetector(ContextDetector())
        case .seasonal: AnyStreamingDetector(SeasonalResidual())
        case .shift: AnyStreamingDetector(LevelShift())
        case .likelihood: AnyStreamingDetector(LikelihoodDetector(base: WindowedGaussian()))
        case .ensemble: AnyStreamingDetector(EnsembleDetector())
        }
    }
}

extension DetectorKind {
    /// A detector of this kind configured for monitors: the ensemble without its rest period, so a
    /// sustained anomaly keeps scoring high until it is over.
    public func makeForMonitoring() -> AnyStreamingDetector {
        switch self {
        case .ensemble: AnyStreamingDetector(EnsembleDetector(restPeriod: 0))
        default: make()
        }
    }
}
