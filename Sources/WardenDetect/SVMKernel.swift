#if canImport(Glibc)
import Glibc
#endif

/// The kernel of a support vector machine: how similar two samples are.
///
/// The formulas are scikit-learn's (libsvm's): linear `x·y`, RBF `exp(-gamma·|x-y|²)`,
/// polynomial `(gamma·x·y + coef0)^degree`.
public enum SVMKernel: Sendable, Hashable, Codable, CustomStringConvertible {
    /// `x·y`.
    case linear
    /// `exp(-gamma·|x-y|²)`, the default.
    case rbf
    /// `(gamma·x·y + coef0)^degree`.
    case polynomial(degree: Int, coef0: Double)

    public var description: String {
        switch self {
        case .linear: "linear"
        case .rbf: "rbf"
        case .polynomial(let degree, let coef0): "poly(degree: \(degree), coef0: \(coef0))"
        }
    }
}

/// How the RBF and polynomial kernels' `gamma` is chosen.
public enum SVMGamma: Sendable, Hashable, Codable, CustomStringConvertible {
    /// `1 / (features · X.var())` over the (possibly standardised) training data, scikit-learn's default.
    case scale
    /// `1 / features`.
    case auto
    /// A fixed value.
    case value(Double)

    public var description: String {
        switch self {
        case .scale: "scale"
        case .auto: "auto"
        case .value(let v): "\(v)"
        }
    }

    /// Parses `scale`, `auto` or a positive number.
    public init?(_ text: String) {
        switch text {
        case "scale": self = .scale
        case "auto": self = .auto
        default:
            guard let v = Double(text), v > 0, v.isFinite else { return nil }
            self = .value(v)
        }
    }
}

/// libsvm's `powi`: `base^times` by repeated squaring (bit-identical to scikit-learn).
@inline(__always)
func libsvmPowi(_ base: Double, _ times: Int) -> Double {
    var tmp = base
    var result = 1.0
    var t = times
    while t > 0 {
        if t % 2 == 1 { result *= tmp }
        tmp = tmp * tmp
        t /= 2
    }
    return result
}

/// The dot product in the order scikit-learn's BLAS (OpenBLAS `ddot`) sums short vectors: one
/// product at a time, left to right (checked bit for bit against `scipy.linalg.blas.ddot`).
@inline(__always)
func blasDot(_ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>, _ n: Int) -> Double {
    var sum = 0.0
    for i in 0..<n { sum += x[i] * y[i] }
    return sum
}
