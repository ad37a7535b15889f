/// Summation in exactly the order NumPy uses, so that statistics Warden computes (the variance behind
/// `gamma="scale"`, a scaler's mean) are bit-identical to scikit-learn's.
enum NumPySum {
    /// `np.sum` of a contiguous buffer: NumPy's pairwise summation (blocks of 128, eight accumulators).
    static func pairwise(_ a: UnsafeBufferPointer<Double>) -> Double {
        pairwise(a.baseAddress!, a.count)
    }

    private static func pairwise(_ a: UnsafePointer<Double>, _ n: Int) -> Double {
        if n < 8 {
            var result = 0.0
            for i in 0..<n { result += a[i] }
            return result
        } else if n <= 128 {
            var r0 = a[0]
            var r1 = a[1]
            var r2 = a[2]
            var r3 = a[3]
            var r4 = a[4]
            var r5 = a[5]
            var r6 = a[6]
            var r7 = a[7]
            var i = 8
            while i < n - (n % 8) {
                r0 += a[i]
                r1 += a[i + 1]
                r2 += a[i + 2]
                r3 += a[i + 3]
                r4 += a[i + 4]
                r5 += a[i + 5]
                r6 += a[i + 6]
                r7 += a[i + 7]
                i += 8
            }
            var result = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
            while i < n {
                result += a[i]
                i += 1
            }
            return result
        } else {
            var n2 = n / 2
            n2 -= n2 % 8
            return pairwise(a, n2) + pairwise(a + n2, n - n2)
        }
    }

    /// `X.var()` over every element of a matrix (population variance), as NumPy computes it.
    static func variance(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let n = Double(values.count)
        let mean = values.withUnsafeBufferPointer { pairwise($0) } / n
        var squares = [Double](repeating: 0, count: values.count)
        for i in values.indices {
            let d = values[i] - mean
            squares[i] = d * d
        }
        return squares.withUnsafeBufferPointer { pairwise($0) } / n
    }
}
