import Foundation
import Testing

@testable import WardenDetect

@Suite("Numerical building blocks")
struct InternalsTests {
    /// The exps used for the kernel cache (AVX2 when the CPU has it, and the portable one) against
    /// the C library's.
    @Test func vectorExpIsWithinTwoUlps() {
        var rng = SplitMix(seed: 3)
        var xs = (0..<10_003).map { _ in -Double(rng.next() % 1_000_000_000) / 1_000_000_000 * 120 }
        xs += [0, -1e-300, -0.5, -700, -745, -1000, 1, 10, 700]
        var vector = xs
        vector.withUnsafeMutableBufferPointer { VectorExp.apply($0.baseAddress!, count: $0.count) }
        var scalar = xs
        scalar.withUnsafeMutableBufferPointer { VectorExp.applyScalar($0.baseAddress!, count: $0.count) }
        for (i, x) in xs.enumerated() {
            let expected = x < -700 ? 0 : exp(x)
            #expect(abs(vector[i] - expected) <= 2 * expected.ulp, "exp(\(x)) = \(vector[i]), expected \(expected)")
            #expect(abs(scalar[i] - expected) <= 2 * expected.ulp, "exp(\(x)) = \(scalar[i]), expected \(expected)")
        }
    }

    /// The seasonal view's median of a week is the middle of the sorted seven, for every order of
    /// the values (with ties, infinities and values far apart).
    @Test func medianOfSevenIsTheMiddleOfTheSortedSeven() {
        var rng = SplitMix(seed: 7)
        var checked = 0
        var wrong = 0
        for round in 0..<20_000 {
            var values = (0..<7).map { _ in Double(rng.next() % (round % 2 == 0 ? 4 : 1_000)) - 2 }
            if round % 97 == 0 { values[Int(rng.next() % 7)] = round % 3 == 0 ? .infinity : -1e300 }
            let expected = values.sorted()[3]
            let got = values.withUnsafeBufferPointer { SeasonalResidual.medianOfSeven($0) }
            if got != expected { wrong += 1 }
            checked += 1
        }
        #expect(checked == 20_000 && wrong == 0)
    }

    /// NumPy's pairwise summation differs from a left-to-right sum only in the last bits. (Bit-exact
    /// agreement with `np.var` is checked through `gamma="scale"` in the scikit-learn fixtures.)
    @Test func pairwiseSumMatchesSequentialWithinRounding() {
        let values = (1...1000).map { 1.0 / Double($0) }
        let pairwise = values.withUnsafeBufferPointer { NumPySum.pairwise($0) }
        let sequential = values.reduce(0, +)
        #expect(abs(pairwise - sequential) < 1e-13)
        #expect(NumPySum.variance([1, 2, 3, 4]) == 1.25)
    }
}
