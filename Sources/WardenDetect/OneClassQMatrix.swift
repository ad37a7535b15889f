#if canImport(Glibc)
import Glibc
#endif

/// The kernel matrix `Q[i][j] = K(x_i, x_j)` of a one-class problem, computed column by column on
/// demand and cached in single precision, as libsvm's `ONE_CLASS_Q`.
///
/// The samples are kept feature by feature (one contiguous array per feature) in the solver's
/// current order, so a column is a few vectorisable passes and one `exp` per entry. Every value is
/// computed with the same operations in the same order as scikit-learn, so the cached floats are
/// identical and the solver takes the same path.
final class OneClassQMatrix {
    let count: Int
    let dimension: Int
    private let kernel: SVMKernel
    private let gamma: Double
    /// Feature `f` of sample `j` (in the current order) is `x[f * count + j]`.
    private let x: UnsafeMutablePointer<Double>
    private let squares: UnsafeMutablePointer<Double>
    /// The diagonal, in double precision.
    let diagonal: UnsafeMutablePointer<Double>
    private let dots: UnsafeMutablePointer<Double>
    private let row: UnsafeMutablePointer<Double>
    private let cache: KernelCache

    init(data: FeatureMatrix, kernel: SVMKernel, gamma: Double, cacheBytes: Int) {
        count = data.rows
        dimension = data.columns
        self.kernel = kernel
        self.gamma = gamma
        x = .allocate(capacity: count * dimension)
        squares = .allocate(capacity: count)
        diagonal = .allocate(capacity: count)
        dots = .allocate(capacity: count)
        row = .allocate(capacity: dimension)
        cache = KernelCache(count: count, bytes: cacheBytes)
        data.values.withUnsafeBufferPointer { v in
            for j in 0..<count {
                for f in 0..<dimension { x[f * count + j] = v[j * dimension + f] }
                squares[j] = blasDot(v.baseAddress! + j * dimension, v.baseAddress! + j * dimension, dimension)
            }
        }
        for i in 0..<count { diagonal[i] = entry(i, i) }
    }

    deinit {
        x.deallocate()
        squares.deallocate()
        diagonal.deallocate()
        dots.deallocate()
        row.deallocate()
    }

    /// One kernel value in double precision (used for the diagonal).
    private func entry(_ i: Int, _ j: Int) -> Double {
        var dot = 0.0
        for f in 0..<dimension { dot += x[f * count + i] * x[f * count + j] }
        switch kernel {
        case .linear: return dot
        case .polynomial(let degree, let coef0): return libsvmPowi(gamma * dot + coef0, degree)
        case .rbf: return exp(-gamma * (squares[i] + squares[j] - 2 * dot))
        }
    }

    /// Column `i`, entries `0..<length` valid.
    @inline(__always)
    func column(_ i: Int, length: Int) -> UnsafeMutablePointer<Float> {
        let (data, start) = cache.column(i, length: length)
        if start < length { fill(i, data, from: start, to: length) }
        return data
    }

    @_optimize(speed)
    private func fill(_ i: Int, _ out: UnsafeMutablePointer<Float>, from start: Int, to end: Int) {
        for f in 0..<dimension { row[f] = x[f * count + i] }
        // dot(x_i, x_j) summed feature by feature, as libsvm's loop does for each j.
        let x0 = x
        let r0 = row[0]
        for j in start..<end { dots[j] = r0 * x0[j] }
        for f in 1..<max(dimension, 1) {
            let xf = x + f * count
            let rf = row[f]
            for j in start..<end { dots[j] += rf * xf[j] }
        }
        switch kernel {
        case .linear:
            for j in start..<end { out[j] = Float(dots[j]) }
        case .polynomial(let degree, let coef0):
            for j in start..<end { out[j] = Float(libsvmPowi(gamma * dots[j] + coef0, degree)) }
        case .rbf:
            let minusGamma = -gamma
            let si = squares[i]
            for j in start..<end { dots[j] = minusGamma * (si + squares[j] - 2 * dots[j]) }
            VectorExp.apply(dots + start, count: end - start)
            for j in start..<end { out[j] = Float(dots[j]) }
        }
    }

    /// Swaps samples `i` and `j` in the current order.
    func swapIndex(_ i: Int, _ j: Int) {
        cache.swapIndex(i, j)
        for f in 0..<dimension { swap(&x[f * count + i], &x[f * count + j]) }
        swap(&squares[i], &squares[j])
        swap(&diagonal[i], &diagonal[j])
    }
}
