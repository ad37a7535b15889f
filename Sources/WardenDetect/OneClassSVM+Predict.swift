#if canImport(Glibc)
import Glibc
#endif

extension OneClassSVM {
    /// Support vectors handled per pass: the scratch space lives on the stack.
    private static let chunk = 256

    /// The decision value `Σ αᵢ K(xᵢ, x) − ρ` of one sample (raw units; the model standardises it).
    ///
    /// Positive inside the learned region, negative outside. `x` must have ``features`` values.
    /// Allocates nothing on the heap; safe to call from many threads at once.
    public func decision(_ x: UnsafeBufferPointer<Double>) -> Double {
        kernelSum(x) - rho
    }

    /// The decision value of one sample given as an array.
    public func decision(_ x: [Double]) -> Double {
        x.withUnsafeBufferPointer { decision($0) }
    }

    /// `decision + ρ`, scikit-learn's `score_samples`: the unshifted kernel sum.
    public func scoreSample(_ x: [Double]) -> Double {
        x.withUnsafeBufferPointer { kernelSum($0) }
    }

    /// Decision values of every row.
    ///
    /// The support vectors, coefficients and scratch space are set up once for the whole batch.
    @_optimize(speed)
    public func decisions(_ data: FeatureMatrix) -> [Double] {
        precondition(data.columns == features, "expected \(features) features, got \(data.columns)")
        var out = [Double](repeating: 0, count: data.rows)
        let d = features
        let mean = standardizer?.mean
        let scale = standardizer?.scale
        data.values.withUnsafeBufferPointer { all in
            columns.withUnsafeBufferPointer { cols in
                coefficients.withUnsafeBufferPointer { coef in
                    withUnsafeTemporaryAllocation(of: Double.self, capacity: d + Self.chunk) { scratch in
                        let x = scratch.baseAddress!
                        let t = x + d
                        for r in 0..<data.rows {
                            for f in 0..<d { x[f] = all[r * d + f] }
                            if let mean, let scale {
                                for f in 0..<d { x[f] = (x[f] - mean[f]) / scale[f] }
                            }
                            out[r] = accumulate(x, t, cols.baseAddress!, coef.baseAddress!) - rho
                        }
                    }
                }
            }
        }
        return out
    }

    /// `score_samples` of every row.
    public func scoreSamples(_ data: FeatureMatrix) -> [Double] {
        decisions(data).map { $0 + rho }
    }

    @_optimize(speed)
    private func kernelSum(_ raw: UnsafeBufferPointer<Double>) -> Double {
        precondition(raw.count == features, "expected \(features) features, got \(raw.count)")
        let d = features
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: d + Self.chunk) { scratch in
            let x = scratch.baseAddress!
            let t = x + d
            for f in 0..<d { x[f] = raw[f] }
            if let standardizer {
                for f in 0..<d { x[f] = (x[f] - standardizer.mean[f]) / standardizer.scale[f] }
            }
            return columns.withUnsafeBufferPointer { cols in
                coefficients.withUnsafeBufferPointer { coef in
                    accumulate(x, t, cols.baseAddress!, coef.baseAddress!)
                }
            }
        }
    }

    /// Σ αᵢ K(svᵢ, x), chunk by chunk: a vectorisable pass per feature, then the kernel and the sum
    /// in support-vector order (as libsvm sums them).
    @inline(__always)
    @_optimize(speed)
    private func accumulate(
        _ x: UnsafeMutablePointer<Double>,
        _ t: UnsafeMutablePointer<Double>,
        _ cols: UnsafePointer<Double>,
        _ coef: UnsafePointer<Double>
    ) -> Double {
        let n = coefficients.count
        let d = features
        var sum = 0.0
        var base = 0
        while base < n {
            let m = min(Self.chunk, n - base)
            switch parameters.kernel {
            case .rbf:
                let x0 = x[0]
                let c0 = cols + base
                for s in 0..<m {
                    let diff = x0 - c0[s]
                    t[s] = diff * diff
                }
                var f = 1
                while f < d {
                    let xf = x[f]
                    let cf = cols + f * n + base
                    for s in 0..<m {
                        let diff = xf - cf[s]
                        t[s] += diff * diff
                    }
                    f += 1
                }
                let minusGamma = -gamma
                for s in 0..<m { sum += coef[base + s] * exp(minusGamma * t[s]) }
            case .linear, .polynomial:
                let x0 = x[0]
                let c0 = cols + base
                for s in 0..<m { t[s] = x0 * c0[s] }
                var f = 1
                while f < d {
                    let xf = x[f]
                    let cf = cols + f * n + base
                    for s in 0..<m { t[s] += xf * cf[s] }
                    f += 1
                }
                if case .polynomial(let degree, let coef0) = parameters.kernel {
                    for s in 0..<m { sum += coef[base + s] * libsvmPowi(gamma * t[s] + coef0, degree) }
                } else {
                    for s in 0..<m { sum += coef[base + s] * t[s] }
                }
            }
            base += m
        }
        return sum
    }
}
