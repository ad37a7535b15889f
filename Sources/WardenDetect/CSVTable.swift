import Foundation
import WardenCore

/// A comma-separated file as text fields: an optional header row and data rows.
///
/// Handles RFC 4180 quoting (`"a, b"`, doubled quotes), `\r\n` line ends and blank lines. Meant for
/// telemetry files of a few million cells; everything is held in memory.
public struct CSVTable: Sendable {
    /// Column names from the first row, when the file has a header.
    public var header: [String]?
    /// The data rows.
    public var rows: [[String]]

    /// Creates a table.
    public init(header: [String]?, rows: [[String]]) {
        self.header = header
        self.rows = rows
    }

    /// Parses `text`. With `hasHeader` nil the first row is a header when any of its fields is not a number.
    public init(parsing text: String, hasHeader: Bool? = nil) {
        var all = Self.parseRows(text)
        var header: [String]?
        if let first = all.first {
            let isHeader = hasHeader ?? first.contains { Double($0.trimmingCharacters(in: .whitespaces)) == nil }
            if isHeader {
                header = first.map { $0.trimmingCharacters(in: .whitespaces) }
                all.removeFirst()
            }
        }
        self.init(header: header, rows: all)
    }

    /// Reads and parses a file; throws ``WardenError`` (`io`) when it cannot be read.
    public init(contentsOf path: String, hasHeader: Bool? = nil) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WardenError(.io, "cannot read \(path); check that the file exists and is readable")
        }
        self.init(parsing: String(decoding: data, as: UTF8.self), hasHeader: hasHeader)
    }

    /// The index of a header column, case-insensitively.
    public func column(named name: String) -> Int? {
        header?.firstIndex { $0.lowercased() == name.lowercased() }
    }

    private static func parseRows(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field: [UInt8] = []
        var inQuotes = false
        var fieldWasQuoted = false
        let bytes = Array(text.utf8)
        var i = 0
        func endField() {
            row.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            fieldWasQuoted = false
        }
        func endRow() {
            endField()
            if !(row.count == 1 && row[0].isEmpty) { rows.append(row) }
            row = []
        }
        while i < bytes.count {
            let c = bytes[i]
            if inQuotes {
                if c == UInt8(ascii: "\"") {
                    if i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "\"") {
                        field.append(c)
                        i += 1
                    } else {
                        inQuotes = false
                    }
                } else {
                    field.append(c)
                }
            } else {
                switch c {
                case UInt8(ascii: "\""):
                    if field.isEmpty && !fieldWasQuoted {
                        inQuotes = true
                        fieldWasQuoted = true
                    } else {
                        field.append(c)
                    }
                case UInt8(ascii: ","): endField()
                case UInt8(ascii: "\n"): endRow()
                case UInt8(ascii: "\r"): break
                default: field.append(c)
                }
            }
            i += 1
        }
        if !field.isEmpty || !row.isEmpty { endRow() }
        return rows
    }
}
