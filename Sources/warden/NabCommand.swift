import ArgumentParser
import Foundation
import WardenCore
import WardenDetect

/// `warden nab`: run Warden's detectors on the Numenta Anomaly Benchmark and score them.
struct NabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nab",
        abstract: "Run detectors on the Numenta Anomaly Benchmark (NAB) and score results like NAB does.",
        subcommands: [NabRunCommand.self, NabScoreCommand.self]
    )
}

struct NabScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score NAB results files: normalised standard, low-FP and low-FN scores.",
        discussion:
            "Reads RESULTS/<detector>/<category>/<detector>_<series>.csv (timestamp and anomaly_score columns), matches the windows of the labels file, optimises one threshold per profile over the whole corpus and normalises against the null detector, as NAB's scorer does."
    )

    @Option(help: "The results directory (holding one directory per detector).")
    var results: String

    @Option(help: "NAB's labels file (combined_windows.json).")
    var labels: String

    @Option(name: .customLong("detector"), help: "Detectors to score (default: every directory under --results).")
    var detectors: [String] = []

    @Flag(help: "Also print the threshold, raw score and counts of each profile.")
    var verbose = false

    @Flag(help: "Also cross-validate, leaving one category out at a time (see `warden nab run --help`).")
    var crossValidate = false

    func run() throws {
        do {
            let labels = try NABLabels(contentsOf: labels)
            var names = detectors
            if names.isEmpty {
                names = ((try? FileManager.default.contentsOfDirectory(atPath: results)) ?? []).sorted().filter {
                    var isDirectory: ObjCBool = false
                    return FileManager.default.fileExists(
                        atPath: (results as NSString).appendingPathComponent($0),
                        isDirectory: &isDirectory
                    ) && isDirectory.boolValue
                }
            }
            guard !names.isEmpty else {
                printError("warden: no detector directories under \(results)")
                throw ExitCode(1)
            }
            print(NABReport.header)
            var all: [(name: String, corpus: [NABScoredSeries])] = []
            for name in names {
                let corpus = try NABResults.read(root: results, detector: name, labels: labels)
                all.append((name, corpus))
                let scores = NABScorer.scoreAll(corpus)
                print(NABReport.line(detector: name, series: corpus.count, scores: scores))
                if verbose { print(NABReport.details(scores)) }
                if crossValidate {
                    print("\nleave one category out: \(name)")
                    print(NABCrossValidation.report(NABCrossValidation.run([(name, corpus)])))
                }
            }
            if crossValidate && all.count > 1 {
                // The detector too is chosen on the other categories: what choosing among these costs.
                print("\nleave one category out, the detector chosen on the other categories too")
                print(NABCrossValidation.report(NABCrossValidation.run(all)))
            }
        } catch let error as WardenError {
            printError("warden: \(error)")
            throw ExitCode(1)
        }
    }
}
