import Foundation
import WardenCore

/// One series of the Numenta Anomaly Benchmark: `data/<category>/<series>.csv`.
public struct NABSeries: Sendable {
    /// `<category>/<series>.csv`, the key of the labels file.
    public var name: String
    /// The timestamps as written in the file (copied to results files).
    public var timestamps: [String]
    /// The timestamps in microseconds since the epoch.
    public var times: [Int64]
    /// The values.
    public var values: [Double]

    /// Creates a series.
    public init(name: String, timestamps: [String], times: [Int64], values: [Double]) {
        self.name = name
        self.timestamps = timestamps
        self.times = times
        self.values = values
    }

    /// The category directory (`realTweets`).
    public var category: String { String(name.split(separator: "/").first ?? "") }

    /// The file name without `.csv` (`Twitter_volume_AAPL`).
    public var series: String {
        let file = name.split(separator: "/").last.map(String.init) ?? name
        return file.hasSuffix(".csv") ? String(file.dropLast(4)) : file
    }

    /// Reads a `timestamp,value` file (NAB's data files, or a results file's first columns).
    public init(name: String, path: String, valueColumn: String = "value") throws {
        let table = try CSVTable(contentsOf: path, hasHeader: true)
        let timeColumn = table.column(named: "timestamp") ?? 0
        guard let valueIndex = table.column(named: valueColumn) else {
            throw WardenError(
                .invalidData,
                "\(path) has no '\(valueColumn)' column; expected a header like timestamp,\(valueColumn)"
            )
        }
        var timestamps: [String] = []
        var times: [Int64] = []
        var values: [Double] = []
        timestamps.reserveCapacity(table.rows.count)
        times.reserveCapacity(table.rows.count)
        values.reserveCapacity(table.rows.count)
        for (i, row) in table.rows.enumerated() {
            guard row.count > max(timeColumn, valueIndex), let t = Timestamp.microseconds(row[timeColumn]),
                let v = Double(row[valueIndex].trimmingCharacters(in: .whitespaces)), v.isFinite
            else {
                throw WardenError(.invalidData, "\(path):\(i + 2): expected a timestamp and a number, found \(row)")
            }
            timestamps.append(row[timeColumn])
            times.append(t)
            values.append(v)
        }
        self.init(name: name, timestamps: timestamps, times: times, values: values)
    }
}

/// An anomaly window of a NAB labels file, inclusive at both ends.
public struct NABWindow: Sendable, Hashable {
    /// First timestamp of the window (microseconds since the epoch).
    public var start: Int64
    /// Last timestamp of the window.
    public var end: Int64

    /// Creates a window.
    public init(start: Int64, end: Int64) {
        self.start = start
        self.end = end
    }
}

/// NAB's `combined_windows.json`: the anomaly windows of every series.
public struct NABLabels: Sendable {
    /// Windows by series name (`<category>/<series>.csv`), in time order.
    public var windows: [String: [NABWindow]]

    /// Creates labels.
    public init(windows: [String: [NABWindow]]) { self.windows = windows }

    /// Reads a labels file: `{"<category>/<series>.csv": [["start", "end"], ...]}`.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WardenError(.io, "cannot read the labels file \(path)")
        }
        let raw: [String: [[String]]]
        do {
            raw = try JSONDecoder().decode([String: [[String]]].self, from: data)
        } catch {
            throw WardenError(
                .invalidData,
                "\(path) is not a NAB labels file ({\"cat/series.csv\": [[start, end]]})",
                cause: error
            )
        }
        var windows: [String: [NABWindow]] = [:]
        for (name, pairs) in raw {
            windows[name] = try pairs.map { pair in
                guard pair.count == 2, let s = Timestamp.microseconds(pair[0]), let e = Timestamp.microseconds(pair[1])
                else { throw WardenError(.invalidData, "\(path): \(name): bad window \(pair)") }
                return NABWindow(start: s, end: e)
            }.sorted { $0.start < $1.start }
        }
        self.init(windows: windows)
    }
}

/// Finding and reading NAB's data directory.
public enum NABCorpus {
    /// The `<category>/<series>.csv` names under `directory`, sorted.
    public static func seriesNames(in directory: String) throws -> [String] {
        let fm = FileManager.default
        guard let categories = try? fm.contentsOfDirectory(atPath: directory) else {
            throw WardenError(.io, "cannot list \(directory); pass NAB's data directory (data/<category>/<series>.csv)")
        }
        var names: [String] = []
        for category in categories.sorted() {
            let path = (directory as NSString).appendingPathComponent(category)
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            for file in (try fm.contentsOfDirectory(atPath: path)).sorted() where file.hasSuffix(".csv") {
                names.append(category + "/" + file)
            }
        }
        return names
    }

    /// Reads every series under `directory`.
    public static func load(dataDirectory directory: String) throws -> [NABSeries] {
        try seriesNames(in: directory).map {
            try NABSeries(name: $0, path: (directory as NSString).appendingPathComponent($0))
        }
    }
}
