import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// A One-Class SVM (ν formulation, Schölkopf et al. 2001) with scikit-learn's semantics.
///
/// ``fit(_:parameters:)`` solves the dual problem with libsvm's SMO (second-order working-set
/// selection, shrinking, a kernel cache), ported so that support vectors, `rho` and decision values
/// match scikit-learn's `OneClassSVM` for the same data and parameters. The model is a value: it is
/// `Codable` (persist it, restore it) and `Sendable`.
///
/// ``decision(_:)`` is `Σ αᵢ K(xᵢ, x) − ρ`: positive inside the learned region, negative outside.
/// ``scoreSample(_:)`` is the decision plus `ρ`. With ``Parameters/standardize`` the model
/// standardises its training data (``Standardizer``) and every input before the kernel, which
/// scikit-learn does with a `StandardScaler` in front.
public struct OneClassSVM: Sendable, Codable {
    /// How to fit: scikit-learn's `OneClassSVM` arguments, and optional standardisation.
    public struct Parameters: Sendable, Hashable, Codable {
        /// Upper bound on the fraction of training samples outside the region, lower bound on the
        /// fraction of support vectors; in (0, 1]. scikit-learn's default 0.5.
        public var nu: Double
        /// The kernel; RBF by default.
        public var kernel: SVMKernel
        /// The RBF/polynomial kernel's gamma; `scale` by default.
        public var gamma: SVMGamma
        /// The solver's stopping tolerance (scikit-learn's `tol`, default 1e-3).
        public var tolerance: Double
        /// libsvm's shrinking heuristic (does not change the result, only the time).
        public var shrinking: Bool
        /// The kernel cache, in MiB (scikit-learn's `cache_size`, default 200).
        public var cacheMegabytes: Double
        /// Standardise each feature (mean 0, unit variance) before the kernel. Off by default here,
        /// as in scikit-learn; monitors turn it on.
        public var standardize: Bool

        /// Creates parameters; the defaults are scikit-learn's.
        public init(
            nu: Double = 0.5,
            kernel: SVMKernel = .rbf,
            gamma: SVMGamma = .scale,
            tolerance: Double = 1e-3,
            shrinking: Bool = true,
            cacheMegabytes: Double = 200,
            standardize: Bool = false
        ) {
            self.nu = nu
            self.kernel = kernel
            self.gamma = gamma
            self.tolerance = tolerance
            self.shrinking = shrinking
            self.cacheMegabytes = cacheMegabytes
            self.standardize = standardize
        }
    }

    /// The parameters the model was fitted with.
    public let parameters: Parameters
    /// The gamma actually used (resolved from ``Parameters/gamma``).
    public let gamma: Double
    /// The standardisation applied to inputs, when ``Parameters/standardize`` is on.
    public let standardizer: Standardizer?
    /// Indices of the support vectors in the training data, ascending.
    public let supportIndices: [Int]
    /// The support vectors (standardised when the model standardises), one row each.
    public let supportVectors: FeatureMatrix
    /// Their dual coefficients αᵢ, in (0, 1].
    public let coefficients: [Double]
    /// The offset ρ: `decision = Σ αᵢ K(xᵢ, x) − ρ`.
    public let rho: Double
    /// SMO iterations the fit took (scikit-learn's `n_iter_`).
    public let iterations: Int
    /// The support vectors feature by feature, for prediction.
    let columns: [Double]

    /// The number of features the model expects.
    public var features: Int { supportVectors.columns }

    /// The largest magnitude a training value may have: the variance and the kernel's squared
    /// distances of larger ones overflow.
    public static let valueLimit = 1e150

    /// Fits a model to `data` (one row per sample).
    ///
    /// Throws ``WardenError`` with code `invalidParameter` for a `nu` outside (0, 1] or a
    /// non-positive tolerance, and `invalidData` for an empty or non-finite training set or one
    /// with a value beyond ±``valueLimit``.
    public static func fit(_ data: FeatureMatrix, parameters: Parameters = Parameters()) throws -> OneClassSVM {
        guard parameters.nu > 0, parameters.nu <= 1 else {
            throw WardenError(.invalidParameter, "nu must be in (0, 1], got \(parameters.nu)")
        }
        guard parameters.tolerance > 0, parameters.tolerance.isFinite else {
            throw WardenError(.invalidParameter, "tol must be positive, got \(parameters.tolerance)")
        }
        if case .polynomial(let degree, _) = parameters.kernel, degree < 0 {
            throw WardenError(.invalidParameter, "the polynomial degree must be non-negative, got \(degree)")
        }
        guard data.rows > 0 else {
            throw WardenError(.invalidData, "cannot fit a One-Class SVM to no samples; give it a training set")
        }
        guard data.values.allSatisfy(\.isFinite) else {
            throw WardenError(.invalidData, "the training set holds a NaN or infinite value; clean the data first")
        }
        if let huge = data.values.first(where: { abs($0) > Self.valueLimit }) {
            throw WardenError(
                .invalidData,
                "the training set holds \(huge), beyond ±\(Self.valueLimit): its squares would overflow; rescale the data"
            )
        }
        let standardizer = parameters.standardize ? Standardizer(fitting: data) : nil
        let x = standardizer.map { $0.transform(data) } ?? data
        let gamma: Double
        switch parameters.gamma {
        case .value(let v):
            guard v > 0, v.isFinite else {
                throw WardenError(.invalidParameter, "gamma must be positive, got \(v)")
            }
            gamma = v
        case .auto: gamma = 1.0 / Double(x.columns)
        case .scale:
            let variance = NumPySum.variance(x.values)
            gamma = variance != 0 ? 1.0 / (Double(x.columns) * variance) : 1.0
        }
        let cacheBytes = Int(max(parameters.cacheMegabytes, 0) * Double(1 << 20))
        let q = OneClassQMatrix(data: x, kernel: parameters.kernel, gamma: gamma, cacheBytes: cacheBytes)
        let solver = OneClassSMO(
            q: q,
            nu: parameters.nu,
            tolerance: parameters.tolerance,
            shrinking: parameters.shrinking
        )
        let solution = solver.solve()
        var indices: [Int] = []
        var coefficients: [Double] = []
        var vectors = FeatureMatrix(columns: x.columns)
        for i in 0..<x.rows where abs(solution.alpha[i]) > 0 {
            indices.append(i)
            coefficients.append(solution.alpha[i])
            x.withRow(i) { vectors.append($0) }
        }
        return OneClassSVM(
            parameters: parameters,
            gamma: gamma,
            standardizer: standardizer,
            supportIndices: indices,
            supportVectors: vectors,
            coefficients: coefficients,
            rho: solution.rho,
            iterations: solution.iterations
        )
    }

    /// Creates a model from fitted values (for example scikit-learn's `support_vectors_`,
    /// `dual_coef_` and `-intercept_`).
    public init(
        parameters: Parameters,
        gamma: Double,
        standardizer: Standardizer?,
        supportIndices: [Int],
        supportVectors: FeatureMatrix,
        coefficients: [Double],
        rho: Double,
        iterations: Int
    ) {
        precondition(supportVectors.rows == coefficients.count, "one coefficient per support vector")
        self.parameters = parameters
        self.gamma = gamma
        self.standardizer = standardizer
        self.supportIndices = supportIndices
        self.supportVectors = supportVectors
        self.coefficients = coefficients
        self.rho = rho
        self.iterations = iterations
        self.columns = Self.transpose(supportVectors)
    }

    private static func transpose(_ m: FeatureMatrix) -> [Double] {
        var out = [Double](repeating: 0, count: m.values.count)
        for r in 0..<m.rows {
            for c in 0..<m.columns { out[c * m.rows + r] = m[r, c] }
        }
        return out
    }

    private enum CodingKeys: String, CodingKey {
        case parameters, gamma, standardizer, supportIndices, supportVectors, coefficients, rho, iterations
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            parameters: try c.decode(Parameters.self, forKey: .parameters),
            gamma: try c.decode(Double.self, forKey: .gamma),
            standardizer: try c.decodeIfPresent(Standardizer.self, forKey: .standardizer),
            supportIndices: try c.decode([Int].self, forKey: .supportIndices),
            supportVectors: try c.decode(FeatureMatrix.self, forKey: .supportVectors),
            coefficients: try c.decode([Double].self, forKey: .coefficients),
            rho: try c.decode(Double.self, forKey: .rho),
            iterations: try c.decode(Int.self, forKey: .iterations)
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(parameters, forKey: .parameters)
        try c.encode(gamma, forKey: .gamma)
        try c.encodeIfPresent(standardizer, forKey: .standardizer)
        try c.encode(supportIndices, forKey: .supportIndices)
        try c.encode(supportVectors, forKey: .supportVectors)
        try c.encode(coefficients, forKey: .coefficients)
        try c.encode(rho, forKey: .rho)
        try c.encode(iterations, forKey: .iterations)
    }
}
