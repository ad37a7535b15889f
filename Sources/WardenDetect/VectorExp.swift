/// `exp` of many doubles at once, eight lanes at a time.
///
/// Cody–Waite range reduction (`x = n·ln2 + r`, |r| ≤ ln2/2), a degree-13 Taylor polynomial for
/// `e^r` (truncation error below 1e-17) and the exponent set through the bit pattern. Accurate to a
/// couple of units in the last place of a double — far below the single precision in which libsvm
/// caches kernel values, so the cached values are the same as with the C library's `exp`. Inputs
/// below −700 give 0.
enum VectorExp {
    /// Replaces every `x[i]` (i < count) with `exp(x[i])`.
    static func apply(_ x: UnsafeMutablePointer<Double>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let v = UnsafeMutableRawPointer(x + i).loadUnaligned(as: SIMD8<Double>.self)
            UnsafeMutableRawPointer(x + i).storeBytes(of: exp8(v), as: SIMD8<Double>.self)
            i += 8
        }
        if i < count {
            var tail = SIMD8<Double>(repeating: 0)
            for k in 0..<(count - i) { tail[k] = x[i + k] }
            let e = exp8(tail)
            for k in 0..<(count - i) { x[i + k] = e[k] }
        }
    }

    @inline(__always)
    static func exp8(_ input: SIMD8<Double>) -> SIMD8<Double> {
        let tooSmall = input .< SIMD8(repeating: -700)
        let x = input.replacing(with: -700, where: tooSmall).replacing(with: 709, where: input .> 709)
        // n = round(x / ln 2) through the 1.5·2^52 trick; its low bits are n as an integer.
        let shifter = SIMD8<Double>(repeating: 6_755_399_441_055_744.0)
        let shifted = x * SIMD8(repeating: 1.4426950408889634) + shifter
        let n = shifted - shifter
        var r = x - n * SIMD8(repeating: 0.6931471803691238)
        r = r - n * SIMD8(repeating: 1.9082149292705877e-10)
        // e^r, Horner, coefficients 1/k!.
        var p = SIMD8<Double>(repeating: 1.6059043836821613e-10)
        p = p * r + SIMD8(repeating: 2.08767569878681e-09)
        p = p * r + SIMD8(repeating: 2.505210838544172e-08)
        p = p * r + SIMD8(repeating: 2.755731922398589e-07)
        p = p * r + SIMD8(repeating: 2.7557319223985893e-06)
        p = p * r + SIMD8(repeating: 2.48015873015873e-05)
        p = p * r + SIMD8(repeating: 0.0001984126984126984)
        p = p * r + SIMD8(repeating: 0.001388888888888889)
        p = p * r + SIMD8(repeating: 0.008333333333333333)
        p = p * r + SIMD8(repeating: 0.041666666666666664)
        p = p * r + SIMD8(repeating: 0.16666666666666666)
        p = p * r + SIMD8(repeating: 0.5)
        p = p * r + SIMD8(repeating: 1.0)
        p = p * r + SIMD8(repeating: 1.0)
        // 2^n: n + 1023 in the exponent field.
        let bits =
            unsafeBitCast(shifted, to: SIMD8<UInt64>.self)
            &- SIMD8<UInt64>(repeating: 6_755_399_441_055_744.0.bitPattern)
        let scale = unsafeBitCast((bits &+ SIMD8(repeating: 1023)) &<< 52, to: SIMD8<Double>.self)
        return (p * scale).replacing(with: 0, where: tooSmall)
    }
}
