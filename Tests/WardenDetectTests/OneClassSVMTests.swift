import Foundation
import Testing
import WardenCore
import WardenDetect

/// One case written by scripts/make-ocsvm-fixtures.py from scikit-learn's OneClassSVM.
struct OCSVMFixture: Decodable {
    struct Parameters: Decodable {
        var nu: Double
        var kernel: String
        var gamma: GammaValue
        var degree: Int
        var coef0: Double
        var tol: Double
        var shrinking: Bool
        var standardize: Bool
    }

    enum GammaValue: Decodable {
        case name(String)
        case number(Double)

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) { self = .name(s) } else { self = .number(try c.decode(Double.self)) }
        }
    }

    struct Fitted: Decodable {
        var gamma: Double
        var support: [Int]
        var dualCoef: [Double]
        var rho: Double
        var offset: Double
        var iterations: Int
        var mean: [Double]?
        var scale: [Double]?
    }

    var name: String
    var parameters: Parameters
    var train: [[Double]]
    var test: [[Double]]
    var fitted: Fitted
    var decision: [Double]
    var scoreSamples: [Double]
    var trainDecision: [Double]

    static func load(_ file: String) throws -> OCSVMFixture {
        try JSONDecoder().decode(OCSVMFixture.self, from: Fixtures.data("ocsvm/" + file))
    }

    var svmParameters: OneClassSVM.Parameters {
        let kernel: SVMKernel =
            switch parameters.kernel {
            case "linear": .linear
            case "poly": .polynomial(degree: parameters.degree, coef0: parameters.coef0)
            default: .rbf
            }
        let gamma: SVMGamma =
            switch parameters.gamma {
            case .name(let s): SVMGamma(s)!
            case .number(let v): .value(v)
            }
        return OneClassSVM.Parameters(
            nu: parameters.nu,
            kernel: kernel,
            gamma: gamma,
            tolerance: parameters.tol,
            shrinking: parameters.shrinking,
            standardize: parameters.standardize
        )
    }
}

@Suite("One-Class SVM against scikit-learn")
struct OneClassSVMTests {
    static let cases = Fixtures.list("ocsvm", suffix: ".json")

    @Test func fixturesArePresent() {
        #expect(Self.cases.count >= 10)
    }

    /// Fitting the fixture's training set reproduces scikit-learn's model and its decisions.
    @Test(arguments: cases)
    func fitMatchesScikitLearn(file: String) throws {
        let fixture = try OCSVMFixture.load(file)
        let model = try OneClassSVM.fit(FeatureMatrix(rows: fixture.train), parameters: fixture.svmParameters)

        #expect(model.gamma == fixture.fitted.gamma, "gamma")
        if let mean = fixture.fitted.mean, let scale = fixture.fitted.scale {
            #expect(model.standardizer?.mean == mean)
            #expect(model.standardizer?.scale == scale)
        }
        #expect(model.iterations == fixture.fitted.iterations, "SMO iterations")
        #expect(model.supportIndices == fixture.fitted.support, "support vectors")
        #expect(relativeError(model.rho, fixture.fitted.rho) <= 1e-9, "rho \(model.rho) vs \(fixture.fitted.rho)")
        #expect(model.coefficients.count == fixture.fitted.dualCoef.count, "one coefficient per support vector")
        #expect(!model.coefficients.isEmpty)
        let worstCoefficient = zip(model.coefficients, fixture.fitted.dualCoef).map { relativeError($0, $1) }.max()
        #expect(
            worstCoefficient ?? .infinity <= 1e-9,
            "dual coefficients differ by \(String(describing: worstCoefficient))"
        )

        let decisions = model.decisions(FeatureMatrix(rows: fixture.test))
        #expect(decisions.count == fixture.decision.count && !decisions.isEmpty, "one decision per test row")
        var worst = 0.0
        for (mine, theirs) in zip(decisions, fixture.decision) {
            worst = max(worst, relativeError(mine, theirs))
            #expect((mine > 0) == (theirs > 0), "sign of \(mine) vs \(theirs)")
        }
        #expect(worst <= 1e-6, "largest relative difference of decision values: \(worst)")

        let samples = model.scoreSamples(FeatureMatrix(rows: fixture.test))
        #expect(samples.count == fixture.scoreSamples.count, "one score per test row")
        let worstSamples = zip(samples, fixture.scoreSamples).map { relativeError($0, $1) }.max()
        #expect(worstSamples ?? .infinity <= 1e-6, "score_samples differ by \(String(describing: worstSamples))")

        // On the training set some decisions sit at the boundary (free support vectors, |d| ≈ 1e-16·ρ),
        // where only an absolute comparison makes sense.
        let onTrain = model.decisions(FeatureMatrix(rows: fixture.train))
        #expect(onTrain.count == fixture.trainDecision.count && !onTrain.isEmpty, "one decision per training row")
        let mismatches = zip(onTrain, fixture.trainDecision).filter { mine, theirs in
            relativeError(mine, theirs) > 1e-6 && abs(mine - theirs) > 1e-9 * abs(model.rho)
        }
        #expect(mismatches.isEmpty, "training-set decisions that differ: \(mismatches.prefix(5))")
    }

    /// Prediction alone: a model built from scikit-learn's own support vectors, coefficients and rho
    /// gives scikit-learn's decision values.
    @Test(arguments: cases)
    func predictionFromScikitLearnsModel(file: String) throws {
        let fixture = try OCSVMFixture.load(file)
        let params = fixture.svmParameters
        var standardizer: Standardizer?
        var train = fixture.train
        if let mean = fixture.fitted.mean, let scale = fixture.fitted.scale {
            standardizer = Standardizer(mean: mean, scale: scale)
            train = train.map { standardizer!.transform($0) }
        }
        let model = OneClassSVM(
            parameters: params,
            gamma: fixture.fitted.gamma,
            standardizer: standardizer,
            supportIndices: fixture.fitted.support,
            supportVectors: FeatureMatrix(rows: fixture.fitted.support.map { train[$0] }),
            coefficients: fixture.fitted.dualCoef,
            rho: fixture.fitted.rho,
            iterations: fixture.fitted.iterations
        )
        let decisions = model.decisions(FeatureMatrix(rows: fixture.test))
        #expect(decisions.count == fixture.decision.count && !decisions.isEmpty, "one decision per test row")
        let worst = zip(decisions, fixture.decision).map { relativeError($0, $1) }.max()
        #expect(worst ?? .infinity <= 1e-12, "largest relative difference: \(String(describing: worst))")
    }

    @Test func survivesEncodingAndDecoding() throws {
        let fixture = try OCSVMFixture.load("vitals3d-standardized.json")
        let model = try OneClassSVM.fit(FeatureMatrix(rows: fixture.train), parameters: fixture.svmParameters)
        let restored = try JSONDecoder().decode(OneClassSVM.self, from: JSONEncoder().encode(model))
        let test = FeatureMatrix(rows: fixture.test)
        #expect(restored.decisions(test) == model.decisions(test))
        #expect(restored.supportIndices == model.supportIndices)
    }

    /// The reason monitors standardise: over raw units one gamma is dominated by the heart rate, and a
    /// fever (38–39.5 °C with normal heart rate and SpO2) looks normal.
    @Test func standardisationCatchesAFeverRawUnitsMiss() throws {
        let fixture = try OCSVMFixture.load("vitals3d-standardized.json")
        let fevers = FeatureMatrix(rows: Array(fixture.test[140..<160]))
        var raw = fixture.svmParameters
        raw.standardize = false
        let rawModel = try OneClassSVM.fit(FeatureMatrix(rows: fixture.train), parameters: raw)
        let scaledModel = try OneClassSVM.fit(FeatureMatrix(rows: fixture.train), parameters: fixture.svmParameters)
        let missedRaw = rawModel.decisions(fevers).filter { $0 > 0 }.count
        let missedScaled = scaledModel.decisions(fevers).filter { $0 > 0 }.count
        #expect(missedScaled == 0, "standardised model missed \(missedScaled) of 20 fevers")
        #expect(missedRaw >= 10, "raw-units model caught more fevers than expected (\(20 - missedRaw) of 20)")
    }

    @Test func rejectsBadParametersAndData() {
        let data = FeatureMatrix(rows: [[1, 2], [3, 4]])
        #expect(throws: WardenError.self) { try OneClassSVM.fit(data, parameters: .init(nu: 0)) }
        #expect(throws: WardenError.self) { try OneClassSVM.fit(data, parameters: .init(nu: 1.5)) }
        #expect(throws: WardenError.self) { try OneClassSVM.fit(data, parameters: .init(gamma: .value(-1))) }
        #expect(throws: WardenError.self) { try OneClassSVM.fit(FeatureMatrix(columns: 2), parameters: .init()) }
        #expect(throws: WardenError.self) {
            try OneClassSVM.fit(FeatureMatrix(rows: [[1, .nan]]), parameters: .init())
        }
        // Finite but so large that the variance overflows (the model came out NaN everywhere).
        for huge in [1.7976931348623157e308, -1e151] {
            var rows: [[Double]] = (0..<50).map { i in [Double(i % 7), Double(i % 3)] }
            rows[20][1] = huge
            #expect {
                try OneClassSVM.fit(FeatureMatrix(rows: rows), parameters: .init())
            } throws: { error in
                "\(error)".contains("beyond ±1e+150")
            }
        }
        var bounded: [[Double]] = (0..<50).map { i in [Double(i % 7), Double(i % 3)] }
        bounded[20][1] = 1e150
        let model = try? OneClassSVM.fit(FeatureMatrix(rows: bounded), parameters: .init())
        #expect(model.map { $0.decision([3, 1]).isFinite } == true)
    }
}
