import ArgumentParser
import Foundation
import WardenCore
import WardenDetect

#if canImport(Glibc)
import Glibc
#endif

/// `warden detect`: score a CSV file with one of Warden's models, offline.
struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Score a CSV file with one of Warden's anomaly models.",
        discussion: """
            Streaming models (\(DetectorKind.allCases.map(\.rawValue).joined(separator: ", "))) score every row \
            before seeing the next; with several columns each has its own detector and a row's score is the \
            largest. The One-Class SVM (`--model one-class-svm`) is fitted on --train (or on FILE itself) with \
            scikit-learn's parameters and defaults (nu 0.5, gamma scale, tol 1e-3) plus per-feature \
            standardisation unless --no-standardize; --decision prints its raw decision values \
            (sum of alpha_i K(x_i, x) - rho, as scikit-learn's decision_function), one per row. Otherwise the \
            score is in [0, 1] for streaming models and -decision for the SVM (higher is more anomalous).
            """
    )

    @Option(help: "The model: one-class-svm or a streaming detector.")
    var model: String = "ensemble"

    @Argument(help: "The CSV file to score (header optional; a timestamp column is used as time).")
    var file: String

    @Option(help: "Columns to use, by name or 1-based number, comma-separated (default: all but the time).")
    var columns: String?

    @Option(help: "One-Class SVM: the training CSV (default: FILE itself).")
    var train: String?

    @Option(help: "One-Class SVM: nu in (0, 1].")
    var nu: Double = 0.5

    @Option(help: "One-Class SVM: gamma: scale, auto or a number.")
    var gamma: String = "scale"

    @Option(help: "One-Class SVM: solver tolerance.")
    var tol: Double = 1e-3

    @Option(help: "One-Class SVM: rbf, linear or poly.")
    var kernel: String = "rbf"

    @Option(help: "One-Class SVM: the polynomial kernel's degree.")
    var degree: Int = 3

    @Option(help: "One-Class SVM: the polynomial kernel's coef0.")
    var coef0: Double = 0

    @Flag(name: .customLong("no-standardize"), help: "One-Class SVM: use the features as they are.")
    var noStandardize = false

    @Flag(help: "One-Class SVM: print raw decision values (positive inside, negative outside).")
    var decision = false

    @Option(help: "Write FILE's rows with a score column to this CSV instead of printing scores.")
    var out: String?

    @Flag(help: "Print the time spent fitting and scoring (not reading files) to standard error.")
    var timings = false

    func run() throws {
        do {
            let selected = columns?.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            let input = try NumericTable(contentsOf: file, columns: selected)
            let scores: [Double]
            let name = model.lowercased()
            if ["one-class-svm", "ocsvm", "svm"].contains(name) {
                let trainTable = try train.map { try NumericTable(contentsOf: $0, columns: selected) } ?? input
                guard trainTable.rows.columns == input.rows.columns else {
                    printError(
                        "warden: --train has \(trainTable.rows.columns) feature columns, \(file) has \(input.rows.columns)"
                    )
                    throw ExitCode(1)
                }
                let parameters = try svmParameters()
                let clock = ContinuousClock()
                let fitStart = (clock.now, threadCPUSeconds())
                let svm = try OneClassSVM.fit(trainTable.rows, parameters: parameters)
                let predictStart = (clock.now, threadCPUSeconds())
                let values = svm.decisions(input.rows)
                let end = (clock.now, threadCPUSeconds())
                if timings {
                    printError(
                        "fit_seconds=\((predictStart.0 - fitStart.0).seconds) predict_seconds=\((end.0 - predictStart.0).seconds) "
                            + "fit_cpu_seconds=\(predictStart.1 - fitStart.1) predict_cpu_seconds=\(end.1 - predictStart.1) "
                            + "train_rows=\(trainTable.rows.rows) rows=\(input.rows.rows) "
                            + "support_vectors=\(svm.coefficients.count) iterations=\(svm.iterations)"
                    )
                }
                scores = decision ? values : values.map { -$0 }
            } else {
                if decision {
                    printError("warden: --decision applies to --model one-class-svm only")
                    throw ExitCode(1)
                }
                let kind = try DetectorKind.named(model)
                let start = threadCPUSeconds()
                scores = input.streamingScores(kind)
                if timings { printError("score_cpu_seconds=\(threadCPUSeconds() - start) rows=\(input.rows.rows)") }
            }
            try emit(scores, input: input)
        } catch let error as WardenError {
            printError("warden: \(error)")
            throw ExitCode(1)
        }
    }

    /// CPU time of the calling thread, in seconds (for --timings on a busy machine).
    private func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    private func svmParameters() throws -> OneClassSVM.Parameters {
        guard let g = SVMGamma(gamma) else {
            throw WardenError(.invalidParameter, "--gamma: found '\(gamma)'; expected scale, auto or a positive number")
        }
        let k: SVMKernel
        switch kernel.lowercased() {
        case "rbf": k = .rbf
        case "linear": k = .linear
        case "poly", "polynomial": k = .polynomial(degree: degree, coef0: coef0)
        default: throw WardenError(.invalidParameter, "--kernel: found '\(kernel)'; expected rbf, linear or poly")
        }
        return OneClassSVM.Parameters(nu: nu, kernel: k, gamma: g, tolerance: tol, standardize: !noStandardize)
    }

    private func emit(_ scores: [Double], input: NumericTable) throws {
        let column = decision ? "decision" : "score"
        if let out {
            var text = input.names.joined(separator: ",") + ",\(column)\n"
            for r in 0..<input.rows.rows {
                text += input.rows[row: r].map { "\($0)" }.joined(separator: ",") + ",\(scores[r])\n"
            }
            guard FileManager.default.createFile(atPath: out, contents: Data(text.utf8)) else {
                throw WardenError(.io, "cannot write \(out)")
            }
        } else {
            var text = ""
            text.reserveCapacity(scores.count * 20)
            for s in scores { text += "\(s)\n" }
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }
}
