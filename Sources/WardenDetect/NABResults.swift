import Foundation
import WardenCore

/// NAB results files: `results/<detector>/<category>/<detector>_<series>.csv`.
public enum NABResults {
    /// The path of one series' results file under `directory` (the results root).
    public static func path(directory: String, detector: String, series: NABSeries) -> String {
        [directory, detector, series.category, "\(detector)_\(series.series).csv"].joined(separator: "/")
    }

    /// Writes one series' results: `timestamp,value,anomaly_score,label`, one row per data row.
    ///
    /// `label` is 1 on rows inside the labelled windows (NAB's convention), 0 elsewhere.
    public static func write(
        directory: String,
        detector: String,
        series: NABSeries,
        scores: [Double],
        windows: [NABWindow]
    ) throws {
        precondition(scores.count == series.values.count, "one score per row")
        let path = path(directory: directory, detector: detector, series: series)
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true
        )
        var text = "timestamp,value,anomaly_score,label\n"
        text.reserveCapacity(series.values.count * 48)
        for i in series.values.indices {
            let t = series.times[i]
            let label = windows.contains { t >= $0.start && t <= $0.end } ? 1 : 0
            text += "\(series.timestamps[i]),\(format(series.values[i])),\(format(scores[i])),\(label)\n"
        }
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
            throw WardenError(.io, "cannot write \(path)")
        }
    }

    /// Reads every results file of one detector (`<root>/<detector>/...`) and attaches the labels.
    ///
    /// Series are named `<category>/<series>.csv` (the `<detector>_` prefix is removed). Throws when
    /// a score is outside [0, 1] or a file has no `anomaly_score` column.
    public static func read(root: String, detector: String, labels: NABLabels) throws -> [NABScoredSeries] {
        let base = (root as NSString).appendingPathComponent(detector)
        var corpus: [NABScoredSeries] = []
        for name in try NABCorpus.seriesNames(in: base) {
            let parts = name.split(separator: "/")
            let category = String(parts[0])
            var file = String(parts[1])
            if file.hasPrefix(detector + "_") { file = String(file.dropFirst(detector.count + 1)) }
            let key = category + "/" + file
            let series = try NABSeries(
                name: key,
                path: (base as NSString).appendingPathComponent(name),
                valueColumn: "anomaly_score"
            )
            if let bad = series.values.first(where: { !(0...1).contains($0) }) {
                throw WardenError(.invalidData, "\(base)/\(name): anomaly_score \(bad) is outside [0, 1]")
            }
            corpus.append(
                NABScoredSeries(
                    name: key,
                    times: series.times,
                    scores: series.values,
                    windows: labels.windows[key] ?? []
                )
            )
        }
        return corpus
    }

    /// The shortest text that reads back as the same Double, without an exponent for ordinary values.
    static func format(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }
}
