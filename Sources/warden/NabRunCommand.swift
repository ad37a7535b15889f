import ArgumentParser
import Foundation
import WardenCore
import WardenDetect

struct NabRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run detectors over NAB's data and write NAB results files.",
        discussion:
            "Writes OUT/<detector>/<category>/<detector>_<series>.csv with timestamp,value,anomaly_score,label, one row per data row, scores in [0, 1], each row scored before the next is seen. Then prints the normalised scores (as `warden nab score` would). Detectors: "
            + DetectorKind.allCases.map { "\($0.rawValue) (\($0.summary))" }.joined(separator: "; ")
    )

    @Option(help: "NAB's data directory (data/<category>/<series>.csv).")
    var data: String

    @Option(help: "NAB's labels file (combined_windows.json).")
    var labels: String

    @Option(name: .customLong("detector"), help: "A detector to run (repeatable; `all` for every one).")
    var detectors: [String] = ["ensemble"]

    @Option(help: "The results directory to write (default: do not write files, only score).")
    var out: String?

    @Flag(
        help:
            "Also cross-validate, leaving one category out at a time: the threshold (and, with several detectors, the detector) chosen on the other categories, the held-out one scored at it."
    )
    var crossValidate = false

    @Flag(
        help:
            "Also cross-validate on stressed series: each held-out category is scored after a drift, normal bursts or coarse readings were added to its series (see NABStress), at the threshold chosen on the other categories' clean series."
    )
    var stress = false

    func run() throws {
        do {
            let kinds: [DetectorKind] =
                detectors == ["all"] ? DetectorKind.allCases : try detectors.map { try DetectorKind.named($0) }
            let labels = try NABLabels(contentsOf: labels)
            let corpus = try NABCorpus.load(dataDirectory: data)
            guard !corpus.isEmpty else {
                printError("warden: no <category>/<series>.csv files under \(data)")
                throw ExitCode(1)
            }
            print(NABReport.header)
            var runs: [(name: String, corpus: [NABScoredSeries])] = []
            for kind in kinds {
                let scored = try NABRunner.run(kind, corpus: corpus, labels: labels, results: out)
                print(NABReport.line(detector: kind.rawValue, series: scored.count, scores: NABScorer.scoreAll(scored)))
                runs.append((kind.rawValue, scored))
            }
            if stress {
                for (kind, run) in zip(kinds, runs) {
                    let stressed = try NABStress.standard.map { s in
                        (
                            s,
                            try NABRunner.run(
                                kind,
                                corpus: corpus.map { s.apply(to: $0) },
                                labels: labels,
                                results: nil
                            )
                        )
                    }
                    print("\nleave one category out, the held-out category stressed: \(run.name)")
                    print(NABCrossValidation.stressReport(clean: run, stressed: stressed))
                }
            }
            guard crossValidate else { return }
            for run in runs {
                print("\nleave one category out: \(run.name)")
                print(NABCrossValidation.report(NABCrossValidation.run([run])))
            }
            if runs.count > 1 {
                print("\nleave one category out, the detector chosen on the other categories too")
                print(NABCrossValidation.report(NABCrossValidation.run(runs)))
            }
        } catch let error as WardenError {
            printError("warden: \(error)")
            throw ExitCode(1)
        }
    }
}
