#if canImport(Glibc)
import Glibc
#endif

/// Per-feature standardisation, `(x - mean) / scale`, fitted like scikit-learn's `StandardScaler`.
///
/// The mean and the population standard deviation are computed in the same order as scikit-learn
/// (so a model trained on standardised data matches it bit for bit); a constant feature gets
/// scale 1. Standardising matters whenever features have different units: one RBF `gamma` over raw
/// heart rate (bpm) and temperature (°C) sees only the heart rate.
public struct Standardizer: Sendable, Hashable, Codable {
    /// Per-feature means.
    public let mean: [Double]
    /// Per-feature scales (standard deviations, 1 for constant features).
    public let scale: [Double]

    /// Creates a standardizer from known means and scales.
    public init(mean: [Double], scale: [Double]) {
        precondition(mean.count == scale.count, "mean and scale must have one value per feature")
        self.mean = mean
        self.scale = scale
    }

    /// Fits the means and scales of `data`'s columns.
    public init(fitting data: FeatureMatrix) {
        let n = data.rows
        let d = data.columns
        var mean = [Double](repeating: 0, count: d)
        var scale = [Double](repeating: 1, count: d)
        guard n > 0 else {
            self.init(mean: mean, scale: scale)
            return
        }
        let count = Double(n)
        data.values.withUnsafeBufferPointer { x in
            for c in 0..<d {
                var sum = 0.0
                for r in 0..<n { sum += x[r * d + c] }
                let m = sum / count
                var squares = 0.0
                var correction = 0.0
                for r in 0..<n {
                    let t = x[r * d + c] - m
                    squares += t * t
                    correction += t
                }
                let variance = (squares - correction * correction / count) / count
                mean[c] = m
                // scikit-learn's _is_constant_feature: variance within rounding error of zero.
                let eps = Double.ulpOfOne
                let bound = count * eps * variance + (count * m * eps) * (count * m * eps)
                scale[c] = variance <= bound ? 1 : variance.squareRoot()
            }
        }
        self.init(mean: mean, scale: scale)
    }

    /// The number of features.
    public var features: Int { mean.count }

    /// Standardises one row in place.
    public func transform(_ row: UnsafeMutableBufferPointer<Double>) {
        for c in 0..<mean.count { row[c] = (row[c] - mean[c]) / scale[c] }
    }

    /// Standardises one row.
    public func transform(_ row: [Double]) -> [Double] {
        var out = row
        out.withUnsafeMutableBufferPointer { transform($0) }
        return out
    }

    /// Standardises every row of a matrix.
    public func transform(_ data: FeatureMatrix) -> FeatureMatrix {
        precondition(data.columns == features, "expected \(features) features, got \(data.columns)")
        var values = data.values
        let d = features
        values.withUnsafeMutableBufferPointer { v in
            for r in 0..<data.rows {
                for c in 0..<d { v[r * d + c] = (v[r * d + c] - mean[c]) / scale[c] }
            }
        }
        return FeatureMatrix(columns: d, values: values)
    }
}
