/// A dense table of samples: `rows` samples of `columns` features each, stored row by row.
///
/// Models take and return matrices instead of `[[Double]]` so that a batch is one allocation and
/// rows can be read without copying.
public struct FeatureMatrix: Sendable, Hashable, Codable {
    /// Number of samples.
    public private(set) var rows: Int
    /// Number of features per sample.
    public let columns: Int
    /// The values, row-major: feature `c` of row `r` is `values[r * columns + c]`.
    public private(set) var values: [Double]

    /// Creates a matrix from row-major values; `values.count` must be a multiple of `columns`.
    public init(columns: Int, values: [Double]) {
        precondition(columns > 0, "a feature matrix needs at least one column")
        precondition(values.count % columns == 0, "values.count must be a multiple of columns")
        self.columns = columns
        self.rows = values.count / columns
        self.values = values
    }

    /// Creates a matrix from rows of equal length (at least one row).
    public init(rows: [[Double]]) {
        precondition(!rows.isEmpty, "a feature matrix from rows needs at least one row")
        let columns = rows[0].count
        var values: [Double] = []
        values.reserveCapacity(rows.count * columns)
        for row in rows {
            precondition(row.count == columns, "every row must have \(columns) values")
            values.append(contentsOf: row)
        }
        self.init(columns: columns, values: values)
    }

    /// An empty matrix of `columns` features, ready for ``append(_:)``.
    public init(columns: Int) {
        self.init(columns: columns, values: [])
    }

    /// Row `r` as an array.
    public subscript(row r: Int) -> [Double] {
        Array(values[r * columns..<(r + 1) * columns])
    }

    /// The value of feature `c` in row `r`.
    public subscript(r: Int, c: Int) -> Double {
        values[r * columns + c]
    }

    /// Appends a row of `columns` values.
    public mutating func append(_ row: some Collection<Double>) {
        precondition(row.count == columns, "a row must have \(columns) values")
        values.append(contentsOf: row)
        rows += 1
    }

    /// Calls `body` with row `r` as a buffer, without copying.
    public func withRow<R>(_ r: Int, _ body: (UnsafeBufferPointer<Double>) throws -> R) rethrows -> R {
        try values.withUnsafeBufferPointer { all in
            try body(UnsafeBufferPointer(rebasing: all[r * columns..<(r + 1) * columns]))
        }
    }
}
