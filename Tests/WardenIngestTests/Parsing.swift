import Foundation
import WardenIngest

/// The three parsers over text, with the rules of a node whose clock reads 1,800,000,000 s.
protocol Parsing {}

extension Parsing {
    var now: Date { Date(timeIntervalSince1970: 1_800_000_000) }
    var rules: IngestRules { IngestRules(now: now, maxAge: .seconds(86400), maxFuture: .seconds(600)) }
    var nowMicros: Int64 { 1_800_000_000_000_000 }

    func json(_ text: String) throws(MalformedBody) -> IngestResult {
        let bytes = Array(text.utf8)
        let pointer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        defer { pointer.deallocate() }
        pointer.copyBytes(from: bytes)
        return try JSONSampleParser.parse(UnsafeRawBufferPointer(pointer), rules: rules)
    }

    func prometheus(_ text: String) -> IngestResult {
        Array(text.utf8).withUnsafeBytes { PrometheusTextParser.parse($0, rules: rules) }
    }

    func influx(_ text: String, precision: InfluxLineParser.Precision = .ns) -> IngestResult {
        Array(text.utf8).withUnsafeBytes { InfluxLineParser.parse($0, precision: precision, rules: rules) }
    }
}
