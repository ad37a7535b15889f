/// libsvm's SMO solver (Fan, Chen and Lin, JMLR 6, 2005) for the one-class dual problem
///
///     min ½ αᵀQα   subject to  0 ≤ αᵢ ≤ 1,  Σαᵢ = ν·l
///
/// with second-order working-set selection, shrinking and a kernel cache. It is a line-for-line
/// port of scikit-learn's copy of libsvm (`Solver` with all `y = +1`, `p = 0`, unit weights), so
/// that it visits the same working sets and stops at the same point as scikit-learn.
final class OneClassSMO {
    struct Solution {
        /// One coefficient per training sample, in the caller's order.
        var alpha: [Double]
        var rho: Double
        var objective: Double
        var iterations: Int
    }

    private enum Status: UInt8 {
        case lowerBound, upperBound, free
    }

    private static let tau = 1e-12

    private let q: OneClassQMatrix
    private let l: Int
    private let eps: Double
    private let shrinking: Bool
    private var activeSize: Int
    private var unshrink = false
    private let alpha: UnsafeMutablePointer<Double>
    private let status: UnsafeMutablePointer<Status>
    private let gradient: UnsafeMutablePointer<Double>
    private let gradientBar: UnsafeMutablePointer<Double>
    private let activeSet: UnsafeMutablePointer<Int>
    private let qd: UnsafeMutablePointer<Double>

    init(q: OneClassQMatrix, nu: Double, tolerance: Double, shrinking: Bool) {
        self.q = q
        l = q.count
        eps = tolerance
        self.shrinking = shrinking
        activeSize = l
        alpha = .allocate(capacity: l)
        status = .allocate(capacity: l)
        gradient = .allocate(capacity: l)
        gradientBar = .allocate(capacity: l)
        activeSet = .allocate(capacity: l)
        qd = q.diagonal
        // scikit-learn's solve_one_class with unit sample weights: the first ⌊ν·l⌋ coefficients at
        // their bound, the next one takes the remainder (ν·l summed one sample at a time).
        var nuL = 0.0
        for _ in 0..<l { nuL += 1.0 * nu }
        var i = 0
        while nuL > 0 && i < l {
            alpha[i] = min(1.0, nuL)
            nuL -= alpha[i]
            i += 1
        }
        while i < l {
            alpha[i] = 0
            i += 1
        }
    }

    deinit {
        alpha.deallocate()
        status.deallocate()
        gradient.deallocate()
        gradientBar.deallocate()
        activeSet.deallocate()
    }

    @inline(__always) private func updateStatus(_ i: Int) {
        status[i] = alpha[i] >= 1.0 ? .upperBound : (alpha[i] <= 0 ? .lowerBound : .free)
    }

    @_optimize(speed)
    func solve() -> Solution {
        for i in 0..<l {
            updateStatus(i)
            activeSet[i] = i
            gradient[i] = 0
            gradientBar[i] = 0
        }
        for i in 0..<l where status[i] != .lowerBound {
            let qi = q.column(i, length: l)
            let alphaI = alpha[i]
            for j in 0..<l { gradient[j] += alphaI * Double(qi[j]) }
            if status[i] == .upperBound {
                for j in 0..<l { gradientBar[j] += 1.0 * Double(qi[j]) }
            }
        }

        var iterations = 0
        var counter = min(l, 1000) + 1
        while true {
            counter -= 1
            if counter == 0 {
                counter = min(l, 1000)
                if shrinking { doShrinking() }
            }
            var pair = selectWorkingSet()
            if pair == nil {
                // Optimal on the active set: check the whole problem before stopping.
                reconstructGradient()
                activeSize = l
                pair = selectWorkingSet()
                if pair == nil { break }
                counter = 1  // shrink at the next iteration
            }
            iterations += 1
            takeStep(pair!.0, pair!.1)
        }

        let rho = calculateRho()
        var objective = 0.0
        for i in 0..<l { objective += alpha[i] * gradient[i] }
        var result = [Double](repeating: 0, count: l)
        for i in 0..<l { result[activeSet[i]] = alpha[i] }
        return Solution(alpha: result, rho: rho, objective: objective / 2, iterations: iterations)
    }

    /// One SMO step on the pair (i, j): both have y = +1, so αᵢ + αⱼ is kept.
    @_optimize(speed)
    @inline(__always) private func takeStep(_ i: Int, _ j: Int) {
        var qi = q.column(i, length: activeSize)
        var qj = q.column(j, length: activeSize)
        let oldI = alpha[i]
        let oldJ = alpha[j]

        var quad = qd[i] + qd[j] - Double(2 * qi[j])
        if quad <= 0 { quad = Self.tau }
        let delta = (gradient[i] - gradient[j]) / quad
        let sum = alpha[i] + alpha[j]
        alpha[i] -= delta
        alpha[j] += delta
        if sum > 1.0 {
            if alpha[i] > 1.0 {
                alpha[i] = 1.0
                alpha[j] = sum - 1.0
            }
        } else {
            if alpha[j] < 0 {
                alpha[j] = 0
                alpha[i] = sum
            }
        }
        if sum > 1.0 {
            if alpha[j] > 1.0 {
                alpha[j] = 1.0
                alpha[i] = sum - 1.0
            }
        } else {
            if alpha[i] < 0 {
                alpha[i] = 0
                alpha[j] = sum
            }
        }

        let deltaI = alpha[i] - oldI
        let deltaJ = alpha[j] - oldJ
        for k in 0..<activeSize {
            gradient[k] += Double(qi[k]) * deltaI + Double(qj[k]) * deltaJ
        }

        let upperI = status[i] == .upperBound
        let upperJ = status[j] == .upperBound
        updateStatus(i)
        updateStatus(j)
        if upperI != (status[i] == .upperBound) {
            qi = q.column(i, length: l)
            if upperI {
                for k in 0..<l { gradientBar[k] -= 1.0 * Double(qi[k]) }
            } else {
                for k in 0..<l { gradientBar[k] += 1.0 * Double(qi[k]) }
            }
        }
        if upperJ != (status[j] == .upperBound) {
            qj = q.column(j, length: l)
            if upperJ {
                for k in 0..<l { gradientBar[k] -= 1.0 * Double(qj[k]) }
            } else {
                for k in 0..<l { gradientBar[k] += 1.0 * Double(qj[k]) }
            }
        }
    }

    /// The maximal-violating i and the second-order best j; nil when optimal within `eps`.
    @_optimize(speed)
    @inline(__always) private func selectWorkingSet() -> (Int, Int)? {
        var gmax = -Double.infinity
        var gmax2 = -Double.infinity
        var gmaxIndex = -1
        var gminIndex = -1
        var objDiffMin = Double.infinity

        for t in 0..<activeSize where status[t] != .upperBound {
            if -gradient[t] >= gmax {
                gmax = -gradient[t]
                gmaxIndex = t
            }
        }
        let i = gmaxIndex
        if i != -1 {
            let qi = q.column(i, length: activeSize)
            let qdI = qd[i]
            for j in 0..<activeSize where status[j] != .lowerBound {
                let gj = gradient[j]
                let gradDiff = gmax + gj
                if gj >= gmax2 { gmax2 = gj }
                if gradDiff > 0 {
                    let quad = qdI + qd[j] - 2.0 * Double(qi[j])
                    let objDiff = quad > 0 ? -(gradDiff * gradDiff) / quad : -(gradDiff * gradDiff) / Self.tau
                    if objDiff <= objDiffMin {
                        gminIndex = j
                        objDiffMin = objDiff
                    }
                }
            }
        } else {
            for j in 0..<activeSize where status[j] != .lowerBound {
                if gradient[j] >= gmax2 { gmax2 = gradient[j] }
            }
        }
        if gmax + gmax2 < eps { return nil }
        return (gmaxIndex, gminIndex)
    }

    private func beShrunk(_ i: Int, _ gmax1: Double, _ gmax2: Double) -> Bool {
        switch status[i] {
        case .upperBound: -gradient[i] > gmax1
        case .lowerBound: gradient[i] > gmax2
        case .free: false
        }
    }

    @_optimize(speed)
    private func doShrinking() {
        var gmax1 = -Double.infinity
        var gmax2 = -Double.infinity
        for i in 0..<activeSize {
            if status[i] != .upperBound, -gradient[i] >= gmax1 { gmax1 = -gradient[i] }
            if status[i] != .lowerBound, gradient[i] >= gmax2 { gmax2 = gradient[i] }
        }
        if !unshrink && gmax1 + gmax2 <= eps * 10 {
            unshrink = true
            reconstructGradient()
            activeSize = l
        }
        var i = 0
        while i < activeSize {
            if beShrunk(i, gmax1, gmax2) {
                activeSize -= 1
                while activeSize > i {
                    if !beShrunk(activeSize, gmax1, gmax2) {
                        swapIndex(i, activeSize)
                        break
                    }
                    activeSize -= 1
                }
            }
            i += 1
        }
    }

    private func swapIndex(_ i: Int, _ j: Int) {
        q.swapIndex(i, j)
        swap(&gradient[i], &gradient[j])
        swap(&status[i], &status[j])
        swap(&alpha[i], &alpha[j])
        swap(&activeSet[i], &activeSet[j])
        swap(&gradientBar[i], &gradientBar[j])
    }

    @_optimize(speed)
    private func reconstructGradient() {
        if activeSize == l { return }
        for j in activeSize..<l { gradient[j] = gradientBar[j] + 0 }
        var free = 0
        for j in 0..<activeSize where status[j] == .free { free += 1 }
        if free * l > 2 * activeSize * (l - activeSize) {
            for i in activeSize..<l {
                let qi = q.column(i, length: activeSize)
                for j in 0..<activeSize where status[j] == .free {
                    gradient[i] += alpha[j] * Double(qi[j])
                }
            }
        } else {
            for i in 0..<activeSize where status[i] == .free {
                let qi = q.column(i, length: l)
                let alphaI = alpha[i]
                for j in activeSize..<l { gradient[j] += alphaI * Double(qi[j]) }
            }
        }
    }

    private func calculateRho() -> Double {
        var free = 0
        var upper = Double.infinity
        var lower = -Double.infinity
        var sumFree = 0.0
        for i in 0..<activeSize {
            let yG = gradient[i]
            switch status[i] {
            case .upperBound: lower = lower > yG ? lower : yG
            case .lowerBound: upper = upper < yG ? upper : yG
            case .free:
                free += 1
                sumFree += yG
            }
        }
        return free > 0 ? sumFree / Double(free) : (upper + lower) / 2
    }
}
