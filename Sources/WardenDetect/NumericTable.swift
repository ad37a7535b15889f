import Foundation
import WardenCore

/// The numeric columns of a CSV file, with an optional time column: what `warden detect` scores.
public struct NumericTable: Sendable {
    /// Names of the feature columns (`column1`… when the file has no header).
    public var names: [String]
    /// One row per data row, one column per feature.
    public var rows: FeatureMatrix
    /// Per-row times in seconds since the epoch, when the file has a timestamp column.
    public var times: [Double]?

    /// Creates a table.
    public init(names: [String], rows: FeatureMatrix, times: [Double]?) {
        self.names = names
        self.rows = rows
        self.times = times
    }

    /// Extracts the features of `csv`.
    ///
    /// The time column is the one named `timestamp`, `time` or `date`, or else the first column whose
    /// first value parses as a timestamp. Features are `columns` when given (by name, or 1-based
    /// number), otherwise every other column. Throws ``WardenError`` (`invalidData`) naming the row
    /// and column of a value that is not a finite number.
    public init(csv: CSVTable, columns: [String]? = nil, path: String = "input") throws {
        let width = csv.header?.count ?? csv.rows.first?.count ?? 0
        guard width > 0, !csv.rows.isEmpty else {
            throw WardenError(.invalidData, "\(path) has no data rows")
        }
        let header = csv.header ?? (1...width).map { "column\($0)" }
        var timeIndex = header.firstIndex { ["timestamp", "time", "date"].contains($0.lowercased()) }
        if timeIndex == nil, let first = csv.rows.first {
            timeIndex = first.firstIndex { Timestamp.microseconds($0) != nil }
        }
        var featureIndices: [Int]
        if let columns, !columns.isEmpty {
            featureIndices = try columns.map { name in
                if let i = header.firstIndex(where: { $0.lowercased() == name.lowercased() }) { return i }
                if let n = Int(name), n >= 1, n <= width { return n - 1 }
                throw WardenError(
                    .invalidData,
                    "\(path) has no column '\(name)'; columns are \(header.joined(separator: ", "))"
                )
            }
        } else {
            featureIndices = (0..<width).filter { $0 != timeIndex }
        }
        guard !featureIndices.isEmpty else {
            throw WardenError(.invalidData, "\(path) has no numeric column to score")
        }
        var rows = FeatureMatrix(columns: featureIndices.count)
        var times: [Double]? = timeIndex == nil ? nil : []
        let lineOffset = csv.header == nil ? 1 : 2
        for (r, fields) in csv.rows.enumerated() {
            var row: [Double] = []
            row.reserveCapacity(featureIndices.count)
            for c in featureIndices {
                let text = c < fields.count ? fields[c].trimmingCharacters(in: .whitespaces) : ""
                guard let v = Double(text), v.isFinite else {
                    throw WardenError(
                        .invalidData,
                        "\(path):\(r + lineOffset): column '\(header[c])' holds '\(text)', not a number"
                    )
                }
                row.append(v)
            }
            rows.append(row)
            if let t = timeIndex {
                guard t < fields.count, let seconds = Timestamp.seconds(fields[t]) else {
                    throw WardenError(.invalidData, "\(path):\(r + lineOffset): '\(header[t])' is not a timestamp")
                }
                times?.append(seconds)
            }
        }
        self.init(names: featureIndices.map { header[$0] }, rows: rows, times: times)
    }

    /// Reads a CSV file.
    public init(contentsOf path: String, columns: [String]? = nil) throws {
        try self.init(csv: CSVTable(contentsOf: path), columns: columns, path: path)
    }

    /// Unit scores in [0, 1] of a streaming detector of `kind` per row: one detector per column, the
    /// row's score is the largest of its columns' scores. Each row is scored before the next is seen.
    public func streamingScores(_ kind: DetectorKind) -> [Double] {
        var detector = PerFeatureDetector(kind: kind, features: rows.columns)
        var out = [Double](repeating: 0, count: rows.rows)
        for r in 0..<rows.rows {
            out[r] = detector.observe(rows[row: r], at: times?[r] ?? .nan)
        }
        return out
    }
}
