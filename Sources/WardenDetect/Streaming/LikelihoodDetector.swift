/// A detector whose raw scores go through ``AnomalyLikelihood``: the output is the log-likelihood.
public struct LikelihoodDetector<Base: StreamingDetector>: StreamingDetector {
    /// The detector producing raw scores.
    public var base: Base
    /// The post-processor.
    public var likelihood: AnomalyLikelihood

    /// Wraps `base`.
    public init(base: Base, likelihood: AnomalyLikelihood = AnomalyLikelihood()) {
        self.base = base
        self.likelihood = likelihood
    }

    /// The base detector's raw score of `value`, through the likelihood, log-scaled to [0, 1].
    public mutating func observe(_ value: Double, at time: Double) -> Double {
        likelihood.score(base.observe(value, at: time))
    }

    /// The log-likelihood is already in [0, 1].
    public func unitScore(_ raw: Double) -> Double { raw }
}
