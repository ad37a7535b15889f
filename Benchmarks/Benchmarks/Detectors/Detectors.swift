import Benchmark
import WardenDetect

/// One day of one-minute samples repeated: a daily cycle, noise and now and then a spike, so that
/// every detector does its real work (windows full, context table busy, record ratios moving).
let series: [Double] = {
    var state: UInt64 = 0x2545_F491_4F6C_DD1D
    func uniform() -> Double {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return Double(state % 1_000_000) / 1_000_000
    }
    var values: [Double] = []
    for i in 0..<(1 << 16) {
        let phase = Double(i % 1440) / 1440
        let daily: Double = phase > 0.3 && phase < 0.8 ? 80 : 50
        let spike: Double = i % 9973 == 0 ? 400 : 0
        let noise: Double = uniform() + uniform() + uniform() - 1.5
        values.append(daily + 5 * noise + spike)
    }
    return values
}()

/// Feeds `scaledIterations` samples (a million per iteration) to a fresh detector.
func measure<D: StreamingDetector>(_ name: String, _ make: @escaping @Sendable () -> D) {
    Benchmark(name) { benchmark in
        var detector = make()
        let mask = series.count - 1
        var t = 1_700_000_000.0
        for i in benchmark.scaledIterations {
            blackHole(detector.observe(series[i & mask], at: t))
            t += 60
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        scalingFactor: .mega,
        maxDuration: .seconds(5),
        maxIterations: 20
    )
    measure("gaussian samples") { WindowedGaussian() }
    measure("robust (median/MAD) samples") { RobustZScore() }
    measure("ewma samples") { RobustZScore(estimator: .ewma) }
    measure("context samples") { ContextDetector() }
    measure("seasonal samples") { SeasonalResidual() }
    measure("shift samples") { LevelShift() }
    measure("likelihood samples") { LikelihoodDetector(base: WindowedGaussian()) }
    measure("ensemble samples") { EnsembleDetector() }

    // The One-Class SVM on three features: prediction rows per second with 1,000 training samples
    // (about 50 support vectors at nu = 0.05).
    let train = FeatureMatrix(rows: (0..<1000).map { [series[$0], series[$0 + 7], series[$0 + 13]] })
    let model = try! OneClassSVM.fit(train, parameters: .init(nu: 0.05, standardize: true))
    Benchmark("ocsvm predict rows", configuration: .init(scalingFactor: .kilo)) { benchmark in
        var row = [0.0, 0.0, 0.0]
        for i in benchmark.scaledIterations {
            row[0] = series[i & 0xFFFF]
            row[1] = series[(i + 7) & 0xFFFF]
            row[2] = series[(i + 13) & 0xFFFF]
            blackHole(model.decision(row))
        }
    }
}
