import Foundation
import Testing
import WardenCore
import WardenDetect

@Suite("CSV and timestamps")
struct CSVTests {
    @Test func timestampsAreUTCMicroseconds() {
        #expect(Timestamp.microseconds("1970-01-01 00:00:00") == 0)
        #expect(Timestamp.microseconds("2015-08-31 18:22:00") == 1_441_045_320_000_000)
        #expect(Timestamp.microseconds("2014-04-10 07:15:00.000000") == 1_397_114_100_000_000)
        #expect(Timestamp.microseconds("2000-02-29T12:00:00.5Z") == 951_825_600_500_000)
        #expect(Timestamp.microseconds("2015-13-01 00:00:00") == nil)
        #expect(Timestamp.microseconds("yesterday") == nil)
    }

    @Test func parsesQuotesHeadersAndBlankLines() {
        let t = CSVTable(parsing: "name,\"value, with comma\"\r\n\"a \"\"b\"\"\",1\n\nc,2\n")
        #expect(t.header == ["name", "value, with comma"])
        #expect(t.rows == [["a \"b\"", "1"], ["c", "2"]])
        #expect(CSVTable(parsing: "1,2\n3,4").header == nil)
    }

    @Test func numericTableFindsTheTimeColumnAndTheFeatures() throws {
        let csv = CSVTable(parsing: "timestamp,cpu,mem\n2020-01-01 00:00:00,1.5,10\n2020-01-01 00:01:00,2.5,11\n")
        let table = try NumericTable(csv: csv)
        #expect(table.names == ["cpu", "mem"])
        #expect(table.times == [1_577_836_800, 1_577_836_860])
        #expect(table.rows.values == [1.5, 10, 2.5, 11])
        let one = try NumericTable(csv: csv, columns: ["3"])
        #expect(one.names == ["mem"])
        #expect(throws: WardenError.self) { try NumericTable(csv: csv, columns: ["disk"]) }
        let headerless = try NumericTable(csv: CSVTable(parsing: "1,2\n3,4\n"))
        #expect(headerless.names == ["column1", "column2"] && headerless.times == nil)
    }

    @Test func streamingScoresTakeTheWorstColumn() throws {
        var text = "a,b\n"
        for i in 0..<400 { text += "\(Double(i % 5)),\(i == 300 ? 1000.0 : Double(i % 3))\n" }
        let table = try NumericTable(csv: CSVTable(parsing: text))
        let scores = table.streamingScores(.robust)
        #expect(scores.count == 400)
        #expect(scores.allSatisfy { (0...1).contains($0) })
        #expect(scores.firstIndex(of: scores.max()!) == 300)
    }
}
